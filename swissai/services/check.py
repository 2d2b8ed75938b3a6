"""The check use case: manifests, a plan, the site profile, waivers and optionally the live
cluster, run through the compliance rules into a Report, and the report as text (JSON, YAML,
SARIF 2.1.0, JUnit XML). Prints nothing: the CLI prints, the Python API returns.

Inputs are read and validated before the cluster is touched, so a bad input is exit 2 even
without a cluster; the cluster (read-only) comes last (exit 3 when unreachable).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from swissai.errors import FindingsError, InputError
from swissai.services.events import EventSink, Progress, ignore, say, warn

if TYPE_CHECKING:
    from swissai.core.compliance import WaiverEntry
    from swissai.models.findings import Report
    from swissai.models.manifest import Document
    from swissai.models.plan import ServePlan

ReportFormat = Literal["json", "yaml", "sarif", "junit"]
FailOnLevel = Literal["critical", "high", "medium", "low", "none"]
FAIL_ON_LEVELS: tuple[FailOnLevel, ...] = ("critical", "high", "medium", "low", "none")
IMAGE_ENV_NOTE = (
    "environment variables baked into images (Dockerfile ENV) are invisible in manifests"
)


@dataclass(frozen=True)
class CheckRequest:
    """What to check. `site`: the --site given (None: ./swissai.yaml when present, else the
    values `swissai init` writes); `fail_on` None: the site's `compliance.fail_on`."""

    paths: list[str] = field(default_factory=list)
    plan: Path | None = None
    site: Path | None = None
    waivers: Path | None = None
    cluster: bool = False
    context: str | None = None
    namespace: str | None = None
    cluster_timeout_s: float = 20.0  # per API request of --cluster (connect and read)
    fail_on: FailOnLevel | None = None
    stdin_text: str | None = None  # the text of '-' (None: read stdin when '-' is given)
    values: list[Path] = field(default_factory=list)  # values files of chart directories
    release_namespace: str | None = None  # namespace chart directories are rendered into
    today: dt.date | None = None  # None: the local date
    tool_version: str = "0"


@dataclass(frozen=True)
class CheckOutcome:
    report: Report
    fail_on: FailOnLevel
    site: Path | None  # the site profile used, if any

    @property
    def failed(self) -> bool:
        return self.report.failed

    def gate_error(self) -> FindingsError | None:
        """The exit-1 error when an unwaived finding is at or above fail_on, else None."""
        if not self.report.failed:
            return None
        s, threshold = self.report.summary, self.fail_on
        return FindingsError(
            f"compliance findings at or above {threshold}: critical {s.critical}, high {s.high}"
            + (f", medium {s.medium}" if threshold in ("medium", "low") else "")
            + (f", low {s.low}" if threshold == "low" else ""),
            hint="fix them, or record a waiver (rule, object, reason, approver, expires) in "
            "--waivers",
        )


def validate_request(request: CheckRequest) -> None:
    """Usage errors (exit 2) before anything is read."""
    if (request.context or request.namespace) and not request.cluster:
        raise InputError("--context and --namespace need --cluster")
    if not request.paths and request.plan is None and not request.cluster:
        raise InputError(
            "nothing to check", hint="pass manifest files or folders, '-', --plan or --cluster"
        )
    if request.paths.count("-") > 1:
        raise InputError("'-' (stdin) can be given once")


def load_plan(path: Path, on_event: EventSink = ignore) -> tuple[ServePlan, Document]:
    """A `swissai plan --out` file with its field lines; unknown keys are warnings."""
    from swissai.adapters.manifests import load_yaml_file
    from swissai.adapters.plan_file import plan_from_mapping

    doc = load_yaml_file(path)
    if doc is None:
        raise InputError(f"plan {path} is empty", hint="write it with `swissai plan --out`")
    plan, warnings = plan_from_mapping(doc.data, str(path))
    for warning in warnings:
        warn(on_event, warning)
    return plan, doc


def load_waivers(path: Path) -> list[WaiverEntry]:
    """The entries of swissai-waivers.yaml (a list, or `waivers:` holding one) with their
    lines. Entry contents are judged by the engine (WAIVER-INVALID findings); a file that is
    not a list of entries, or not YAML, is exit 2."""
    from swissai.adapters.manifests import parse_yaml_documents
    from swissai.adapters.yaml_safe import WAIVER_LIMITS, read_capped
    from swissai.core.compliance import WaiverEntry

    # the bounded loader: size cap, UTF-8, aliases counted, impossible dates named by line
    text = read_capped(path, WAIVER_LIMITS)
    docs = list(parse_yaml_documents(text, str(path), WAIVER_LIMITS))
    if not docs:
        return []
    data, _, lines = docs[0]
    prefix = ""
    if isinstance(data, dict) and isinstance(data.get("waivers"), list):
        data, prefix = data["waivers"], "waivers"
    if not isinstance(data, list):
        raise InputError(
            f"{path}: expected a list of waivers (or `waivers:` holding one)",
            hint="each entry: rule, object, reason, approver, expires (YYYY-MM-DD)",
        )
    return [
        WaiverEntry(
            data=item if isinstance(item, dict) else {},
            file=str(path),
            line=lines.get(f"{prefix}[{i}]", 1),
            index=i,
        )
        for i, item in enumerate(data)
    ]


