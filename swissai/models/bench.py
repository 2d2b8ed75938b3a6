"""BenchResults: what `swissai bench -o json` prints and `--out results.json` writes.

Keys follow `vllm bench serve` (vllm/benchmarks/serve.py) so results compare with theirs:
`completed`, `failed`, `duration`, `total_input_tokens`, `total_output_tokens`,
`request_throughput` (req/s), `output_throughput` and `total_token_throughput` (tok/s),
and for each latency (ttft, tpot, itl, e2el) `mean_*_ms`, `median_*_ms`, `std_*_ms` and
`p50_*_ms`, `p90_*_ms`, `p99_*_ms`. One entry per concurrency level in `levels`; warm-up
requests are counted apart (`warmup_completed`) and excluded from every statistic.
Token counts come from the server's `usage`, never from an estimate.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from swissai.models.base import Frozen

BENCH_API_VERSION = "swissai/v1alpha1"


class Workload(Frozen):
    profile: str
    api: Literal["completions", "chat"]
    input_len: int = Field(description="mean prompt tokens asked for, after clipping")
    output_len: int = Field(description="mean max_tokens asked for, after clipping")
    clipped_to_max_model_len: bool
    num_prompts_per_level: int | None = Field(description="fixed request count, or None")
    duration_s_per_level: float | None = Field(description="fixed duration, or None")
    ignore_eos: bool
    seed: int
    mix: dict[str, float] | None = Field(
        default=None, description="profile weights of a mixed workload (--mix), summing to 1"
    )
    request_rate: float | None = Field(
        default=None, description="requests/s (--request-rate); None = closed loop (vllm: inf)"
    )
    burstiness: float = Field(default=1.0, description="gamma shape of the gaps; 1 = Poisson")
    trace: str | None = Field(default=None, description="replayed trace file (--trace)")
    trace_requests: int | None = None
    goodput_slos_ms: dict[str, float] | None = Field(
        default=None, description="--goodput SLOs (ttft, tpot, e2el), milliseconds"
    )


class LevelResult(Frozen):
    concurrency: int = Field(description="requests in flight at once (max_concurrency)")
    num_prompts: int
    completed: int
    failed: int
    duration: float = Field(description="seconds, first request sent to last response")
    total_input_tokens: int
    total_output_tokens: int
    requests_without_usage: int = Field(
        description="completed requests the server sent no usage for"
    )
    request_throughput: float
    output_throughput: float
    total_token_throughput: float
    mean_ttft_ms: float
    median_ttft_ms: float
    std_ttft_ms: float
    p50_ttft_ms: float
    p90_ttft_ms: float
    p99_ttft_ms: float
    mean_tpot_ms: float
    median_tpot_ms: float
    std_tpot_ms: float
    p50_tpot_ms: float
    p90_tpot_ms: float
    p99_tpot_ms: float
    mean_itl_ms: float
    median_itl_ms: float
    std_itl_ms: float
    p50_itl_ms: float
    p90_itl_ms: float
    p99_itl_ms: float
    mean_e2el_ms: float
    median_e2el_ms: float
    std_e2el_ms: float
    p50_e2el_ms: float
    p90_e2el_ms: float
    p99_e2el_ms: float
    errors: dict[str, int] = Field(
        description="failed requests by kind (HTTP status, connect, ...)"
    )
    # Added by issue 17 (optional, so older results still read as a --baseline):
    request_goodput: float | None = Field(
        default=None, description="req/s meeting every --goodput SLO (vllm: request_goodput)"
    )
    max_output_tokens_per_s: float | None = Field(
        default=None, description="most output chunks (tokens) in one whole second"
    )
    max_concurrent_requests: int | None = Field(
        default=None, description="most requests in flight in one whole second"
    )
    mean_ttft_ms_first_turn: float | None = Field(
        default=None, description="sessions: mean TTFT of first turns"
    )
    mean_ttft_ms_later_turns: float | None = Field(
        default=None, description="sessions: mean TTFT of later turns (cached prefix)"
    )
    completed_by_kind: dict[str, int] | None = Field(
        default=None, description="a mix: completed requests per profile"
    )
    client_workers: int | None = Field(default=None, description="load-generator processes")
    client_cpu_busy: float | None = Field(
        default=None, description="busiest worker's CPU seconds per wall second (1.0 = saturated)"
    )
    client_limited: bool | None = Field(
        default=None, description="the load generator, not the server, may have set the pace"
    )
    send_lag_p99_ms: float | None = Field(
        default=None, description="open loop: p99 of how late requests left against schedule"
    )


class PlanComparisonRow(Frozen):
    metric: str
    concurrency: int
    measured: float
    planned: float
    ratio: float
    within_tolerance: bool
    verdict: str
    note: str


class PlanComparison(Frozen):
    plan_model: str
    tolerance: float = Field(description="allowed |measured - planned| / planned")
    rows: list[PlanComparisonRow]
    deviations: int


class BaselineRow(Frozen):
    metric: str
    concurrency: int
    baseline: float
    current: float
    change: float = Field(description="(current - baseline) / baseline")
    regression: bool


class BaselineComparison(Frozen):
    baseline_file: str
    threshold: float = Field(description="allowed worsening, a fraction of the baseline")
    rows: list[BaselineRow]
    regressions: int


class BenchResults(Frozen):
    apiVersion: str = BENCH_API_VERSION
    kind: Literal["BenchResults"] = "BenchResults"
    base_url: str = Field(description="the endpoint, without credentials")
    model_id: str = Field(description="served model name (vllm bench: model_id)")
    max_model_len: int | None = Field(description="from /v1/models")
    started_at: str = Field(description="UTC, ISO 8601")
    workload: Workload
    warmup_completed: int
    warmup_failed: int
    warmup_input_tokens: int
    warmup_output_tokens: int
    levels: list[LevelResult]
    complete: bool = Field(description="false when the sweep stopped early (server lost)")
    aborted_reason: str | None = None
    total_completed: int = Field(description="over all levels, warm-up excluded")
    total_failed: int
    notes: list[str] = Field(default_factory=list)
    plan_comparison: PlanComparison | None = None
    baseline_comparison: BaselineComparison | None = None
