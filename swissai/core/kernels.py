"""Which MoE and attention kernels vLLM picks for a model on a GPU, per version.

MXFP4 (gpt-oss) MoE backend, vllm/model_executor/layers/quantization/mxfp4.py
`get_mxfp4_backend` (research note §3, §9): SM100 (B200/GB200) -> FlashInfer; SM90 (H100/H200)
-> OpenAI Triton `matmul_ogs`; SM80-SM89 and SM120 -> Marlin (weight-only FP4, bf16 compute);
ROCm -> Triton. The `mxfp4` method needs SM >= 80 (`Mxfp4Config.get_min_capability` = 80).
Attention backend (vllm/platforms/cuda.py, v0.11): SM100 -> FlashInfer; SM90 -> FlashAttention 3;
other SM >= 80 with attention sinks or fp8 KV -> Triton attention.
"""

from __future__ import annotations

from swissai.errors import InputError
from swissai.models.gpu import GpuSpec
from swissai.models.model import ModelSpec

MXFP4_MIN_SM = 80
# FP8 weights: native FP8 GEMMs from SM89 (Ada/Hopper), the Marlin W8A16 fallback from SM80
# (fp8.py `Fp8LinearMethod`, `marlin_utils_fp8`); Turing (T4) has neither.
FP8_MIN_SM = 80


def check_weights_supported(model: ModelSpec, gpu: GpuSpec) -> None:
    """Refuse (exit 2) a checkpoint format this GPU cannot run in vLLM."""
    method = model.quantization.method
    if gpu.vendor == "nvidia" and gpu.sm < FP8_MIN_SM and method.startswith("fp8"):
        raise InputError(
            f"{gpu.id} (compute capability {gpu.compute_capability}) cannot run FP8 weights "
            "in vLLM",
            hint="FP8 needs compute capability 8.0 or newer; use a bf16, AWQ or GPTQ checkpoint",
        )


def default_mxfp4_kernel(gpu: GpuSpec) -> str:
    if gpu.vendor == "amd":
        return "triton"
    if gpu.sm >= 100 and gpu.sm < 120:
        return "flashinfer"
    if gpu.sm == 90:
        return "triton"
    return "marlin"


def select_moe_kernel(model: ModelSpec, gpu: GpuSpec, requested: str) -> str | None:
    """The MoE kernel whose weight layout the plan assumes; None for dense models."""
    if model.moe is None:
        if requested != "auto":
            raise InputError(
                f"--moe-backend {requested}: {model.id} is not a mixture-of-experts model",
                hint="leave --moe-backend at auto for dense models",
            )
        return None
    if model.quantization.method != "mxfp4":
        if requested not in ("auto", "triton"):
            raise InputError(
                f"--moe-backend {requested} applies to MXFP4 models; {model.id} uses vLLM's "
                "fused MoE (triton)",
                hint="use --moe-backend auto",
            )
        return "fused_moe"
    if gpu.vendor == "nvidia" and gpu.sm < MXFP4_MIN_SM:
        raise InputError(
            f"{gpu.id} (compute capability {gpu.compute_capability}) cannot run MXFP4 in vLLM",
            hint="MXFP4 needs compute capability 8.0 or newer (A100, L40S, H100, B200, ...)",
        )
    if requested == "auto":
        return default_mxfp4_kernel(gpu)
    if requested == "flashinfer" and not (100 <= gpu.sm < 120):
        raise InputError(
            f"--moe-backend flashinfer needs a Blackwell data-centre GPU (SM100); {gpu.id} is "
            f"SM{gpu.sm}",
            hint="use auto, triton (Hopper) or marlin (any GPU from Ampere on)",
        )
    if requested == "triton" and gpu.vendor == "nvidia" and gpu.sm < 90:
        raise InputError(
            f"--moe-backend triton (matmul_ogs) needs Hopper or newer; {gpu.id} is SM{gpu.sm}",
            hint="use auto or marlin on Ampere/Ada GPUs",
        )
    return requested


def attention_backend(model: ModelSpec, gpu: GpuSpec, kv_cache_dtype: str) -> str:
    if gpu.vendor == "amd":
        return "ROCM_AITER_UNIFIED_ATTN" if model.attention_sinks else "ROCM_ATTN"
    if model.attention == "mla":
        return "FLASHMLA" if gpu.sm in (90, 100) else "TRITON_MLA"
    if gpu.sm < 80:  # Turing/Volta: no FlashAttention 2; vLLM V1 falls back to Triton
        return "TRITON_ATTN"
    if 100 <= gpu.sm < 120:
        return "FLASHINFER"
    if gpu.sm == 90:
        return "FLASH_ATTN"
    if model.attention_sinks or kv_cache_dtype == "fp8":
        return "TRITON_ATTN"
    return "FLASH_ATTN"


def moe_kernel_env(kernel: str | None, requested: str, gpu: GpuSpec) -> dict[str, str]:
    """Environment that makes vLLM use the kernel the plan assumed, when it was forced."""
    if requested == "auto" or kernel is None:
        return {}
    if kernel == "marlin" and gpu.sm >= 90:
        return {"VLLM_MXFP4_USE_MARLIN": "1"}
    if kernel == "flashinfer":
        return {"VLLM_USE_FLASHINFER_MOE_MXFP4_BF16": "1"}
    return {}
