"""Compliance results: rule metadata, findings, waivers and the report (`swissai check`).

Stable keys (JSON output is a contract; additions are allowed). Every finding names the object
(`Deployment/ai/gpt-oss-120b`) and the field (`spec.template.spec.containers[0].env`), and the
file and line where the input was a file.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, Literal

from pydantic import Field, model_validator

from swissai.models.base import Frozen

REPORT_API_VERSION = "swissai/v1alpha1"
# `info`: a finding that never fails a gate (e.g. GOV-009, an object swissai did not inspect);
# listed in every report format so that silence is never mistaken for a pass
FindingSeverity = Literal["critical", "high", "medium", "low", "info"]
SEVERITIES: tuple[FindingSeverity, ...] = ("critical", "high", "medium", "low", "info")
SEVERITY_RANK: dict[str, int] = {
    "critical": 4,
    "high": 3,
    "medium": 2,
    "low": 1,
    "info": 0,
    "none": 99,
}
Confidence = Literal["verified", "secondary", "recalled"]
Target = Literal["plan", "manifests", "live", "host", "site", "waivers"]


# `//userinfo@` of a URL (any scheme, or none): everything up to the last `@` of the authority
# (an unencoded `@` inside a password is common); RFC 3986 §3.2.1 deprecates passwords in URIs
_USERINFO = re.compile(r"//[^/\s\"'<>@]*(?:@[^/\s\"'<>@]*)*@")
REDACTED = "***"


def redact(text: str) -> str:
    """`https://user:secret@host/x` -> `https://***@host/x`: credentials in URLs never reach a
    finding, a report, SARIF or JUnit. Applied to every text field of Finding and CheckResult
    when they are built, so no rule can leak a credential it quotes."""
    if "@" not in text:
        return text
    return _USERINFO.sub(f"//{REDACTED}@", text)


class _Redacted(Frozen):
    """A model whose string fields are redacted (`redact`) before they are stored."""

    @model_validator(mode="before")
    @classmethod
    def _redact_strings(cls, data: Any) -> Any:
        # only a text with `@` can hold userinfo: most findings are built without a copy
        if isinstance(data, dict) and any(isinstance(v, str) and "@" in v for v in data.values()):
            return {k: redact(v) if isinstance(v, str) else v for k, v in data.items()}
        return data


def at_or_above(severity: str, threshold: str) -> bool:
    """True when `severity` counts for `--fail-on threshold` (`none` never fails)."""
    return SEVERITY_RANK[severity] >= SEVERITY_RANK[threshold]


def expand_none(threshold: str) -> str:
    """`--fail-on` value as a rank key (`none` ranks above every severity)."""
    return threshold if threshold in SEVERITY_RANK else "none"


class Reference(Frozen):
    """One citation, with how sure we are of it (../compliance/sources.md tags)."""

    text: str = Field(description="e.g. 'FINMA Circ. 2023/1 ch. IV.D' or 'CKV_K8S_43'")
    confidence: Confidence = Field(
        description="verified: read in the primary text; secondary: confirmed by secondary "
        "sources only; recalled: to be checked against the primary text before relying on it"
    )
    url: str | None = None


class RuleInfo(Frozen):
    """Stable metadata of one rule; ids are never renumbered."""

    id: str
    title: str
    theme: str
    severity: FindingSeverity = Field(description="default severity (escalations are per finding)")
    targets: list[Target]
    inspects: str = Field(description="what the rule looks at, in one paragraph")
    references: list[Reference]
    remediation: str
    evidence: str | None = Field(
        None, description="human evidence the rule expects declared in the site profile"
    )
    not_checked: str | None = Field(
        None, description="parts of the catalog rule swissai cannot check, and why"
    )


class WaiverTarget(Frozen):
    kind: str
    namespace: str | None = None
    name: str


class Waiver(Frozen):
    """An entry of swissai-waivers.yaml. All of rule, object, reason, approver and expires are
    required; an entry without them, or past its expiry date, is itself a finding."""

    id: str | None = None
    rule: str
    object: str = Field(description="Kind/namespace/name or Kind/name; fnmatch patterns allowed")
    reason: str
    approver: str
    expires: dt.date
    created: dt.date | None = None
    ticket: str | None = None


class AppliedWaiver(_Redacted):
    id: str | None
    reason: str
    approver: str
    expires: dt.date
    file: str | None = None
    line: int | None = None


class Finding(_Redacted):
    rule_id: str
    severity: FindingSeverity
    title: str
    message: str
    object: str = Field(description="Kind/namespace/name of the object the finding is about")
    field: str = Field("", description="path inside the object, e.g. spec.template.spec.hostPID")
    file: str | None = Field(None, description="input file; None for live-cluster objects")
    line: int | None = None
    location: str | None = Field(
        None,
        description="where the finding is, in words, when no input holds it (e.g. '(default "
        "site profile)' without --site); file and line then only anchor it for SARIF",
    )
    source: Target = "manifests"
    missing_object: bool = Field(False, description="the finding is about an absent object")
    evidence_expected: str | None = Field(
        None, description="set when the finding only asks for declared human evidence"
    )
    remediation: str = ""
    waived: bool = False
    waiver: AppliedWaiver | None = None


CheckStatus = Literal["passed", "failed", "waived", "not_applicable"]


class CheckResult(_Redacted):
    """One rule evaluated on one object (JUnit: one test case each)."""

    rule_id: str
    object: str
    status: CheckStatus
    file: str | None = None
    line: int | None = None
    message: str = ""


class Summary(Frozen):
    critical: int = 0
    high: int = 0
    medium: int = 0
    low: int = 0
    info: int = 0
    waived: int = 0
    passed: int = 0
    objects: int = 0


class Report(Frozen):
    apiVersion: str = REPORT_API_VERSION
    kind: Literal["ComplianceReport"] = "ComplianceReport"
    tool_version: str
    catalog_version: str
    checked_on: dt.date
    inputs: list[str] = Field(description="files, '-' for stdin, cluster://CONTEXT for --cluster")
    fail_on: str
    failed: bool = Field(description="an unwaived finding at or above fail_on exists (exit 1)")
    summary: Summary
    rules: list[RuleInfo]
    findings: list[Finding]
    checks: list[CheckResult]
    notes: list[str] = Field(default_factory=list)
