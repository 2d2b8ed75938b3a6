"""Hugging Face config.json (already parsed into a dict) -> ModelSpec. Pure: no file access.

Parameter counts follow the tensors vLLM instantiates (MTP/next-n heads of DeepSeek are not
loaded for plain serving and are excluded). `params_active` follows the model cards' convention
(gpt-oss card: 5.13B for 120b, 3.61B for 20b): non-expert parameters plus the top-k experts and the
unembedding (lm_head), without the input embedding table (a gather, not a matmul).
"""

from __future__ import annotations

from typing import Any

from swissai.errors import InputError
from swissai.models.model import LayerAttention, MlaDims, ModelSpec, MoeDims, Quantization

# Bytes per unquantized parameter as vLLM serves it with --dtype auto: fp32 checkpoints are
# served in fp16/bf16 (vllm/config/model.py, _get_and_verify_dtype), so they count 2 bytes too.
_DTYPE_BYTES = {"bfloat16": 2, "float16": 2, "float32": 2}


def _int(config: dict[str, Any], *keys: str, default: int | None = None) -> int:
    for key in keys:
        value = config.get(key)
        if value is not None:
            if not isinstance(value, int) or isinstance(value, bool):
                raise InputError(
                    f"config.json: '{key}' must be an integer, got {value!r}",
                    hint="is this a Hugging Face config.json of a decoder-only model?",
                )
            return value
    if default is not None:
        return default
    raise InputError(
        f"config.json: missing '{keys[0]}'",
        hint="swissai needs a Hugging Face config.json of a decoder-only transformer",
    )


def _positive(config: dict[str, Any], key: str, default: int | None = None) -> int:
    value = _int(config, key, default=default)
    if value < 1:
        raise InputError(
            f"config.json: '{key}' must be a positive integer, got {value}",
            hint="is this a Hugging Face config.json of a decoder-only model?",
        )
    return value


def parse_quantization(config: dict[str, Any]) -> Quantization:
    qc = config.get("quantization_config")
    if not qc:
        return Quantization()
    if not isinstance(qc, dict):
        raise InputError("config.json: 'quantization_config' must be a mapping")
    method = str(qc.get("quant_method", "")).lower()
    if method == "mxfp4":
        return Quantization(
            method="mxfp4",
            mx_block_size=32,  # OCP MX: one E8M0 scale per 32 values (mxfp4_utils.OCP_MX_BLOCK_SIZE)
            unquantized_modules=list(qc.get("modules_to_not_convert") or []),
        )
    if method == "fp8":
        block = qc.get("weight_block_size")
        return Quantization(
            method="fp8_block" if block else "fp8_channel",
            weight_block_size=list(block) if block else None,
            unquantized_modules=list(qc.get("modules_to_not_convert") or []),
        )
    if method == "compressed-tensors":
        groups = qc.get("config_groups") or {}
        for group in groups.values():
            weights = (group or {}).get("weights") or {}
            if weights.get("num_bits") == 8 and weights.get("type") == "float":
                return Quantization(
                    method="fp8_channel",
                    unquantized_modules=list(qc.get("ignore") or []),
                )
        raise InputError(
            "config.json: this compressed-tensors scheme is not supported by the planner",
            hint="supported: bf16/fp16, mxfp4, fp8 (block or per-channel)",
        )
    raise InputError(
        f"config.json: quantization method '{method}' is not supported by the planner",
        hint="supported: bf16/fp16, mxfp4, fp8 (block or per-channel)",
    )


def _layer_attention(config: dict[str, Any], num_layers: int) -> list[LayerAttention]:
    types = config.get("layer_types")
    if isinstance(types, list) and types:
        if len(types) != num_layers:
            raise InputError(
                f"config.json: layer_types has {len(types)} entries for {num_layers} layers"
            )
        out: list[LayerAttention] = []
        for t in types:
            if t == "sliding_attention":
                out.append("sliding")
            elif t == "full_attention":
                out.append("full")
            else:
                raise InputError(f"config.json: unknown layer type {t!r}")
        return out
    if config.get("use_sliding_window") and config.get("sliding_window"):
        # Qwen2-style: layers from max_window_layers on use the window.
        first = _int(config, "max_window_layers", default=num_layers)
        return ["full" if i < first else "sliding" for i in range(num_layers)]
    return ["full"] * num_layers


