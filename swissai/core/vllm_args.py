"""Plan -> argv and environment for `vllm serve` (long flags only, no shell strings).

The environment closes the phone-home paths of the rule catalog (RES-005 offline hub, RES-006
usage statistics off with the exact value "1" that vLLM compares against, Ray usage stats off).
"""

from __future__ import annotations

from swissai.core.sizing import Layout, Limits

# vLLM compares VLLM_NO_USAGE_STATS and (VLLM_)DO_NOT_TRACK with the string "1" (vllm/usage/
# usage_lib.py is_usage_stats_enabled); huggingface_hub treats HF_HUB_OFFLINE=1 as offline.
OFFLINE_ENV: dict[str, str] = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "VLLM_NO_USAGE_STATS": "1",
    "DO_NOT_TRACK": "1",
    "RAY_USAGE_STATS_ENABLED": "0",
}


def serve_args(
    *,
    model_ref: str,
    served_model_name: str,
    layout: Layout,
    limits: Limits,
    enable_prefix_caching: bool = True,
) -> list[str]:
    """Arguments after `vllm serve`; --tensor-parallel-size is always present (contract)."""
    args = [
        "--model",
        model_ref,
        "--served-model-name",
        served_model_name,
        "--tensor-parallel-size",
        str(layout.tp),
    ]
    if layout.pp > 1:
        args += ["--pipeline-parallel-size", str(layout.pp)]
    if layout.dp > 1:
        args += ["--data-parallel-size", str(layout.dp)]
    if layout.expert_parallel:
        args.append("--enable-expert-parallel")
    args += [
        "--max-model-len",
        str(limits.max_model_len),
        "--max-num-seqs",
        str(limits.max_num_seqs),
        "--max-num-batched-tokens",
        str(limits.max_num_batched_tokens),
        "--gpu-memory-utilization",
        f"{limits.gpu_memory_utilization:g}",
        "--block-size",
        str(limits.block_size),
        "--kv-cache-dtype",
        limits.kv_cache_dtype,
    ]
    if not enable_prefix_caching:
        args.append("--no-enable-prefix-caching")
    return args
