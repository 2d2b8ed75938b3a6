"""Calibrating the capacity model's efficiency against serving measurements (docs/accuracy.md).

Pure: no I/O. One factor e per group scales the roofline's decode step and prefill time alike
(for the user's own bench, `fit_factor`), or a decode and a prefill factor (`fit_factors`, the
packaged measurements). Each measurement is predicted by replaying the benchmark step by step
through vLLM's scheduler (`replay`), and the factors minimise the squared log error of output
tokens/s, mean TPOT and (half weight) mean TTFT over the group's `fit` measurements; `holdout`
measurements are never fitted and give the error report. Groups, most specific first:

    (GPU, model family, vLLM minor version) -> (GPU, model family) -> (GPU) -> (model family) -> all

A GPU, model or version without measurements gets the nearest group that has some, and the
answer says which (Efficiency.basis).
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial

from swissai.core.capacity import (
    Demand,
    Efficiency,
    ReplicaShape,
    kv_batch_limit,
    prefill_seconds_per_token,
    step_seconds,
)
from swissai.core.estimates import SERVING_EFFICIENCY
from swissai.models.capacity import ServingObservation

GRID_STEP = 1.47
GRID = tuple(0.05 * GRID_STEP**k for k in range(12))  # 0.05 .. ~3.6
GOLDEN_STEPS = 16
COORDINATE_ROUNDS = 3  # alternate decode and prefill fits (fewer rounds: medians 3-7 points worse)
GroupKey = tuple[str, ...]
# A group is fitted on at least this many measurements. 2 was tried: the holdout errors grew
# (median output tok/s error 21 % -> 39 %) because vLLM versions differ more than groups do.
MIN_POINTS = 1
MIN_BROAD_POINTS = 2


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
    """What the model says this measurement should have shown: the benchmark is replayed step
    by step as vLLM's scheduler runs it (replay())."""
    return replay(obs, shape, eff)


def replay(obs: ServingObservation, shape: ReplicaShape, eff: Efficiency) -> Prediction:
    """Replay `vllm bench serve` against one replica, one engine step at a time.

    vLLM V1's scheduler (chunked prefill): every step decodes one token for each running
    sequence, then spends what is left of max_num_batched_tokens on waiting prompts in arrival
    order, admitting new sequences while fewer than max_num_seqs run and the KV cache holds
    them. A step takes step(decoding sequences) + prompt tokens x t_prefill. A prompt's last
    chunk yields its first token (TTFT); O - 1 decode steps later it is done (TPOT = the time
    between, / (O - 1)). Burst (concurrency None): all prompts arrive at t = 0; otherwise a new
    request arrives when one finishes, until num_prompts were sent. All requests have the mean
    lengths, so requests that start decoding in the same step move as one cohort: the loop is
    O(steps), not O(requests x steps)."""
    i = max(1, round(obs.input_tokens))
    o = max(1, round(obs.output_tokens))
    demand = Demand(0.0, 0.0, float(i), float(o), float(i), obs.id)
    limit = max(1, kv_batch_limit(shape, demand))
    budget = max(shape.max_num_batched_tokens, 1)
    t_p = prefill_seconds_per_token(shape, eff)
    context = i + o / 2
    memo: dict[int, float] = {}

    def step_time(batch: int) -> float:
        if batch not in memo:
            memo[batch] = step_seconds(shape, eff, max(1, batch), context)
        return memo[batch]

    total = obs.num_prompts
    in_flight = obs.concurrency or total
    waiting: deque[list[float]] = deque([[0.0, float(min(in_flight, total))]])  # arrival, count
    sent = min(in_flight, total)
    head_left = float(i)  # prompt tokens still to prefill of the first waiting request
    admitted_prefilling = 0  # the head request, once started, holds a slot
    decoding = 0
    finishing: dict[int, list[tuple[float, float]]] = {}  # step -> [(count, first-token time)]
    now = 0.0
    step = 0
    done = 0.0
    ttft_sum = tpot_sum = 0.0
    while done < total - 1e-9:
        step += 1
        room = budget - decoding
        prefill_tokens = 0.0
        started: list[tuple[float, float]] = []  # (count, arrival) reaching their first token
        while room > 0 and waiting and decoding + admitted_prefilling < limit + 1e-9:
            arrival, count = waiting[0]
            if head_left < i:  # the head request is part-way through its prompt
                take = min(room, head_left)
            else:
                slots = limit - decoding
                if slots < 1:
                    break
                whole = min(count, float(int(room // i)), float(slots))
                if whole >= 1:  # whole prompts fit in this step
                    prefill_tokens += whole * i
                    room -= int(whole * i)
                    started.append((whole, arrival))
                    decoding += int(whole)
                    waiting[0][1] -= whole
                    if waiting[0][1] < 1e-9:
                        waiting.popleft()
                    continue
                take = min(room, head_left)
                admitted_prefilling = 1
            prefill_tokens += take
            room -= int(take)
            head_left -= take
            if head_left <= 0:
                head_left = float(i)
                admitted_prefilling = 0
                started.append((1.0, arrival))
                decoding += 1
                waiting[0][1] -= 1
                if waiting[0][1] < 1e-9:
                    waiting.popleft()
        now += step_time(decoding) + prefill_tokens * t_p
        for count, arrival in started:
            ttft_sum += count * (now - arrival)
            finishing.setdefault(step + o - 1, []).append((count, now))
        for count, first in finishing.pop(step, []):
            decoding -= int(count)
            done += count
            if o > 1:
                tpot_sum += count * (now - first) / (o - 1)
            if obs.concurrency is not None and sent < total:
                new = min(count, float(total - sent))
                sent += int(new)
                waiting.append([now, new])
        if not waiting and decoding == 0 and done < total - 1e-9:
            break  # nothing left to run (rounding)
        if step > 2_000_000:
            break
    done = max(done, 1.0)
    return Prediction(
        output_tok_s=done * o / max(now, 1e-9),
        mean_ttft_ms=ttft_sum / done * 1000,
        mean_tpot_ms=(tpot_sum / done * 1000) if o > 1 else step_time(decoding) * 1000,
    )


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
    """Minimise f over the efficiency range: a coarse log grid (x1.47 steps from 0.05 to 3.6),
    then golden-section refinement inside the best cell's neighbours (to ~0.1 %)."""
    best = min(GRID, key=f)
    low, high = best / GRID_STEP, best * GRID_STEP
    for _ in range(GOLDEN_STEPS):
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
        for _ in range(COORDINATE_ROUNDS):
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
                if n < MIN_BROAD_POINTS and key[0] != "*" and (len(key) == 1 or key[0] == "family"):
                    # One A100 gpt-oss figure says little about Qwen on A100 (or one Qwen figure
                    # about Qwen on H200): a GPU-only or family-only group needs two figures.
                    continue
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
