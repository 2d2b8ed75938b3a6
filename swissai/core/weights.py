"""Weight memory per GPU as vLLM reports it ("Model loading took X GiB").

vLLM measures torch-allocated bytes after `process_weights_after_loading`, so kernel-specific
padding and re-layout count (vllm_memory_model.md §3). We build the tensors each rank holds,
tensor family by tensor family, with the sharding vLLM applies:

* column-parallel (q/k/v, gate_up, q_b, kv_b): output dimension split by TP; KV heads are
  replicated when TP exceeds them (`max(1, num_kv_heads // tp)` heads per rank);
* row-parallel (o_proj, down_proj): input dimension split by TP;
* vocab-parallel embedding and lm_head: vocab padded to a multiple of 64
  (`DEFAULT_VOCAB_PADDING_SIZE`, vocab_parallel_embedding.py), then split by TP;
* replicated: norms, routers, MLA down-projections (q_a, kv_a);
* MoE experts: intermediate split by TP (all experts on every rank), or with
  --enable-expert-parallel whole experts split over the EP group (EP size = TP x DP).

MXFP4 expert padding by kernel (mxfp4.py `create_weights`, research note §3): Marlin pads hidden
to a multiple of 256 and intermediate to 128; Triton `matmul_ogs` pads intermediate to 64 and its
Hopper swizzle pads the value tensor's hidden dimension to 256 (scales unpadded); FlashInfer
(TRT-LLM, SM100) pads both to 256. Anchors: gpt-oss-120b TP1 Triton/H100 64.38 GiB observed,
TP4 Marlin/A100 17.22 GiB observed, gpt-oss-20b TP1 Triton 13.47 GiB observed.
"""

from __future__ import annotations

import fnmatch
import math
from dataclasses import dataclass
from functools import lru_cache

from swissai.models.model import ModelSpec

MoeKernel = str  # "triton" | "marlin" | "flashinfer" | "fused_moe"

BF16 = 2
VOCAB_PADDING = 64
FP8_BLOCK_SCALE_BYTES = 4  # float32 weight_scale_inv per block
MXFP4_VALUE_BYTES = 0.5  # two E2M1 values per byte


def round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


@dataclass(frozen=True)
class StageWeights:
    """Weight bytes on one rank of one pipeline stage."""

    stage: int
    layers: int
    bytes: int
    embedding_bytes: int
    lm_head_bytes: int


def stage_layer_counts(num_layers: int, pp: int) -> list[int]:
    """Layers per pipeline stage as vLLM's get_pp_indices splits them (extra layers go to the
    stages before the last one)."""
    base, extra = divmod(num_layers, pp)
    counts = [base] * pp
    for i in range(extra):
        counts[-(i + 2) if pp > 1 else 0] += 1
    return counts


def _unquantized(model: ModelSpec, module: str) -> bool:
    """Whether a module (e.g. 'model.layers.0.self_attn') is listed as not quantized."""
    patterns = model.quantization.unquantized_modules
    return bool(patterns) and _matches_any(tuple(patterns), module)


@lru_cache(maxsize=4096)
def _matches_any(patterns: tuple[str, ...], module: str) -> bool:
    # Cached: Qwen3-235B-A22B-FP8 lists 283 patterns and sizing asks about the same few module
    # names thousands of times per plan (the search and the suggestions).
    for pattern in patterns:
        if fnmatch.fnmatch(module, pattern) or module.startswith(pattern.rstrip("*").rstrip(".")):
            return True
    return False


def _linear_bytes(model: ModelSpec, out_features: int, in_features: int, module: str) -> float:
    """Bytes of one dense linear layer's weight (+ scales) on one rank."""
    q = model.quantization
    if q.method in QUANTIZED_LINEAR and not _unquantized(model, module):
        return _quantized_linear_bytes(model, out_features, in_features)
    if q.method in ("fp8_block", "fp8_channel") and not _unquantized(model, module):
        weight = float(out_features * in_features)
        if q.method == "fp8_block":
            bn, bk = q.weight_block_size or [128, 128]
            scales = math.ceil(out_features / bn) * math.ceil(in_features / bk)
        else:
            scales = out_features  # one float32 scale per output channel
        return weight + scales * FP8_BLOCK_SCALE_BYTES
    return float(out_features * in_features * model.torch_dtype_bytes)


