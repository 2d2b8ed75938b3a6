"""Shared helpers of the `swissai check` tests: run the real engine on files under
tests/data/compliance/ (no swissai internals are replaced).

Rule examples live in tests/data/compliance/examples/<RULE-ID>/ (format in the README there):
`pass.yaml` and `fail.yaml` hold manifests, and beside each an optional `<case>.site.yaml`,
`<case>.plan.yaml`, `<case>.waivers.yaml` and `<case>.cluster.yaml` (live objects, read as if
`--cluster` had returned them).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from swissai.adapters.manifests import load_manifests, load_yaml_file, parse_yaml_documents
from swissai.adapters.site import load_site
from swissai.core.compliance import CheckContext, CheckInput, WaiverEntry, run_checks
from swissai.models.findings import Report
from swissai.models.manifest import Document
from swissai.models.plan import ServePlan
from swissai.services.check import load_plan, load_waivers

DATA = Path(__file__).resolve().parent / "data" / "compliance"
EXAMPLES = DATA / "examples"
BASELINE = DATA / "baseline" / "bundle.yaml"
BASELINE_SITE = DATA / "baseline" / "site.yaml"
TODAY = dt.date(2026, 7, 1)
CASES = ("pass", "fail")


def check(
    paths: list[Path],
    site: Path | None,
    *,
    plan: ServePlan | None = None,
    plan_doc: Document | None = None,
    waivers: list[WaiverEntry] | None = None,
    live: list[Document] | None = None,
    fail_on: str = "high",
) -> Report:
    profile = load_site(site) if site else None
    objects = load_manifests([str(p) for p in paths]) if paths else []
    ctx = CheckContext(
        objects=objects + (live or []),
        policy=profile.compliance if profile else CheckContext([]).policy,
        plan=plan,
        plan_doc=plan_doc,
        site=profile,
        site_doc=load_yaml_file(site) if site else None,
        live=bool(live),
        cluster="example" if live else None,
        today=TODAY,
    )
    return run_checks(CheckInput(ctx=ctx, waivers=waivers or [], fail_on=fail_on))


def _has_documents(path: Path) -> bool:
    return any(True for _ in parse_yaml_documents(path.read_text(encoding="utf-8"), str(path)))


def example_files(rule_id: str, case: str) -> dict[str, Path]:
    """The files of one example: manifests, site, plan, waivers, cluster (those present)."""
    folder = EXAMPLES / rule_id
    names = {
        "manifests": f"{case}.yaml",
        "site": f"{case}.site.yaml",
        "plan": f"{case}.plan.yaml",
        "waivers": f"{case}.waivers.yaml",
        "cluster": f"{case}.cluster.yaml",
    }
    return {key: folder / name for key, name in names.items() if (folder / name).is_file()}


def check_example(rule_id: str, case: str) -> Report:
    """Run every rule on one example, as `swissai check` would with those inputs."""
    files = example_files(rule_id, case)
    if "manifests" not in files:
        raise FileNotFoundError(f"{EXAMPLES / rule_id / (case + '.yaml')} is missing")
    manifests = files["manifests"]
    plan, plan_doc = load_plan(files["plan"]) if "plan" in files else (None, None)
    live = []
    if "cluster" in files:
        live = [
            Document(data=d.data, file=None, line=1, lines={}, source="cluster")
            for d in load_manifests([str(files["cluster"])])
        ]
    return check(
        [manifests] if _has_documents(manifests) else [],
        files.get("site"),
        plan=plan,
        plan_doc=plan_doc,
        waivers=load_waivers(files["waivers"]) if "waivers" in files else None,
        live=live,
    )
