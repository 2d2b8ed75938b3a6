"""vLLM versions and the memory-accounting behaviour each one has.

`--vllm-version` accepts every release from 0.10.0 to 0.33.x. Accounting changed at a few
documented releases (shared research note 'vllm_memory_model.md', read from the published
wheels); a version between two documented points behaves like the nearest documented one at or
below it. Each field cites the vLLM source it models.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from swissai.errors import InputError

Version = tuple[int, int, int, int]

OLDEST_SUPPORTED: Version = (0, 10, 0, 0)
NEWEST_MINOR = 33  # 0.33.x is the newest release line modelled
# The vLLM image that `swissai render` pins; plans default to its accounting.
DEFAULT_VLLM_VERSION = "0.33.0"

# ASCII digits, at most 6 per part: int() of a 5000-digit part raises (Python's int/str
# conversion limit), and no release number needs more.
_VERSION_RE = re.compile(
    r"^v?(\d{1,6})\.(\d{1,6})\.(\d{1,6})(?:\.(\d{1,6}))?(?:[+.-].*)?$", re.ASCII
)


def parse_version(text: str) -> Version:
    """'0.10.1.1' -> (0, 10, 1, 1); local suffixes ('+cpu', '.post1') are ignored."""
    m = _VERSION_RE.match(text.strip())
    if not m:
        raise InputError(
            f"--vllm-version: '{text if len(text) <= 40 else text[:40] + '...'}' is not a "
            "version like 0.11.0",
            hint="give a vLLM release, e.g. --vllm-version 0.11.0",
        )
    return (int(m[1]), int(m[2]), int(m[3]), int(m[4] or 0))


def format_version(v: Version) -> str:
    return ".".join(str(p) for p in (v if v[3] else v[:3]))


KvTokensLine = Literal["blocks_per_group", "concurrency_times_len"]


@dataclass(frozen=True)
class VllmBehaviour:
    """What the planner needs to know about one documented vLLM release."""

    since: Version
    # "GPU KV cache size: N tokens" (kv_cache_utils.py): up to 0.20 it is
    # num_blocks // num_groups * block_size; from 0.21 int(max_concurrency * max_model_len).
    kv_tokens_line: KvTokensLine
    # CUDA-graph memory subtracted from the KV budget (gpu_worker.py, profile_cudagraph_memory;
    # VLLM_MEMORY_PROFILER_ESTIMATE_CUDAGRAPHS default "0" in 0.18.0, "1" in the 0.20.0 wheel).
    cudagraphs_deducted: bool
    # get_batch_defaults (arg_utils.py): a >= 160 GiB tier of 16384 / 1024 (from 0.28.0).
    has_160gib_batch_tier: bool
    # Sliding-window KV per request uses max_concurrent_batches * max_num_batched_tokens
    # in 0.33 (kv_cache_interface.py); earlier just max_num_batched_tokens.
    sliding_window_uses_in_flight_tokens: bool
    # Bytes per (request x vocab) logit at the sampler warm-up peak inside the profiling run
    # (gpu_model_runner._dummy_sampler_run: min(max_num_seqs, max_num_batched_tokens) requests,
    # top-k and top-p active, full-vocab logits on every TP rank). Up to 0.16 the native path
    # sorts the logits (fp32 values + int64 indices + softmax/cumsum/mask/scatter copies):
    # 38.9 B measured on 0.11.0 (sizing.py). 0.17 replaced the sort by a Triton top-k/top-p
    # kernel (PR #33538) and 0.21 made the FlashInfer sampler the default again (PR #40376):
    # bf16 + fp32 logits, probabilities and the exponential draw, ~14 B (derived from the code,
    # not measured).
    sampler_bytes_per_logit: float


# Documented points, oldest first. Versions in between map to the nearest one at or below.
SORTED = 38.9
UNSORTED = 14.0
BEHAVIOURS: tuple[VllmBehaviour, ...] = (
    VllmBehaviour((0, 10, 0, 0), "blocks_per_group", False, False, False, SORTED),
    VllmBehaviour((0, 17, 0, 0), "blocks_per_group", False, False, False, UNSORTED),
    VllmBehaviour((0, 20, 0, 0), "blocks_per_group", True, False, False, UNSORTED),
    VllmBehaviour((0, 21, 0, 0), "concurrency_times_len", True, False, False, UNSORTED),
    # get_batch_defaults gained the >= 160 GiB tier in 0.28.0 (absent in the 0.27.0 wheel).
    VllmBehaviour((0, 28, 0, 0), "concurrency_times_len", True, True, False, UNSORTED),
    VllmBehaviour((0, 33, 0, 0), "concurrency_times_len", True, True, True, UNSORTED),
)


def behaviour_for(version_text: str) -> tuple[Version, VllmBehaviour]:
    """Validate a version string and return it with the behaviour that applies."""
    version = parse_version(version_text)
    if version < OLDEST_SUPPORTED or version[:2] > (0, NEWEST_MINOR):
        raise InputError(
            f"--vllm-version {version_text} is outside the modelled range "
            f"0.10.0 to 0.{NEWEST_MINOR}.x",
            hint=f"use a release from 0.10.0 to 0.{NEWEST_MINOR}.x (default {DEFAULT_VLLM_VERSION})",
        )
    chosen = BEHAVIOURS[0]
    for b in BEHAVIOURS:
        if b.since <= version:
            chosen = b
    return version, chosen
