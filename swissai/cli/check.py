"""`swissai check`: compliance rules over manifests, a plan, the site profile and a live cluster."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

import typer

from swissai.errors import FindingsError, InputError

HELP = (
    "Check manifests (files, folders, '-' for a YAML stream such as `helm template`), a plan, "
    "the site profile and optionally the live cluster against the FINMA-oriented residency and "
    "security rules (docs/rules.md). Exit 1 when an unwaived finding is at or above --fail-on."
)
OUTPUTS = ("table", "json", "yaml", "sarif", "junit")
FAIL_ON = ("critical", "high", "medium", "low", "none")


def _format_for_file(path: Path, output: str) -> str:
    name = path.name.lower()
    if name.endswith((".sarif", ".sarif.json")):
        return "sarif"
    if name.endswith(".xml"):
        return "junit"
    if name.endswith(".json"):
        return "json"
    if name.endswith((".yaml", ".yml")):
        return "yaml"
    return output if output != "table" else "json"


def _load_plan(path: Path) -> tuple[Any, Any]:
    from swissai.adapters.manifests import load_yaml_file
    from swissai.adapters.plan_file import plan_from_mapping
    from swissai.cli.output import note

    doc = load_yaml_file(path)
    if doc is None:
        raise InputError(f"plan {path} is empty", hint="write it with `swissai plan --out`")
    plan, warnings = plan_from_mapping(doc.data, str(path))
    for warning in warnings:
        note(f"warning: {warning}")
    return plan, doc


def _load_waivers(path: Path) -> list[Any]:
    from swissai.adapters.manifests import _read, parse_yaml_documents
    from swissai.core.compliance import WaiverEntry

    docs = list(parse_yaml_documents(_read(path), str(path)))
    if not docs:
        return []
    data, _, lines = docs[0]
    prefix = ""
    if isinstance(data, dict) and isinstance(data.get("waivers"), list):
        data, prefix = data["waivers"], "waivers"
    if not isinstance(data, list):
        raise InputError(f"{path}: expected a list of waivers (or `waivers:` holding one)")
    entries = []
    for i, item in enumerate(data):
        key = f"{prefix}[{i}]"
        entries.append(
            WaiverEntry(
                data=item if isinstance(item, dict) else {},
                file=str(path),
                line=lines.get(key, 1),
                index=i,
            )
        )
    return entries


def check(
    paths: list[str] = typer.Argument(
        None, help="Manifest files or folders; '-' reads a multi-document YAML stream from stdin."
    ),
    plan_file: Path | None = typer.Option(None, "--plan", help="A `swissai plan --out` file."),
    site_file: Path | None = typer.Option(
        None,
        "--site",
        help="Site profile (swissai.yaml); default: the values `swissai init` writes.",
    ),
    cluster: bool = typer.Option(
        False, "--cluster", help="Also read the live objects (read-only)."
    ),
    context: str | None = typer.Option(None, "--context", help="Kube context for --cluster."),
    namespace: str | None = typer.Option(
        None, "--namespace", help="Namespace for --cluster; default: the site profile's namespace."
    ),
    output: str = typer.Option(
        "table", "--output", "-o", help="table, json, yaml, sarif or junit."
    ),
    out: Path | None = typer.Option(
        None,
        "--out",
        help="Also write the report to this file (.sarif, .xml = JUnit, .json, .yaml).",
    ),
    sarif_root: Path | None = typer.Option(
        None,
        "--sarif-root",
        help="SARIF paths are written relative to this directory (default: the current one); "
        "files outside it keep absolute file:// URIs.",
    ),
    fail_on: str | None = typer.Option(
        None, "--fail-on", help="critical, high, medium, low or none (default: the site's, high)."
    ),
    waivers: Path | None = typer.Option(
        None, "--waivers", help="swissai-waivers.yaml: rule, object, reason, approver, expires."
    ),
) -> None:
    from swissai import __version__
    from swissai.adapters.manifests import load_manifests, load_yaml_file
    from swissai.cli.output import note, write_text_atomic
    from swissai.core.compliance import CheckContext, CheckInput, run_checks
    from swissai.models.site import SiteProfile

    paths = list(paths or [])
    if output not in OUTPUTS:
        raise InputError(f"--output {output}: use {', '.join(OUTPUTS)}")
    if fail_on is not None and fail_on not in FAIL_ON:
        raise InputError(f"--fail-on {fail_on}: use {', '.join(FAIL_ON)}")
    if (context or namespace) and not cluster:
        raise InputError("--context and --namespace need --cluster")
    if not paths and plan_file is None and not cluster:
        raise InputError(
            "nothing to check", hint="pass manifest files or folders, '-', --plan or --cluster"
        )
    if paths.count("-") > 1:
        raise InputError("'-' (stdin) can be given once")
    # Inputs first (exit 2), the cluster last (exit 3).
    site: SiteProfile | None = None
    site_doc = None
    if site_file is not None:
        from swissai.adapters.site import load_site

        site = load_site(site_file)
        site_doc = load_yaml_file(site_file)
    policy = (site or SiteProfile()).compliance
    plan, plan_doc = _load_plan(plan_file) if plan_file is not None else (None, None)
    objects = load_manifests(paths) if paths else []
    waiver_entries = _load_waivers(waivers) if waivers is not None else []
    inputs = [str(p) for p in paths]
    context_name = None
    if cluster:
        from swissai.adapters.kube import read_cluster
        from swissai.cli.console import note as progress_line

        live, context_name = read_cluster(
            context,
            namespace or (site or SiteProfile()).namespace,
            on_slow=lambda what, s, limit, done: progress_line(
                f"waiting for the API server ({what}): {s:.0f} s" + (" (answered)" if done else "")
            ),
        )
        objects += live
        inputs.append(f"cluster://{context_name}")
    notes = []
    if paths:
        notes.append(
            "environment variables baked into images (Dockerfile ENV) are invisible in manifests"
        )
    ctx = CheckContext(
        objects=objects,
        policy=policy,
        plan=plan,
        plan_doc=plan_doc,
        site=site,
        site_doc=site_doc,
        live=cluster,
        cluster=context_name,
        today=dt.date.today(),
    )
    threshold = fail_on or (policy.fail_on if policy.fail_on in FAIL_ON else "high")
    report = run_checks(
        CheckInput(
            ctx=ctx,
            waivers=waiver_entries,
            fail_on=threshold,
            inputs=inputs
            + ([str(plan_file)] if plan_file else [])
            + ([str(site_file)] if site_file else []),
            tool_version=__version__,
            notes=notes,
        )
    )
    cwd = str(Path.cwd().resolve())
    root = str(sarif_root.resolve()) if sarif_root is not None else cwd
    if out is not None:
        text = _render(report, _format_for_file(out, output), root, cwd)
        write_text_atomic(out, text)
        note(f"wrote {out}")
    if output == "table":
        from rich.console import Console

        from swissai.report.findings_table import render_findings

        render_findings(report, Console(width=120))
    else:
        sys.stdout.write(_render(report, output, root, cwd))
        sys.stdout.flush()
    if report.failed:
        s = report.summary
        raise FindingsError(
            f"compliance findings at or above {threshold}: critical {s.critical}, high {s.high}"
            + (f", medium {s.medium}" if threshold in ("medium", "low") else "")
            + (f", low {s.low}" if threshold == "low" else ""),
            hint="fix them, or record a waiver (rule, object, reason, approver, expires) in --waivers",
        )


def _render(report: Any, fmt: str, root: str | None = None, cwd: str | None = None) -> str:
    if fmt == "sarif":
        from swissai.report.sarif import to_sarif

        return json.dumps(to_sarif(report, root, cwd), indent=2) + "\n"
    if fmt == "junit":
        from swissai.report.junit import to_junit

        return str(to_junit(report))
    if fmt == "yaml":
        from swissai.cli.output import to_document

        return to_document(report, "yaml")
    return str(report.model_dump_json(indent=2)) + "\n"