def parse_model_config(
    config: dict[str, Any], *, model_id: str, source: str, hf_repo: str | None = None
) -> ModelSpec:
    """Derive a ModelSpec from a config.json mapping."""
    if not isinstance(config, dict):
        raise InputError("config.json must be a JSON object")
    archs = config.get("architectures") or ["unknown"]
    model_type = str(config.get("model_type", "unknown"))
    hidden = _positive(config, "hidden_size")
    layers = _positive(config, "num_hidden_layers")
    heads = _positive(config, "num_attention_heads")
    kv_heads = _positive(config, "num_key_value_heads", default=heads)
    head_dim = _positive(config, "head_dim", default=max(1, hidden // heads))
    intermediate = _positive(config, "intermediate_size")
    vocab = _positive(config, "vocab_size")
    max_pos = _positive(config, "max_position_embeddings")
    if not config.get("kv_lora_rank") and heads % kv_heads:
        raise InputError(
            f"config.json: {heads} attention heads do not group over {kv_heads} KV heads",
            hint="num_attention_heads must be a multiple of num_key_value_heads",
        )
    tied = bool(config.get("tie_word_embeddings", False))
    # transformers >= 5 writes "dtype" where older versions wrote "torch_dtype"
    dtype_name = config.get("torch_dtype") or config.get("dtype") or "bfloat16"
    dtype_bytes = _DTYPE_BYTES.get(str(dtype_name), 2)
    is_gpt_oss = model_type == "gpt_oss"
    attention_bias = bool(config.get("attention_bias", False))
    qk_norm = model_type.startswith("qwen3")
    sliding_window = config.get("sliding_window") if config.get("sliding_window") else None
    layer_attention = _layer_attention(config, layers)
    if "sliding" not in layer_attention:
        sliding_window = None

    mla: MlaDims | None = None
    if config.get("kv_lora_rank"):
        mla = MlaDims(
            kv_lora_rank=_int(config, "kv_lora_rank"),
            q_lora_rank=config.get("q_lora_rank"),
            qk_nope_head_dim=_int(config, "qk_nope_head_dim"),
            qk_rope_head_dim=_int(config, "qk_rope_head_dim"),
            v_head_dim=_int(config, "v_head_dim"),
        )

    moe: MoeDims | None = None
    num_experts = (
        config.get("num_local_experts")
        or config.get("num_experts")
        or config.get("n_routed_experts")
    )
    if num_experts:
        experts_per_token = _int(config, "num_experts_per_tok", "experts_per_token")
        if not isinstance(num_experts, int) or not 1 <= experts_per_token <= num_experts:
            raise InputError(
                f"config.json: {experts_per_token} experts per token of {num_experts} experts",
                hint="num_experts_per_tok must be between 1 and the number of experts",
            )
        moe = MoeDims(
            num_experts=num_experts,
            experts_per_token=experts_per_token,
            moe_intermediate_size=_positive(config, "moe_intermediate_size", default=intermediate),
            num_shared_experts=_int(config, "n_shared_experts", default=0),
            first_dense_layers=_int(config, "first_k_dense_replace", default=0),
        )

    # --- parameter count, tensor by tensor -------------------------------------------------
    if mla is not None:
        qk_head = mla.qk_nope_head_dim + mla.qk_rope_head_dim
        if mla.q_lora_rank:
            attn = hidden * mla.q_lora_rank + mla.q_lora_rank + mla.q_lora_rank * heads * qk_head
        else:
            attn = hidden * heads * qk_head
        attn += hidden * (mla.kv_lora_rank + mla.qk_rope_head_dim) + mla.kv_lora_rank
        attn += mla.kv_lora_rank * heads * (mla.qk_nope_head_dim + mla.v_head_dim)
        attn += heads * mla.v_head_dim * hidden
    else:
        q_width, kv_width = heads * head_dim, kv_heads * head_dim
        attn = hidden * q_width + 2 * hidden * kv_width + q_width * hidden
        if attention_bias:
            attn += q_width + 2 * kv_width + hidden
        if is_gpt_oss:
            attn += heads  # attention sinks, one per head
        if qk_norm:
            attn += 2 * head_dim
    norms = 2 * hidden
    dense_mlp = 3 * hidden * intermediate
    total = active = layers * (attn + norms)
    if moe is None:
        total += layers * dense_mlp
        active += layers * dense_mlp
    else:
        per_expert = 3 * hidden * moe.moe_intermediate_size
        if is_gpt_oss:
            per_expert += 2 * moe.moe_intermediate_size + hidden  # expert biases
        router = hidden * moe.num_experts + (moe.num_experts if is_gpt_oss else 0)
        if model_type.startswith("deepseek"):
            router += moe.num_experts  # e_score_correction_bias
        shared = 3 * hidden * moe.moe_intermediate_size * moe.num_shared_experts
        moe_layers = layers - moe.first_dense_layers
        total += moe.first_dense_layers * dense_mlp
        active += moe.first_dense_layers * dense_mlp
        total += moe_layers * (router + shared + moe.num_experts * per_expert)
        active += moe_layers * (router + shared + moe.experts_per_token * per_expert)
    embed = vocab * hidden
    total += embed + (0 if tied else embed) + hidden
    active += embed + hidden  # lm_head is read for every token; the embedding table is not

    return ModelSpec(
        id=model_id,
        source=source,
        hf_repo=hf_repo,
        architecture=str(archs[0]),
        model_type=model_type,
        torch_dtype_bytes=dtype_bytes,
        hidden_size=hidden,
        num_layers=layers,
        num_attention_heads=heads,
        num_kv_heads=kv_heads,
        head_dim=head_dim,
        intermediate_size=intermediate,
        vocab_size=vocab,
        max_position_embeddings=max_pos,
        tie_word_embeddings=tied,
        attention_bias=attention_bias,
        attention_sinks=is_gpt_oss,
        qk_norm=qk_norm,
        attention="mla" if mla else "gqa",
        layer_attention=layer_attention,
        sliding_window=int(sliding_window) if sliding_window else None,
        mla=mla,
        moe=moe,
        quantization=parse_quantization(config),
        params_total=total,
        params_active=active,
    )
