"""Weight memory per GPU ("Model loading took X GiB") against real vLLM logs.

Observed figures (independent of swissai):
* gpt-oss-120b TP1, H100, Triton matmul_ogs, vLLM 0.11.0: 64.38 GiB (llm-d-benchmark
  config_explorer/empirical-vllm-memory-results.md; vllm-project/vllm#33155).
* gpt-oss-120b TP4, A100 80GB, Marlin, vLLM 0.10.1.1: 17.2217 GiB (dennislee22/vLLM-benchmarking).
* gpt-oss-20b TP1, H100, vLLM 0.11.0: 13.47 GiB (llm-d file).
* Llama-3.1-8B TP1, H100, vLLM 0.11.0: 14.99 GiB (llm-d file).
* Llama-3.3-70B-Instruct FP8-dynamic TP1 / TP2, H100: 67.72 / 33.88 GiB (llm-d file).
* gpt-oss-120b checkpoint: 60.8 GiB (OpenAI model card); byte count of the safetensors 60.77 GiB.
"""

from __future__ import annotations

import pytest

from swissai.adapters.profiles import load_model
from swissai.core.weights import (
    checkpoint_bytes,
    round_up,
    stage_layer_counts,
    weights_per_stage,
)
from swissai.models.gpu import GIB


def _gib(model_id: str, *, tp: int, kernel: str, pp: int = 1, ep: int = 1) -> float:
    stages = weights_per_stage(load_model(model_id), tp=tp, pp=pp, ep=ep, moe_kernel=kernel)
    return max(s.bytes for s in stages) / GIB


@pytest.mark.parametrize(
    ("model_id", "tp", "kernel", "observed_gib", "rel"),
    [
        ("gpt-oss-120b", 1, "triton", 64.38, 0.01),
        ("gpt-oss-120b", 4, "marlin", 17.22, 0.01),
        ("gpt-oss-20b", 1, "triton", 13.47, 0.01),
        ("llama-3.1-8b-instruct", 1, "fused_moe", 14.99, 0.01),
        ("llama-3.3-70b-instruct-fp8-dynamic", 1, "fused_moe", 67.72, 0.01),
        ("llama-3.3-70b-instruct-fp8-dynamic", 2, "fused_moe", 33.88, 0.01),
    ],
)
def test_weights_match_vllm_logs(
    model_id: str, tp: int, kernel: str, observed_gib: float, rel: float
) -> None:
    assert _gib(model_id, tp=tp, kernel=kernel) == pytest.approx(observed_gib, rel=rel)


def test_gpt_oss_120b_checkpoint_size() -> None:
    assert checkpoint_bytes(load_model("gpt-oss-120b")) / GIB == pytest.approx(60.77, rel=0.005)


def test_kernel_padding_orders_the_mxfp4_layouts() -> None:
    """Marlin and Triton pad the expert tensors; the raw checkpoint is the smallest."""
    raw = _gib("gpt-oss-120b", tp=1, kernel="checkpoint")
    triton = _gib("gpt-oss-120b", tp=1, kernel="triton")
    marlin = _gib("gpt-oss-120b", tp=1, kernel="marlin")
    assert raw < triton < marlin


def test_tensor_parallel_splits_weights() -> None:
    tp1 = _gib("llama-3.1-8b-instruct", tp=1, kernel="fused_moe")
    tp2 = _gib("llama-3.1-8b-instruct", tp=2, kernel="fused_moe")
    tp8 = _gib("llama-3.1-8b-instruct", tp=8, kernel="fused_moe")
    # Norms are replicated, everything else halves: a bit more than half per rank.
    assert tp1 / 2 < tp2 < tp1 / 2 * 1.01
    assert tp8 < tp2


def test_expert_parallel_holds_a_share_of_the_experts() -> None:
    model = load_model("qwen3-30b-a3b")
    no_ep = weights_per_stage(model, tp=4, pp=1, ep=1, moe_kernel="fused_moe")[0].bytes
    ep4 = weights_per_stage(model, tp=4, pp=1, ep=4, moe_kernel="fused_moe")[0].bytes
    # Same expert bytes either way (a quarter of every expert vs a quarter of the experts).
    assert ep4 == pytest.approx(no_ep, rel=0.01)


def test_pipeline_stages_cover_all_layers_and_hold_embeddings_at_the_ends() -> None:
    model = load_model("deepseek-v3")
    stages = weights_per_stage(model, tp=8, pp=2, ep=1, moe_kernel="fused_moe")
    assert sum(s.layers for s in stages) == model.num_layers == 61
    assert stages[0].embedding_bytes > 0 and stages[0].lm_head_bytes == 0
    assert stages[1].embedding_bytes == 0 and stages[1].lm_head_bytes > 0
    one_stage = weights_per_stage(model, tp=8, pp=1, ep=1, moe_kernel="fused_moe")[0]
    assert sum(s.bytes for s in stages) == pytest.approx(one_stage.bytes, rel=0.001)


@pytest.mark.parametrize(
    ("layers", "pp", "expected"),
    [(61, 2, [31, 30]), (36, 4, [9, 9, 9, 9]), (10, 3, [3, 4, 3]), (7, 1, [7])],
)
def test_stage_layer_counts_follow_vllm(layers: int, pp: int, expected: list[int]) -> None:
    # vLLM get_pp_indices: the remainder goes to the stages before the last one, from the end.
    assert stage_layer_counts(layers, pp) == expected


def test_round_up() -> None:
    assert round_up(2880, 256) == 3072
    assert round_up(256, 256) == 256
    assert round_up(1, 64) == 64


def test_vocab_is_padded_to_64_before_the_tp_split() -> None:
    model = load_model("gpt-oss-120b")
    stage = weights_per_stage(model, tp=8, pp=1, ep=1, moe_kernel="triton")[0]
    # 201,088 is a multiple of 64 already: 201,088 / 8 rows of 2880 bf16 values.
    assert stage.embedding_bytes == 201088 // 8 * 2880 * 2