def run_check(request: CheckRequest, on_event: EventSink = ignore) -> CheckOutcome:
    """Read the inputs (exit 2 on a bad one), then the cluster (exit 3), run every rule."""
    from swissai.adapters.manifests import load_manifests, load_yaml_file
    from swissai.adapters.site import load_site, site_path
    from swissai.core.compliance import CheckContext, CheckInput, run_checks
    from swissai.models.site import SiteProfile

    validate_request(request)
    site_file = site_path(request.site, required=False)
    site: SiteProfile | None = None
    site_doc = None
    if site_file is not None:
        site = load_site(site_file)
        site_doc = load_yaml_file(site_file)
        if request.site is None:
            say(on_event, f"site profile: ./{site_file} (--site not given)", "note")
    policy = (site or SiteProfile()).compliance
    plan, plan_doc = load_plan(request.plan, on_event) if request.plan else (None, None)
    # chart and kustomize directories are rendered first (swissai.services.check_sources)
    from swissai.services.check_sources import RenderOptions, render_inputs, split_inputs

    plain, to_render = split_inputs(request.paths)
    options = RenderOptions(request.values, request.release_namespace)
    rendered = render_inputs(to_render, options, site.namespace if site else None, on_event)
    # '-' is read by the bounded loader (size cap, UTF-8, line numbers) unless given as text
    skipped: list[str] = []  # files without objects (notes in the report)
    objects = (load_manifests(plain, request.stdin_text, skipped) if plain else []) + rendered
    entries = load_waivers(request.waivers) if request.waivers is not None else []
    inputs = list(request.paths)
    context_name = None
    if request.cluster:
        from swissai.adapters.kube import read_cluster

        namespace = request.namespace or (site or SiteProfile()).namespace

        def slow(what: str, elapsed_s: float, limit_s: float, finished: bool) -> None:
            on_event(
                Progress(
                    task=f"api {what}",
                    description=f"waiting for the API server ({what})",
                    completed=elapsed_s,
                    total=limit_s,
                    unit="seconds",
                    finished=finished,
                )
            )

        live, context_name = read_cluster(
            request.context, namespace, timeout_s=request.cluster_timeout_s, on_slow=slow
        )
        objects += live
        inputs.append(f"cluster://{context_name}")
    threshold: FailOnLevel = request.fail_on or (
        policy.fail_on if policy.fail_on in FAIL_ON_LEVELS else "high"
    )
    ctx = CheckContext(
        objects=objects,
        policy=policy,
        plan=plan,
        plan_doc=plan_doc,
        site=site,
        site_doc=site_doc,
        live=request.cluster,
        cluster=context_name,
        today=request.today or dt.date.today(),
    )
    report = run_checks(
        CheckInput(
            ctx=ctx,
            waivers=entries,
            fail_on=threshold,
            inputs=inputs
            + ([str(request.plan)] if request.plan else [])
            + ([str(site_file)] if site_file else []),
            tool_version=request.tool_version,
            notes=([IMAGE_ENV_NOTE] if request.paths else []) + skipped,
        )
    )
    return CheckOutcome(report=report, fail_on=threshold, site=site_file)


def format_for_file(path: Path, output: str) -> ReportFormat:
    """The report format a `--out` file gets from its name (.sarif, .xml = JUnit, .json,
    .yaml); otherwise the stdout format, JSON for a table."""
    name = path.name.lower()
    if name.endswith((".sarif", ".sarif.json")):
        return "sarif"
    if name.endswith(".xml"):
        return "junit"
    if name.endswith(".json"):
        return "json"
    if name.endswith((".yaml", ".yml")):
        return "yaml"
    if output in ("json", "yaml", "sarif", "junit"):
        return output  # type: ignore[return-value]
    return "json"


def render_report(
    report: Report, fmt: ReportFormat, root: str | None = None, cwd: str | None = None
) -> str:
    """The report as one document. SARIF URIs are relative to `root` (see
    swissai.report.sarif.artifact_uri); `cwd` is what relative input paths are relative to."""
    if fmt == "sarif":
        from swissai.report.sarif import to_sarif

        return json.dumps(to_sarif(report, root, cwd), indent=2) + "\n"
    if fmt == "junit":
        from swissai.report.junit import to_junit

        return to_junit(report)
    if fmt == "yaml":
        import yaml

        return str(yaml.safe_dump(report.model_dump(mode="json"), sort_keys=False, width=100))
    return str(report.model_dump_json(indent=2)) + "\n"
