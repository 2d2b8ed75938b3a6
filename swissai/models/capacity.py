"""Models of `swissai size`: published serving measurements (calibration data) and the result.

SizeResult is what `swissai size -o json|yaml` prints (stable keys, additions allowed)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from swissai.models.base import Frozen

SIZE_API_VERSION = "swissai/v1alpha1"


class ServingObservation(Frozen):
    """One published (or locally benchmarked) serving measurement of one vLLM replica."""

    id: str
    source: str = Field(description="URL or file the figures were read in")
    model: str = Field(description="catalog model id")
    gpu: str = Field(description="GPU profile id")
    vllm_version: str
    tp: int = Field(1, ge=1, le=64)
    pp: int = Field(1, ge=1, le=64)
    input_tokens: float = Field(gt=0, description="mean prompt tokens per request")
    output_tokens: float = Field(gt=0, description="mean generated tokens per request")
    num_prompts: int = Field(ge=1)
    concurrency: int | None = Field(
        None, ge=1, description="requests in flight at once; None = all sent at once (burst)"
    )
    output_tok_s: float = Field(gt=0, description="generated tokens/s of the whole replica")
    mean_ttft_ms: float | None = Field(None, gt=0)
    mean_tpot_ms: float | None = Field(None, gt=0)
    split: Literal["fit", "holdout"]
    notes: str = ""


class ObservationSet(Frozen):
    schema_version: Literal[1]
    observations: list[ServingObservation]


class SizeWorkload(Frozen):
    source: str
    peak_requests_per_s: float
    mean_requests_per_s: float
    input_tokens: float
    output_tokens: float
    input_tokens_p95: float
    peak_output_tokens_per_s: float


class SizeSlo(Frozen):
    ttft_p95_ms: float
    tpot_p95_ms: float
    output_tokens_per_s_per_user: float = Field(description="1000 / tpot_p95_ms")
    context_tokens: int = Field(description="max_model_len every replica is planned for")
    redundancy: int = Field(description="spare replicas beyond the peak (1 = N+1)")


class SizeOption(Frozen):
    gpu: str
    meets_slo: bool
    gpus: int
    nodes: int
    tensor_parallel_size: int | None
    pipeline_parallel_size: int | None
    expert_parallel: bool | None
    replicas: int = Field(description="with redundancy")
    replicas_for_peak: int
    concurrency_per_replica: int | None = Field(
        description="requests per replica at which the SLOs still hold"
    )
    requests_per_s_per_replica: float | None
    output_tokens_per_s_per_gpu: float | None = Field(
        description="at concurrency_per_replica, per GPU"
    )
    ttft_p95_ms: float | None
    tpot_p95_ms: float | None
    headroom_pct: float = Field(description="capacity of all replicas over the peak, minus 1")
    efficiency_decode: float | None
    efficiency_prefill: float | None
    efficiency_basis: str | None
    reason: str


class Calibration(Frozen):
    source: str
    gpu: str
    model: str
    efficiency_before: float
    efficiency_after: float
    points: int
    chosen_before: str
    chosen_after: str
    change: str


class SizeResult(Frozen):
    apiVersion: str = SIZE_API_VERSION
    kind: Literal["SizeResult"] = "SizeResult"
    model: str
    vllm_version: str
    workload: SizeWorkload
    slo: SizeSlo
    feasible: bool
    chosen: str | None = Field(description="gpu id of the first-ranked option meeting the SLOs")
    closest: str | None = Field(description="when nothing meets the SLOs: the nearest option")
    options: list[SizeOption]
    calibration: Calibration | None = None
    basis: str
    notes: list[str] = Field(default_factory=list)


# --- swissai cost -----------------------------------------------------------------------------


class ServerPriceEntry(Frozen):
    price: float = Field(gt=0)
    currency: Literal["CHF", "USD", "EUR"]
    gpus_per_server: int = Field(ge=1, le=64)
    gpu_tdp_w: float = Field(gt=0, le=5000)
    other_w: float = Field(ge=0, le=50000)
    date: str
    source: str
    reliability: Literal["A", "B", "C"] = "C"


class ServerPriceFile(Frozen):
    schema_version: Literal[1]
    servers: dict[str, ServerPriceEntry]


class ApiPriceEntry(Frozen):
    id: str
    provider: str
    model: str
    input_per_mtok: float = Field(ge=0)
    output_per_mtok: float = Field(ge=0)
    cached_input_per_mtok: float | None = Field(None, ge=0)
    currency: Literal["CHF", "USD", "EUR"]
    date: str
    source: str


class ApiPriceFile(Frozen):
    schema_version: Literal[1]
    apis: list[ApiPriceEntry]


class FxRates(Frozen):
    USD: float = Field(gt=0)
    EUR: float = Field(gt=0)
    date: str
    source: str


class SiteDefaults(Frozen):
    schema_version: Literal[1]
    electricity_chf_per_kwh: float
    electricity_source: str
    pue: float
    pue_source: str
    amortisation_years: float
    colocation_chf_per_server_month: float
    colocation_source: str
    support_share_per_year: float
    support_source: str
    ops_fte: float
    fte_chf_per_year: float
    ops_source: str
    idle_power_share: float
    idle_power_source: str
    fx: FxRates


class PriceOverrides(Frozen):
    """`swissai cost --prices FILE`: any of the catalog's servers and APIs, replaced or added."""

    servers: dict[str, ServerPriceEntry] = Field(default_factory=dict)
    apis: list[ApiPriceEntry] = Field(default_factory=list)


class CostInput(Frozen):
    name: str
    value: str
    source: str


class SweepPoint(Frozen):
    load_pct: float = Field(description="share of the on-premises capacity used, all month")
    output_tokens_per_month: float
    onprem_chf_per_mtok: float
    api_chf_per_mtok: dict[str, float]


class CostOption(Frozen):
    kind: Literal["onprem", "api"]
    name: str
    gpus: int | None = None
    servers: int | None = None
    upfront_chf: float = 0.0
    monthly_chf: float = Field(description="at the workload's volume, hardware amortised")
    monthly_breakdown_chf: dict[str, float] = Field(default_factory=dict)
    chf_per_mtok: float = Field(description="per million tokens (input + output)")
    total_chf_over_horizon: float
    break_even_month: dict[str, int | None] = Field(
        default_factory=dict, description="on-premises only: month it beats each API, or null"
    )
    sweep: list[SweepPoint] = Field(default_factory=list)
    price_source: str = ""


class CostResult(Frozen):
    apiVersion: str = SIZE_API_VERSION
    kind: Literal["CostResult"] = "CostResult"
    model: str
    horizon_months: int
    tokens_per_month: dict[str, float]
    cheapest: str
    options: list[CostOption]
    inputs: list[CostInput]
    size: SizeResult
    notes: list[str] = Field(default_factory=list)
