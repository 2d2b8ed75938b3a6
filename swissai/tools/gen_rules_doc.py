"""Generate docs/rules.md from the rule registry (`python -m swissai.tools.gen_rules_doc`).

tests/unit/test_rules_doc.py asserts that the file equals this output.
"""

from __future__ import annotations

import sys
from pathlib import Path

from swissai.core.compliance import CATALOG_VERSION, WAIVER_RULES, rules
from swissai.models.findings import RuleInfo

HEADER = f"""# swissai check: rule reference

Generated from the rule registry (`swissai/core/compliance/`) by
`python -m swissai.tools.gen_rules_doc`; do not edit by hand. Catalog version {CATALOG_VERSION}.
Rule ids are stable: CI configurations and waivers refer to them.

The catalog is a compliance aid, not legal advice. Each reference carries how sure we are of it:
**verified** (read in the primary text or the project's own repository), **secondary**
(confirmed by secondary sources only: FINMA circulars are cited by chapter, their margin
numbers are not printed until checked against the official PDF), **recalled** (still to be
checked before relying on it).

Severities: **critical** (client data may leave the premises, be read without authentication,
or the model/runtime may be replaced silently), **high** (a required control is missing),
**medium** (hardening, resilience or documentation gap), **low** (hygiene). `--fail-on high` is
the default gate. Rules that need human evidence (DPIA, four-eyes approval, model card, ...)
report `compliance.missing_evidence_severity` (medium) until the evidence is declared in the
site profile; `compliance.severity_overrides` raises any rule's severity (it never lowers one:
that takes a waiver with a reason, an approver and an expiry date).
"""


def _anchor(rule_id: str) -> str:
    return rule_id.lower()


def _section(info: RuleInfo) -> str:
    lines = [f'<a id="{_anchor(info.id)}"></a>', "", f"### {info.id} — {info.title}", ""]
    lines.append(f"- **Severity:** {info.severity}")
    lines.append(f"- **Targets:** {', '.join(info.targets)}")
    lines.append(f"- **Inspects:** {info.inspects}")
    if info.evidence:
        lines.append(f"- **Evidence expected:** {info.evidence}")
    if info.not_checked:
        lines.append(f"- **Not checked:** {info.not_checked}")
    lines.append(f"- **Remediation:** {info.remediation}")
    if info.references:
        lines.append("- **References:**")
        for ref in info.references:
            url = f" <{ref.url}>" if ref.url else ""
            lines.append(f"  - {ref.text} ({ref.confidence}){url}")
    return "\n".join(lines) + "\n"


def generate() -> str:
    registered = [r.info for r in rules()]
    parts = [HEADER, "## Index\n", "| Id | Severity | Targets | Title |", "|---|---|---|---|"]
    for info in registered + WAIVER_RULES:
        parts.append(
            f"| [{info.id}](#{_anchor(info.id)}) | {info.severity} | {', '.join(info.targets)} | {info.title} |"
        )
    parts.append("")
    theme = None
    for info in registered:
        if info.theme != theme:
            theme = info.theme
            parts.append(f"## {theme}\n")
        parts.append(_section(info))
    parts.append("## Waivers\n")
    parts.append(
        "A waivers file (`--waivers swissai-waivers.yaml`) is a YAML list (or `waivers:` holding "
        "one) of entries with `rule`, `object` (`Kind/namespace/name`, fnmatch patterns allowed), "
        "`reason`, `approver` and `expires` (YYYY-MM-DD); `id`, `ticket` and `created` are "
        "optional. Waived findings still appear in every format, marked (SARIF `suppressions`, "
        "JUnit `skipped`). These findings are about the waivers themselves:\n"
    )
    for info in WAIVER_RULES:
        parts.append(_section(info))
    return "\n".join(parts).rstrip() + "\n"


def main() -> None:
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs/rules.md")
    target.write_text(generate(), encoding="utf-8")
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
