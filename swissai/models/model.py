"""ModelSpec: what the planner needs to know about a model, read from its Hugging Face config.json."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from swissai.models.base import Frozen

AttentionKind = Literal["gqa", "mla"]
LayerAttention = Literal["full", "sliding"]
QuantMethod = Literal["none", "mxfp4", "fp8_block", "fp8_channel"]


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

    @property
    def label(self) -> str:
        return {
            "none": "bf16",
            "mxfp4": "mxfp4 (experts, block-32 e8m0 scales) + bf16",
            "fp8_block": "fp8 e4m3 (block scales) + bf16",
            "fp8_channel": "fp8 e4m3 (per-channel scales) + bf16",
        }[self.method]


class MlaDims(Frozen):
    """Multi-head latent attention (DeepSeek-V2/V3) dimensions."""

    kv_lora_rank: int
    q_lora_rank: int | None
    qk_nope_head_dim: int
    qk_rope_head_dim: int
    v_head_dim: int


class MoeDims(Frozen):
    """Mixture-of-experts dimensions."""

    num_experts: int
    experts_per_token: int
    moe_intermediate_size: int
    num_shared_experts: int = 0
    first_dense_layers: int = Field(0, description="leading layers with a dense MLP (DeepSeek)")


class ModelSpec(Frozen):
    """One model, derived from its config.json (and a catalog entry where it has one)."""

    id: str = Field(description="catalog id or the path it was read from")
    source: str = Field(description="'catalog' or the config.json path")
    hf_repo: str | None = None
    architecture: str
    model_type: str
    torch_dtype_bytes: int = Field(2, description="bytes per unquantized parameter (bf16 = 2)")
    hidden_size: int
    num_layers: int
    num_attention_heads: int
    num_kv_heads: int
    head_dim: int
    intermediate_size: int
    vocab_size: int
    max_position_embeddings: int
    tie_word_embeddings: bool = False
    attention_bias: bool = False
    attention_sinks: bool = False
    qk_norm: bool = False
    attention: AttentionKind = "gqa"
    layer_attention: list[LayerAttention] = Field(description="attention type of every layer")
    sliding_window: int | None = None
    mla: MlaDims | None = None
    moe: MoeDims | None = None
    quantization: Quantization = Quantization()
    params_total: int = Field(description="parameters, embeddings included, MTP heads excluded")
    params_active: int = Field(description="parameters used per token (top-k experts)")

    @property
    def num_full_layers(self) -> int:
        return sum(1 for a in self.layer_attention if a == "full")

    @property
    def num_sliding_layers(self) -> int:
        return sum(1 for a in self.layer_attention if a == "sliding")
