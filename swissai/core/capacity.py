"""Capacity under service levels: how many GPUs serve a workload at peak (docs/capacity.md).

Pure: no I/O. The replica shapes (layout, KV cache, batch limits) come from the planner's
ServePlans (core/planner.py, the memory model, unchanged here); this module adds time.

Per replica of TP x PP GPUs running B sequences at once (vLLM continuous batching with
chunked prefill), with mean prompt I and output O tokens:

    step(B)       = roofline decode step of B sequences at context I + O/2
                    (core/estimates.py step_seconds_from) / efficiency.decode
    t_prefill     = 2 x active params / (peak FLOP/s x 0.5 x TP x PP) / efficiency.prefill
                    (seconds per prompt token)
    TPOT(B)       = step(B) + B x I x t_prefill / O   (prompt chunks share the steps)
    TTFT0(B)      = I x t_prefill + step(B) + request overhead
    X(B)          = B / (TTFT0(B) + O x TPOT(B))      requests/s (Little's law, closed loop)
    TTFT p95      = I_p95 x t_prefill + step(B) + overhead + 3 x W,  W = rho/(2(1-rho)) x I x t_prefill,
                    rho = X(B) x I x t_prefill        (M/D/1 wait for the prefill, p95 ~ 3 x mean)
    TPOT p95      = TPOT(B) x 1.2                     (TPOT_P95_FACTOR, assumption; see docs)

The largest B (<= max_num_seqs and the KV cache) meeting both SLOs sets the replica's capacity
X(B*). Replicas = ceil(peak req/s / X(B*)), plus one for N+1 redundancy (one replica may be
down for an update or a failed GPU and the peak is still served).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from swissai.core.estimates import ETA_COMPUTE, REQUEST_OVERHEAD_S, peak_tflops, step_seconds_from
from swissai.core.sizing import Layout
from swissai.errors import InputError
from swissai.models.gpu import GpuSpec
from swissai.models.model import ModelSpec
from swissai.models.plan import ServePlan

TPOT_P95_FACTOR = 1.2  # p95 / mean TPOT in steady (not burst) load; assumption, docs/capacity.md
WAIT_P95_FACTOR = 3.0  # p95 / mean of an M/D/1 queue wait at moderate load (approximation)
DEFAULT_INPUT_P95_FACTOR = 2.0  # p95 prompt / mean prompt without a trace (assumption)
MAX_USERS = 10_000_000
MAX_TOKENS = 10_000_000


@dataclass(frozen=True)
class Demand:
    """The load to serve at peak."""

    peak_requests_per_s: float
    mean_requests_per_s: float
    input_tokens: float  # mean prompt tokens
    output_tokens: float  # mean generated tokens
    input_tokens_p95: float
    source: str

    @property
    def peak_output_tokens_per_s(self) -> float:
        return self.peak_requests_per_s * self.output_tokens


@dataclass(frozen=True)
class UsageProfile:
    users: int
    requests_per_user_per_hour: float
    input_tokens: int
    output_tokens: int
    peak_factor: float  # peak-hour rate / average working-hour rate


def _positive(flag: str, value: float, most: float) -> None:
    if not (math.isfinite(value) and 0 < value <= most):
        raise InputError(
            f"{flag} {value:g}: give a number above 0 and at most {most:g}",
            hint=f"see `swissai size --help` for {flag}",
        )


def demand_from_usage(profile: UsageProfile) -> Demand:
    """Users x requests/user/hour, times the peak factor (all validated: exit 2)."""
    if profile.users < 1 or profile.users > MAX_USERS:
        raise InputError(
            f"--users {profile.users}: give 1 to {MAX_USERS:,} users",
            hint="the number of people (or clients) sending requests",
        )
    _positive("--requests-per-user-per-hour", profile.requests_per_user_per_hour, 10_000)
    _positive("--input-tokens", profile.input_tokens, MAX_TOKENS)
    _positive("--output-tokens", profile.output_tokens, MAX_TOKENS)
    if not (math.isfinite(profile.peak_factor) and 1 <= profile.peak_factor <= 100):
        raise InputError(
            f"--peak-factor {profile.peak_factor:g}: give 1 to 100",
            hint="peak-hour requests / average working-hour requests, e.g. 2",
        )
    mean = profile.users * profile.requests_per_user_per_hour / 3600.0
    return Demand(
        peak_requests_per_s=mean * profile.peak_factor,
        mean_requests_per_s=mean,
        input_tokens=float(profile.input_tokens),
        output_tokens=float(profile.output_tokens),
        input_tokens_p95=profile.input_tokens * DEFAULT_INPUT_P95_FACTOR,
        source=(
            f"{profile.users} users x {profile.requests_per_user_per_hour:g} requests/hour, "
            f"peak x{profile.peak_factor:g}, {profile.input_tokens} in / "
            f"{profile.output_tokens} out tokens"
        ),
    )


def demand_from_trace(
    peak_requests_per_s: float,
    mean_requests_per_s: float,
    inputs: Sequence[int],
    outputs: Sequence[int],
    source: str,
) -> Demand:
    """A measured trace (core/workload_trace.py): its peak-minute rate and token counts."""
    if not inputs:
        raise InputError(f"{source}: the trace holds no requests", hint="give a non-empty trace")
    ordered = sorted(inputs)
    p95 = ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]
    return Demand(
        peak_requests_per_s=peak_requests_per_s,
        mean_requests_per_s=mean_requests_per_s,
        input_tokens=sum(inputs) / len(inputs),
        output_tokens=max(1.0, sum(outputs) / len(outputs)),
        input_tokens_p95=float(p95),
        source=f"trace {source}: {len(inputs)} requests",
    )


@dataclass(frozen=True)
class Slo:
    ttft_p95_ms: float
    tpot_p95_ms: float

    def __post_init__(self) -> None:
        _positive("--ttft-p95", self.ttft_p95_ms, 3_600_000)
        _positive("--tpot-p95", self.tpot_p95_ms, 60_000)


@dataclass(frozen=True)
class Efficiency:
    """Achieved fraction of the roofline (core/calibration.py fits these per GPU, model family
    and vLLM version against published serving measurements)."""

    decode: float
    prefill: float
    basis: str


@dataclass(frozen=True)
class ReplicaShape:
    """One replica as the planner sized it, plus what timing needs."""

    model: ModelSpec
    gpu: GpuSpec
    layout: Layout
    weights_gib_per_gpu: float
    kv_bytes_per_token_per_gpu: int
    kv_tokens: int
    max_num_seqs: int
    max_num_batched_tokens: int = 8192
    plan: ServePlan | None = field(default=None, compare=False)

    @classmethod
    def from_plan(cls, plan: ServePlan, model: ModelSpec, gpu: GpuSpec) -> ReplicaShape:
        lay = plan.layout
        return cls(
            model=model,
            gpu=gpu,
            layout=Layout(
                tp=lay.tensor_parallel_size,
                pp=lay.pipeline_parallel_size,
                dp=1,
                expert_parallel=lay.expert_parallel,
            ),
            weights_gib_per_gpu=plan.memory_per_gpu_gib.weights,
            kv_bytes_per_token_per_gpu=plan.kv_cache.bytes_per_token,
            kv_tokens=plan.kv_cache.tokens,
            max_num_seqs=plan.limits.max_num_seqs,
            max_num_batched_tokens=plan.limits.max_num_batched_tokens,
            plan=plan,
        )

    @property
    def gpus(self) -> int:
        return self.layout.tp * self.layout.pp


@dataclass(frozen=True)
class OperatingPoint:
    batch: int
    requests_per_s: float
    output_tokens_per_s: float
    ttft_p95_ms: float
    tpot_p95_ms: float
    ttft_mean_ms: float
    tpot_mean_ms: float


def prefill_seconds_per_token(shape: ReplicaShape, eff: Efficiency) -> float:
    """Pipeline stages run one after the other for a token, so only TP divides the time."""
    flops = peak_tflops(shape.gpu, shape.model) * 1e12 * ETA_COMPUTE * shape.layout.tp
    return 2.0 * shape.model.params_active / flops / eff.prefill


def step_seconds(shape: ReplicaShape, eff: Efficiency, batch: int, context_tokens: float) -> float:
    # A decode step passes through the PP stages in turn: its latency is that of one TP group
    # holding all the weights (pipelining microbatches would raise throughput, not modelled:
    # conservative for PP layouts).
    pp = shape.layout.pp
    raw = step_seconds_from(
        shape.model,
        shape.gpu,
        Layout(tp=shape.layout.tp, pp=1, dp=1, expert_parallel=shape.layout.expert_parallel),
        weights_gib_per_gpu=shape.weights_gib_per_gpu * pp,
        kv_bytes_per_token_per_gpu=shape.kv_bytes_per_token_per_gpu * pp,
        batch=batch,
        context_tokens=max(1, int(context_tokens)),
    )
    return raw / eff.decode


def kv_batch_limit(shape: ReplicaShape, demand: Demand) -> int:
    """Sequences the replica holds at once: max_num_seqs, and the KV cache at I + O tokens."""
    per_seq = demand.input_tokens + demand.output_tokens
    return max(0, min(shape.max_num_seqs, int(shape.kv_tokens // max(1.0, per_seq))))


def operating_point(
    shape: ReplicaShape, eff: Efficiency, demand: Demand, batch: int
) -> OperatingPoint:
    i, o = demand.input_tokens, demand.output_tokens
    t_p = prefill_seconds_per_token(shape, eff)
    step = step_seconds(shape, eff, batch, i + o / 2)
    tpot = step + batch * i * t_p / o
    ttft0 = i * t_p + step + REQUEST_OVERHEAD_S
    x = batch / (ttft0 + o * tpot)
    rho = min(0.95, x * i * t_p)
    wait = rho / (2 * (1 - rho)) * i * t_p
    ttft_p95 = demand.input_tokens_p95 * t_p + step + REQUEST_OVERHEAD_S + WAIT_P95_FACTOR * wait
    return OperatingPoint(
        batch=batch,
        requests_per_s=x,
        output_tokens_per_s=x * o,
        ttft_p95_ms=ttft_p95 * 1000,
        tpot_p95_ms=tpot * TPOT_P95_FACTOR * 1000,
        ttft_mean_ms=(ttft0 + wait) * 1000,
        tpot_mean_ms=tpot * 1000,
    )


def _meets(point: OperatingPoint, slo: Slo) -> bool:
    return point.ttft_p95_ms <= slo.ttft_p95_ms and point.tpot_p95_ms <= slo.tpot_p95_ms


def best_operating_point(
    shape: ReplicaShape, eff: Efficiency, demand: Demand, slo: Slo
) -> tuple[OperatingPoint | None, OperatingPoint | None]:
    """(largest-B point meeting the SLOs or None, the B=1 point for 'closest' messages).

    TPOT and TTFT grow with B and X(B) grows with B (docs/capacity.md), so a binary search on
    B finds the largest batch that still meets both service levels."""
    limit = kv_batch_limit(shape, demand)
    if limit < 1:
        return None, None
    single = operating_point(shape, eff, demand, 1)
    if not _meets(single, slo):
        return None, single
    low, high = 1, limit
    while low < high:
        mid = (low + high + 1) // 2
        if _meets(operating_point(shape, eff, demand, mid), slo):
            low = mid
        else:
            high = mid - 1
    return operating_point(shape, eff, demand, low), single


@dataclass(frozen=True)
class SizedOption:
    """The smallest configuration of one GPU type (or why there is none)."""

    gpu_id: str
    meets_slo: bool
    shape: ReplicaShape | None
    point: OperatingPoint | None
    replicas_needed: int  # at peak, without redundancy
    replicas: int  # with N+1
    gpus: int
    nodes: int
    headroom_pct: float  # capacity of all replicas over peak, minus 1
    efficiency: Efficiency | None
    reason: str
    closest_ratio: float = math.inf  # max(achieved / SLO) at B=1: 1.0 would just meet


def size_option(
    gpu_id: str,
    shapes: Sequence[ReplicaShape],
    demand: Demand,
    slo: Slo,
    efficiency_for: dict[str, Efficiency],
    *,
    redundancy: int = 1,
) -> SizedOption:
    """The configuration of fewest GPUs among the replica shapes (ties: more headroom).

    `efficiency_for` maps a layout key `tp{T}pp{P}` (or '*') to its efficiency."""
    best: SizedOption | None = None
    closest: SizedOption | None = None
    if not shapes:
        return SizedOption(
            gpu_id, False, None, None, 0, 0, 0, 0, 0.0, None,
            "the model does not fit on this GPU type in any layout searched",
        )  # fmt: skip
    for shape in shapes:
        eff = efficiency_for.get(f"tp{shape.layout.tp}pp{shape.layout.pp}") or efficiency_for["*"]
        point, single = best_operating_point(shape, eff, demand, slo)
        if point is None:
            if single is None:
                reason = (
                    f"TP{shape.layout.tp} PP{shape.layout.pp}: the KV cache holds no "
                    f"{demand.input_tokens + demand.output_tokens:.0f}-token request"
                )
                ratio = math.inf
            else:
                ratio = max(
                    single.ttft_p95_ms / slo.ttft_p95_ms, single.tpot_p95_ms / slo.tpot_p95_ms
                )
                reason = (
                    f"TP{shape.layout.tp} PP{shape.layout.pp}: even one request gets TTFT p95 "
                    f"{single.ttft_p95_ms:.0f} ms, TPOT p95 {single.tpot_p95_ms:.1f} ms"
                )
            cand = SizedOption(gpu_id, False, shape, single, 0, 0, 0, 0, 0.0, eff, reason, ratio)
            if closest is None or cand.closest_ratio < closest.closest_ratio:
                closest = cand
            continue
        needed = max(1, math.ceil(demand.peak_requests_per_s / point.requests_per_s - 1e-9))
        replicas = needed + redundancy
        gpn = shape.gpu.gpus_per_node
        if shape.layout.pp > 1 or shape.gpus > gpn:
            nodes = replicas * math.ceil(shape.gpus / gpn)
        else:
            nodes = math.ceil(replicas / (gpn // shape.gpus))
        capacity = replicas * point.requests_per_s
        headroom = (
            (capacity / demand.peak_requests_per_s - 1) * 100 if demand.peak_requests_per_s else 0.0
        )
        cand = SizedOption(
            gpu_id,
            True,
            shape,
            point,
            needed,
            replicas,
            replicas * shape.gpus,
            nodes,
            headroom,
            eff,
            f"TP{shape.layout.tp}"
            + (f" PP{shape.layout.pp}" if shape.layout.pp > 1 else "")
            + f" x {replicas} replicas ({needed} for the peak + {redundancy} spare), "
            f"{point.batch} concurrent requests per replica",
            1.0,
        )
        if best is None or (cand.gpus, -cand.headroom_pct) < (best.gpus, -best.headroom_pct):
            best = cand
    if best is not None:
        return best
    assert closest is not None
    return closest


def rank(options: Sequence[SizedOption]) -> list[SizedOption]:
    """Meeting the SLOs first, then fewest GPUs, fewest nodes, most headroom; the rest by how
    close they come."""
    return sorted(
        options,
        key=lambda o: (
            0 if o.meets_slo else 1,
            o.gpus if o.meets_slo else o.closest_ratio,
            o.nodes,
            -o.headroom_pct,
            o.gpu_id,
        ),
    )
