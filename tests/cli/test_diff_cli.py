"""`swissai diff OLD NEW`: the table, the JSON document, and bad input (exit 2, one line)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from swissai.cli.main import app
from swissai.errors import SwissaiError

DATA = Path(__file__).resolve().parents[1] / "data" / "deploy"
OLD = str(DATA / "plan-single-node.yaml")
NEW = str(DATA / "plan-single-node-long.yaml")


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    if isinstance(result.exception, SwissaiError):
        exc = result.exception
        return exc.exit_code, result.stdout, f"{result.stderr}{exc.message}\nhint: {exc.hint}"
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def test_diff_table_names_each_change_and_the_verdict() -> None:
    code, out, err = invoke("diff", OLD, NEW, "--site", str(DATA / "site.yaml"))
    assert code == 0, err
    assert out.splitlines()[0] == f"--- {OLD}"
    assert "vllm.args.--max-model-len" in out
    assert "restart: yes" in out and "drain: yes" in out


def test_diff_json_is_a_plan_diff_document() -> None:
    code, out, err = invoke("diff", OLD, OLD, "-o", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["kind"] == "PlanDiff" and doc["changes"] == [] and doc["restart"] is False


def test_diff_bad_input_is_exit_2(tmp_path: Path) -> None:
    code, _, err = invoke("diff", OLD)
    assert code == 2 and "needs OLD and NEW" in err
    code, _, err = invoke("diff", OLD, str(tmp_path / "missing.yaml"))
    assert code == 2 and "missing.yaml" in err
    code, _, err = invoke("diff", "--live", OLD, NEW, "--site", str(DATA / "site.yaml"))
    assert code == 2 and "ONE plan" in err
