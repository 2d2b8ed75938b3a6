"""ServePlan: the contract every other command consumes (ARCHITECTURE.md, 'ServePlan').

Stable keys; additions are allowed, changes need a migration. Memory keys mean what vLLM prints:
weights = "Model loading took X GiB", kv_cache = "Available KV cache memory: X GiB",
kv_cache.tokens = "GPU KV cache size: N tokens" (as that version defines it),
max_concurrency = "Maximum concurrency for max_model_len tokens per request".
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, SerializerFunctionWrapHandler, model_serializer

from swissai.models.base import Frozen
from swissai.models.gpu import MAX_GPUS, MAX_NODES
from swissai.models.model import MAX_POSITIONS

API_VERSION = "swissai/v1alpha1"

# Upper bounds of plan options and plan files, far above any real deployment: vLLM's defaults
# are 256 to 1024 sequences and 2048 to 16384 batched tokens (planner.batch_defaults); a batch
# of more tokens than the longest context (MAX_POSITIONS) is never needed; a million concurrent
# full-context requests is beyond any cluster of MAX_GPUS. A plan file over them is corrupt.
MAX_NUM_SEQS = 1 << 17  # 131072 = 128 x vLLM's largest default (1024)
MAX_NUM_BATCHED_TOKENS = MAX_POSITIONS
MAX_CONCURRENCY = 1_000_000
MAX_PARALLEL_SIZE = MAX_GPUS  # TP, PP, DP, replicas: each at most every GPU of the plan

MoeBackend = Literal["auto", "triton", "marlin", "flashinfer"]
KvCacheDtype = Literal["auto", "fp8"]


class PlanModel(Frozen):
    id: str
    source: str
    hf_repo: str | None = None
    params_total: int
    params_active: int
    quantization: str


class PlanGpu(Frozen):
    id: str
    count: int = Field(ge=1, le=MAX_GPUS)


class PlanHardware(Frozen):
    gpus: list[PlanGpu]
    nodes: int = Field(ge=1, le=MAX_NODES)
    source: str = "spec"


class PlanVllm(Frozen):
    version: str = Field(description="the vLLM version whose accounting this plan follows")
    behaviour: str = Field(description="the documented vLLM version the accounting is taken from")
    moe_backend: str | None = Field(description="MoE kernel as vLLM would choose it, or None")
    attention_backend: str | None = None
    args: list[str] = Field(description="vllm serve arguments, long flags only")
    env: dict[str, str]


class PlanLayout(Frozen):
    tensor_parallel_size: int = Field(ge=1, le=MAX_PARALLEL_SIZE)
    pipeline_parallel_size: int = Field(ge=1, le=MAX_PARALLEL_SIZE)
    data_parallel_size: int = Field(ge=1, le=MAX_PARALLEL_SIZE)
    expert_parallel: bool
    replicas: int = Field(
        ge=0,
        le=MAX_PARALLEL_SIZE,
        description="independent vLLM deployments of gpus_per_replica GPUs",
    )
    gpus_per_replica: int = Field(ge=1, le=MAX_GPUS)
    nodes_per_replica: int = Field(ge=1, le=MAX_NODES)


class PlanLimits(Frozen):
    max_model_len: int = Field(ge=1, le=MAX_POSITIONS)
    max_num_seqs: int = Field(ge=1, le=MAX_NUM_SEQS)
    max_num_batched_tokens: int = Field(ge=1, le=MAX_NUM_BATCHED_TOKENS)
    gpu_memory_utilization: float = Field(gt=0, le=1, allow_inf_nan=False)
    block_size: int = Field(ge=1, le=256)
    kv_cache_dtype: KvCacheDtype


class PlanMemory(Frozen):
    """Per GPU, GiB, for the most loaded rank (vLLM sizes the KV cache by the smallest rank)."""

    total: float
    budget: float
    weights: float
    activation_peak: float
    non_torch: float
    cuda_graphs: float
    cuda_graphs_deducted: bool = Field(
        description="whether this vLLM version subtracts CUDA-graph memory from the budget; "
        "if not, graphs come out of the (1 - utilization) headroom"
    )
    kv_cache: float
    headroom_after_graphs: float = Field(
        description="total - budget - CUDA context - graphs not deducted; below 0 = OOM at capture"
    )


class PlanKvCache(Frozen):
    bytes_per_token: int = Field(description="KV bytes per token per GPU, full-attention layers")
    page_size_bytes: int
    groups: int = Field(description="KV cache groups (2 for gpt-oss: full + sliding)")
    layers_per_group: int
    blocks: int
    tokens: int = Field(description="'GPU KV cache size: N tokens' as this vLLM version prints it")
    blocks_per_request: int
    max_concurrency: float


class PlanEstimates(Frozen):
    """Roofline estimates (docs/sizing.md); labelled estimates, not measurements."""

    decode_tokens_per_s_per_replica: float
    decode_tokens_per_s_per_sequence: float
    ttft_ms_p50: float
    prefill_tokens_per_s_per_replica: float
    load_time_s: float
    basis: str


class LayoutOption(Frozen):
    """One evaluated or rejected layout, for the record."""

    tensor_parallel_size: int
    pipeline_parallel_size: int
    data_parallel_size: int
    expert_parallel: bool
    replicas: int
    feasible: bool
    served_concurrency: float
    kv_cache_gib: float
    reason: str


class PlanAvailability(Frozen):
    """The availability the plan intends. `render` writes exactly this into the rollout
    strategy, the PodDisruptionBudget and the placement rules; `check --plan` holds the
    manifests to it (OPS-001, OPS-002). Absent in plans written before swissai 0.2: render
    and check then derive it from `layout` (docs/render.md)."""

    replicas: int = Field(ge=1, description="serving replicas (= layout.replicas)")
    min_available: int = Field(
        ge=0,
        description="replicas that keep serving through a rolling update or a voluntary "
        "disruption (PodDisruptionBudget minAvailable); 0 = the plan accepts an outage",
    )
    max_unavailable: int = Field(ge=0, description="rolling update: replicas down at once")
    max_surge: int = Field(
        ge=0, description="rolling update: extra replicas started first (needs spare GPUs)"
    )
    spread: Literal["required", "preferred", "none"] = Field(
        description="one replica per node: `required` only when the plan's nodes can hold one "
        "replica each, else `preferred` (a required rule would leave replicas Pending)"
    )
    update_outage: bool = Field(
        description="an update or node drain stops all serving (single replica, no spare GPUs)"
    )
    reason: str = Field(description="why, in one sentence")


class PlanLoraAdapter(Frozen):
    name: str = Field(description="the model name clients request the adapter by")
    path: str = Field(description="the adapter directory (local at plan time; in-pod after render)")
    rank: int | None = Field(None, description="adapter_config.json r, where it was read")


class PlanLora(Frozen):
    """LoRA adapters and the memory vLLM reserves for them (core/lora.py, docs/lora.md)."""

    max_loras: int = Field(ge=1, description="--max-loras: adapters in one batch")
    max_lora_rank: int = Field(ge=1, description="--max-lora-rank")
    max_cpu_loras: int = Field(ge=1, description="--max-cpu-loras: adapters cached in host RAM")
    gpu_gib_per_gpu: float = Field(description="LoRA slots per GPU, taken from the KV cache")
    host_gib_per_replica: float = Field(description="host memory of the CPU adapter cache")
    adapters: list[PlanLoraAdapter] = Field(default_factory=list)


class ServePlan(Frozen):
    apiVersion: str = API_VERSION
    kind: Literal["ServePlan"] = "ServePlan"
    model: PlanModel
    hardware: PlanHardware
    vllm: PlanVllm
    layout: PlanLayout
    limits: PlanLimits
    memory_per_gpu_gib: PlanMemory
    kv_cache: PlanKvCache
    feasible: bool
    verdict: Literal["fits", "marginal", "does_not_fit"] | None = Field(
        None,
        description="fits / marginal (feasible, but with less margin than max(0.5 GiB, 1 % of "
        "the GPU): exit 0 with a warning) / does_not_fit (exit 4); absent in plans written "
        "before swissai 0.3",
    )
    margin_gib: float | None = Field(
        None,
        description="per GPU: the smaller of KV memory beyond one max_model_len request and "
        "memory left outside the budget after the CUDA context and graphs; < 0 does not fit",
    )
    served_concurrency: float = Field(description="max_concurrency x DP x replicas")
    target_concurrency: int | None = None
    reasons: list[str]
    warnings: list[str] = Field(default_factory=list)
    suggestions: list[str] = Field(default_factory=list)
    alternatives: list[LayoutOption] = Field(default_factory=list)
    estimates: PlanEstimates
    availability: PlanAvailability | None = Field(
        None, description="the availability intent render and check honour (swissai >= 0.2)"
    )
    lora: PlanLora | None = Field(
        None, description="LoRA adapters and their reserved memory; absent without adapters"
    )

    @model_serializer(mode="wrap")
    def _without_empty_lora(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # `lora` is absent, not null, in plans without adapters: plans written before it
        # existed and those written after stay byte-identical (golden files, plan digests).
        data: dict[str, Any] = handler(self)
        if data.get("lora") is None:
            data.pop("lora", None)
        return data
