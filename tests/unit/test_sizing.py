"""KV-cache geometry and the per-GPU memory budget as vLLM accounts them.

Independent figures: the worked check of the gpt-oss-120b A100x4 TP4 vLLM 0.10.1.1 log
(dennislee22/vLLM-benchmarking, log/vllm-120B-4gpuA10080GB-0.8GRAM-diff-nodes.log; copied into
tests/data/vllm_observations.yaml): page 8192 B, 18 layers per group, 2 groups,
1024 + 137 = 1161 blocks per 16,384-token request, 330,018 blocks -> 2,640,144 tokens and
284.25x concurrency, 83 CUDA-graph capture sizes. Per-token KV sizes from the model configs
(2 x kv_heads x head_dim x 2 bytes per layer).
"""

from __future__ import annotations

import dataclasses

import pytest

from swissai.adapters.profiles import load_gpu, load_model
from swissai.core.sizing import (
    Layout,
    Limits,
    activation_peak_bytes,
    blocks_per_request,
    capture_sizes,
    kv_geometry,
    size_memory,
)
from swissai.core.vllm_versions import behaviour_for
from swissai.core.weights import weights_per_stage
from swissai.models.gpu import GIB

A100_LOG_LIMITS = Limits(
    max_model_len=16384,
    max_num_seqs=256,
    max_num_batched_tokens=2048,
    gpu_memory_utilization=0.8,
    block_size=16,
    kv_cache_dtype="auto",
)


def test_gpt_oss_page_size_and_hybrid_groups_tp4() -> None:
    model = load_model("gpt-oss-120b")
    geo = kv_geometry(model, model.layer_attention, 4, A100_LOG_LIMITS)
    # 16 tokens x (K, V) x 2 KV heads per rank x head_dim 64 x 2 bytes
    assert geo.page_size_bytes == 16 * 2 * 2 * 64 * 2 == 8192
    assert geo.layers_per_group == 18
    assert (geo.num_full_groups, geo.num_sliding_groups) == (1, 1)
    assert geo.groups == 2
    # full-attention layers only: 18 x 2 x 2 x 64 x 2 bytes per token on this rank
    assert geo.bytes_per_token == 18 * 2 * 2 * 64 * 2


def test_fp8_kv_halves_the_page() -> None:
    model = load_model("gpt-oss-120b")
    fp8 = dataclasses.replace(A100_LOG_LIMITS, kv_cache_dtype="fp8")
    auto = kv_geometry(model, model.layer_attention, 4, A100_LOG_LIMITS)
    half = kv_geometry(model, model.layer_attention, 4, fp8)
    assert half.page_size_bytes * 2 == auto.page_size_bytes


def test_blocks_per_request_worked_example_from_the_a100_log() -> None:
    model = load_model("gpt-oss-120b")
    _, behaviour = behaviour_for("0.10.1.1")
    geo = kv_geometry(model, model.layer_attention, 4, A100_LOG_LIMITS)
    per_request = blocks_per_request(model, geo, A100_LOG_LIMITS, behaviour, 1)
    # cdiv(16384, 16) + (cdiv(127 + 2048, 16) + 1) = 1024 + 137
    assert per_request == 1024 + 137 == 1161
    # 330,018 blocks in the log / 1161 = 284.25x, as the log prints
    assert round(330018 / per_request, 2) == 284.25


def test_v033_sliding_window_counts_in_flight_batches() -> None:
    """0.33 multiplies max_num_batched_tokens by max_concurrent_batches (async scheduling / PP)."""
    model = load_model("gpt-oss-120b")
    _, old = behaviour_for("0.10.1.1")
    _, new = behaviour_for("0.33.0")
    geo = kv_geometry(model, model.layer_attention, 4, A100_LOG_LIMITS)
    assert blocks_per_request(model, geo, A100_LOG_LIMITS, new, 1) == 1161
    # cdiv(127 + 2 x 2048, 16) + 1 = 265 sliding blocks
    assert blocks_per_request(model, geo, A100_LOG_LIMITS, new, 2) == 1024 + 265
    assert blocks_per_request(model, geo, A100_LOG_LIMITS, old, 2) == 1161


def test_sliding_window_is_capped_by_max_model_len() -> None:
    model = load_model("gpt-oss-120b")
    _, behaviour = behaviour_for("0.11.0")
    short = dataclasses.replace(A100_LOG_LIMITS, max_model_len=1000)
    geo = kv_geometry(model, model.layer_attention, 4, short)
    # full: cdiv(1000, 16) = 63; sliding: min(127 + 2048, 1000) -> cdiv(1000, 16) + 1 = 64
    assert blocks_per_request(model, geo, short, behaviour, 1) == 63 + 64


def test_dense_model_has_one_group_of_all_layers() -> None:
    model = load_model("llama-3.1-8b-instruct")
    limits = dataclasses.replace(A100_LOG_LIMITS, max_model_len=131072)
    geo = kv_geometry(model, model.layer_attention, 1, limits)
    assert (geo.num_full_groups, geo.num_sliding_groups, geo.layers_per_group) == (1, 0, 32)
    # 32 layers x 2 x 8 KV heads x 128 x 2 bytes = 131,072 B per token (model_facts table)
    assert geo.bytes_per_token == 131072
    _, behaviour = behaviour_for("0.11.0")
    assert blocks_per_request(model, geo, limits, behaviour, 1) == 131072 // 16


