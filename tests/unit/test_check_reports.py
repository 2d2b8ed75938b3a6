"""Report formats of `swissai check`: SARIF validated against the official SARIF 2.1.0 schema
(tests/data/schemas, with its source), JUnit read back by junitparser, JSON round-trip, and
waived findings visible and marked in every format."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import jsonschema
import junitparser
from compliance_support import BASELINE_SITE, DATA, check
from rich.console import Console

from swissai.core.compliance import WaiverEntry
from swissai.models.findings import Report
from swissai.report.findings_table import render_findings
from swissai.report.junit import to_junit
from swissai.report.sarif import to_sarif

SCHEMA = json.loads(
    (
        Path(__file__).resolve().parents[1] / "data" / "schemas" / "sarif-schema-2.1.0.json"
    ).read_text()
)


def _report() -> Report:
    waiver = WaiverEntry(
        data={
            "id": "W-9",
            "rule": "HRD-002",
            "object": "Deployment/ai/hrd-002",
            "reason": "GPU debug node",
            "approver": "ciso@bank.internal",
            "expires": dt.date(2026, 9, 1),
        },
        file="swissai-waivers.yaml",
        line=1,
        index=0,
    )
    return check(
        [DATA / "examples" / "HRD-002" / "fail.yaml", DATA / "examples" / "RES-010" / "fail.yaml"],
        BASELINE_SITE,
        waivers=[waiver],
    )


def test_sarif_validates_against_the_official_schema_and_lists_rules_once() -> None:
    report = _report()
    sarif = to_sarif(report)
    jsonschema.validate(sarif, SCHEMA)
    run = sarif["runs"][0]
    ids = [r["id"] for r in run["tool"]["driver"]["rules"]]
    assert len(ids) == len(set(ids)) and "RES-004" in ids
    for result in run["results"]:
        assert ids[result["ruleIndex"]] == result["ruleId"]
        loc = result["locations"][0]["physicalLocation"]
        assert loc["artifactLocation"]["uri"] and loc["region"]["startLine"] >= 1
        assert result["level"] in ("error", "warning", "note")
    missing = next(
        r for r in run["results"] if r["ruleId"] == "RES-004" and r["properties"]["missingObject"]
    )
    assert missing["locations"][0]["physicalLocation"]["region"]["startLine"] == 1
    waived = [r for r in run["results"] if "suppressions" in r]
    assert waived and all(r["ruleId"] == "HRD-002" for r in waived)
    assert waived[0]["suppressions"][0]["status"] == "accepted"
    assert "ciso@bank.internal" in waived[0]["suppressions"][0]["justification"]


def test_junit_parses_with_junitparser_one_case_per_rule_and_object(tmp_path: Path) -> None:
    report = _report()
    path = tmp_path / "report.xml"
    path.write_text(to_junit(report), encoding="utf-8")
    xml = junitparser.JUnitXml.fromfile(str(path))
    cases = [case for suite in xml for case in suite]
    names = [c.name for c in cases]
    assert len(names) == len(set(names)) == len(report.checks)
    by_name = {c.name: c for c in cases}
    hrd = by_name["HRD-002 Deployment/ai/hrd-002"]
    assert isinstance(hrd.result[0], junitparser.Skipped) and "waived" in (
        hrd.result[0].message or ""
    )
    res = by_name["RES-004 Namespace/ai"]
    assert isinstance(res.result[0], junitparser.Failure) and res.result[0].type == "critical"
    assert any(c.is_passed for c in cases)
    assert xml.failures >= 1 and xml.skipped >= 1


def test_json_round_trips_and_table_marks_waivers() -> None:
    report = _report()
    again = Report.model_validate_json(report.model_dump_json())
    assert again == report
    assert any(f.waived for f in again.findings)
    console = Console(width=400, record=True)
    render_findings(report, console)
    text = console.export_text()
    assert "waived W-9 by ciso@bank.internal until 2026-09-01" in text
    assert "FAIL (--fail-on high)" in text


def test_credentials_in_urls_never_reach_findings_sarif_or_junit(tmp_path: Path) -> None:
    """Rules quote the URLs they judge; userinfo (`user:secret@`) is redacted where findings
    are built, so JSON, SARIF, JUnit and the table never carry it."""
    report = check([DATA / "leaks" / "url-credentials.yaml"], BASELINE_SITE)
    quoted = [f for f in report.findings if "//" in f.message and "tools.example" in f.message]
    assert quoted and all("https://***@tools.example.com" in f.message for f in quoted)
    sarif = to_sarif(report)
    jsonschema.validate(sarif, SCHEMA)
    junit = tmp_path / "report.xml"
    junit.write_text(to_junit(report), encoding="utf-8")
    junitparser.JUnitXml.fromfile(str(junit))  # still a valid report
    console = Console(width=400, record=True)
    render_findings(report, console)
    for text in (
        report.model_dump_json(),
        json.dumps(sarif),
        junit.read_text(encoding="utf-8"),
        console.export_text(),
    ):
        assert "s3cr3t" not in text and "tok:" not in text


def test_redact_removes_userinfo_and_keeps_everything_else() -> None:
    from swissai.models.findings import redact

    assert redact("to https://user:secret@host/x now") == "to https://***@host/x now"
    assert redact("http://u:p@ss@h:1/y") == "http://***@h:1/y"
    assert redact("s3://key:secret@bucket/p") == "s3://***@bucket/p"
    assert redact("approver ciso@bank.internal") == "approver ciso@bank.internal"
    assert redact("https://host/path@v2") == "https://host/path@v2"
