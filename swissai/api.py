"""The public Python API: what the CLI does, for notebooks, CI pipelines and other tools.

Every function calls the same service as the command of the same name and returns the same
typed models the CLI prints with `-o json` (pydantic; `.model_dump(mode="json")` gives the
document). Errors are `swissai.errors.SwissaiError` subclasses carrying `exit_code`, `message`
and `hint`. Progress and messages go to the `swissai` logger unless `on_event` is given
(see `swissai.services.events`). Nothing here prints.

    import swissai
    plan = swissai.plan("gpt-oss-120b", gpus="8xh100-80gb")
    assert plan.feasible

`import swissai` stays cheap: these names are imported on first use (swissai/__init__.py).
See docs/api.md; its examples run as tests (tests/unit/test_api_examples.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from swissai.errors import SwissaiError
from swissai.models.audit import ReportWritten
from swissai.models.capacity import CostResult, SizeResult
from swissai.models.day2 import (
    BackupResult,
    HistoryResult,
    PlanDiff,
    RestoreResult,
    UpgradeResult,
)
from swissai.models.deploy import (
    DeployRequest,
    DeployResult,
    DestroyResult,
    LifecycleRequest,
    RollbackResult,
    StatusResult,
)
from swissai.models.plan import ServePlan
from swissai.models.site import SiteProfile
from swissai.services.backup import BackupRequest, RestoreRequest
from swissai.services.bench import BenchOutcome, BenchRequest
from swissai.services.bundle import CreateResult, PushResult, VerifyBundleResult
from swissai.services.cost import CostOptions
from swissai.services.events import Collect, EventSink, Message, Progress, log_events
from swissai.services.model import ManifestResult, VerifyResult
from swissai.services.probe import ProbeResult
from swissai.services.render import RenderResult
from swissai.services.serve import Launch, ServeOutcome, ServeRequest
from swissai.services.size import SizeOptions
from swissai.services.smoke import SmokeOutcome, SmokeRequest
from swissai.services.upgrade import SmokeGate

if TYPE_CHECKING:
    from swissai.models.findings import Report

__all__ = [
    "BackupRequest",
    "BackupResult",
    "BenchOutcome",
    "BenchRequest",
    "Collect",
    "CostOptions",
    "CostResult",
    "CreateResult",
    "DeployRequest",
    "DeployResult",
    "DestroyResult",
    "HistoryResult",
    "Launch",
    "LifecycleRequest",
    "ManifestResult",
    "Message",
    "PlanDiff",
    "ProbeResult",
    "Progress",
    "PushResult",
    "RenderResult",
    "ReportWritten",
    "RestoreRequest",
    "RestoreResult",
    "RollbackResult",
    "ServeOutcome",
    "ServePlan",
    "ServeRequest",
    "SiteProfile",
    "SizeOptions",
    "SizeResult",
    "SmokeGate",
    "SmokeOutcome",
    "SmokeRequest",
    "StatusResult",
    "SwissaiError",
    "UpgradeResult",
    "VerifyBundleResult",
    "VerifyResult",
    "backup",
    "bench",
    "bundle_create",
    "bundle_push",
    "bundle_verify",
    "check",
    "cost",
    "deploy",
    "destroy",
    "diff",
    "history",
    "init",
    "model_manifest",
    "model_verify",
    "plan",
    "probe",
    "read_plan",
    "read_site",
    "render",
    "report",
    "restore",
    "rollback",
    "serve",
    "serve_command",
    "size",
    "smoke",
    "status",
    "upgrade",
    "write_plan",
]


def plan(
    model: str = "gpt-oss-120b",
    *,
    gpus: str | None = None,
    inventory: str | Path | None = None,
    tp: int | None = None,
    pp: int | None = None,
    dp: int | None = None,
    expert_parallel: bool | None = None,
    max_model_len: int | None = None,
    gpu_memory_utilization: float | None = None,
    max_num_batched_tokens: int | None = None,
    max_num_seqs: int | None = None,
    kv_cache_dtype: str = "auto",
    block_size: int | None = None,
    moe_backend: str = "auto",
    vllm_version: str | None = None,
    concurrency: int | None = None,
    replicas: int | None = None,
    min_replicas: int = 2,
    gpu_profile: str | Path | None = None,
    quantization: str | None = None,
    enforce_eager: bool = False,
    cpu_offload_gb: float = 0.0,
    swap_space_gb: float | None = None,
    enable_prefix_caching: bool | None = None,
    speculative_config: str | None = None,
    extra_vllm_args: Sequence[str] = (),
    lora: dict[str, str | Path] | None = None,
    max_loras: int | None = None,
    max_lora_rank: int | None = None,
    max_cpu_loras: int | None = None,
    on_event: EventSink = log_events,
) -> ServePlan:
    """`swissai plan`: size memory and choose the layout. An infeasible plan is returned with
    `feasible == False` (the CLI exits 4 on it); bad input raises `InputError` (exit 2)."""
    from swissai.services.plan import PlanOptions, make_plan

    options = PlanOptions(
        model=model,
        gpus=gpus,
        inventory=Path(inventory) if inventory is not None else None,
        tp=tp,
        pp=pp,
        dp=dp,
        expert_parallel=expert_parallel,
        max_model_len=max_model_len,
        gpu_memory_utilization=gpu_memory_utilization,
        max_num_batched_tokens=max_num_batched_tokens,
        max_num_seqs=max_num_seqs,
        kv_cache_dtype=kv_cache_dtype,
        block_size=block_size,
        moe_backend=moe_backend,
        vllm_version=vllm_version,
        concurrency=concurrency,
        replicas=replicas,
        min_replicas=min_replicas,
        gpu_profile=Path(gpu_profile) if gpu_profile is not None else None,
        quantization=quantization,
        enforce_eager=enforce_eager,
        cpu_offload_gb=cpu_offload_gb,
        swap_space_gb=swap_space_gb,
        enable_prefix_caching=enable_prefix_caching,
        speculative_config=speculative_config,
        extra_vllm_args=tuple(extra_vllm_args),
        lora=tuple(f"{name}={path}" for name, path in (lora or {}).items()),
        max_loras=max_loras,
        max_lora_rank=max_lora_rank,
        max_cpu_loras=max_cpu_loras,
    )
    return make_plan(options, on_event=on_event)


def report(
    plan: str | Path,
    *,
    site: str | Path | None = None,
    findings: str | Path | None = None,
    records: list[str | Path] | None = None,
    accuracy: str | Path | None = None,
    out: str | Path = "report.html",
    pdf: str | Path | None = None,
    on_event: EventSink = log_events,
) -> ReportWritten:
    """`swissai report`: the audit pack (docs/report.md), deterministic offline HTML."""
    from swissai.services.report import ReportOptions, write_report

    options = ReportOptions(
        plan=Path(plan),
        site=Path(site) if site is not None else None,
        findings=Path(findings) if findings is not None else None,
        records=tuple(Path(r) for r in records or []),
        accuracy=Path(accuracy) if accuracy is not None else None,
        out=Path(out),
        pdf=Path(pdf) if pdf is not None else None,
    )
    return write_report(options, on_event=on_event)


def probe(*, vllm_version: str | None = None) -> ProbeResult:
    """`swissai probe`: this host's GPUs through NVML (EnvironmentProblem, exit 3, without)."""
    from swissai.services.probe import probe as read_gpus

    return read_gpus(vllm_version)


