"""Run every rule, apply waivers, and build the Report. Pure: the caller passes `today`."""

from __future__ import annotations

import datetime as dt
import fnmatch
from dataclasses import dataclass, field
from typing import Any

from swissai.core.compliance.context import CheckContext, Results
from swissai.core.compliance.registry import CATALOG_VERSION, rules
from swissai.models.findings import (
    SEVERITY_RANK,
    AppliedWaiver,
    CheckResult,
    Finding,
    FindingSeverity,
    Report,
    RuleInfo,
    Summary,
    Waiver,
    at_or_above,
    expand_none,
)

WAIVER_RULES = [
    RuleInfo(
        id="WAIVER-INVALID",
        title="Waiver entry is incomplete or names an unknown rule",
        theme="Waivers",
        severity="high",
        targets=["waivers"],
        inspects="Every swissai-waivers.yaml entry names rule, object, reason, approver and an "
        "expiry date; the rule exists; the waiver is not longer than max_waiver_days, counted "
        "from `created` (a date, YYYY-MM-DD) or, without it, from today; a critical rule is "
        'waived per object, never for every object (`object: "*"`).',
        references=[],
        remediation="Complete the entry (rule, object, reason, approver, expires) or remove it.",
    ),
    RuleInfo(
        id="WAIVER-EXPIRED",
        title="Waiver has expired",
        theme="Waivers",
        severity="high",
        targets=["waivers"],
        inspects="The waiver's expiry date is in the past; it no longer suppresses findings.",
        references=[],
        remediation="Fix the finding, or renew the waiver with a new approval and expiry date.",
    ),
    RuleInfo(
        id="WAIVER-UNUSED",
        title="Waiver matches no finding",
        theme="Waivers",
        severity="low",
        targets=["waivers"],
        inspects="A valid waiver that suppressed nothing in this run (stale waivers get removed).",
        references=[],
        remediation="Remove the waiver if the finding is fixed.",
    ),
]
REQUIRED_WAIVER_KEYS = ("rule", "object", "reason", "approver", "expires")
WAIVER_ALIASES = {"justification": "reason", "approved_by": "approver", "target": "object"}


@dataclass
class WaiverEntry:
    """One raw entry of the waivers file with its location."""

    data: dict[str, Any]
    file: str
    line: int
    index: int
    lines: dict[str, int] = field(default_factory=dict)


@dataclass
class CheckInput:
    ctx: CheckContext
    waivers: list[WaiverEntry] = field(default_factory=list)
    fail_on: str = "high"
    inputs: list[str] = field(default_factory=list)
    tool_version: str = "0"
    notes: list[str] = field(default_factory=list)


