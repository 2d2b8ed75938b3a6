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
