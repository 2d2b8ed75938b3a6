"""docs/cli.md is generated from `--help` (ARCHITECTURE.md, Docs) and must be current."""

from __future__ import annotations

import difflib
from pathlib import Path

import typer

from swissai.cli.main import app
from swissai.tools.gen_docs import main as gen_docs_main
from swissai.tools.gen_docs import render_cli_docs

REPO = Path(__file__).resolve().parents[2]
CLI_MD = REPO / "docs" / "cli.md"


def test_cli_md_is_current() -> None:
    expected = render_cli_docs()
    current = CLI_MD.read_text(encoding="utf-8") if CLI_MD.is_file() else ""
    if current != expected:
        diff = "".join(
            difflib.unified_diff(
                current.splitlines(keepends=True),
                expected.splitlines(keepends=True),
                "docs/cli.md (committed)",
                "docs/cli.md (from --help)",
            )
        )
        raise AssertionError(f"docs/cli.md is out of date: run `make docs`\n{diff}")


def test_every_registered_command_is_documented() -> None:
    text = render_cli_docs()
    root = typer.main.get_command(app)
    commands = getattr(root, "commands", {})
    assert "plan" in commands
    for name, command in commands.items():
        if not getattr(command, "hidden", False):
            assert f"## `swissai {name}`" in text


def test_docs_are_plain_text_within_100_columns() -> None:
    text = render_cli_docs()
    assert "\x1b" not in text  # no ANSI escapes
    assert not any(ch in text for ch in "╭╮╰╯│─")  # no rich boxes
    assert max(len(line) for line in text.splitlines()) <= 100
    # the plan contract options of ARCHITECTURE.md are all in the reference
    for flag in (
        "--model", "--gpus", "--inventory", "--tp", "--pp", "--dp", "--expert-parallel",
        "--max-model-len", "--gpu-memory-utilization", "--max-num-batched-tokens",
        "--max-num-seqs", "--kv-cache-dtype", "--block-size", "--moe-backend",
        "--vllm-version", "--concurrency", "--output", "--out",
    ):  # fmt: skip
        assert flag in text, flag


def test_check_mode_reports_a_stale_file(tmp_path: Path) -> None:
    stale = tmp_path / "cli.md"
    stale.write_text("old\n", encoding="utf-8")
    assert gen_docs_main(["--out", str(stale), "--check"]) == 1
    assert gen_docs_main(["--out", str(stale)]) == 0
    assert stale.read_text(encoding="utf-8") == render_cli_docs()
    assert gen_docs_main(["--out", str(stale), "--check"]) == 0
