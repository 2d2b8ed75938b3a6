"""docs/rules.md is generated from the rule registry and must equal the regenerated text."""

from __future__ import annotations

from pathlib import Path

from swissai.tools.gen_rules_doc import generate

DOC = Path(__file__).resolve().parents[2] / "docs" / "rules.md"


def test_rules_doc_matches_the_registry() -> None:
    assert DOC.read_text(encoding="utf-8") == generate(), (
        "docs/rules.md is stale: run `python -m swissai.tools.gen_rules_doc`"
    )


def test_rules_doc_lists_every_rule_with_reference_confidence() -> None:
    text = generate()
    for rule_id in (
        "RES-001",
        "RES-011",
        "NET-002",
        "SEC-006",
        "LOG-004",
        "SUP-005",
        "OPS-005",
        "GOV-008",
        "HRD-007",
        "WAIVER-EXPIRED",
    ):
        assert f"### {rule_id} — " in text
    assert "(secondary)" in text and "(verified)" in text and "(recalled)" in text
