"""Hugging Face config.json (already parsed into a dict) -> ModelSpec. Pure: no file access.

Parameter counts follow the tensors vLLM instantiates (MTP/next-n heads of DeepSeek are not
loaded for plain serving and are excluded). `params_active` follows the model cards' convention
(gpt-oss card: 5.13B for 120b, 3.61B for 20b): non-expert parameters plus the top-k experts and the
unembedding (lm_head), without the input embedding table (a gather, not a matmul).
"""

from __future__ import annotations

from typing import Any

from swissai.errors import InputError
from swissai.models.model import (
    MAX_EXPERTS,
    MAX_HEAD_DIM,
    MAX_HEADS,
    MAX_HIDDEN_SIZE,
    MAX_INTERMEDIATE_SIZE,
    MAX_LAYERS,
    MAX_LORA_RANK,
    MAX_POSITIONS,
    MAX_VOCAB_SIZE,
    LayerAttention,
    MlaDims,
    ModelSpec,
    MoeDims,
    Quantization,
    StateDims,
)

# Bytes per unquantized parameter as vLLM serves it with --dtype auto: fp32 checkpoints are
# served in fp16/bf16 (vllm/config/model.py, _get_and_verify_dtype), so they count 2 bytes too.
_DTYPE_BYTES = {"bfloat16": 2, "float16": 2, "float32": 2}
MAX_INT64 = 2**63 - 1  # the widest integer a config.json field can mean


_HINT = "is this a Hugging Face config.json of a decoder-only model?"


def _int(
    config: dict[str, Any],
    *keys: str,
    default: int | None = None,
    low: int = 0,
    high: int = MAX_INT64,
) -> int:
    """The first of `keys` present (not null), an integer in [low, high]. Booleans, floats,
    strings and lists are refused: a config.json is read as transformers writes it."""
    for key in keys:
        value = config.get(key)
        if value is not None:
            if not isinstance(value, int) or isinstance(value, bool):
                raise InputError(
                    f"config.json: '{key}' must be an integer, got {_show(value)}", hint=_HINT
                )
            if not low <= value <= high:
                raise InputError(
                    f"config.json: '{key}' must be an integer from {low} to {high}, "
                    f"got {_show(value)}",
                    hint=_HINT,
                )
            return value
    if default is not None:
        return default
    raise InputError(
        f"config.json: missing '{keys[0]}'",
        hint="swissai needs a Hugging Face config.json of a decoder-only transformer",
    )


def _positive(config: dict[str, Any], key: str, high: int, default: int | None = None) -> int:
    value = _int(config, key, default=default, low=-MAX_INT64, high=MAX_INT64)
    if value < 1:
        raise InputError(
            f"config.json: '{key}' must be a positive integer, got {value}", hint=_HINT
        )
    if value > high:
        raise InputError(
            f"config.json: '{key}' is {value}, more than {high} (no real model comes near; "
            "a corrupt config?)",
            hint=_HINT,
        )
    return value


def _show(value: Any) -> str:
    """A value for a one-line message: short, whatever it is."""
    text = repr(value) if not isinstance(value, int) or abs(value) < 10**30 else "a huge integer"
    return text if len(text) <= 40 else text[:37] + "..."


