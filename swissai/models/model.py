"""ModelSpec: what the planner needs to know about a model, read from its Hugging Face config.json."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from swissai.models.base import Frozen

AttentionKind = Literal["gqa", "mla"]
LayerAttention = Literal["full", "sliding", "state"]  # state: linear attention / Mamba
QuantMethod = Literal[
    "none",
    "mxfp4",
    "fp8_block",
    "fp8_channel",
    "fp8_tensor",  # online `--quantization fp8` of a bf16 checkpoint: one scale per weight
    "int_weight",  # weight-only integer (AWQ, GPTQ, compressed-tensors WNA16): bits + groups
    "int8_w8a8",  # compressed-tensors W8A8 int8: int8 weights, fp32 per-channel scales
    "bnb_4bit",  # bitsandbytes NF4/FP4 (pre-quantized or `--quantization bitsandbytes`)
    "bnb_8bit",  # bitsandbytes LLM.int8
]

# Physical bounds of a decoder-only transformer, generous by an order of magnitude over the
# largest published configs (config.json of each on Hugging Face): they refuse nonsense (a
# config with 10**9 layers would make the planner build a 10**9-entry layer list and hang)
# without ever refusing a real model.
MAX_HIDDEN_SIZE = 1 << 17  # 131072; largest: 18432 (PaLM 540B), 16384 (Llama 3.1 405B)
MAX_LAYERS = 4096  # largest: 126 (Llama 3.1 405B), 118 (PaLM 540B)
MAX_HEADS = 4096  # attention heads; largest: 128 (Llama 3.1 405B, DeepSeek-V3)
MAX_HEAD_DIM = 8192  # largest: 256 (Gemma 2), MLA q/k 192 and latent 512 (DeepSeek-V3)
MAX_INTERMEDIATE_SIZE = 1 << 20  # 1048576; largest: 73728 (PaLM 540B), 53248 (Llama 405B)
MAX_VOCAB_SIZE = 1 << 24  # 16.7M; largest: 262144 (Gemma 3), 256000 (Gemma 2)
MAX_POSITIONS = 1 << 27  # 134M tokens; largest: 10485760 (Llama 4 Scout)
MAX_EXPERTS = 4096  # routed experts; largest: 512 (Qwen3-Next), 384 (Kimi K2)
MAX_LORA_RANK = MAX_HIDDEN_SIZE  # MLA ranks; DeepSeek-V3: q 1536, kv 512


class Quantization(Frozen):
    """How the checkpoint's weights are stored."""

    method: QuantMethod = "none"
    weight_block_size: list[int] | None = Field(
        None, description="fp8 block quantization block shape, e.g. [128, 128]"
    )
    mx_block_size: int | None = Field(
        None, description="MX block size: one E8M0 scale per this many values (32 for MXFP4)"
    )
    unquantized_modules: list[str] = Field(
        default_factory=list, description="modules_to_not_convert / ignore patterns, verbatim"
    )
    format: str = Field("", description="the checkpoint's quant_method (awq, gptq, ...)")
    bits: int | None = Field(None, ge=2, le=8, description="integer weight bits (int_weight)")
    group_size: int | None = Field(
        None, ge=1, description="weights per scale along the input dim; None = per channel"
    )
    zero_point: bool = Field(False, description="asymmetric: a zero point per group (AWQ)")
    act_order: bool = Field(False, description="GPTQ desc_act: int32 g_idx + sort indices")
    double_quant: bool = Field(True, description="bitsandbytes: 8-bit absmax (nested stats)")
    online: bool = Field(False, description="quantized by vLLM at load (--quantization)")

    @property
    def label(self) -> str:
        if self.method == "int_weight":
            group = f"group {self.group_size}" if self.group_size else "per-channel"
            zp = ", zero points" if self.zero_point else ""
            return f"int{self.bits} weight-only ({self.format or 'wNa16'}, {group}{zp}) + bf16"
        text = {
            "none": "bf16",
            "mxfp4": "mxfp4 (experts, block-32 e8m0 scales) + bf16",
            "fp8_block": "fp8 e4m3 (block scales) + bf16",
            "fp8_channel": "fp8 e4m3 (per-channel scales) + bf16",
            "fp8_tensor": "fp8 e4m3 (per-tensor scales) + bf16",
            "int8_w8a8": "int8 w8a8 (per-channel scales) + bf16",
            "bnb_4bit": "bitsandbytes 4-bit (block-64 absmax) + bf16",
            "bnb_8bit": "bitsandbytes int8 (per-row scales) + bf16",
        }[self.method]
        return text + (" (quantized by vLLM at load)" if self.online else "")


class MlaDims(Frozen):
    """Multi-head latent attention (DeepSeek-V2/V3) dimensions."""

    kv_lora_rank: int = Field(ge=1, le=MAX_LORA_RANK)
    q_lora_rank: int | None = Field(ge=1, le=MAX_LORA_RANK)
    qk_nope_head_dim: int = Field(ge=1, le=MAX_HEAD_DIM)
    qk_rope_head_dim: int = Field(ge=1, le=MAX_HEAD_DIM)
    v_head_dim: int = Field(ge=1, le=MAX_HEAD_DIM)


