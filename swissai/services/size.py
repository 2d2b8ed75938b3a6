"""The `size` use case: a workload and service levels in, the smallest configuration per GPU
type out (docs/capacity.md), optionally recalibrated on the user's own `swissai bench` run.

Order: every option is validated first (exit 2), then the replica shapes are planned by the
planner (core/planner.py, the memory model), then timed by core/capacity.py with efficiency
factors fitted by core/calibration.py on profiles/calibration/serving_observations.yaml.
Nothing meeting the SLOs is not an exception here: the result says feasible=false and names
the closest option; the CLI exits 4.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from swissai.core.calibration import FittedTable
from swissai.core.capacity import (
    Demand,
    Efficiency,
    ReplicaShape,
    SizedOption,
    Slo,
    UsageProfile,
    demand_from_trace,
    demand_from_usage,
    rank,
    size_option,
)
from swissai.errors import InputError
from swissai.models.capacity import (
    Calibration,
    ObservationSet,
    ServingObservation,
    SizeOption,
    SizeResult,
    SizeSlo,
    SizeWorkload,
)
from swissai.models.gpu import GpuSpec
from swissai.models.model import ModelSpec
from swissai.models.plan import ServePlan
from swissai.services.events import EventSink, ignore, say, warn

TRACE_MAX_BYTES = 256 * 2**20  # 2 M requests of ~100 bytes each fit comfortably
MAX_REDUNDANCY = 16


@dataclass(frozen=True)
class SizeOptions:
    """What `swissai size` is asked (one field per flag; docs/capacity.md for the defaults)."""

    model: str = "gpt-oss-120b"
    users: int | None = None
    requests_per_user_per_hour: float = 6.0
    input_tokens: int = 1500
    output_tokens: int = 400
    peak_factor: float = 2.0
    trace: Path | None = None
    ttft_p95_ms: float = 2000.0
    tpot_p95_ms: float | None = None
    output_tokens_per_s_per_user: float | None = None
    context: int | None = None  # None: DEFAULT_CONTEXT, or the model's maximum when smaller
    gpus: tuple[str, ...] = ()
    vllm_version: str | None = None
    redundancy: int = 1
    calibrate: Path | None = None
    calibrate_plan: Path | None = None


DEFAULT_CONTEXT = 32768  # a long chat or a RAG prompt; the KV cache is planned for it
DEFAULT_TPOT_P95_MS = 50.0  # 20 tokens/s per user: faster than reading speed (docs/capacity.md)


def _slo(options: SizeOptions) -> Slo:
    if options.tpot_p95_ms is not None and options.output_tokens_per_s_per_user is not None:
        raise InputError(
            "--tpot-p95 and --output-tokens-per-s-per-user say the same thing twice",
            hint="give one of them (TPOT p95 = 1000 / tokens per second per user)",
        )
    tpot = options.tpot_p95_ms
    if options.output_tokens_per_s_per_user is not None:
        speed = options.output_tokens_per_s_per_user
        if not (math.isfinite(speed) and 0 < speed <= 10_000):
            raise InputError(
                f"--output-tokens-per-s-per-user {speed:g}: give a number above 0",
                hint="e.g. 20 (faster than people read)",
            )
        tpot = 1000.0 / speed
    return Slo(options.ttft_p95_ms, tpot if tpot is not None else DEFAULT_TPOT_P95_MS)


def _demand(options: SizeOptions) -> Demand:
    if options.trace is not None and options.users is not None:
        raise InputError(
            "--trace and --users describe the workload twice",
            hint="give a measured trace or a user count with a usage profile, not both",
        )
    if options.trace is not None:
        from swissai.adapters.yaml_safe import LoadLimits, read_capped
        from swissai.core.workload_trace import parse_trace

        text = read_capped(options.trace, LoadLimits(max_bytes=TRACE_MAX_BYTES), "trace")
        trace = parse_trace(text, str(options.trace))
        if not trace.requests:
            raise InputError(
                f"{options.trace}: the trace holds no requests",
                hint="one JSON object per line: timestamp, input and output token counts",
            )
        return demand_from_trace(
            trace.peak_requests_per_s(),
            trace.mean_requests_per_s(),
            [r.input_tokens for r in trace.requests],
            [r.output_tokens for r in trace.requests],
            str(options.trace),
        )
    if options.users is None:
        raise InputError(
            "no workload: give --users N (with the usage profile flags) or --trace FILE",
            hint="e.g. swissai size --users 2000",
        )
    return demand_from_usage(
        UsageProfile(
            options.users,
            options.requests_per_user_per_hour,
            options.input_tokens,
            options.output_tokens,
            options.peak_factor,
        )
    )


def _validate(options: SizeOptions) -> tuple[Slo, Demand]:
    slo = _slo(options)
    if options.redundancy < 0 or options.redundancy > MAX_REDUNDANCY:
        raise InputError(
            f"--redundancy {options.redundancy}: give 0 to {MAX_REDUNDANCY}",
            hint="1 = N+1: the peak is served with one replica down",
        )
    if options.context is not None and not (1 <= options.context <= 10_000_000):
        raise InputError(
            f"--context {options.context}: give 1 to 10,000,000 tokens",
            hint="the max_model_len to plan for, e.g. --context 32768",
        )
    if (options.calibrate is None) != (options.calibrate_plan is None):
        raise InputError(
            "--calibrate needs --calibrate-plan (and the other way round)",
            hint="bench results do not record the GPUs; give the plan the bench ran against",
        )
    return slo, _demand(options)


# --- the planner's replica shapes -----------------------------------------------------------


def _layouts(gpu: GpuSpec) -> list[tuple[int, int]]:
    gpn = gpu.gpus_per_node
    tps = [t for t in (1, 2, 4, 8) if t <= gpn]
    return [(t, 1) for t in tps] + ([(gpn, 2)] if gpn > 1 else [])


@cache
def _plan(
    model_ref: str, gpu_id: str, tp: int, pp: int, context: int | None, version: str
) -> ServePlan | None:
    """One replica of TP x PP GPUs as the planner sizes it (None: cannot exist or not fit)."""
    from swissai.adapters.profiles import load_gpu, load_model
    from swissai.core.hardware import hardware_from_spec
    from swissai.core.planner import PlanRequest
    from swissai.core.planner import make_plan as plan_for

    spec = f"{tp * pp}x{gpu_id}" + (f"@{pp}" if pp > 1 else "")
    model = load_model(model_ref)
    ctx = min(context, model.max_position_embeddings) if context else None
    try:
        plan = plan_for(
            PlanRequest(
                model=model,
                hardware=hardware_from_spec(spec, load_gpu),
                vllm_version=version,
                tp=tp,
                pp=pp,
                dp=1,
                max_model_len=ctx,
                min_replicas=1,
            )
        )
    except InputError:
        return None
    return plan if plan.feasible else None


def replica_shapes(
    model_ref: str, gpu: GpuSpec, context: int | None, version: str
) -> list[ReplicaShape]:
    from swissai.adapters.profiles import load_model

    model = load_model(model_ref)
    shapes = []
    for tp, pp in _layouts(gpu):
        plan = _plan(model_ref, gpu.id, tp, pp, context, version)
        if plan is not None:
            shapes.append(ReplicaShape.from_plan(plan, model, gpu))
    return shapes


# --- calibration ----------------------------------------------------------------------------


def load_observations() -> list[ServingObservation]:
    from pydantic import ValidationError

    from swissai.adapters.yaml_safe import DOCUMENT_LIMITS, load_data_file
    from swissai.resources import profiles_dir

    path = profiles_dir() / "calibration" / "serving_observations.yaml"
    data = load_data_file(path, DOCUMENT_LIMITS, what="serving observations")
    try:
        return ObservationSet.model_validate(data).observations
    except ValidationError as exc:  # a broken packaged file is a bug, said plainly
        raise InputError(f"{path.name}: {exc.errors()[0]['msg']}") from exc


def observation_shape(obs: ServingObservation) -> tuple[ReplicaShape, str] | None:
    from swissai.adapters.profiles import load_gpu, load_model

    plan = _plan(obs.model, obs.gpu, obs.tp, obs.pp, 32768, obs.vllm_version)
    if plan is None:
        return None
    model = load_model(obs.model)
    return ReplicaShape.from_plan(plan, model, load_gpu(obs.gpu)), model.model_type


class EfficiencyGroup(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    key: list[str]
    decode: float = Field(gt=0)
    prefill: float = Field(gt=0)
    measurements: int = Field(ge=1)


class EfficiencyFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: int
    groups: list[EfficiencyGroup]


@cache
def fitted_table() -> FittedTable:
    """The efficiency table fitted on the packaged `fit` measurements, as written by
    `python -m swissai.tools.fit_calibration` (profiles/calibration/efficiency.yaml)."""
    from pydantic import ValidationError

    from swissai.adapters.yaml_safe import DOCUMENT_LIMITS, load_data_file
    from swissai.resources import profiles_dir

    path = profiles_dir() / "calibration" / "efficiency.yaml"
    data = load_data_file(path, DOCUMENT_LIMITS, what="efficiency table")
    try:
        groups = EfficiencyFile.model_validate(data).groups
    except ValidationError as exc:
        raise InputError(f"{path.name}: {exc.errors()[0]['msg']}") from exc
    return FittedTable({tuple(g.key): (g.decode, g.prefill, g.measurements) for g in groups})


def _bench_observations(bench: Path, plan_path: Path) -> tuple[list[ServingObservation], ServePlan]:
    from pydantic import ValidationError

    from swissai.adapters.yaml_safe import DOCUMENT_LIMITS, load_json, read_capped
    from swissai.models.bench import BenchResults
    from swissai.services.artifacts import read_plan

    plan = read_plan(plan_path)
    try:
        results = BenchResults.model_validate(
            load_json(
                read_capped(bench, DOCUMENT_LIMITS, "bench results"), str(bench), DOCUMENT_LIMITS
            )
        )
    except ValidationError as exc:
        err = exc.errors()[0]
        raise InputError(
            f"{bench}: not a `swissai bench --out` file ({'.'.join(map(str, err['loc']))}: "
            f"{err['msg']})",
            hint="give the JSON that `swissai bench --out results.json` wrote",
        ) from exc
    gpu = plan.hardware.gpus[0].id
    out = []
    for level in results.levels:
        if level.completed < 1 or level.output_throughput <= 0:
            continue
        out.append(
            ServingObservation(
                id=f"{bench.name}@c{level.concurrency}",
                source=str(bench),
                model=plan.model.id,
                gpu=gpu,
                vllm_version=plan.vllm.version,
                tp=plan.layout.tensor_parallel_size,
                pp=plan.layout.pipeline_parallel_size,
                input_tokens=max(1.0, level.total_input_tokens / level.completed),
                output_tokens=max(1.0, level.total_output_tokens / level.completed),
                num_prompts=level.completed,
                concurrency=level.concurrency,
                # bench measures the whole endpoint: divide by the replicas behind it
                output_tok_s=level.output_throughput / max(1, plan.layout.replicas),
                mean_ttft_ms=level.mean_ttft_ms if level.mean_ttft_ms > 0 else None,
                mean_tpot_ms=level.mean_tpot_ms if level.mean_tpot_ms > 0 else None,
                split="fit",
            )
        )
    if not out:
        raise InputError(f"{bench}: no completed level to calibrate on", hint="rerun swissai bench")
    return out, plan


# --- the use case ---------------------------------------------------------------------------


def _option(o: SizedOption) -> SizeOption:
    s, p = o.shape, o.point
    return SizeOption(
        gpu=o.gpu_id,
        meets_slo=o.meets_slo,
        gpus=o.gpus,
        nodes=o.nodes,
        tensor_parallel_size=s.layout.tp if s else None,
        pipeline_parallel_size=s.layout.pp if s else None,
        expert_parallel=s.layout.expert_parallel if s else None,
        replicas=o.replicas,
        replicas_for_peak=o.replicas_needed,
        concurrency_per_replica=p.batch if p and o.meets_slo else None,
        requests_per_s_per_replica=round(p.requests_per_s, 3) if p and o.meets_slo else None,
        output_tokens_per_s_per_gpu=round(p.output_tokens_per_s / s.gpus, 1) if p and s else None,
        ttft_p95_ms=round(p.ttft_p95_ms, 1) if p else None,
        tpot_p95_ms=round(p.tpot_p95_ms, 2) if p else None,
        headroom_pct=round(o.headroom_pct, 1),
        efficiency_decode=o.efficiency.decode if o.efficiency else None,
        efficiency_prefill=o.efficiency.prefill if o.efficiency else None,
        efficiency_basis=o.efficiency.basis if o.efficiency else None,
        reason=o.reason,
    )


def _size_all(
    model_ref: str,
    model: ModelSpec,
    gpus: list[GpuSpec],
    context: int | None,
    version: str,
    demand: Demand,
    slo: Slo,
    table: FittedTable,
    redundancy: int,
) -> list[SizedOption]:
    options = []
    for gpu in gpus:
        eff: Efficiency = table.efficiency(gpu.id, model.model_type, version)
        shapes = replica_shapes(model_ref, gpu, context, version)
        options.append(size_option(gpu.id, shapes, demand, slo, {"*": eff}, redundancy=redundancy))
    return rank(options)


def _label(o: SizedOption | None) -> str:
    if o is None or not o.meets_slo or o.shape is None:
        return "none"
    return f"{o.gpus}x{o.gpu_id} ({o.nodes} node(s), TP{o.shape.layout.tp} x {o.replicas})"


def size(
    options: SizeOptions, *, on_event: EventSink = ignore
) -> tuple[SizeResult, ServePlan | None]:
    """The ranked options and, when one meets the SLOs, the ServePlan of the first."""
    from swissai.adapters.profiles import list_gpu_ids, load_gpu, load_model
    from swissai.core.calibration import fit_factor, minor, resolve_all
    from swissai.core.vllm_versions import DEFAULT_VLLM_VERSION, behaviour_for

    slo, demand = _validate(options)
    version = options.vllm_version or DEFAULT_VLLM_VERSION
    behaviour_for(version)  # unknown version: exit 2
    model = load_model(options.model)
    gpu_ids = list(options.gpus) or list_gpu_ids()
    gpus = [load_gpu(g) for g in gpu_ids]
    context = options.context
    if context is None:
        context = min(DEFAULT_CONTEXT, model.max_position_embeddings)
        options = replace(options, context=context)
    if context > model.max_position_embeddings:
        raise InputError(
            f"--context {context} exceeds {model.id}'s {model.max_position_embeddings} tokens",
            hint=f"use at most {model.max_position_embeddings}",
        )
    if demand.input_tokens + demand.output_tokens > context:
        raise InputError(
            f"requests of {demand.input_tokens:.0f} + {demand.output_tokens:.0f} tokens do not "
            f"fit the --context of {context}",
            hint="raise --context or shorten the requests",
        )
    table = fitted_table()
    bench = None  # read before any sizing: a bad file is exit 2 before the work
    if options.calibrate is not None and options.calibrate_plan is not None:
        bench = _bench_observations(options.calibrate, options.calibrate_plan)
    say(on_event, f"sizing {model.id} on {len(gpus)} GPU type(s) for {demand.source}")
    ranked = _size_all(
        options.model, model, gpus, context, version, demand, slo, table, options.redundancy
    )
    calibration = None
    notes: list[str] = []
    if bench is not None and options.calibrate is not None:
        observed, bench_plan = bench
        resolved = resolve_all(observed, observation_shape)
        if not resolved:
            raise InputError(
                f"{options.calibrate_plan}: the planner cannot size the plan's layout",
                hint="give the plan `swissai bench --plan` ran against",
            )
        family = resolved[0][2]
        before = table.efficiency(resolved[0][0].gpu, family, version)
        factor = fit_factor([(o, s) for o, s, _ in resolved])
        gpu_id = resolved[0][0].gpu
        table = table.with_override((gpu_id, family, minor(version)), factor, len(resolved))
        recal = _size_all(
            options.model, model, gpus, context, version, demand, slo, table, options.redundancy
        )
        change = (
            f"efficiency on {gpu_id} {before.decode:.3f} -> {factor:.3f} "
            f"({(factor / before.decode - 1) * 100:+.0f} %): "
            f"{_label(ranked[0] if ranked else None)} -> {_label(recal[0] if recal else None)}"
        )
        mine = [o for o in recal if o.gpu_id == gpu_id]
        old = [o for o in ranked if o.gpu_id == gpu_id]
        if mine and old:
            change += f"; {gpu_id}: {old[0].gpus} -> {mine[0].gpus} GPUs"
        calibration = Calibration(
            source=str(options.calibrate),
            gpu=gpu_id,
            model=bench_plan.model.id,
            efficiency_before=before.decode,
            efficiency_after=factor,
            points=len(resolved),
            chosen_before=_label(ranked[0] if ranked else None),
            chosen_after=_label(recal[0] if recal else None),
            change=change,
        )
        say(on_event, "calibrated: " + change)
        if bench_plan.model.id != model.id:
            warn(
                on_event,
                f"the bench ran {bench_plan.model.id}, sizing {model.id}: the factor is applied "
                f"to {gpu_id} for the {family} family",
            )
        ranked = recal
    feasible = bool(ranked) and ranked[0].meets_slo
    chosen = ranked[0] if feasible else None
    closest = None if feasible or not ranked else ranked[0]
    if not feasible and closest is not None:
        notes.append(
            f"no configuration meets the SLOs; closest: {closest.gpu_id}: {closest.reason}"
        )
    result = SizeResult(
        model=model.id,
        vllm_version=version,
        workload=SizeWorkload(
            source=demand.source,
            peak_requests_per_s=round(demand.peak_requests_per_s, 4),
            mean_requests_per_s=round(demand.mean_requests_per_s, 4),
            input_tokens=round(demand.input_tokens, 1),
            output_tokens=round(demand.output_tokens, 1),
            input_tokens_p95=round(demand.input_tokens_p95, 1),
            peak_output_tokens_per_s=round(demand.peak_output_tokens_per_s, 1),
        ),
        slo=SizeSlo(
            ttft_p95_ms=slo.ttft_p95_ms,
            tpot_p95_ms=round(slo.tpot_p95_ms, 3),
            output_tokens_per_s_per_user=round(1000.0 / slo.tpot_p95_ms, 2),
            context_tokens=context,
            redundancy=options.redundancy,
        ),
        feasible=feasible,
        chosen=chosen.gpu_id if chosen else None,
        closest=closest.gpu_id if closest else None,
        options=[_option(o) for o in ranked],
        calibration=calibration,
        basis=(
            "planner memory model (core/sizing.py) x calibrated roofline timing "
            "(core/capacity.py, efficiency fitted on profiles/calibration/"
            "serving_observations.yaml); estimates, not measurements"
        ),
        notes=notes,
    )
    plan = _deployment_plan(options, chosen, version) if chosen else None
    return result, plan


def _deployment_plan(options: SizeOptions, chosen: SizedOption, version: str) -> ServePlan | None:
    """The ServePlan of the chosen configuration: whole nodes, the layout forced, the replica
    count forced, so `render` and `deploy` continue from exactly what was sized."""
    from swissai.adapters.profiles import load_gpu, load_model
    from swissai.core.hardware import hardware_from_spec
    from swissai.core.planner import PlanRequest
    from swissai.core.planner import make_plan as plan_for

    shape = chosen.shape
    assert shape is not None
    gpn = shape.gpu.gpus_per_node
    spec = f"{chosen.nodes * gpn}x{chosen.gpu_id}" + (
        f"@{chosen.nodes}" if chosen.nodes > 1 else ""
    )
    model = load_model(options.model)
    request = PlanRequest(
        model=model,
        hardware=hardware_from_spec(spec, load_gpu),
        vllm_version=version,
        tp=shape.layout.tp,
        pp=shape.layout.pp,
        dp=1,
        max_model_len=min(options.context, model.max_position_embeddings)
        if options.context
        else None,
        replicas=chosen.replicas,
        min_replicas=1,
        concurrency=None,
    )
    return plan_for(replace(request))