QUANTIZED_LINEAR = ("fp8_tensor", "int_weight", "int8_w8a8", "bnb_4bit", "bnb_8bit")
FP16 = 2  # scales of AWQ/GPTQ/compressed-tensors WNA16 are in the activation dtype
INT32 = 4
BNB_BLOCK = 64  # bitsandbytes 4-bit blocksize (bnb.functional.quantize_4bit default)
BNB_NESTED_BLOCK = 256  # double quantization: 8-bit absmax, one fp32 scale per 256 blocks


def _quantized_linear_bytes(model: ModelSpec, out_features: int, in_features: int) -> float:
    """One quantized linear layer on one rank, as vLLM holds it after loading:

    * int weight-only (AWQ, GPTQ, compressed-tensors WNA16; Marlin/Machete repack keeps the
      byte count): packed weights out x in x bits/8, one fp16 scale per group of the input
      dimension (per output channel when the group is the whole row), zero points of the same
      packing when asymmetric (AWQ), and with GPTQ act-order the int32 g_idx and its sort
      indices per input row (gptq_marlin.py; symmetric zero points are freed at load);
    * int8 W8A8: int8 weights and one fp32 scale per output channel;
    * fp8 per tensor (online `--quantization fp8`): fp8 weights and one fp32 scale;
    * bitsandbytes 4-bit: two values per byte and one absmax per 64 weights, fp32 or, with
      nested statistics, uint8 plus an fp32 per 256 blocks; 8-bit: int8 and fp32 per row.
    """
    q = model.quantization
    weights = out_features * in_features
    if q.method == "int_weight":
        bits = q.bits or 4
        groups = math.ceil(in_features / q.group_size) if q.group_size else 1
        total = weights * bits / 8 + groups * out_features * FP16
        if q.zero_point:
            total += groups * out_features * bits / 8
        if q.act_order:
            total += 2 * in_features * INT32
        return total
    if q.method == "int8_w8a8":
        return weights + out_features * FP8_BLOCK_SCALE_BYTES
    if q.method == "fp8_tensor":
        return weights + FP8_BLOCK_SCALE_BYTES
    if q.method == "bnb_8bit":
        return weights + out_features * FP8_BLOCK_SCALE_BYTES
    blocks = math.ceil(weights / BNB_BLOCK)
    absmax = blocks + math.ceil(blocks / BNB_NESTED_BLOCK) * 4 if q.double_quant else blocks * 4
    return weights / 2 + absmax


def _expert_bytes(
    model: ModelSpec, hidden: int, inter_rank: int, experts_rank: int, kernel: MoeKernel
) -> float:
    """All experts of one MoE layer on one rank (w13 = gate_up fused, w2 = down)."""
    q = model.quantization
    if q.method == "mxfp4":
        block = q.mx_block_size or 32
        if kernel == "marlin":
            h_val = h_scale = round_up(hidden, 256)
            i_pad = round_up(inter_rank, 128)
        elif kernel == "flashinfer":
            h_val = h_scale = round_up(hidden, 256)
            i_pad = round_up(inter_rank, 256)
        elif kernel == "triton":  # matmul_ogs: the Hopper swizzle pads the value layout only
            h_val, h_scale = round_up(hidden, 256), hidden
            i_pad = round_up(inter_rank, 64)
        else:  # "checkpoint": the bytes as stored, no kernel layout
            h_val = h_scale = hidden
            i_pad = inter_rank
        values = 3 * h_val * i_pad * MXFP4_VALUE_BYTES
        scales = 3 * h_scale * i_pad / block
        biases = (2 * i_pad + hidden) * BF16 if model.model_type == "gpt_oss" else 0
        return experts_rank * (values + scales + biases)
    w13 = _linear_bytes(model, 2 * inter_rank, hidden, "model.layers.0.mlp.experts")
    w2 = _linear_bytes(model, hidden, inter_rank, "model.layers.0.mlp.experts")
    return experts_rank * (w13 + w2)


