"""Shared helpers of the `swissai check` tests: run the real engine on files under
tests/data/compliance/ (no swissai internals are replaced)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from swissai.adapters.manifests import load_manifests, load_yaml_file
from swissai.adapters.site import load_site
from swissai.core.compliance import CheckContext, CheckInput, WaiverEntry, run_checks
from swissai.models.findings import Report
from swissai.models.plan import ServePlan

DATA = Path(__file__).resolve().parent / "data" / "compliance"
BASELINE = DATA / "baseline" / "bundle.yaml"
BASELINE_SITE = DATA / "baseline" / "site.yaml"
TODAY = dt.date(2026, 7, 1)


def check(
    paths: list[Path],
    site: Path | None,
    *,
    plan: ServePlan | None = None,
    waivers: list[WaiverEntry] | None = None,
    fail_on: str = "high",
) -> Report:
    profile = load_site(site) if site else None
    ctx = CheckContext(
        objects=load_manifests([str(p) for p in paths]),
        policy=profile.compliance if profile else CheckContext([]).policy,
        plan=plan,
        site=profile,
        site_doc=load_yaml_file(site) if site else None,
        today=TODAY,
    )
    return run_checks(CheckInput(ctx=ctx, waivers=waivers or [], fail_on=fail_on))