class StateDims(Frozen):
    """Non-attention (linear-attention / Mamba-style) layers: the recurrent state vLLM's hybrid
    KV manager keeps per request (mamba_utils.py state shapes) and the mixer's projections.

    conv state: conv_dim x (conv_kernel - 1); temporal state: heads x head_k x head_v; both
    split over TP by heads/channels. in_proj: hidden -> in_proj_out; out_proj: inner -> hidden.
    """

    kind: Literal["gated_delta_net", "mamba2"]
    conv_dim: int = Field(ge=1, le=MAX_INTERMEDIATE_SIZE)
    conv_kernel: int = Field(ge=1, le=64)
    heads: int = Field(ge=1, le=MAX_HEADS)
    head_k: int = Field(ge=1, le=MAX_HEAD_DIM)
    head_v: int = Field(ge=1, le=MAX_HEAD_DIM)
    inner: int = Field(ge=1, le=MAX_INTERMEDIATE_SIZE, description="value / SSM inner width")
    in_proj_out: int = Field(ge=1, le=4 * MAX_INTERMEDIATE_SIZE)

    def state_bytes(self, tp: int, dtype_bytes: int = 2) -> int:
        """One layer's state for one request on one rank."""
        conv = self.conv_dim // tp * (self.conv_kernel - 1)
        temporal = max(1, self.heads // tp) * self.head_k * self.head_v
        return (conv + temporal) * dtype_bytes


class MoeDims(Frozen):
    """Mixture-of-experts dimensions."""

    num_experts: int = Field(ge=1, le=MAX_EXPERTS)
    experts_per_token: int = Field(ge=1, le=MAX_EXPERTS)
    moe_intermediate_size: int = Field(ge=1, le=MAX_INTERMEDIATE_SIZE)
    num_shared_experts: int = Field(0, ge=0, le=MAX_EXPERTS)
    first_dense_layers: int = Field(
        0, ge=0, le=MAX_LAYERS, description="leading layers with a dense MLP (DeepSeek)"
    )


class ModelSpec(Frozen):
    """One model, derived from its config.json (and a catalog entry where it has one)."""

    id: str = Field(description="catalog id or the path it was read from")
    source: str = Field(description="'catalog' or the config.json path")
    hf_repo: str | None = None
    architecture: str
    model_type: str
    torch_dtype_bytes: int = Field(
        2, ge=1, le=8, description="bytes per unquantized parameter (bf16 = 2)"
    )
    hidden_size: int = Field(ge=1, le=MAX_HIDDEN_SIZE)
    num_layers: int = Field(ge=1, le=MAX_LAYERS)
    num_attention_heads: int = Field(ge=1, le=MAX_HEADS)
    num_kv_heads: int = Field(ge=1, le=MAX_HEADS)
    head_dim: int = Field(ge=1, le=MAX_HEAD_DIM)
    intermediate_size: int = Field(ge=1, le=MAX_INTERMEDIATE_SIZE)
    vocab_size: int = Field(ge=1, le=MAX_VOCAB_SIZE)
    max_position_embeddings: int = Field(ge=1, le=MAX_POSITIONS)
    tie_word_embeddings: bool = False
    attention_bias: bool = False
    attention_sinks: bool = False
    qk_norm: bool = False
    attention: AttentionKind = "gqa"
    layer_attention: list[LayerAttention] = Field(
        max_length=MAX_LAYERS, description="attention type of every layer"
    )
    sliding_window: int | None = Field(None, ge=1, le=MAX_POSITIONS)
    mtp_layers: int = Field(
        0, ge=0, le=16, description="multi-token-prediction layers of the checkpoint (MTP)"
    )
    rotary_dim: int | None = Field(
        None, ge=0, le=MAX_HEAD_DIM, description="RoPE dims per head; None = head_dim, 0 = none"
    )
    mla: MlaDims | None = None
    moe: MoeDims | None = None
    state: StateDims | None = Field(None, description="hybrid models: non-attention layers")
    nested_config_ignored: list[str] = Field(
        default_factory=list,
        description="sub-configs of a multimodal config.json not sized (e.g. vision_config)",
    )
    quantization: Quantization = Quantization()
    params_total: int = Field(
        ge=1, description="parameters, embeddings included, MTP heads excluded"
    )
    params_active: int = Field(ge=1, description="parameters used per token (top-k experts)")

    @property
    def num_full_layers(self) -> int:
        return sum(1 for a in self.layer_attention if a == "full")

    @property
    def num_sliding_layers(self) -> int:
        return sum(1 for a in self.layer_attention if a == "sliding")

    @property
    def num_state_layers(self) -> int:
        return sum(1 for a in self.layer_attention if a == "state")