def read_plan(path: str | Path, *, on_event: EventSink = log_events) -> ServePlan:
    """A `swissai plan --out` file, validated as every command reads it."""
    from swissai.services.artifacts import read_plan as read

    return read(Path(path), on_event=on_event)


def write_plan(plan: ServePlan, path: str | Path) -> None:
    """Write a plan as `swissai plan --out` does (YAML, or JSON for .json), atomically."""
    from swissai.services.artifacts import write_document

    write_document(Path(path), plan)


def init(
    path: str | Path | None = None,
    *,
    namespace: str | None = None,
    registry: str | None = None,
    owner: str | None = None,
    inventory_id: str | None = None,
    openshift: bool = False,
    force: bool = False,
) -> SiteProfile:
    """`swissai init`: the site profile for these options; written (commented, as the CLI
    writes it) when `path` is given. Its EXAMPLE values (`site.placeholders()`) must be
    replaced before render/check/deploy accept it for production."""
    from swissai.services.init import site_profile, write_site_profile

    site = site_profile(
        namespace=namespace,
        registry=registry,
        owner=owner,
        inventory_id=inventory_id,
        openshift=openshift,
    )
    if path is not None:
        write_site_profile(Path(path), site, force=force)
    return site


def read_site(path: str | Path) -> SiteProfile:
    """A site profile (`swissai.yaml`), validated as every command reads it."""
    from swissai.adapters.site import load_site

    return load_site(Path(path))


