"""`swissai deploy PLAN --site swissai.yaml`: render, gate, preflight, apply, wait, record.

Exit codes: 0 deployed (or nothing to change), 1 the check gate found findings at or above the
site's fail_on, 2 bad input, 3 environment (no cluster, preflight failed, apply conflicts:
nothing was applied), 4 infeasible plan, 5 the deploy failed after apply started (the message
says whether it was rolled back or left as it is).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from swissai.errors import EnvironmentProblem, FindingsError, InputError

if TYPE_CHECKING:
    from swissai.adapters.kube_apply import Cluster
    from swissai.models.deploy import CheckSummary
    from swissai.models.plan import ServePlan
    from swissai.models.site import SiteProfile

HELP = (
    "Deploy a plan into a Kubernetes cluster: render in memory, gate on `check`, preflight the "
    "cluster (RBAC, CRDs, GPUs in the Swiss regions, storage, Pod Security), server-side apply "
    "in dependency order, wait with per-replica progress, keep a deployment record. Exit 3 when "
    "preflight fails (nothing applied), 5 when the deploy failed after apply started."
)
DEFAULT_RECORD_FILE = Path("swissai-deployments.jsonl")


def _say(message: str) -> None:
    from swissai.cli.output import note

    note(message)


def check_gate(
    objects: list[dict[str, Any]], plan: ServePlan, site: SiteProfile, skip_reason: str | None
) -> CheckSummary:
    """`swissai check` over the rendered objects with the site's fail_on (exit 1 on findings,
    unless --skip-check-gate REASON, which is logged and recorded)."""
    import datetime as dt

    from swissai import __version__
    from swissai.core.compliance.context import CheckContext
    from swissai.core.compliance.engine import CheckInput, run_checks
    from swissai.models.deploy import CheckSummary
    from swissai.models.manifest import Document

    fail_on = site.compliance.fail_on
    docs = [Document(data=o, file="(rendered)", source="file") for o in objects]
    ctx = CheckContext(
        objects=docs, policy=site.compliance, plan=plan, site=site, today=dt.date.today()
    )
    report = run_checks(
        CheckInput(ctx=ctx, fail_on=fail_on, inputs=["(rendered)"], tool_version=__version__)
    )
    counts = {k: int(v) for k, v in report.summary.model_dump().items() if isinstance(v, int)}
    summary = CheckSummary(
        fail_on=fail_on, failed=report.failed, counts=counts, skipped_reason=skip_reason
    )
    if report.failed:
        from swissai.models.findings import at_or_above

        blocking = [f for f in report.findings if not f.waived and at_or_above(f.severity, fail_on)]
        if skip_reason is None:
            for finding in blocking[:10]:
                _say(f"  {finding.severity} {finding.rule_id} {finding.object}: {finding.message}")
            raise FindingsError(
                f"the check gate found {len(blocking)} finding(s) at or above {fail_on}; "
                "nothing was applied",
                hint="fix them (swissai check), waive them, or override with "
                "--skip-check-gate 'REASON' (logged in the deployment record)",
            )
        _say(
            f"warning: check gate skipped with {len(blocking)} finding(s) at or above "
            f"{fail_on}: {skip_reason}"
        )
    return summary


def _preflight(cluster: Cluster, objects: list[dict[str, Any]], site: SiteProfile, ns: str) -> None:
    from swissai.cli.deploy_flow import gather_facts
    from swissai.core.preflight import evaluate, needs_from

    needs = needs_from(objects, site, ns)
    result = evaluate(needs, gather_facts(cluster, needs))
    for line in result.notes:
        _say(f"note: {line}")
    if not result.ok:
        for failure in result.failures:
            _say(f"preflight {failure.line()}")
        raise EnvironmentProblem(
            f"preflight found {len(result.failures)} problem(s) in context {cluster.context}; "
            "nothing was applied",
            hint="fix each line above, then run swissai deploy again",
        )
    facts_version = cluster.version()[2]
    _say(f"preflight passed ({cluster.context}, Kubernetes {facts_version})")


def deploy(
    plan_file: Path = typer.Argument(..., metavar="PLAN", help="A `swissai plan --out` file."),
    site_file: Path = typer.Option(
        Path("swissai.yaml"), "--site", help="Site profile written by `swissai init`."
    ),
    context: str | None = typer.Option(None, "--context", help="kubeconfig context to use."),
    namespace: str | None = typer.Option(
        None, "--namespace", "-n", help="Namespace (default: the site profile's)."
    ),
    kubeconfig: Path | None = typer.Option(
        None, "--kubeconfig", help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config)."
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Server-side dry run: print the diff against the live objects."
    ),
    force_conflicts: bool = typer.Option(
        False,
        "--force-conflicts",
        help="Take over fields another field manager owns (server-side apply force).",
    ),
    rollback_on_failure: bool | None = typer.Option(
        None,
        "--rollback-on-failure/--no-rollback-on-failure",
        help="Return to the previous revision if the deploy fails (default: on when CI=true).",
    ),
    skip_check_gate: str | None = typer.Option(
        None,
        "--skip-check-gate",
        metavar="REASON",
        help="Deploy despite check findings; the reason is logged and recorded.",
    ),
    print_rbac: bool = typer.Option(
        False, "--print-rbac", help="Print the least-privilege Role the deployer needs and exit."
    ),
    timeout: int | None = typer.Option(
        None, "--timeout", min=1, help="Seconds to wait for ready (default: from the plan)."
    ),
    record_file: Path = typer.Option(
        DEFAULT_RECORD_FILE, "--record-file", help="Local deployment record (JSON lines)."
    ),
    output: str = typer.Option("table", "--output", "-o", help="table, json or yaml."),
) -> None:
    from swissai.adapters.site import load_site
    from swissai.cli.deploy_flow import (
        annotate,
        canonical_hash,
        connect,
        endpoint_of,
        render_objects,
    )
    from swissai.cli.deploy_flow import (
        dry_run as server_dry_run,
    )
    from swissai.cli.render import load_plan

    if output not in ("table", "json", "yaml"):
        raise InputError(f"--output {output}: use table, json or yaml")
    if skip_check_gate is not None and not skip_check_gate.strip():
        raise InputError(
            "--skip-check-gate needs a reason", hint="--skip-check-gate 'CHG-1234: ...'"
        )
    if not site_file.is_file():
        raise InputError(
            f"site profile {site_file} not found", hint="write one with `swissai init`"
        )
    plan = load_plan(plan_file)
    site = load_site(site_file)
    if namespace is not None:
        from swissai.models.site import dns_label

        try:
            dns_label(namespace)
        except ValueError as exc:
            raise InputError(f"--namespace: {exc}") from exc
    ns = namespace or site.namespace
    rendered = render_objects(plan, site, ns)  # refuses an infeasible plan (exit 4)
    if print_rbac:
        _print_rbac(rendered, site, ns)
        return
    placeholders = site.placeholders()
    if placeholders:  # `render` warns; a deploy would apply, then fail on the image pull (exit 5)
        raise InputError(
            f"{site_file} still has the EXAMPLE values of {', '.join(placeholders)}; "
            "nothing was applied",
            hint="replace them in the site profile: the image digest of your mirror (crane "
            "digest), the weights' 40-hex commit, and the sha256 that `swissai model manifest "
            "DIR` prints",
        )
    if rollback_on_failure is None:
        rollback_on_failure = os.environ.get("CI", "").lower() == "true"
    check = check_gate(rendered, plan, site, skip_check_gate)
    revision = canonical_hash(rendered)
    plan_hash = canonical_hash(plan.model_dump(mode="json"), 16)
    objects = annotate(rendered, revision, plan_hash, site.model.revision)

    cluster = connect(context, kubeconfig)
    _preflight(cluster, objects, site, ns)
    planned = server_dry_run(cluster, objects, force_conflicts)
    if planned.errors:
        for line in planned.errors:
            _say(f"  {line}")
        raise EnvironmentProblem(
            f"the server refused {len(planned.errors)} object(s) in its dry run; nothing was "
            "applied",
            hint="the lines above give the server's reasons",
        )
    if planned.conflicts:
        for line in planned.conflicts:
            _say(f"  conflict: {line}")
        raise EnvironmentProblem(
            f"{len(planned.conflicts)} field(s) are owned by another field manager; nothing "
            "was applied",
            hint="find out who changed them (kubectl get -o yaml --show-managed-fields); "
            "take them over with --force-conflicts",
        )
    changes = {c.ref: c.action for c in planned.changes}
    endpoint = endpoint_of(objects, site)
    if dry_run:
        _print_dry_run(planned, ns, revision, plan_hash, endpoint, output)
        return
    from swissai.cli.deploy_run import run_deploy

    run_deploy(
        cluster=cluster,
        plan=plan,
        site=site,
        objects=objects,
        namespace=ns,
        revision=revision,
        plan_hash=plan_hash,
        changes=changes,
        existed={c.ref for c in planned.changes if c.existed},
        check=check,
        force=force_conflicts,
        rollback=rollback_on_failure,
        timeout_s=timeout,
        record_file=record_file,
        endpoint=endpoint,
        output=output,
        started=time.time(),
    )


def _print_rbac(objects: list[dict[str, Any]], site: SiteProfile, namespace: str) -> None:
    from swissai.core.preflight import needs_from, rbac_objects
    from swissai.rendering.manifests import dump_yaml

    needs = needs_from(objects, site, namespace)
    typer.echo("---\n".join(dump_yaml(o) for o in rbac_objects(needs)), nl=False)


def _print_dry_run(
    planned: Any, ns: str, revision: str, plan_hash: str, endpoint: str | None, output: str
) -> None:
    from swissai.cli.output import to_document
    from swissai.models.deploy import DeployResult

    diff = "".join(c.diff for c in planned.changes)
    result = DeployResult(
        outcome="dry-run",
        namespace=ns,
        revision=revision,
        plan_hash=plan_hash,
        changes={c.ref: c.action for c in planned.changes},
        replicas=0,
        replicas_ready=0,
        endpoint=endpoint,
        diff=diff,
    )
    if output != "table":
        typer.echo(to_document(result, output), nl=False)
        return
    for change in planned.changes:
        _say(f"  {change.action:9} {change.ref}")
    if diff:
        typer.echo(diff, nl=False)
    count = len(planned.changed)
    _say(
        f"dry run: {count} object(s) would change, nothing was applied"
        if count
        else "dry run: nothing would change"
    )
