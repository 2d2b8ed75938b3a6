"""SARIF 2.1.0 for GitHub and GitLab code scanning: every rule listed once in
`tool.driver.rules`, each result with `ruleIndex`, a level from its severity, a physical
location (file and line; line 1 for a missing object), a logical location (the object and
field), a fingerprint, and `suppressions` for waived findings."""

from __future__ import annotations

import hashlib
import posixpath
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any

from swissai.models.findings import Finding, Report, RuleInfo

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
LEVEL = {"critical": "error", "high": "error", "medium": "warning", "low": "note", "info": "note"}
SECURITY_SEVERITY = {
    "critical": "9.5",
    "high": "8.0",
    "medium": "5.5",
    "low": "3.0",
    "info": "0.0",
}


def artifact_uri(file: str | None, root: str | None = None, cwd: str | None = None) -> str:
    """Paths relative to `root` (the directory code scanning maps paths against: the current
    directory, or --sarif-root) so that GitHub and GitLab can map them to repository files:
    an absolute path under `root` becomes relative to it, a relative path (to `cwd`) is
    re-based on `root`; an absolute path outside `root` stays a `file://` URI. Without `root`,
    relative paths are kept as given. stdin and live objects get their own URIs."""
    if file is None:
        return "cluster://current"
    if file == "-":
        return "stdin"
    if file.startswith("cluster://"):
        return file
    path = file.replace("\\", "/")
    absolute = path.startswith("/") or PureWindowsPath(file).is_absolute()
    if not absolute and root is not None and cwd is not None:
        path = posixpath.normpath(posixpath.join(cwd.replace("\\", "/"), path))
        absolute = True
    if absolute:
        if root is not None:
            try:
                relative = PurePosixPath(path).relative_to(root.replace("\\", "/"))
                return relative.as_posix() if relative.parts else "."
            except ValueError:
                pass
        return "file://" + (path if path.startswith("/") else "/" + path)
    return path[2:] if path.startswith("./") else path


def _rule(info: RuleInfo) -> dict[str, Any]:
    refs = "\n".join(f"- {r.text} ({r.confidence})" for r in info.references)
    markdown = (
        f"**Remediation:** {info.remediation}\n\n**References:**\n{refs}"
        if refs
        else f"**Remediation:** {info.remediation}"
    )
    if info.evidence:
        markdown += f"\n\n**Evidence expected:** {info.evidence}"
    return {
        "id": info.id,
        "name": info.id.replace("-", ""),
        "shortDescription": {"text": info.title},
        "fullDescription": {"text": info.inspects},
        "help": {"text": info.remediation, "markdown": markdown},
        "defaultConfiguration": {"level": LEVEL[info.severity]},
        "properties": {
            "tags": ["security", "compliance", info.theme],
            "security-severity": SECURITY_SEVERITY[info.severity],
            "precision": "high",
            "problem.severity": "error" if LEVEL[info.severity] == "error" else "warning",
        },
    }


def _result(f: Finding, index: int, root: str | None, cwd: str | None) -> dict[str, Any]:
    where = f"{f.object}: {f.field}" if f.field else f.object
    result: dict[str, Any] = {
        "ruleId": f.rule_id,
        "ruleIndex": index,
        "level": LEVEL[f.severity],
        "message": {"text": f"{where}: {f.message}"},
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": {"uri": artifact_uri(f.file, root, cwd)},
                    "region": {"startLine": max(1, f.line or 1)},
                },
                "logicalLocations": [{"fullyQualifiedName": where, "kind": "resource"}],
            }
        ],
        "partialFingerprints": {
            "swissaiFinding/v1": hashlib.sha256(
                f"{f.rule_id}|{f.object}|{f.field}|{f.message}".encode()
            ).hexdigest()
        },
        "properties": {
            "severity": f.severity,
            "security-severity": SECURITY_SEVERITY[f.severity],
            "object": f.object,
            "field": f.field,
            "missingObject": f.missing_object,
        },
    }
    if f.evidence_expected:
        result["properties"]["evidenceExpected"] = f.evidence_expected
    if f.location:
        result["properties"]["location"] = f.location
    if f.waived and f.waiver is not None:
        w = f.waiver
        result["suppressions"] = [
            {
                "kind": "external",
                "status": "accepted",
                "justification": f"{w.reason} (approved by {w.approver}, expires {w.expires.isoformat()})",
                "properties": {
                    "waiverId": w.id,
                    "approver": w.approver,
                    "expires": w.expires.isoformat(),
                },
            }
        ]
    return result


def to_sarif(report: Report, root: str | None = None, cwd: str | None = None) -> dict[str, Any]:
    """`root`: absolute directory the URIs are written relative to (None: paths as given,
    absolute ones as file:// URIs); `cwd`: the directory relative input paths are relative to."""
    index = {r.id: i for i, r in enumerate(report.rules)}
    return {
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "swissai",
                        "version": report.tool_version,
                        "semanticVersion": report.tool_version,
                        "rules": [_rule(r) for r in report.rules],
                    }
                },
                "automationDetails": {"id": f"swissai-check/{report.checked_on.isoformat()}"},
                "invocations": [
                    {"executionSuccessful": True, "exitCode": 1 if report.failed else 0}
                ],
                "results": [_result(f, index[f.rule_id], root, cwd) for f in report.findings],
                "properties": {"catalogVersion": report.catalog_version, "failOn": report.fail_on},
            }
        ],
    }