def render(
    plan: ServePlan | str | Path,
    site: SiteProfile | str | Path | None = None,
    *,
    out: str | Path | None = None,
    helm: bool = False,
    kustomize: bool = False,
    policies: bool = False,
    on_event: EventSink = log_events,
) -> RenderResult:
    """`swissai render`: the Kubernetes objects (`result.objects`) of a plan for a site;
    written to `out` (only files swissai wrote are replaced or removed), or a Helm chart with
    `helm=True`, a Kustomize base and overlays with `kustomize=True`; `policies=True` adds the
    admission policies (`result.policies`). Plans and sites may be given loaded or as paths
    (site None: ./swissai.yaml)."""
    from swissai.services.render import render_files, render_loaded

    target = Path(out) if out is not None else None
    if isinstance(plan, ServePlan) and isinstance(site, SiteProfile):
        return render_loaded(
            plan,
            site,
            out=target,
            helm=helm,
            kustomize=kustomize,
            policies=policies,
            on_event=on_event,
        )
    if isinstance(plan, ServePlan) or isinstance(site, SiteProfile):
        loaded_plan = plan if isinstance(plan, ServePlan) else read_plan(plan, on_event=on_event)
        if isinstance(site, SiteProfile):
            loaded_site = site
        else:
            from swissai.adapters.site import site_path

            found = site_path(Path(site) if site is not None else None, required=True)
            assert found is not None  # required=True raises instead
            loaded_site = read_site(found)
        return render_loaded(
            loaded_plan,
            loaded_site,
            out=target,
            helm=helm,
            kustomize=kustomize,
            policies=policies,
            on_event=on_event,
        )
    return render_files(
        Path(plan),
        Path(site) if site is not None else None,
        out=target,
        helm=helm,
        kustomize=kustomize,
        policies=policies,
        on_event=on_event,
    )


def check(
    paths: list[str | Path] | None = None,
    *,
    plan: str | Path | None = None,
    site: str | Path | None = None,
    waivers: str | Path | None = None,
    cluster: bool = False,
    context: str | None = None,
    namespace: str | None = None,
    fail_on: str | None = None,
    values: list[str | Path] | None = None,
    release_namespace: str | None = None,
    on_event: EventSink = log_events,
) -> Report:
    """`swissai check`: the compliance report (`report.failed` is what exits 1 in the CLI;
    `report.findings`). Render it with swissai.services.check.render_report (sarif, junit...).
    A chart directory in `paths` is rendered with `values` files into `release_namespace`."""
    from swissai import __version__
    from swissai.services.check import CheckRequest, run_check

    request = CheckRequest(
        paths=[str(p) for p in paths or []],
        plan=Path(plan) if plan is not None else None,
        site=Path(site) if site is not None else None,
        waivers=Path(waivers) if waivers is not None else None,
        cluster=cluster,
        context=context,
        namespace=namespace,
        fail_on=fail_on,  # type: ignore[arg-type]  # validated by the service
        tool_version=__version__,
        values=[Path(v) for v in values or []],
        release_namespace=release_namespace,
    )
    return run_check(request, on_event).report