def _state_mixer_bytes(model: ModelSpec, tp: int, layer: int) -> float:
    """A linear-attention / Mamba-2 mixer on one rank (qwen3_next.py GatedDeltaNet,
    mamba_mixer2.py): in_proj column-parallel, out_proj row-parallel, the depthwise conv1d and
    the per-head A/dt and gated norm replicated over the TP split of heads."""
    st = model.state
    assert st is not None
    module = f"model.layers.{layer}.linear_attn"
    total = _linear_bytes(model, st.in_proj_out // tp, model.hidden_size, module + ".in_proj")
    total += _linear_bytes(model, model.hidden_size, st.inner // tp, module + ".out_proj")
    total += st.conv_dim // tp * st.conv_kernel * BF16
    total += 2 * max(1, st.heads // tp) * 4 + st.inner // tp * BF16  # A_log, dt_bias fp32; norm
    return total


def _attention_bytes(model: ModelSpec, tp: int, layer: int) -> float:
    if model.state is not None and model.layer_attention[layer] == "state":
        return _state_mixer_bytes(model, tp, layer)
    module = f"model.layers.{layer}.self_attn"
    hidden = model.hidden_size
    heads_rank = model.num_attention_heads // tp
    if model.mla is not None:
        m = model.mla
        qk_head = m.qk_nope_head_dim + m.qk_rope_head_dim
        total = 0.0
        if m.q_lora_rank:
            total += _linear_bytes(model, m.q_lora_rank, hidden, module + ".q_a_proj")
            total += m.q_lora_rank * BF16
            total += _linear_bytes(model, heads_rank * qk_head, m.q_lora_rank, module + ".q_b_proj")
        else:
            total += _linear_bytes(model, heads_rank * qk_head, hidden, module + ".q_proj")
        total += _linear_bytes(
            model, m.kv_lora_rank + m.qk_rope_head_dim, hidden, module + ".kv_a_proj_with_mqa"
        )
        total += m.kv_lora_rank * BF16
        kv_b_out = heads_rank * (m.qk_nope_head_dim + m.v_head_dim)
        total += _linear_bytes(model, kv_b_out, m.kv_lora_rank, module + ".kv_b_proj")
        # MLA process_weights_after_loading keeps bf16 W_UK_T and W_UV copies of kv_b_proj.
        total += m.kv_lora_rank * kv_b_out * BF16
        total += _linear_bytes(model, hidden, heads_rank * m.v_head_dim, module + ".o_proj")
        return total
    q_rank = heads_rank * model.head_dim
    kv_rank = max(1, model.num_kv_heads // tp) * model.head_dim
    total = _linear_bytes(model, q_rank + 2 * kv_rank, hidden, module + ".qkv_proj")
    total += _linear_bytes(model, hidden, q_rank, module + ".o_proj")
    if model.attention_bias:
        total += (q_rank + 2 * kv_rank + hidden) * BF16
    if model.attention_sinks:
        total += heads_rank * BF16
    if model.qk_norm:
        total += 2 * model.head_dim * BF16
    return total


def _mlp_bytes(model: ModelSpec, tp: int, ep: int, layer: int, kernel: MoeKernel) -> float:
    hidden = model.hidden_size
    moe = model.moe
    module = f"model.layers.{layer}.mlp"
    if moe is None or layer < moe.first_dense_layers:
        inter_rank = model.intermediate_size // tp
        return _linear_bytes(model, 2 * inter_rank, hidden, module) + _linear_bytes(
            model, hidden, inter_rank, module
        )
    if ep > 1:
        experts_rank, inter_rank = math.ceil(moe.num_experts / ep), moe.moe_intermediate_size
    else:
        experts_rank, inter_rank = moe.num_experts, moe.moe_intermediate_size // tp
    total = _expert_bytes(model, hidden, inter_rank, experts_rank, kernel)
    # Routers stay bf16 (modules_to_not_convert for gpt-oss; unquantized gate in Qwen3/DeepSeek).
    total += hidden * moe.num_experts * BF16
    if model.model_type == "gpt_oss" or model.model_type.startswith("deepseek"):
        total += moe.num_experts * BF16  # router bias / e_score_correction_bias
    if moe.num_shared_experts:
        shared_rank = moe.moe_intermediate_size * moe.num_shared_experts // tp
        total += _linear_bytes(model, 2 * shared_rank, hidden, module + ".shared_experts")
        total += _linear_bytes(model, hidden, shared_rank, module + ".shared_experts")
    return total


def rope_cache_bytes(model: ModelSpec) -> int:
    """The rotary-embedding cos/sin cache one rank holds: max_position_embeddings x rotary dim x
    2 bytes (vLLM RotaryEmbedding buffer, one shared instance per model; 0 without RoPE)."""
    if model.mla is not None:
        rotary_dim = model.mla.qk_rope_head_dim
    else:
        rotary_dim = model.rotary_dim if model.rotary_dim is not None else model.head_dim
    return model.max_position_embeddings * rotary_dim * 2


def weights_per_stage(
    model: ModelSpec, *, tp: int, pp: int, ep: int, moe_kernel: MoeKernel
) -> list[StageWeights]:
    """Weight bytes on one GPU of each pipeline stage (TP ranks of a stage are equal)."""
    vocab_rank = math.ceil(round_up(model.vocab_size, VOCAB_PADDING) / tp)
    table = vocab_rank * model.hidden_size * BF16
    stages: list[StageWeights] = []
    first_layer = 0
    counts = stage_layer_counts(model.num_layers, pp)
    for stage, count in enumerate(counts):
        total = 0.0
        for layer in range(first_layer, first_layer + count):
            total += _attention_bytes(model, tp, layer)
            total += _mlp_bytes(model, tp, ep, layer, moe_kernel)
            total += 2 * model.hidden_size * BF16  # input / post-attention RMSNorm
        first_layer += count
        embedding = table if stage == 0 else 0
        last = stage == pp - 1
        lm_head = table if last and not (model.tie_word_embeddings and pp == 1) else 0
        total += embedding + lm_head + (model.hidden_size * BF16 if last else 0)
        total += rope_cache_bytes(model) if count else 0
        stages.append(StageWeights(stage, count, int(total), embedding, lm_head))
    return stages


def mtp_layer_bytes(model: ModelSpec, *, tp: int, ep: int, moe_kernel: MoeKernel) -> int:
    """One multi-token-prediction layer as vLLM loads it for speculative decoding
    (deepseek_mtp.py, qwen3_next_mtp.py): a decoder layer like the model's last one, the
    eh_proj (2 x hidden -> hidden, bf16, replicated) and three norms; DeepSeek's MTP module
    also holds its own embedding and shared_head (vocab-parallel tables)."""
    last = model.num_layers - 1
    total = _attention_bytes(model, tp, last) + _mlp_bytes(model, tp, ep, last, moe_kernel)
    total += 2 * model.hidden_size * model.hidden_size * BF16 + 5 * model.hidden_size * BF16
    if model.model_type.startswith("deepseek"):
        vocab_rank = math.ceil(round_up(model.vocab_size, VOCAB_PADDING) / tp)
        total += 2 * vocab_rank * model.hidden_size * BF16
    return int(total)


def checkpoint_bytes(model: ModelSpec) -> int:
    """Bytes of the checkpoint itself (TP1, no kernel padding), for load-time estimates."""
    return weights_per_stage(model, tp=1, pp=1, ep=1, moe_kernel="checkpoint")[0].bytes