def _object_text(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()
    if isinstance(value, dict) and value.get("kind") and value.get("name"):
        ns = value.get("namespace")
        return f"{value['kind']}/{ns}/{value['name']}" if ns else f"{value['kind']}/{value['name']}"
    return None


def _every_object(pattern: str) -> bool:
    """`*`, `*/*`, `*/*/*`: a pattern that names no kind, namespace or name."""
    return all(ch in "*/?" for ch in pattern)


def _date(value: Any) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            return None
    return None


def _expiry_problem(value: Any) -> str | None:
    """Why `expires` is not an expiry date, or None. A date (YAML `2026-09-30`) or the same as
    a string; a timestamp is refused rather than cut to its day (an approval expires on a day,
    and a time without a zone is ambiguous)."""
    if isinstance(value, dt.datetime):
        return (
            f"expires {value.isoformat(sep=' ')} is a timestamp; write the day it expires "
            f"(YYYY-MM-DD, e.g. {value.date().isoformat()})"
        )
    if isinstance(value, dt.date):
        return None
    if isinstance(value, str):
        try:
            dt.date.fromisoformat(value.strip())
        except ValueError:
            return f"expires {value!r} is not a date (YYYY-MM-DD)"
        return None
    return f"expires {value!r} ({type(value).__name__}) is not a date (YYYY-MM-DD)"


def parse_waivers(
    entries: list[WaiverEntry],
    known: set[str],
    today: dt.date,
    max_days: int,
    critical: set[str] | None = None,
) -> tuple[list[tuple[Waiver, WaiverEntry]], list[Finding]]:
    """Valid, unexpired waivers, and findings for invalid or expired entries. `critical`: the
    rules that cannot be waived for every object at once."""
    valid: list[tuple[Waiver, WaiverEntry]] = []
    findings: list[Finding] = []
    info = {r.id: r for r in WAIVER_RULES}

    def finding(rule_id: str, e: WaiverEntry, message: str, ref: str) -> Finding:
        return Finding(
            rule_id=rule_id,
            severity=info[rule_id].severity,
            title=info[rule_id].title,
            message=message,
            object=f"Waiver/{ref}",
            field=f"[{e.index}]",
            file=e.file,
            line=e.line,
            source="waivers",
            remediation=info[rule_id].remediation,
        )

    for e in entries:
        data = {WAIVER_ALIASES.get(k, k): v for k, v in e.data.items()}
        ref = str(data.get("id") or f"#{e.index + 1}")
        obj = _object_text(data.get("object"))
        missing = [
            k for k in REQUIRED_WAIVER_KEYS if not data.get(k) or (k == "object" and obj is None)
        ]
        if missing:
            findings.append(
                finding("WAIVER-INVALID", e, f"waiver {ref} lacks {', '.join(missing)}", ref)
            )
            continue
        expires = data["expires"]
        problem = _expiry_problem(expires)
        if problem is not None:
            findings.append(finding("WAIVER-INVALID", e, f"waiver {ref}: {problem}", ref))
            continue
        if isinstance(expires, str):
            expires = dt.date.fromisoformat(expires.strip())
        rule_id = str(data["rule"])
        if rule_id not in known:
            findings.append(
                finding("WAIVER-INVALID", e, f"waiver {ref} names unknown rule {rule_id}", ref)
            )
            continue
        if obj is not None and _every_object(obj) and rule_id in (critical or set()):
            findings.append(
                finding(
                    "WAIVER-INVALID",
                    e,
                    f"waiver {ref}: {rule_id} is critical and cannot be waived for every object "
                    f"({obj!r}); name the object",
                    ref,
                )
            )
            continue
        raw_created = data.get("created")
        created = _date(raw_created)
        if raw_created is not None and created is None:
            findings.append(
                finding(
                    "WAIVER-INVALID",
                    e,
                    f"waiver {ref}: created {raw_created!r} is not a date (YYYY-MM-DD)",
                    ref,
                )
            )
            continue
        # without `created` (or with one in the future) the waiver runs from today
        start = today if created is None or created > today else created
        if (expires - start).days > max_days:
            since = (
                f"created {created.isoformat()}"
                if created is not None and created <= today
                else "today"
            )
            findings.append(
                finding(
                    "WAIVER-INVALID",
                    e,
                    f"waiver {ref} runs {(expires - start).days} days from {since} "
                    f"> max_waiver_days {max_days}",
                    ref,
                )
            )
            continue
        if expires < today:
            findings.append(
                finding(
                    "WAIVER-EXPIRED",
                    e,
                    f"waiver {ref} for {rule_id} on {obj} expired on {expires.isoformat()}",
                    ref,
                )
            )
            continue
        valid.append(
            (
                Waiver(
                    id=data.get("id"),
                    rule=rule_id,
                    object=obj or "",
                    reason=str(data["reason"]),
                    approver=str(data["approver"]),
                    expires=expires,
                    created=created,
                    ticket=str(data["ticket"]) if data.get("ticket") else None,
                ),
                e,
            )
        )
    return valid, findings


def _matches(w: Waiver, f: Finding) -> bool:
    return w.rule == f.rule_id and (w.object == f.object or fnmatch.fnmatchcase(f.object, w.object))


def run_checks(inp: CheckInput) -> Report:
    ctx = inp.ctx
    registered = rules()
    infos = [r.info for r in registered] + WAIVER_RULES
    findings: list[Finding] = []
    checks: list[CheckResult] = []
    for r in registered:
        res = Results(r.info, ctx)
        r.func(ctx, res)
        findings.extend(res.findings)
        results = res.check_results()
        if not results:
            results = [
                CheckResult(
                    rule_id=r.info.id,
                    object="(none)",
                    status="not_applicable",
                    message="nothing in the inputs this rule applies to",
                )
            ]
        checks.extend(results)
    critical = {i.id for i in infos if i.severity == "critical"} | {
        rule_id for rule_id, sev in ctx.policy.severity_overrides.items() if sev == "critical"
    }
    valid, waiver_findings = parse_waivers(
        inp.waivers, {i.id for i in infos}, ctx.today, ctx.policy.max_waiver_days, critical
    )
    used: set[int] = set()
    applied: list[Finding] = []
    for f in findings:
        for index, (w, e) in enumerate(valid):
            if _matches(w, f) and not (f.severity == "critical" and _every_object(w.object)):
                # a critical finding (also one escalated above its rule's default) is only
                # waived by a waiver that names its object
                used.add(index)
                f = f.model_copy(
                    update={
                        "waived": True,
                        "waiver": AppliedWaiver(
                            id=w.id,
                            reason=w.reason,
                            approver=w.approver,
                            expires=w.expires,
                            file=e.file,
                            line=e.line,
                        ),
                    }
                )
                break
        applied.append(f)
    for index, (w, e) in enumerate(valid):
        if index not in used:
            info = WAIVER_RULES[2]
            waiver_findings.append(
                Finding(
                    rule_id=info.id,
                    severity=info.severity,
                    title=info.title,
                    message=f"waiver {w.id or '#' + str(e.index + 1)} ({w.rule} on {w.object}) matched no finding",
                    object=f"Waiver/{w.id or '#' + str(e.index + 1)}",
                    field=f"[{e.index}]",
                    file=e.file,
                    line=e.line,
                    source="waivers",
                    remediation=info.remediation,
                )
            )
    all_findings = applied + waiver_findings
    for rule_info in WAIVER_RULES:
        for f in waiver_findings:
            if f.rule_id == rule_info.id:
                checks.append(
                    CheckResult(
                        rule_id=f.rule_id,
                        object=f.object,
                        status="failed",
                        file=f.file,
                        line=f.line,
                        message=f.message,
                    )
                )
    all_findings.sort(
        key=lambda f: (-SEVERITY_RANK[f.severity], f.rule_id, f.object, f.field, f.message)
    )
    # a (rule, object) check is waived when every finding on it is waived
    by_key: dict[tuple[str, str], list[Finding]] = {}
    for f in all_findings:
        by_key.setdefault((f.rule_id, f.object), []).append(f)
    final_checks: list[CheckResult] = []
    for c in checks:
        fs = by_key.get((c.rule_id, c.object), [])
        if c.status == "failed" and fs and all(f.waived for f in fs):
            c = c.model_copy(update={"status": "waived"})
        final_checks.append(c)
    counts: dict[FindingSeverity, int] = {
        "critical": 0,
        "high": 0,
        "medium": 0,
        "low": 0,
        "info": 0,
    }
    for f in all_findings:
        if not f.waived:
            counts[f.severity] += 1
    failed = any(
        not f.waived and at_or_above(f.severity, expand_none(inp.fail_on)) for f in all_findings
    )
    objects = {o.ref for o in ctx.objects}
    return Report(
        tool_version=inp.tool_version,
        catalog_version=CATALOG_VERSION,
        checked_on=ctx.today,
        inputs=inp.inputs,
        fail_on=inp.fail_on,
        failed=failed,
        summary=Summary(
            **counts,
            waived=sum(1 for f in all_findings if f.waived),
            passed=sum(1 for c in final_checks if c.status == "passed"),
            objects=len(objects),
        ),
        rules=infos,
        findings=all_findings,
        checks=final_checks,
        notes=inp.notes,
    )
