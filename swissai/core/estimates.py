"""Roofline estimates of decode speed, time to first token and load time (docs/sizing.md).

These are estimates from datasheet figures, labelled as such in every output:

    per replica            = B / decode step(B) x serving efficiency (0.5, calibrated below)
    decode step (batch B)  = max(bytes read per step / (HBM bandwidth x eta_mem),
                                 2 x active params x B / (peak FLOP/s x eta_compute))
                             + step overhead + layers x per-layer TP all-reduce latency
    bytes read per step    = non-expert weights + experts touched by B tokens + KV read
    experts touched        = E x (1 - (1 - k/E)^B) per MoE layer (uniform routing)
    TTFT(prompt P)         = max(2 x active params x P / (peak FLOP/s x eta_compute),
                                 all weights / (HBM bandwidth x eta_mem))
                             + one decode step + request overhead (HTTP, tokenisation, scheduling)

eta_mem = 0.7 and eta_compute = 0.5 are typical achieved fractions of the datasheet peaks for
serving kernels (vLLM's decode kernels reach 60-80 % of HBM bandwidth; prefill GEMMs 40-60 %
MFU); tensor-parallel communication is not modelled, so TP > 1 estimates are optimistic.
"""

from __future__ import annotations

from dataclasses import dataclass

from swissai.core.sizing import Layout, Sizing
from swissai.core.weights import checkpoint_bytes
from swissai.models.gpu import GpuSpec
from swissai.models.model import ModelSpec

ETA_MEMORY = 0.7
ETA_COMPUTE = 0.5
REFERENCE_CONTEXT_TOKENS = 2048  # average context of a sequence during decode
REFERENCE_PROMPT_TOKENS = 1024  # prompt length for TTFT
MODEL_READ_GB_S = 2.0  # model volume read bandwidth per pod (PVC / local NVMe), GB/s
ENGINE_INIT_S = 90.0  # profiling, torch.compile and CUDA-graph capture (vLLM logs: 60-120 s)
STEP_OVERHEAD_S = 0.002  # scheduler, sampling and kernel launches per decode step (estimate)
ALLREDUCE_S = 8e-6  # one NVLink all-reduce of a decode batch's hidden states (estimate)
REQUEST_OVERHEAD_S = 0.020  # HTTP, tokenisation and scheduling of one request (estimate)
# Aggregate decode throughput reached under load relative to the roofline at batch 256:
# 0.43-0.55 in the four published gpt-oss-120b runs of GPUStack's performance lab (H100 TP2/TP4
# vLLM 0.10.2, A100 TP1/TP2 vLLM 0.11.0; benchmarks/plan_accuracy.py prints them). Applied to
# the per-replica figure only; the per-sequence figure stays a roofline.
SERVING_EFFICIENCY = 0.5


@dataclass(frozen=True)
class Estimates:
    decode_tokens_per_s_per_replica: float
    decode_tokens_per_s_per_sequence: float
    ttft_ms_p50: float
    prefill_tokens_per_s_per_replica: float
    load_time_s: float
    reference_batch: int
    basis: str


def peak_tflops(gpu: GpuSpec, model: ModelSpec) -> float:
    """Dense FLOP/s the matmuls run at: fp8 models on fp8 tensor cores where present; MXFP4
    experts compute in bf16 on Hopper/Ampere (weight-only), so bf16."""
    bf16 = gpu.bf16_dense_tflops or (gpu.fp8_dense_tflops or 100.0) / 2
    if model.quantization.method.startswith("fp8") and gpu.fp8_dense_tflops:
        return gpu.fp8_dense_tflops
    return bf16


def _rates(model: ModelSpec, gpu: GpuSpec, layout: Layout) -> tuple[float, float]:
    """(bytes/s, FLOP/s) one replica achieves: its TP x PP GPUs at the eta fractions."""
    ranks = layout.tp * layout.pp
    bw = gpu.memory_bandwidth_gb_s * 1e9 * ETA_MEMORY * ranks
    flops = peak_tflops(gpu, model) * 1e12 * ETA_COMPUTE * ranks
    return bw, flops


