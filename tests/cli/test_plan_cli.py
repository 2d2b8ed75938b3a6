"""`swissai plan` as users and CI call it: exact exit codes, one-line errors, one document.

Output and --out go through typer's CliRunner on the real app. Exit codes of errors are mapped
in `swissai.cli.main.run()` (the console-script entry point), so those run the real process
(`python -m swissai`).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from swissai.cli.main import app
from swissai.models.plan import ServePlan
from tests.swissai_inprocess import swissai

runner = CliRunner()

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("kubernetes", "jinja2", "pynvml", "httpx", "vllm")


def one_json_document(stdout: str) -> ServePlan:
    """stdout holds exactly one JSON document (json.loads refuses trailing data)."""
    assert stdout.lstrip().startswith("{")
    return ServePlan.model_validate(json.loads(stdout))


# --- output formats (in-process) --------------------------------------------------------------


def test_json_output_is_one_serve_plan() -> None:
    result = runner.invoke(app, ["plan", "--gpus", "8xh100-80gb", "-o", "json"])
    assert result.exit_code == 0, result.output
    plan = one_json_document(result.stdout)
    assert plan.feasible
    assert plan.apiVersion == "swissai/v1alpha1"
    assert plan.kind == "ServePlan"
    assert "--tensor-parallel-size" in plan.vllm.args


def test_yaml_output_is_one_serve_plan() -> None:
    result = runner.invoke(app, ["plan", "--gpus", "8xh100-80gb", "--output", "yaml"])
    assert result.exit_code == 0, result.output
    docs = list(yaml.safe_load_all(result.stdout))
    assert len(docs) == 1
    assert ServePlan.model_validate(docs[0]).feasible


def test_table_output_shows_the_layout_and_the_command_line() -> None:
    result = runner.invoke(app, ["plan", "--gpus", "8xh100-80gb"])
    assert result.exit_code == 0, result.output
    assert "FEASIBLE" in result.stdout
    assert "vllm serve" in result.stdout
    assert "--tensor-parallel-size" in result.stdout
    assert "KV cache" in result.stdout


def test_infeasible_json_is_still_one_document_and_exit_4() -> None:
    result = runner.invoke(app, ["plan", "--gpus", "1xh100-80gb", "-o", "json"])
    assert result.exit_code == 4
    plan = one_json_document(result.stdout)
    assert not plan.feasible
    assert plan.suggestions


@pytest.mark.parametrize("name", ["plan.yaml", "plan.json", "sub/dir/plan.yml"])
def test_out_writes_a_plan_that_loads_back(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    result = runner.invoke(app, ["plan", "--gpus", "8xh100-80gb", "-o", "json", "--out", str(path)])
    assert result.exit_code == 0, result.output
    text = path.read_text(encoding="utf-8")
    data = json.loads(text) if name.endswith(".json") else yaml.safe_load(text)
    saved = ServePlan.model_validate(data)
    assert saved == one_json_document(result.stdout)
    assert f"wrote {path}" in result.stderr
    assert not list(path.parent.glob(".*.tmp"))  # atomic write leaves no temp file


def test_out_is_written_for_an_infeasible_plan_too(tmp_path: Path) -> None:
    path = tmp_path / "plan.yaml"
    result = runner.invoke(app, ["plan", "--gpus", "1xh100-80gb", "--out", str(path)])
    assert result.exit_code == 4
    assert ServePlan.model_validate(yaml.safe_load(path.read_text("utf-8"))).feasible is False


def test_list_gpus_and_models() -> None:
    gpus = runner.invoke(app, ["plan", "--list-gpus"])
    assert gpus.exit_code == 0
    assert {"h100-80gb", "a100-80gb", "l40s-48gb", "mi300x-192gb"} <= set(gpus.stdout.split())
    models = runner.invoke(app, ["plan", "--list-models"])
    assert models.exit_code == 0
    assert {"gpt-oss-120b", "llama-3.1-8b-instruct", "deepseek-r1"} <= set(models.stdout.split())


def test_forced_what_if_flags_reach_the_plan() -> None:
    result = runner.invoke(
        app,
        [
            "plan", "--model", "gpt-oss-20b", "--gpus", "4xa100-80gb", "--tp", "2",
            "--max-model-len", "32768", "--gpu-memory-utilization", "0.85",
            "--max-num-seqs", "64", "--kv-cache-dtype", "fp8", "--block-size", "32",
            "--vllm-version", "0.11.0", "--concurrency", "8", "-o", "json",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    plan = one_json_document(result.stdout)
    assert plan.layout.tensor_parallel_size == 2
    assert plan.layout.replicas == 2
    assert plan.limits.max_model_len == 32768
    assert plan.limits.gpu_memory_utilization == 0.85
    assert plan.limits.max_num_seqs == 64
    assert plan.limits.kv_cache_dtype == "fp8"
    assert plan.limits.block_size == 32
    assert plan.vllm.version == "0.11.0"
    assert plan.target_concurrency == 8
    args = plan.vllm.args
    assert args[args.index("--gpu-memory-utilization") + 1] == "0.85"
    assert args[args.index("--kv-cache-dtype") + 1] == "fp8"


def test_model_path_to_a_config_json(tmp_path: Path) -> None:
    config = REPO / "profiles" / "models" / "configs" / "Meta-Llama-3.1-8B.json"
    model_dir = tmp_path / "llama"
    model_dir.mkdir()
    (model_dir / "config.json").write_text(config.read_text("utf-8"), encoding="utf-8")
    result = runner.invoke(
        app, ["plan", "--model", str(model_dir), "--gpus", "1xh100-80gb", "-o", "json"]
    )
    assert result.exit_code == 0, result.output
    plan = one_json_document(result.stdout)
    assert plan.model.id == "llama"
    assert plan.model.params_total == pytest.approx(8.03e9, rel=0.001)


# --- exit codes and messages (real process) -----------------------------------------------


def test_exit_0_with_one_json_document() -> None:
    proc = swissai("plan", "--gpus", "8xh100-80gb", "-o", "json")
    assert proc.returncode == 0, proc.stderr
    assert one_json_document(proc.stdout).feasible
    assert "Traceback" not in proc.stderr


def test_exit_4_infeasible_json_keeps_stdout_clean() -> None:
    proc = swissai("plan", "--gpus", "1xh100-80gb", "-o", "json")
    assert proc.returncode == 4
    plan = one_json_document(proc.stdout)
    assert not plan.feasible
    assert "Traceback" not in proc.stderr


def test_exit_4_infeasible_table_says_so_on_stderr() -> None:
    proc = swissai("plan", "--gpus", "1xh100-80gb")
    assert proc.returncode == 4
    assert "DOES NOT FIT" in proc.stdout
    assert "--max-model-len" in proc.stdout  # the nearest feasible settings
    assert proc.stderr.strip().splitlines()[-1].startswith("error: the plan does not fit")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tp", "3"], "error: layout TP3 cannot exist here: TP 3 does not divide the 64 attention heads"),
        (["--tp", "16"], "error: layout TP16 cannot exist here: needs 16 GPUs, 8 given"),
        (["--gpus", "8xh100"], "error: unknown GPU id 'h100'"),
        (["--gpus", "h100-80gb"], "error: --gpus h100-80gb: 'h100-80gb' is not COUNTxID"),
        (["--vllm-version", "0.9.0"], "error: --vllm-version 0.9.0 is outside the modelled range 0.10.0 to 0.33.x"),
        (["--vllm-version", "latest"], "error: --vllm-version: 'latest' is not a version like 0.11.0"),
        (["--model", "no-such-model"], "error: unknown model 'no-such-model'"),
        (["--gpu-memory-utilization", "1.5"], "error: --gpu-memory-utilization 1.5 must be in (0, 1]"),
        (["--max-model-len", "999999"], "error: --max-model-len 999999 exceeds gpt-oss-120b's"),
        (["--kv-cache-dtype", "int8"], "error: --kv-cache-dtype int8: use auto or fp8"),
        (["-o", "xml"], "error: Invalid value for '--output' / '-o': 'xml' is not one of"),
    ],
)  # fmt: skip
def test_exit_2_bad_input_is_one_error_line_and_a_hint(args: list[str], message: str) -> None:
    gpus = [] if any(a.startswith("--gpus") for a in args) else ["--gpus", "8xh100-80gb"]
    proc = swissai("plan", *gpus, *args)
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1
    assert errors[0].startswith(message)
    assert all(line.startswith(("error: ", "hint: ")) for line in lines), lines
    assert "Traceback" not in proc.stderr


def test_exit_2_bad_input_with_json_output_prints_no_partial_document() -> None:
    proc = swissai("plan", "--gpus", "8xh100-80gb", "--tp", "3", "-o", "json")
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.startswith("error: ")


def test_unknown_option_is_a_usage_error() -> None:
    proc = swissai("plan", "--frobnicate")
    assert proc.returncode == 2
    assert "--frobnicate" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("where", ["first", "last"])
def test_debug_shows_the_traceback(where: str) -> None:
    """A real process: the traceback is what the interpreter prints; `--debug` is accepted
    anywhere on the line."""
    from tests.swissai_process import swissai as real_swissai

    args = ["plan", "--gpus", "8xh100-80gb", "--tp", "3"]
    proc = real_swissai(*(["--debug", *args] if where == "first" else [*args, "--debug"]))
    assert proc.returncode != 0
    assert "Traceback" in proc.stderr
    assert "InputError" in proc.stderr


def test_embedded_default_without_options(tmp_path: Path) -> None:
    proc = swissai("plan", "-o", "json", cwd=tmp_path)
    plan = one_json_document(proc.stdout)
    if "no GPU found" in proc.stderr:  # no NVML here: the embedded default
        assert proc.returncode == 0
        assert plan.feasible
        assert plan.model.id == "gpt-oss-120b"
        assert plan.hardware.source == "default"
        assert [(g.id, g.count) for g in plan.hardware.gpus] == [("h100-80gb", 8)]
        assert plan.hardware.nodes == 1
        notes = [line for line in proc.stderr.splitlines() if "embedded default" in line]
        assert len(notes) == 1 and "8xh100-80gb" in notes[0]
    else:  # a GPU machine plans for its own GPUs and says so
        assert "planning for the local GPUs" in proc.stderr
        assert proc.returncode in (0, 4)


def test_version() -> None:
    proc = swissai("--version")
    assert proc.returncode == 0
    assert proc.stdout.startswith("swissai ")


# --- lazy imports -------------------------------------------------------------------------

_SHOW_MODULES = """
import sys
from swissai.cli.main import app
try:
    app({argv!r}, prog_name="swissai")
except SystemExit:
    pass
sys.stderr.write("\\n".join(sorted(sys.modules)))
"""


def _modules_after(argv: list[str]) -> tuple[str, set[str]]:
    proc = subprocess.run(
        [sys.executable, "-c", _SHOW_MODULES.format(argv=argv)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    modules = {line.strip() for line in proc.stderr.splitlines() if line.strip()}
    return proc.stdout, modules


@pytest.mark.parametrize("argv", [["--help"], ["plan", "--help"]])
def test_help_imports_no_heavy_module(argv: list[str]) -> None:
    stdout, modules = _modules_after(argv)
    assert "Usage" in stdout
    assert "swissai.cli.main" in modules  # the probe itself works
    heavy = sorted(m for m in modules if m.split(".")[0] in HEAVY)
    assert heavy == []


def test_plan_with_gpus_imports_no_kubernetes_jinja_or_httpx() -> None:
    stdout, modules = _modules_after(["plan", "--gpus", "8xh100-80gb", "-o", "json"])
    assert json.loads(stdout)["feasible"] is True
    assert "swissai.core.planner" in modules
    heavy = sorted(m for m in modules if m.split(".")[0] in HEAVY)
    assert heavy == []