def _strings(value: Any, key: str) -> list[str]:
    """A list of module names (modules_to_not_convert, ignore); anything else is refused."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InputError(
            f"config.json: 'quantization_config.{key}' must be a list of strings", hint=_HINT
        )
    return list(value)


def parse_quantization(config: dict[str, Any]) -> Quantization:
    qc = config.get("quantization_config")
    if not qc:
        return Quantization()
    if not isinstance(qc, dict):
        raise InputError("config.json: 'quantization_config' must be a mapping")
    method = str(qc.get("quant_method", "")).lower()[:40]
    if method == "mxfp4":
        return Quantization(
            method="mxfp4",
            mx_block_size=32,  # OCP MX: one E8M0 scale per 32 values (mxfp4_utils.OCP_MX_BLOCK_SIZE)
            unquantized_modules=_strings(
                qc.get("modules_to_not_convert"), "modules_to_not_convert"
            ),
        )
    if method == "fp8":
        block = qc.get("weight_block_size")
        if block is not None and (
            not isinstance(block, list)
            or len(block) != 2
            or not all(
                isinstance(b, int) and not isinstance(b, bool) and 1 <= b <= MAX_HIDDEN_SIZE
                for b in block
            )
        ):
            raise InputError(
                "config.json: 'quantization_config.weight_block_size' must be two positive "
                f"integers, got {_show(block)}",
                hint=_HINT,
            )
        return Quantization(
            method="fp8_block" if block else "fp8_channel",
            weight_block_size=list(block) if block else None,
            unquantized_modules=_strings(
                qc.get("modules_to_not_convert"), "modules_to_not_convert"
            ),
        )
    if method == "compressed-tensors":
        return _compressed_tensors(qc)
    if method in ("awq", "gptq", "awq_marlin", "gptq_marlin"):
        # AutoAWQ writes w_bit/q_group_size/zero_point, AutoGPTQ/GPTQModel bits/group_size/
        # desc_act/sym (HF configs of both). vLLM loads them with the Marlin kernels from SM80
        # (awq_marlin.py, gptq_marlin.py), which repack without changing the byte count; GPTQ
        # keeps g_idx and its sort indices (int32 per input row) when desc_act is set.
        base = method.split("_")[0]
        bits = _int(qc, "bits", "w_bit", default=4, low=2, high=8)
        group = _int(qc, "group_size", "q_group_size", default=128, low=-1, high=MAX_HIDDEN_SIZE)
        zero = (
            bool(qc.get("zero_point", base == "awq")) if base == "awq" else not qc.get("sym", True)
        )
        return Quantization(
            method="int_weight",
            format=base,
            bits=bits,
            group_size=group if group > 0 else None,
            zero_point=zero,
            act_order=base == "gptq" and bool(qc.get("desc_act", False)),
            unquantized_modules=_strings(
                qc.get("modules_to_not_convert"), "modules_to_not_convert"
            ),
        )
    if method == "bitsandbytes":
        if qc.get("load_in_8bit"):
            return Quantization(method="bnb_8bit", format="bitsandbytes")
        return Quantization(
            method="bnb_4bit",
            format="bitsandbytes",
            double_quant=bool(qc.get("bnb_4bit_use_double_quant", False)),
            unquantized_modules=_strings(qc.get("llm_int8_skip_modules"), "llm_int8_skip_modules"),
        )
    raise InputError(
        f"config.json: quantization method '{method}' is not supported by the planner",
        hint=SUPPORTED_QUANT,
    )


SUPPORTED_QUANT = (
    "supported: bf16/fp16, mxfp4, fp8 (block, channel, tensor), AWQ, GPTQ, compressed-tensors "
    "(int4/int8 weight-only, w8a8 int8, fp8), bitsandbytes"
)


def _compressed_tensors(qc: dict[str, Any]) -> Quantization:
    """llm-compressor checkpoints (vllm compressed_tensors.py): the first weight scheme decides
    (config groups of one checkpoint share it in every published model)."""
    groups = qc.get("config_groups") or {}
    if not isinstance(groups, dict):
        raise InputError(
            "config.json: 'quantization_config.config_groups' must be a mapping", hint=_HINT
        )
    ignore = _strings(qc.get("ignore"), "ignore")
    for group in groups.values():
        group = group if isinstance(group, dict) else {}
        weights = group.get("weights") or {}
        if not isinstance(weights, dict):
            continue
        bits, kind = weights.get("num_bits"), weights.get("type")
        activations = group.get("input_activations")
        if bits == 8 and kind == "float":
            return Quantization(
                method="fp8_channel", format="compressed-tensors", unquantized_modules=ignore
            )
        if kind == "int" and bits in (4, 8) and not activations:
            size = weights.get("group_size")
            group_size = size if isinstance(size, int) and not isinstance(size, bool) else None
            return Quantization(
                method="int_weight",
                format="compressed-tensors",
                bits=bits,
                group_size=group_size if group_size and group_size > 0 else None,
                zero_point=not weights.get("symmetric", True),
                act_order=bool(weights.get("actorder")),
                unquantized_modules=ignore,
            )
        if kind == "int" and bits == 8 and activations:
            return Quantization(
                method="int8_w8a8", format="compressed-tensors", unquantized_modules=ignore
            )
    raise InputError(
        "config.json: this compressed-tensors scheme is not supported by the planner",
        hint=SUPPORTED_QUANT,
    )


# layer_types spellings of hybrid models (HF configs): Qwen3-Next / Kimi Linear
# "linear_attention", Jamba/Falcon-H1/Granite-4 "mamba", LFM2 "conv"; all hold a fixed-size
# recurrent state per request instead of a growing KV cache.
STATE_LAYER_TYPES = ("linear_attention", "mamba", "mamba2", "conv")


def _layer_attention(config: dict[str, Any], num_layers: int) -> list[LayerAttention]:
    pattern = config.get("hybrid_override_pattern")
    if isinstance(pattern, str) and len(pattern) == num_layers:
        # Nemotron-H: M = Mamba-2 mixer, * = attention, - / E = MLP or MoE only (no cache;
        # counted as state-free "full" layers would overstate KV, so they are refused for now)
        if set(pattern) - {"M", "*"}:
            raise InputError(
                "config.json: hybrid_override_pattern with MLP-only layers is not sized yet",
                hint="supported hybrids: layer_types with linear_attention/mamba, Qwen3-Next",
            )
        return ["state" if c == "M" else "full" for c in pattern]
    interval = config.get("full_attention_interval")
    if config.get("layer_types") is None and isinstance(interval, int) and interval > 1:
        # Qwen3-Next: every interval-th layer is full attention, the others Gated DeltaNet
        return ["full" if (i + 1) % interval == 0 else "state" for i in range(num_layers)]
    types = config.get("layer_types")
    if types is not None and not isinstance(types, list):
        raise InputError("config.json: 'layer_types' must be a list", hint=_HINT)
    if types:
        if len(types) != num_layers:
            raise InputError(
                f"config.json: layer_types has {len(types)} entries for {num_layers} layers"
            )
        out: list[LayerAttention] = []
        for t in types:
            if t == "sliding_attention":
                out.append("sliding")
            elif t in ("full_attention", "attention"):
                out.append("full")
            elif t in STATE_LAYER_TYPES:
                out.append("state")
            else:
                raise InputError(f"config.json: unknown layer type {_show(t)}")
        return out
    if config.get("use_sliding_window") and config.get("sliding_window"):
        # Qwen2-style: layers from max_window_layers on use the window.
        first = _int(config, "max_window_layers", default=num_layers, high=MAX_LAYERS)
        return ["full" if i < first else "sliding" for i in range(num_layers)]
    return ["full"] * num_layers


def _shared_experts(config: dict[str, Any]) -> int:
    """DeepSeek: n_shared_experts; Qwen2-MoE/Qwen3-Next: shared_expert_intermediate_size in
    units of moe_intermediate_size."""
    if config.get("shared_expert_intermediate_size"):
        width = _positive(config, "shared_expert_intermediate_size", MAX_INTERMEDIATE_SIZE)
        unit = _positive(config, "moe_intermediate_size", MAX_INTERMEDIATE_SIZE, default=width)
        return max(1, width // unit)
    return _int(config, "n_shared_experts", default=0, high=MAX_EXPERTS)


def _rotary_dim(config: dict[str, Any], head_dim: int) -> int | None:
    """RoPE dimensions per head: head_dim x partial_rotary_factor (Phi, GLM, Qwen3-Next), or
    rotary_dim where the config names it; None = the whole head."""
    factor = config.get("partial_rotary_factor")
    if isinstance(factor, (int, float)) and not isinstance(factor, bool) and 0 < factor < 1:
        return int(head_dim * factor)
    return None


def _state_dims(config: dict[str, Any], hidden: int) -> StateDims | None:
    """Dimensions of the non-attention mixer (Gated DeltaNet or Mamba-2) from config.json."""
    if config.get("linear_num_value_heads"):
        k_heads = _positive(config, "linear_num_key_heads", MAX_HEADS)
        v_heads = _positive(config, "linear_num_value_heads", MAX_HEADS)
        k_dim = _positive(config, "linear_key_head_dim", MAX_HEAD_DIM)
        v_dim = _positive(config, "linear_value_head_dim", MAX_HEAD_DIM)
        key, value = k_heads * k_dim, v_heads * v_dim
        return StateDims(
            kind="gated_delta_net",
            conv_dim=2 * key + value,
            conv_kernel=_positive(config, "linear_conv_kernel_dim", 64, default=4),
            heads=v_heads,
            head_k=k_dim,
            head_v=v_dim,
            inner=value,
            # in_proj_qkvz (q, k, v, z) + in_proj_ba (b, a per value head)
            in_proj_out=2 * key + 2 * value + 2 * v_heads,
        )
    if config.get("mamba_n_heads") or config.get("mamba_num_heads"):
        heads = _int(config, "mamba_n_heads", "mamba_num_heads", low=1, high=MAX_HEADS)
        head_dim = _int(config, "mamba_d_head", "mamba_head_dim", low=1, high=MAX_HEAD_DIM)
        d_state = _int(config, "mamba_d_state", "ssm_state_size", default=128, low=1, high=4096)
        groups = _int(config, "mamba_n_groups", "n_groups", default=1, low=1, high=MAX_HEADS)
        inner = heads * head_dim
        return StateDims(
            kind="mamba2",
            conv_dim=inner + 2 * groups * d_state,
            conv_kernel=_int(config, "mamba_d_conv", "conv_kernel", default=4, low=1, high=64),
            heads=heads,
            head_k=head_dim,
            head_v=d_state,
            inner=inner,
            in_proj_out=2 * inner + 2 * groups * d_state + heads,
        )
    return None


# Sub-configs of multimodal checkpoints that the planner does not size (their encoders add
# weights and a profiling peak; said as a plan warning).
_TOWER_CONFIGS = ("vision_config", "audio_config", "speech_config")


def _flatten_nested(config: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Multimodal and new-style configs nest the language model under `text_config` (Gemma 3,
    Llama 4, Mistral 3, Qwen2.5-VL in transformers >= 4.5x): its keys win; the top level keeps
    what describes the checkpoint (architectures, quantization_config, dtype)."""
    text = config.get("text_config") or config.get("llm_config")
    if not isinstance(text, dict):
        return config, []
    merged = {**config, **text}
    for key in ("architectures", "quantization_config", "torch_dtype", "dtype"):
        if config.get(key) is not None:
            merged[key] = config[key]
    merged.pop("text_config", None)
    ignored = [k for k in _TOWER_CONFIGS if isinstance(config.get(k), dict)]
    return merged, ignored