def serve_command(request: ServeRequest, *, on_event: EventSink = log_events) -> Launch:
    """`swissai serve --dry-run`: the exact argv and environment vLLM would get, validated
    as for a real start (`launch.printable_argv` masks secrets; `launch.env` holds them)."""
    from swissai.services.serve import prepare

    return prepare(request, on_event)


def serve(request: ServeRequest, *, on_event: EventSink = log_events) -> ServeOutcome:
    """`swissai serve`: preflight, start vLLM, verify it against the plan, serve until
    interrupted (blocks; the whole vLLM process group is stopped on the way out)."""
    from swissai.services.serve import serve as run

    return run(request, on_event)


def smoke(request: SmokeRequest, *, on_event: EventSink = log_events) -> SmokeOutcome:
    """`swissai smoke`: the endpoint checks (`outcome.report.ok`)."""
    from swissai.services.smoke import smoke as run

    return run(request, on_event)


def bench(request: BenchRequest, *, on_event: EventSink = log_events) -> BenchOutcome:
    """`swissai bench`: the load sweep (`outcome.results`, named as `vllm bench serve`)."""
    from swissai.services.bench import bench as run

    return run(request, on_event)


def size(
    options: SizeOptions, *, on_event: EventSink = log_events
) -> tuple[SizeResult, ServePlan | None]:
    """`swissai size`: the ranked configurations (`result.feasible`, `result.options`) and the
    ServePlan of the chosen one (None when no configuration meets the SLOs: the CLI's exit 4)."""
    from swissai.services.size import size as run

    return run(options, on_event=on_event)


def cost(options: CostOptions, *, on_event: EventSink = log_events) -> CostResult:
    """`swissai cost`: on-premises against API options in CHF (`result.options`, cheapest
    first over the horizon); `swissai.report.cost_html.render_cost_html(result)` for the report."""
    from swissai.services.cost import cost as run

    return run(options, on_event=on_event)


def model_manifest(
    directory: str | Path,
    *,
    out: str | Path | None = None,
    force: bool = False,
    on_event: EventSink = log_events,
) -> ManifestResult:
    """`swissai model manifest`: write DIR/SHA256SUMS; `result.sha256` goes into the site
    profile's model.manifest_sha256."""
    from swissai.services.model import write_manifest

    return write_manifest(
        Path(directory),
        Path(out) if out is not None else None,
        force=force,
        on_event=on_event,
    )


def model_verify(
    directory: str | Path,
    manifest_sha256: str,
    *,
    on_event: EventSink = log_events,
) -> VerifyResult:
    """`swissai model verify`: re-hash DIR against its pinned manifest (`result.ok`)."""
    from swissai.services.model import verify_model

    return verify_model(Path(directory), manifest_sha256, on_event=on_event)


def bundle_create(
    plan_file: str | Path,
    site_file: str | Path | None,
    model_dir: str | Path,
    out: str | Path,
    *,
    wheels_dir: str | Path | None = None,
    part_size: str | None = None,
    on_event: EventSink = log_events,
) -> CreateResult:
    """`swissai bundle create`: an air-gap bundle in `out`; pin `result.manifest_sha256`."""
    from swissai.services.bundle import create_bundle

    return create_bundle(
        Path(plan_file),
        Path(site_file) if site_file is not None else None,
        Path(model_dir),
        Path(out),
        wheels_dir=Path(wheels_dir) if wheels_dir is not None else None,
        part_size=part_size,
        on_event=on_event,
    )


