"""The examples of docs/api.md run as tests (as typer's docs_src do): each file in
docs/examples runs in a fresh folder through the public API only, its own asserts hold, and
docs/api.md shows it verbatim, so the documented code is the tested code."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"
EXAMPLES = sorted((DOCS / "examples").glob("*.py"))


def test_there_are_examples() -> None:
    assert len(EXAMPLES) >= 3


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_example_runs(example: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    runpy.run_path(str(example), run_name="__main__")


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_api_md_shows_the_example_verbatim(example: Path) -> None:
    page = (DOCS / "api.md").read_text(encoding="utf-8")
    body = example.read_text(encoding="utf-8")
    assert f"```python\n{body}```" in page, f"docs/api.md must show {example.name} as it is"