def test_kv_heads_are_replicated_when_tp_exceeds_them() -> None:
    model = load_model("qwen3-235b-a22b")  # 4 KV heads
    limits = A100_LOG_LIMITS
    tp4 = kv_geometry(model, model.layer_attention, 4, limits)
    tp8 = kv_geometry(model, model.layer_attention, 8, limits)
    assert tp4.bytes_per_token == tp8.bytes_per_token == 94 * 2 * 1 * 128 * 2


def test_mla_latent_cache_is_replicated_over_tp() -> None:
    model = load_model("deepseek-v3")
    limits = dataclasses.replace(A100_LOG_LIMITS, block_size=64)
    geo = kv_geometry(model, model.layer_attention, 8, limits)
    # (kv_lora_rank 512 + rope 64) x 2 bytes per layer, 61 layers: 70,272 B per token per GPU
    assert geo.bytes_per_token == 61 * 576 * 2 == 70272
    assert geo.page_size_bytes == 64 * 576 * 2


def test_gpt_oss_capture_sizes_match_the_a100_log() -> None:
    # "83 capture sizes up to 1024" (gpt-oss raises the max capture size to 1024)
    assert capture_sizes(load_model("gpt-oss-120b"), A100_LOG_LIMITS) == 83


def test_capture_sizes_never_exceed_batched_tokens() -> None:
    small = dataclasses.replace(A100_LOG_LIMITS, max_num_batched_tokens=8)
    # sizes 1, 2, 4, 8
    assert capture_sizes(load_model("llama-3.1-8b-instruct"), small) == 4


@pytest.mark.parametrize("version", ["0.10.1.1", "0.11.0", "0.20.0", "0.33.0"])
def test_budget_terms_add_up(version: str) -> None:
    model = load_model("gpt-oss-120b")
    gpu = load_gpu("a100-80gb")
    _, behaviour = behaviour_for(version)
    s = size_memory(model, gpu, Layout(4, 1, 1, False), A100_LOG_LIMITS, behaviour, "marlin")
    assert s.budget_gib == pytest.approx(gpu.memory_total_gib * 0.8)
    graphs = s.cuda_graphs_gib if s.cuda_graphs_deducted else 0.0
    used = s.weights_gib + s.activation_peak_gib + s.non_torch_gib + graphs
    assert s.kv_cache_gib == pytest.approx(s.budget_gib - used)
    assert s.cuda_graphs_deducted == behaviour.cudagraphs_deducted
    # the block count is the KV bytes over the page size and the layers sharing each block
    expected_blocks = int(s.kv_cache_gib * 2**30) // s.geometry.page_size_bytes // 18
    assert s.num_blocks == expected_blocks
    assert s.max_concurrency == pytest.approx(s.num_blocks / 1161)


def test_kv_tokens_line_changed_meaning_in_0_21() -> None:
    model = load_model("gpt-oss-120b")
    gpu = load_gpu("a100-80gb")
    layout = Layout(4, 1, 1, False)
    _, v020 = behaviour_for("0.20.0")
    _, v021 = behaviour_for("0.21.0")
    old = size_memory(model, gpu, layout, A100_LOG_LIMITS, v020, "marlin")
    new = size_memory(model, gpu, layout, A100_LOG_LIMITS, v021, "marlin")
    # <= 0.20: num_blocks // num_groups * block_size (as in the A100 log: 330018 // 2 * 16)
    assert old.kv_tokens == old.num_blocks // 2 * 16
    # >= 0.21: int(max_concurrency * max_model_len)
    assert new.kv_tokens == int(new.max_concurrency * 16384)


def test_pipeline_parallel_reports_the_stage_with_the_fewest_blocks() -> None:
    """vLLM's unify_kv_cache_configs takes the smallest block count over the stages."""
    model = load_model("deepseek-v3")
    gpu = load_gpu("h100-80gb")
    _, behaviour = behaviour_for("0.33.0")
    limits = Limits(16384, 256, 2048, 0.9, 64, "auto")
    layout = Layout(8, 2, 1, False)
    worst = size_memory(model, gpu, layout, limits, behaviour, "fused_moe")
    stages = weights_per_stage(model, tp=8, pp=2, ep=1, moe_kernel="fused_moe")
    assert worst.weights_gib == pytest.approx(stages[worst.stage].bytes / GIB)
    assert worst.geometry.layers_per_group == stages[worst.stage].layers
    # the other stage, sized with the same per-layer graph share and its own weights and layers
    other = stages[1 - worst.stage]
    graphs_per_layer = worst.cuda_graphs_gib / stages[worst.stage].layers
    activation = activation_peak_bytes(model, layout, limits, behaviour, other.stage == 1) / GIB
    kv_other = (
        worst.budget_gib
        - other.bytes / GIB
        - activation
        - worst.non_torch_gib
        - graphs_per_layer * other.layers
    )
    blocks_other = int(kv_other * GIB) // worst.geometry.page_size_bytes // other.layers
    assert worst.num_blocks <= blocks_other
    assert sum(s.layers for s in stages) == 61


def test_more_memory_utilization_means_more_kv() -> None:
    model = load_model("gpt-oss-120b")
    gpu = load_gpu("h100-80gb")
    _, behaviour = behaviour_for("0.33.0")
    low = size_memory(model, gpu, Layout(2, 1, 1, False), A100_LOG_LIMITS, behaviour, "triton")
    high_limits = dataclasses.replace(A100_LOG_LIMITS, gpu_memory_utilization=0.9)
    high = size_memory(model, gpu, Layout(2, 1, 1, False), high_limits, behaviour, "triton")
    assert high.kv_cache_gib - low.kv_cache_gib == pytest.approx(gpu.memory_total_gib * 0.1)
    assert high.num_blocks > low.num_blocks