def decode_step_seconds(
    model: ModelSpec,
    gpu: GpuSpec,
    layout: Layout,
    sizing: Sizing,
    batch: int,
    context_tokens: int = REFERENCE_CONTEXT_TOKENS,
) -> float:
    """One decode step of `batch` sequences of `context_tokens` on one replica."""
    return step_seconds_from(
        model,
        gpu,
        layout,
        weights_gib_per_gpu=sizing.weights_gib,
        kv_bytes_per_token_per_gpu=sizing.geometry.bytes_per_token,
        batch=batch,
        context_tokens=context_tokens,
    )


def step_seconds_from(
    model: ModelSpec,
    gpu: GpuSpec,
    layout: Layout,
    *,
    weights_gib_per_gpu: float,
    kv_bytes_per_token_per_gpu: int,
    batch: int,
    context_tokens: int,
) -> float:
    """decode_step_seconds from the figures a ServePlan carries (weights per GPU, KV bytes per
    token per GPU), so the capacity search (core/capacity.py) can use plans it did not size."""
    bw, flops = _rates(model, gpu, layout)
    ranks = layout.tp * layout.pp
    weights_total = weights_gib_per_gpu * 2**30 * ranks
    read = weights_total
    moe = model.moe
    if moe is not None:
        # Expert weights are read only for experts some token in the batch routes to.
        expert_fraction = 1.0 - (1.0 - moe.experts_per_token / moe.num_experts) ** batch
        share = expert_share(model)
        read = weights_total * (1 - share) + weights_total * share * expert_fraction
    kv_per_token_all_ranks = kv_bytes_per_token_per_gpu * layout.tp
    read += batch * context_tokens * kv_per_token_all_ranks
    # two all-reduces per layer (attention out, MLP out) when TP > 1
    comm = 2 * model.num_layers * ALLREDUCE_S if layout.tp > 1 else 0.0
    compute = 2.0 * model.params_active * batch / flops
    return max(read / bw, compute) + STEP_OVERHEAD_S + comm


def estimate(
    model: ModelSpec, gpu: GpuSpec, layout: Layout, sizing: Sizing, max_num_seqs: int
) -> Estimates:
    bw, flops = _rates(model, gpu, layout)
    active_flops_per_token = 2.0 * model.params_active
    weights_total = sizing.weights_gib * 2**30 * layout.tp * layout.pp

    def step_seconds(batch: int) -> float:
        return decode_step_seconds(model, gpu, layout, sizing, batch)

    batch = max(1, min(int(sizing.max_concurrency), max_num_seqs))
    single = 1.0 / step_seconds(1)
    # A replica is never slower than one sequence on it: the efficiency applies under load.
    replica = max(single, batch / step_seconds(batch) * SERVING_EFFICIENCY)
    replica *= layout.dp if layout.dp > 1 else 1
    prefill_s = max(active_flops_per_token * REFERENCE_PROMPT_TOKENS / flops, weights_total / bw)
    ttft_ms = (prefill_s + step_seconds(1) + REQUEST_OVERHEAD_S) * 1000.0
    load = checkpoint_bytes(model) / (MODEL_READ_GB_S * 1e9) + ENGINE_INIT_S
    return Estimates(
        decode_tokens_per_s_per_replica=round(replica, 1),
        decode_tokens_per_s_per_sequence=round(single, 1),
        ttft_ms_p50=round(ttft_ms, 1),
        prefill_tokens_per_s_per_replica=round(flops / active_flops_per_token, 0),
        load_time_s=round(load, 0),
        reference_batch=batch,
        basis=(
            f"roofline estimate: HBM {gpu.memory_bandwidth_gb_s:.0f} GB/s x {ETA_MEMORY}, "
            f"{peak_tflops(gpu, model):.0f} TFLOP/s x {ETA_COMPUTE} per GPU, batch {batch}, "
            f"{REFERENCE_CONTEXT_TOKENS}-token context, {REFERENCE_PROMPT_TOKENS}-token prompt; "
            "TP all-reduce as a fixed latency per layer"
        ),
    )


def expert_share(model: ModelSpec) -> float:
    """Fraction of parameters that are routed experts."""
    moe = model.moe
    if moe is None:
        return 0.0
    per_expert = 3 * model.hidden_size * moe.moe_intermediate_size
    routed = (model.num_layers - moe.first_dense_layers) * moe.num_experts * per_expert
    return min(1.0, routed / model.params_total)