def parse_model_config(
    config: dict[str, Any], *, model_id: str, source: str, hf_repo: str | None = None
) -> ModelSpec:
    """Derive a ModelSpec from a config.json mapping."""
    if not isinstance(config, dict):
        raise InputError("config.json must be a JSON object")
    config, ignored_towers = _flatten_nested(config)
    archs = config.get("architectures") or ["unknown"]
    if not isinstance(archs, list) or not archs or not all(isinstance(a, str) for a in archs):
        raise InputError("config.json: 'architectures' must be a list of names", hint=_HINT)
    model_type = config.get("model_type", "unknown")
    if not isinstance(model_type, str):
        raise InputError("config.json: 'model_type' must be a string", hint=_HINT)
    hidden = _positive(config, "hidden_size", MAX_HIDDEN_SIZE)
    layers = _positive(config, "num_hidden_layers", MAX_LAYERS)
    heads = _positive(config, "num_attention_heads", MAX_HEADS)
    kv_heads = _positive(config, "num_key_value_heads", MAX_HEADS, default=heads)
    head_dim = _positive(config, "head_dim", MAX_HEAD_DIM, default=max(1, hidden // heads))
    intermediate = _positive(config, "intermediate_size", MAX_INTERMEDIATE_SIZE)
    vocab = _positive(config, "vocab_size", MAX_VOCAB_SIZE)
    max_pos = _positive(config, "max_position_embeddings", MAX_POSITIONS)
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
    sliding_window = (
        _positive(config, "sliding_window", MAX_POSITIONS) if config.get("sliding_window") else None
    )
    layer_attention = _layer_attention(config, layers)
    rotary_dim = _rotary_dim(config, head_dim)
    state = _state_dims(config, hidden) if "state" in layer_attention else None
    if "state" in layer_attention and state is None:
        raise InputError(
            "config.json: linear-attention/Mamba layers without their dimensions",
            hint="supported hybrids: Gated DeltaNet (linear_num_value_heads ...) and Mamba-2 "
            "(mamba_n_heads ...)",
        )
    if "sliding" not in layer_attention:
        sliding_window = None

    mla: MlaDims | None = None
    if config.get("kv_lora_rank"):
        q_lora_rank = config.get("q_lora_rank")
        mla = MlaDims(
            kv_lora_rank=_positive(config, "kv_lora_rank", MAX_LORA_RANK),
            q_lora_rank=_positive(config, "q_lora_rank", MAX_LORA_RANK) if q_lora_rank else None,
            qk_nope_head_dim=_positive(config, "qk_nope_head_dim", MAX_HEAD_DIM),
            qk_rope_head_dim=_positive(config, "qk_rope_head_dim", MAX_HEAD_DIM),
            v_head_dim=_positive(config, "v_head_dim", MAX_HEAD_DIM),
        )

    moe: MoeDims | None = None
    num_experts = (
        config.get("num_local_experts")
        or config.get("num_experts")
        or config.get("n_routed_experts")
    )
    if num_experts:
        experts_key = next(
            k for k in ("num_local_experts", "num_experts", "n_routed_experts") if config.get(k)
        )
        num_experts = _positive(config, experts_key, MAX_EXPERTS)
        experts_per_token = _int(config, "num_experts_per_tok", "experts_per_token", low=-MAX_INT64)
        if not 1 <= experts_per_token <= num_experts:
            raise InputError(
                f"config.json: {experts_per_token} experts per token of {num_experts} experts",
                hint="num_experts_per_tok must be between 1 and the number of experts",
            )
        moe = MoeDims(
            num_experts=num_experts,
            experts_per_token=experts_per_token,
            moe_intermediate_size=_positive(
                config, "moe_intermediate_size", MAX_INTERMEDIATE_SIZE, default=intermediate
            ),
            num_shared_experts=_shared_experts(config),
            first_dense_layers=_int(config, "first_k_dense_replace", default=0, high=layers),
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
    num_state = layer_attention.count("state")
    mixer = attn
    total = active = (layers - num_state) * (attn + norms)
    if state is not None:
        mixer = (
            hidden * state.in_proj_out
            + state.conv_dim * state.conv_kernel
            + state.inner * hidden
            + 2 * state.heads
            + state.inner
        )
        total += num_state * (mixer + norms)
        active += num_state * (mixer + norms)
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
        sliding_window=sliding_window,
        rotary_dim=rotary_dim,
        mtp_layers=_int(
            config, "num_nextn_predict_layers", "mtp_num_hidden_layers", default=0, high=16
        ),
        mla=mla,
        moe=moe,
        state=state,
        nested_config_ignored=ignored_towers,
        quantization=parse_quantization(config),
        params_total=total,
        params_active=active,
    )
