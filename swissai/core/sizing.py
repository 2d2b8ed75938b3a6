"""Memory per GPU as vLLM (V1 engine) accounts it, and the KV cache that results.

Every term follows `determine_available_memory` in vllm/v1/worker/gpu_worker.py (research note
vllm_memory_model.md §1-§7, read from the published wheels 0.10.1.1 ... 0.33.0):

    budget      = total_memory x gpu_memory_utilization          (per GPU, of *total* memory)
    kv_cache    = budget - weights - activation_peak - non_torch - cuda_graphs(if deducted)
    num_blocks  = kv_cache // page_size // layers_per_group     (hybrid KV cache manager)
    concurrency = num_blocks / blocks_per_request(max_model_len)

Ranks of one pipeline stage are identical; across stages vLLM takes the smallest block count
(`unify_kv_cache_configs`), so the plan reports the most loaded stage.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from swissai.core.vllm_versions import VllmBehaviour
from swissai.core.weights import VOCAB_PADDING, mtp_layer_bytes, round_up, weights_per_stage
from swissai.models.gpu import GIB, GpuSpec
from swissai.models.model import ModelSpec

# --- calibrated constants (each with the evidence it rests on) -------------------------------
# Sampler warm-up in the profiling run (_dummy_sampler_run): logits of min(max_num_seqs,
# max_num_batched_tokens) dummy requests over the whole vocabulary (all-gathered on every TP
# rank), with temperature, top-k/top-p and probabilities alive at once. The "PyTorch
# activation peak" in vLLM 0.11.0 logs is 4.76 GiB for Llama-3.1-8B (vocab 128,256), 5.64 GiB
# for Qwen3-32B (151,936) and 7.38 GiB for gpt-oss-20b (201,088), all with 1024 requests
# (llm-d empirical-vllm-memory-results.md): 38.9, 38.9 and 37.7 bytes per logit. The bytes
# per logit are per version: VllmBehaviour.sampler_bytes_per_logit.
# Non-torch memory (NCCL communicators, custom all-reduce IPC buffers, cuBLAS workspaces) grows
# with the tensor-parallel size, so it is calibrated per TP size (issue 15):
# * TP1: 0.13-0.14 GiB, vLLM 0.11.0 on H100 (llm-d empirical-vllm-memory-results.md);
# * TP2 over NVLink: 0.54-0.55 GiB, same source (Llama-3.3-70B-FP8, Qwen3-32B);
# * TP4 over NVLink: 1.59 GiB, the residual of the LMCache Llama-3.1-70B H100 TP4 log (KV
#   32.06 GiB observed; every other term of the budget is pinned by the TP1/TP2 rows);
# * TP8 and beyond: +1.04 GiB per doubling (the TP2 -> TP4 step), an extrapolation;
# * without peer-to-peer (PCIe GPUs, TP across nodes) custom all-reduce is off and NCCL runs
#   over sockets/PCIe: 0.25 GiB on 2x RTX 4090 (r1-distill-qwen14b observation) and 0.33 GiB
#   on 2x RTX 5090 (vllm-project/vllm#14452), 0.30 GiB used for every TP size.
NON_TORCH_TP1_GIB = 0.13
NON_TORCH_MULTI_GPU_GIB = 0.55  # TP2 over NVLink (kept for callers of the 0.2 constant)
NON_TORCH_NVLINK_GIB = {2: 0.55, 4: 1.59}
NON_TORCH_NVLINK_PER_DOUBLING_GIB = 1.04
NON_TORCH_NO_P2P_GIB = 0.30
# The verdict band (issue 15): identical launches start or fail with a few hundred MiB between
# them (allocator fragmentation, driver versions, the CUDA context), and the replays agree with
# vLLM to ~1 % of the card. A plan whose margin is below max(0.5 GiB, 1 % of the card) is
# "marginal": it is predicted to start, but not with a margin a bank should rely on.
MARGINAL_MIN_GIB = 0.5
MARGINAL_FRACTION_OF_TOTAL = 0.01
# Rotary-embedding cos/sin cache: vLLM's RotaryEmbedding registers a buffer of
# max_position_embeddings x rotary_dim in the model dtype (rotary_embedding.py
# `_compute_cos_sin_cache`), shared by all layers (get_rope caches instances), counted in
# "Model loading took". 2 bytes per element (bf16/fp16).
ROPE_CACHE_BYTES_PER_ELEMENT = 2
# CUDA context and allocator state of the worker, outside vLLM's budget (the init snapshot is
# taken after the context exists). Typical CUDA 12 + PyTorch context: ~0.5 GiB (estimate).
CUDA_CONTEXT_GIB = 0.5
# CUDA-graph pool per captured size and per decoder layer: "Graph capturing finished ... took
# 1.88 GiB" for gpt-oss-120b (36 layers, 83 capture sizes) on A100 TP4, v0.10.1.1. Other logs
# show 0.64-1.03 GiB for the same model on H100, so this is the conservative end.
CUDA_GRAPH_GIB_PER_SIZE_LAYER = 1.88 / (83 * 36)
# Forward-pass activations of the profiling batch: bytes per token and per unit of width
# (hidden states, qkv, MLP/MoE intermediates alive at the peak), bf16.
FORWARD_BYTES_PER_TOKEN_WIDTH = 2 * 2


@dataclass(frozen=True)
class Limits:
    max_model_len: int
    max_num_seqs: int
    max_num_batched_tokens: int
    gpu_memory_utilization: float
    block_size: int
    kv_cache_dtype: str  # "auto" | "fp8"
    # --enforce-eager: no CUDA graphs are captured (no graph memory, slower decode)
    enforce_eager: bool = False
    # --cpu-offload-gb: this many GiB of weights per GPU live in CPU memory (vLLM multiplies
    # the flag by 1024**3: it is GiB) and stream in every forward pass
    cpu_offload_gib: float = 0.0
    # speculative decoding with the checkpoint's MTP layers: draft layers on the last stage
    spec_draft_layers: int = 0


@dataclass(frozen=True)
class Layout:
    tp: int
    pp: int
    dp: int
    expert_parallel: bool

    @property
    def ep(self) -> int:
        """Expert-parallel group size (vLLM: TP x DP when --enable-expert-parallel)."""
        return self.tp * self.dp if self.expert_parallel else 1

    @property
    def gpus(self) -> int:
        return self.tp * self.pp * self.dp


@dataclass(frozen=True)
class KvGeometry:
    page_size_bytes: int
    layers_per_group: int
    num_full_groups: int
    num_sliding_groups: int
    bytes_per_token: int  # full-attention layers, this rank
    num_state_groups: int = 0  # hybrid models: groups of linear-attention / Mamba layers
    block_size: int = 0  # attention block size in tokens (raised for hybrid models); 0 = limits

    @property
    def groups(self) -> int:
        return self.num_full_groups + self.num_sliding_groups + self.num_state_groups


@dataclass(frozen=True)
class Sizing:
    total_gib: float
    budget_gib: float
    weights_gib: float
    activation_peak_gib: float
    non_torch_gib: float
    cuda_graphs_gib: float
    cuda_graphs_deducted: bool
    kv_cache_gib: float
    headroom_gib: float
    geometry: KvGeometry
    num_blocks: int
    blocks_per_request: int
    max_concurrency: float
    kv_tokens: int
    stage: int
    kv_one_request_gib: float = 0.0  # KV memory one max_model_len request needs on this rank
    lora_gib: float = 0.0  # LoRA slots (core/lora.py), 0 without adapters

    @property
    def feasible_memory(self) -> bool:
        return self.kv_cache_gib > 0 and self.max_concurrency >= 1 and self.headroom_gib >= 0

    @property
    def kv_margin_gib(self) -> float:
        """KV memory beyond one max_model_len request (vLLM refuses to start below 0)."""
        return self.kv_cache_gib - self.kv_one_request_gib

    @property
    def margin_gib(self) -> float:
        """The smaller of the two margins a start depends on: KV memory beyond one request,
        and memory left outside the budget after the CUDA context and whatever is allocated
        after the KV cache (graph capture when this version does not deduct it)."""
        return min(self.kv_margin_gib, self.headroom_gib)

    @property
    def marginal_band_gib(self) -> float:
        return max(MARGINAL_MIN_GIB, MARGINAL_FRACTION_OF_TOTAL * self.total_gib)

    @property
    def verdict(self) -> str:
        """fits | marginal | does_not_fit (docs/sizing.md, 'Verdict and margin')."""
        if not self.feasible_memory:
            return "does_not_fit"
        return "marginal" if self.margin_gib < self.marginal_band_gib else "fits"


def non_torch_gib(gpus: int, tp: int, p2p: bool = True) -> float:
    """Non-torch memory per GPU for a replica of `gpus` GPUs with tensor-parallel size `tp`
    (calibration above). `p2p`: the TP group talks over NVLink/xGMI (custom all-reduce on)."""
    if gpus <= 1:
        return NON_TORCH_TP1_GIB
    if not p2p:
        return NON_TORCH_NO_P2P_GIB
    if tp in NON_TORCH_NVLINK_GIB:
        return NON_TORCH_NVLINK_GIB[tp]
    if tp < 4:  # TP1 or TP3 inside a multi-GPU replica (PP/DP): the TP2 figure
        return NON_TORCH_NVLINK_GIB[2]
    doublings = math.log2(tp / 4)
    return round(NON_TORCH_NVLINK_GIB[4] + NON_TORCH_NVLINK_PER_DOUBLING_GIB * doublings, 2)


def kv_dtype_bytes(model: ModelSpec, kv_cache_dtype: str) -> int:
    return 1 if kv_cache_dtype == "fp8" else 2


def kv_geometry(model: ModelSpec, layers: Sequence[str], tp: int, limits: Limits) -> KvGeometry:
    """Page size and grouping (kv_cache_interface.py, kv_cache_utils.py
    `_get_kv_cache_config_uniform_page_size`)."""
    dtype = kv_dtype_bytes(model, limits.kv_cache_dtype)
    bs = limits.block_size
    if model.mla is not None:
        # MLA latent cache: one vector of kv_lora_rank + rope dims per token, no K/V factor 2,
        # replicated on every TP rank.
        per_token_layer = (model.mla.kv_lora_rank + model.mla.qk_rope_head_dim) * dtype
    else:
        kv_heads_rank = max(1, model.num_kv_heads // tp)
        per_token_layer = 2 * kv_heads_rank * model.head_dim * dtype
    full = sum(1 for a in layers if a == "full")
    state = sum(1 for a in layers if a == "state")
    sliding = len(layers) - full - state
    if state and model.state is not None:
        # Hybrid KV cache manager (vllm/platforms/interface.py + config/vllm.py
        # `verify_and_update_config` of hybrid models): the attention block size grows, in
        # steps of the kernel alignment (16), until an attention page holds a whole per-request
        # state; state pages are padded to the attention page. Each state layer then keeps one
        # page per request (no prefix caching of states) instead of one per block of tokens.
        state_bytes = model.state.state_bytes(tp)
        align = 16
        bs = max(bs, align * math.ceil(state_bytes / (align * per_token_layer)))
    page = bs * per_token_layer
    counts = [c for c in (full, sliding, state) if c]
    group_size = min(counts) if len(counts) > 1 else len(layers)
    full_groups = math.ceil(full / group_size) if full else 0
    sliding_groups = math.ceil(sliding / group_size) if sliding else 0
    state_groups = math.ceil(state / group_size) if state else 0
    return KvGeometry(
        page,
        group_size,
        full_groups,
        sliding_groups,
        full * per_token_layer,
        state_groups,
        bs,
    )


def blocks_per_request(
    model: ModelSpec,
    geometry: KvGeometry,
    limits: Limits,
    behaviour: VllmBehaviour,
    max_concurrent_batches: int,
) -> int:
    """Blocks one max_model_len request needs per layer slot (get_max_concurrency_for_...);
    a state group (hybrid models) holds one page per request."""
    bs = geometry.block_size or limits.block_size
    full = geometry.num_full_groups * math.ceil(limits.max_model_len / bs)
    sliding = 0
    if geometry.num_sliding_groups:
        window = model.sliding_window or limits.max_model_len
        in_flight = limits.max_num_batched_tokens
        if behaviour.sliding_window_uses_in_flight_tokens:
            in_flight *= max_concurrent_batches
        tokens = min(window - 1 + in_flight, limits.max_model_len)
        sliding = geometry.num_sliding_groups * (math.ceil(tokens / bs) + 1)
    return full + sliding + geometry.num_state_groups


@dataclass(frozen=True)
class KvCapacity:
    geometry: KvGeometry
    num_blocks: int
    blocks_per_request: int
    max_concurrency: float
    kv_tokens: int  # "KV cache size: N tokens" as this vLLM version prints it


def kv_capacity(
    model: ModelSpec,
    layers: Sequence[str],
    tp: int,
    limits: Limits,
    behaviour: VllmBehaviour,
    kv_bytes: int,
    max_concurrent_batches: int = 1,
) -> KvCapacity:
    """What vLLM makes of `kv_bytes` of KV memory on one rank holding `layers`: blocks,
    blocks per max_model_len request, concurrency and the tokens line (kv_cache_utils.py)."""
    geometry = kv_geometry(model, layers, tp, limits)
    num_blocks = max(0, kv_bytes // geometry.page_size_bytes // geometry.layers_per_group)
    per_request = blocks_per_request(model, geometry, limits, behaviour, max_concurrent_batches)
    concurrency = num_blocks / per_request if per_request else 0.0
    if behaviour.kv_tokens_line == "blocks_per_group":
        tokens = num_blocks // geometry.groups * (geometry.block_size or limits.block_size)
    else:
        tokens = int(concurrency * limits.max_model_len)
    return KvCapacity(geometry, num_blocks, per_request, concurrency, tokens)


def capture_sizes(model: ModelSpec, limits: Limits) -> int:
    """Number of CUDA-graph capture sizes: [1, 2, 4] + range(8, 256, 8) + range(256, max+1, 16),
    max = min(2 x max_num_seqs, 512), raised to 1024 for gpt-oss (models/config.py GptOss
    override; 83 sizes in the A100 log), never above max_num_batched_tokens."""
    largest = 1024 if model.model_type == "gpt_oss" else min(2 * limits.max_num_seqs, 512)
    largest = min(largest, limits.max_num_batched_tokens)
    sizes = [s for s in (1, 2, 4) if s <= largest]
    sizes += [s for s in range(8, 256, 8) if s <= largest]
    sizes += list(range(256, largest + 1, 16))
    return len(sizes)


def activation_peak_bytes(
    model: ModelSpec, layout: Layout, limits: Limits, behaviour: VllmBehaviour, last_stage: bool
) -> int:
    """Torch peak during the profiling run: the larger of the forward pass over
    max_num_batched_tokens and the sampler warm-up (last pipeline stage only)."""
    tokens = limits.max_num_batched_tokens
    tp = layout.tp
    hidden = model.hidden_size
    if model.mla is not None:
        attn_width = (
            model.num_attention_heads
            // tp
            * (model.mla.qk_nope_head_dim + model.mla.qk_rope_head_dim + model.mla.v_head_dim)
        )
    else:
        kv_rank = max(1, model.num_kv_heads // tp)
        attn_width = (model.num_attention_heads // tp + 2 * kv_rank) * model.head_dim
    if model.moe is not None:
        inter = model.moe.moe_intermediate_size
        inter_rank = inter if layout.expert_parallel else inter // tp
        # fused MoE caches: [M*topk, 2I], [M*topk, I], [M*topk, hidden]
        mlp_width = model.moe.experts_per_token * (3 * inter_rank + hidden)
    else:
        mlp_width = 3 * model.intermediate_size // tp
    forward = tokens * (4 * hidden + attn_width + mlp_width) * FORWARD_BYTES_PER_TOKEN_WIDTH // 2
    if not last_stage:
        return forward
    requests = min(limits.max_num_seqs, tokens)
    logits = requests * round_up(model.vocab_size, VOCAB_PADDING)
    sampler = logits * behaviour.sampler_bytes_per_logit
    return int(max(forward, sampler))


def size_memory(
    model: ModelSpec,
    gpu: GpuSpec,
    layout: Layout,
    limits: Limits,
    behaviour: VllmBehaviour,
    moe_kernel: str,
    lora_gib: float = 0.0,
    *,
    p2p: bool = True,
) -> Sizing:
    """Size every pipeline stage and return the one that limits the KV cache. `lora_gib`: the
    LoRA slots vLLM allocates with the model (core/lora.py), charged like weights. `p2p`: the TP
    group is joined by NVLink/xGMI (False for PCIe cards or TP across nodes)."""
    total = gpu.memory_total_gib
    budget = total * limits.gpu_memory_utilization
    stages = weights_per_stage(
        model, tp=layout.tp, pp=layout.pp, ep=layout.ep, moe_kernel=moe_kernel
    )
    non_torch = non_torch_gib(layout.gpus, layout.tp, p2p)
    # batches in flight: one per pipeline stage (async scheduling is not planned)
    max_concurrent_batches = layout.pp
    worst: Sizing | None = None
    first_layer = 0
    for stage in stages:
        layers = list(model.layer_attention[first_layer : first_layer + stage.layers])
        first_layer += stage.layers
        last = stage.stage == layout.pp - 1
        stage_bytes = stage.bytes
        if last and limits.spec_draft_layers:
            # MTP draft layers: full-attention KV layers and weights on the last stage
            layers += ["full"] * limits.spec_draft_layers
            stage_bytes += limits.spec_draft_layers * mtp_layer_bytes(
                model, tp=layout.tp, ep=layout.ep, moe_kernel=moe_kernel
            )
        weights = max(0.0, stage_bytes / GIB - limits.cpu_offload_gib)
        activation = activation_peak_bytes(model, layout, limits, behaviour, last) / GIB
        graphs = (
            0.0
            if limits.enforce_eager
            else CUDA_GRAPH_GIB_PER_SIZE_LAYER * capture_sizes(model, limits) * stage.layers
        )
        deducted = behaviour.cudagraphs_deducted
        kv = budget - weights - lora_gib - activation - non_torch - (graphs if deducted else 0.0)
        headroom = total - budget - CUDA_CONTEXT_GIB - (0.0 if deducted else graphs)
        cap = kv_capacity(
            model, layers, layout.tp, limits, behaviour, int(kv * GIB), max_concurrent_batches
        )
        geometry, num_blocks, per_request = cap.geometry, cap.num_blocks, cap.blocks_per_request
        concurrency, tokens = cap.max_concurrency, cap.kv_tokens
        one_request = per_request * geometry.page_size_bytes * geometry.layers_per_group / GIB
        sizing = Sizing(
            total_gib=total,
            budget_gib=budget,
            weights_gib=weights,
            activation_peak_gib=activation,
            non_torch_gib=non_torch,
            cuda_graphs_gib=graphs,
            cuda_graphs_deducted=deducted,
            kv_cache_gib=kv,
            headroom_gib=headroom,
            geometry=geometry,
            num_blocks=num_blocks,
            blocks_per_request=per_request,
            max_concurrency=concurrency,
            kv_tokens=tokens,
            stage=stage.stage,
            kv_one_request_gib=one_request,
            lora_gib=lora_gib,
        )
        if worst is None or (sizing.num_blocks, sizing.kv_cache_gib) < (
            worst.num_blocks,
            worst.kv_cache_gib,
        ):
            worst = sizing
    assert worst is not None
    return worst
