"""JUnit XML: one test suite per theme, one test case per rule and object. Findings at or above
--fail-on fail the case; waived findings and rules with nothing to check are skipped; findings
below the threshold pass with the finding in system-out."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from swissai.models.findings import Finding, Report, at_or_above, expand_none


def to_junit(report: Report) -> str:
    themes = {r.id: r.theme for r in report.rules}
    titles = {r.id: r.title for r in report.rules}
    by_key: dict[tuple[str, str], list[Finding]] = {}
    for f in report.findings:
        by_key.setdefault((f.rule_id, f.object), []).append(f)
    threshold = expand_none(report.fail_on)
    root = ET.Element("testsuites", name="swissai check")
    suites: dict[str, ET.Element] = {}
    counts: dict[str, dict[str, int]] = {}
    total = {"tests": 0, "failures": 0, "skipped": 0}
    for check in report.checks:
        theme = themes.get(check.rule_id, "Waivers")
        suite = suites.get(theme)
        if suite is None:
            suite = ET.SubElement(root, "testsuite", name=theme)
            suites[theme] = suite
            counts[theme] = {"tests": 0, "failures": 0, "skipped": 0}
        case = ET.SubElement(
            suite,
            "testcase",
            classname=f"swissai.{check.rule_id}",
            name=f"{check.rule_id} {check.object}",
        )
        if check.file:
            case.set("file", check.file)
        if check.line:
            case.set("line", str(check.line))
        counts[theme]["tests"] += 1
        findings = by_key.get((check.rule_id, check.object), [])
        failing = [f for f in findings if not f.waived and at_or_above(f.severity, threshold)]
        if check.status == "not_applicable":
            ET.SubElement(case, "skipped", message=f"not applicable: {check.message}")
            counts[theme]["skipped"] += 1
        elif failing:
            worst = failing[0]
            failure = ET.SubElement(
                case,
                "failure",
                message=f"{titles.get(check.rule_id, '')}: {worst.message}",
                type=worst.severity,
            )
            failure.text = "\n".join(_describe(f) for f in findings)
            counts[theme]["failures"] += 1
        elif findings and all(f.waived for f in findings):
            w = findings[0].waiver
            message = (
                f"waived: {w.id or ''} {w.reason} (approved by {w.approver}, expires {w.expires})"
                if w
                else "waived"
            )
            skipped = ET.SubElement(case, "skipped", message=message.replace("  ", " "))
            skipped.text = "\n".join(_describe(f) for f in findings)
            counts[theme]["skipped"] += 1
        elif findings:
            out = ET.SubElement(case, "system-out")
            out.text = "\n".join(_describe(f) for f in findings)
    for theme, suite in suites.items():
        for key, value in counts[theme].items():
            suite.set(key, str(value))
            total[key] += value
        suite.set("errors", "0")
    for key, value in total.items():
        root.set(key, str(value))
    root.set("errors", "0")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _describe(f: Finding) -> str:
    where = f.location or (f"{f.file}:{f.line}" if f.file else "(cluster)")
    state = " [waived]" if f.waived else ""
    return f"[{f.severity}]{state} {f.rule_id} {f.object} {f.field} ({where}): {f.message}\n  fix: {f.remediation}"