def bundle_verify(
    directory: str | Path,
    *,
    sha256: str | None = None,
    plan_file: str | Path | None = None,
    restart: bool = False,
    on_event: EventSink = log_events,
) -> VerifyBundleResult:
    """`swissai bundle verify`: re-hash the bundle (`result.ok`, `result.problems`); resumes an
    interrupted run unless `restart`."""
    from swissai.services.bundle import verify_bundle

    return verify_bundle(
        Path(directory),
        sha256=sha256,
        plan_file=Path(plan_file) if plan_file is not None else None,
        restart=restart,
        on_event=on_event,
    )


def bundle_push(
    directory: str | Path,
    registry: str,
    *,
    site_out: str | Path = "swissai.yaml",
    force: bool = False,
    on_event: EventSink = log_events,
) -> PushResult:
    """`swissai bundle push`: images into `registry` (where skopeo/crane is present) and the
    site profile rewritten to it."""
    from swissai.services.bundle import push_bundle

    return push_bundle(
        Path(directory), registry, site_out=Path(site_out), force=force, on_event=on_event
    )


def deploy(request: DeployRequest, *, on_event: EventSink = log_events) -> DeployResult:
    """`swissai deploy`: check gate, preflight, server-side dry run, apply, wait, record.
    `DeployFailed` (exit 5) after apply started, `EnvironmentProblem` (3) before it."""
    from swissai.services.deploy import deploy as run

    return run(request, on_event)


def status(request: LifecycleRequest, *, on_event: EventSink = log_events) -> StatusResult:
    """`swissai status`: what swissai deployed for the workload, from its verified records."""
    from swissai.services.lifecycle import status as run

    return run(request, on_event)


def rollback(
    request: LifecycleRequest,
    *,
    to: str | None = None,
    wait: bool = True,
    force_conflicts: bool = False,
    on_event: EventSink = log_events,
) -> RollbackResult:
    """`swissai rollback`: return to the previous (or `to`) revision of the workload."""
    from swissai.services.lifecycle import rollback as run

    return run(request, to=to, wait=wait, force_conflicts=force_conflicts, on_event=on_event)


def destroy(
    request: LifecycleRequest,
    *,
    export: str | Path | None = None,
    on_event: EventSink = log_events,
) -> DestroyResult:
    """`swissai destroy`: delete what swissai created for the workload, release what it
    adopted, after exporting the records (no confirmation prompt: the call is the consent)."""
    from swissai.services.lifecycle import destroy as run

    return run(request, export=Path(export) if export is not None else None, on_event=on_event)


def history(request: LifecycleRequest, *, on_event: EventSink = log_events) -> HistoryResult:
    """`swissai history`: the workload's verified deployment records, oldest first."""
    from swissai.services.lifecycle import history as run

    return run(request, on_event)


def diff(
    old: str | Path,
    new: str | Path,
    *,
    old_site: SiteProfile | None = None,
    new_site: SiteProfile | None = None,
    on_event: EventSink = log_events,
) -> PlanDiff:
    """`swissai diff OLD NEW`: the changes between two plan files and what they need."""
    from swissai.services.upgrade import diff_plans

    return diff_plans(Path(old), Path(new), old_site, new_site, on_event)


def upgrade(
    request: DeployRequest,
    *,
    smoke: SmokeGate | None = None,
    allow_outage: bool = False,
    on_event: EventSink = log_events,
) -> UpgradeResult:
    """`swissai upgrade`: move the running workload to `request.plan` (blue-green or rolling by
    the cluster's free GPUs), gate on `smoke`, roll back on failure."""
    from swissai.services.upgrade import upgrade as run

    return run(request, smoke=smoke, allow_outage=allow_outage, on_event=on_event)


def backup(request: BackupRequest, *, on_event: EventSink = log_events) -> BackupResult:
    """`swissai backup`: records, applied objects, live state and local files in one file."""
    from swissai.services.backup import backup as run

    return run(request, on_event)


def restore(request: RestoreRequest, *, on_event: EventSink = log_events) -> RestoreResult:
    """`swissai restore`: rebuild the serving stack from a backup (checked before any write)."""
    from swissai.services.backup import restore as run

    return run(request, on_event)
