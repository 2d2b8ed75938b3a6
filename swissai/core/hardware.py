"""GPU spec strings: COUNTxID[,COUNTxID...][@NODES] (ARCHITECTURE.md, 'GPU ids').

Counts are ASCII digits only: Python's `\\d` and `int()` also accept other scripts' digits
('８', Arabic-Indic '٨'), which no tool downstream (vLLM, Kubernetes) reads as numbers.
Counts are bounded before `int()` converts them (Python refuses more than 4300 digits with a
ValueError, sys.get_int_max_str_digits) and after: the layout search walks node counts.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from swissai.errors import InputError
from swissai.models.gpu import MAX_GPUS, MAX_NODES, GpuGroup, GpuSpec, Hardware

_PART = re.compile(r"([0-9]+)x([a-z0-9][a-z0-9.-]{0,63})", re.ASCII)
_NODES = re.compile(r"[0-9]{1,6}", re.ASCII)
_MAX_COUNT_DIGITS = len(str(MAX_GPUS))
_SPEC_HINT = "write e.g. 8xh100-80gb; `swissai plan --list-gpus` shows the ids"


def _shown(text: str) -> str:
    """The spec for a one-line message: control characters escaped, at most 60 characters."""
    text = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text[:61])
    return text if len(text) <= 60 else text[:57] + "..."


def parse_gpu_spec(text: str) -> tuple[list[tuple[int, str]], int]:
    """'16xh100-80gb@2' -> ([(16, 'h100-80gb')], 2)."""
    spec = text.strip().lower()
    nodes = 1
    if "@" in spec:
        spec, _, node_text = spec.partition("@")
        if not _NODES.fullmatch(node_text) or not 1 <= int(node_text) <= MAX_NODES:
            raise InputError(
                f"--gpus {_shown(text)}: '@{_shown(node_text)}' is not a node count "
                f"(1 to {MAX_NODES})",
                hint="write e.g. 16xh100-80gb@2 for two nodes of eight",
            )
        nodes = int(node_text)
    parts: list[tuple[int, str]] = []
    for raw in spec.split(","):
        m = _PART.fullmatch(raw.strip())
        digits = m[1].lstrip("0") if m else ""
        if not m or not digits:
            raise InputError(f"--gpus {_shown(text)}: '{_shown(raw)}' is not COUNTxID", _SPEC_HINT)
        if len(digits) > _MAX_COUNT_DIGITS or int(digits) > MAX_GPUS:  # digits bounded first
            raise InputError(
                f"--gpus {_shown(text)}: {_shown(m[1])} GPUs of {m[2]}, more than the "
                f"{MAX_GPUS} swissai plans for",
                hint="plan one serving cluster at a time",
            )
        parts.append((int(digits), m[2]))
    total = sum(c for c, _ in parts)
    if total > MAX_GPUS:
        raise InputError(
            f"--gpus {_shown(text)}: {total} GPUs, more than the {MAX_GPUS} swissai plans for",
            hint="plan one serving cluster at a time",
        )
    if total % nodes:
        raise InputError(
            f"--gpus {_shown(text)}: {total} GPUs do not split evenly over {nodes} nodes",
            hint="give a GPU count that is a multiple of the node count",
        )
    return parts, nodes


def hardware_from_spec(
    text: str, lookup: Callable[[str], GpuSpec], source: str = "spec"
) -> Hardware:
    parts, nodes = parse_gpu_spec(text)
    groups = [GpuGroup(gpu=lookup(gpu_id), count=count) for count, gpu_id in parts]
    canonical = ",".join(f"{c}x{g}" for c, g in parts) + (f"@{nodes}" if nodes > 1 else "")
    return Hardware(groups=groups, nodes=nodes, source=source, spec=canonical)


# vLLM's CUDA build needs compute capability 7.0 or newer (Volta); datasheets put every GPU
# between 8 GB and 1 TB.
MIN_COMPUTE_CAPABILITY = 70


def validate_gpu_profile(gpu: GpuSpec, where: str) -> GpuSpec:
    """Sanity of a user-supplied GPU profile (`--gpu-profile FILE`), exit 2 with one line: the
    planner divides by these numbers and a bank's plan must not rest on a typo."""
    hint = "copy a profile from `swissai plan --list-gpus` (profiles/gpus/) and edit it"

    def bad(message: str) -> InputError:
        return InputError(f"GPU profile {where}: {message}", hint=hint)

    # Board memory is sold in binary units (a "48 GB" A6000 reports 47.54 GiB, a "192 GB"
    # MI300X 191.98 GiB): the usable total lies below the marketing figure read as GiB.
    marketing_gib = gpu.memory_marketing_gb
    if not 8 <= gpu.memory_marketing_gb <= 1000:
        raise bad(f"memory_marketing_gb {gpu.memory_marketing_gb} is not 8 to 1000 GB")
    if not 0.5 * marketing_gib <= gpu.memory_total_gib <= marketing_gib * 1.001:
        raise bad(
            f"memory_total_gib {gpu.memory_total_gib} does not match {gpu.memory_marketing_gb} GB "
            f"(expected {0.5 * marketing_gib:.1f} to {marketing_gib:.2f} GiB as CUDA reports it)"
        )
    if not 0 < gpu.memory_bandwidth_gb_s <= 100_000:
        raise bad(f"memory_bandwidth_gb_s {gpu.memory_bandwidth_gb_s} is not 1 to 100000")
    for name in ("bf16_dense_tflops", "fp8_dense_tflops", "fp4_dense_tflops"):
        value = getattr(gpu, name)
        if value is not None and not 0 < value <= 100_000:
            raise bad(f"{name} {value} is not 0 to 100000")
    if gpu.vendor == "nvidia":
        if not re.fullmatch(r"[0-9]{1,2}\.[0-9]", gpu.compute_capability, re.ASCII):
            raise bad(f"compute_capability {gpu.compute_capability!r} is not 'major.minor'")
        if gpu.sm < MIN_COMPUTE_CAPABILITY:
            raise bad(f"compute capability {gpu.compute_capability}: vLLM needs 7.0 or newer")
    elif not re.fullmatch(r"gfx[0-9a-f]{3,4}", gpu.compute_capability, re.ASCII):
        raise bad(f"compute_capability {gpu.compute_capability!r} is not a gfx target")
    if gpu.nvlink_domain_size > MAX_GPUS or gpu.gpus_per_node > MAX_GPUS:
        raise bad("nvlink_domain_size and gpus_per_node must be at most 4096")
    return gpu
