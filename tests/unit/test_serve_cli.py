"""`swissai serve` through the CLI without vLLM: dry run, secrets, exit codes, preflight."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from swissai.cli.main import app
from swissai.errors import SwissaiError

SECRET = "sk-very-secret-0123456789"


def _run(*args: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, list(args), env=env)


def _code(result) -> int:  # type: ignore[no-untyped-def]
    """The exit code `swissai` gives (errors are mapped inside the app: cli.main)."""
    assert not isinstance(result.exception, SwissaiError), "an error escaped the app"
    return int(result.exit_code)


def _line(result, prefix: str) -> str:  # type: ignore[no-untyped-def]
    lines = [line for line in result.stderr.splitlines() if line.startswith(prefix)]
    assert len(lines) == 1, result.stderr
    return lines[0][len(prefix) :]


def _message(result) -> str:  # type: ignore[no-untyped-def]
    """The one `error:` line on stderr."""
    return _line(result, "error: ")


def _hint(result) -> str:  # type: ignore[no-untyped-def]
    return _line(result, "hint: ")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def plans(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("plans")
    out = {}
    for name, args in {
        "oss20": ["--model", "gpt-oss-20b", "--gpus", "1xh100-80gb"],
        "llama8": [
            "--model",
            "llama-3.1-8b-instruct",
            "--gpus",
            "1xl40s-48gb",
            "--max-model-len",
            "8192",
        ],
        "infeasible": ["--model", "gpt-oss-120b", "--gpus", "1xh100-80gb"],
        "oss120-b200": ["--model", "gpt-oss-120b", "--gpus", "8xb200-180gb"],
    }.items():
        path = root / f"{name}.yaml"
        result = _run("plan", *args, "-o", "json", "--out", str(path))
        assert _code(result) in (0, 4), result.output
        out[name] = path
    return out


@pytest.fixture
def no_vllm_path(tmp_path: Path) -> dict[str, str]:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    return {"PATH": str(empty)}


@pytest.fixture
def fake_vllm_python(tmp_path: Path) -> Path:
    """An executable standing in for a Python that has vLLM 0.33.0 (answers the version query)."""
    path = tmp_path / "python"
    path.write_text("#!/bin/sh\necho vllm 0.33.0\n")
    path.chmod(0o755)
    return path


def test_dry_run_prints_exact_argv_and_masked_env(
    plans: dict[str, Path], tmp_path: Path, no_vllm_path: dict[str, str]
) -> None:
    key = tmp_path / "key"
    key.write_text(SECRET + "\n")
    result = _run(
        "serve",
        str(plans["llama8"]),
        "--dry-run",
        "--model-dir",
        "/models/llama",
        "--api-key-file",
        str(key),
        "-o",
        "json",
        env=no_vllm_path,
    )
    assert _code(result) == 0, result.output
    assert SECRET not in result.output
    doc = json.loads(result.stdout)
    plan = yaml.safe_load(plans["llama8"].read_text())
    rest = plan["vllm"]["args"][2:]  # the plan's "--model meta-llama/..." is replaced
    assert plan["vllm"]["args"][0] == "--model"
    assert doc["argv"] == [
        "vllm",
        "serve",
        "/models/llama",
        *rest,
        "--host",
        "127.0.0.1",
        "--port",
        "8000",
    ]
    assert doc["env"]["VLLM_API_KEY"] == "****"
    assert doc["env"]["HF_HUB_OFFLINE"] == "1" and doc["env"]["VLLM_NO_USAGE_STATS"] == "1"
    assert "PATH" not in doc["env"]


def test_dry_run_table_is_argv_line_then_env_lines(
    plans: dict[str, Path], no_vllm_path: dict[str, str]
) -> None:
    result = _run(
        "serve",
        str(plans["oss20"]),
        "--dry-run",
        "--model-dir",
        "/models/oss",
        "--target",
        "cpu",
        env=no_vllm_path,
    )
    assert _code(result) == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "# argv"
    assert lines[1].startswith("vllm serve /models/oss --served-model-name gpt-oss-20b ")
    assert "--gpu-memory-utilization" not in lines[1] and "--enforce-eager" in lines[1]
    assert lines[2] == "# env"
    env = dict(line.split("=", 1) for line in lines[3:])
    assert env["VLLM_TARGET_DEVICE"] == "cpu"
    assert env["TIKTOKEN_ENCODINGS_BASE"] == "/models/oss/encodings"  # gpt-oss: RES-007
    assert "VLLM_API_KEY" not in env  # none given


def test_infeasible_plan_exit_4(plans: dict[str, Path]) -> None:
    result = _run("serve", str(plans["infeasible"]), "--dry-run")
    assert _code(result) == 4
    assert "does not fit" in _message(result)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--target", "tpu"], "--target tpu"),
        (["--port", "70000"], "--port 70000"),
        (["--vllm-python", "/a", "--vllm-bin", "/b"], "exclude each other"),
        (["--output", "xml"], "'xml' is not one of"),
        # issue 19: every duration finite and bounded, ports and sizes in range
        (["--grace", "-1"], "--grace -1"),  # would SIGKILL vLLM at once
        (["--grace", "nan"], "--grace nan"),
        (["--startup-timeout", "nan"], "--startup-timeout nan"),
        (["--startup-timeout", "inf"], "--startup-timeout inf"),
        (["--startup-timeout", "0"], "--startup-timeout 0"),
        (["--port", "0"], "--port 0"),
        (["--cpu-kvcache-gib", "100000"], "--cpu-kvcache-gib 100000"),
    ],
)
def test_bad_input_exit_2(plans: dict[str, Path], args: list[str], message: str) -> None:
    result = _run("serve", str(plans["llama8"]), "--dry-run", *args)
    assert _code(result) == 2
    assert message in _message(result)


def test_not_a_plan_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "p.yaml"
    bad.write_text("kind: Deployment\n")
    assert _code(_run("serve", str(bad), "--dry-run")) == 2
    assert _code(_run("serve", str(tmp_path / "missing.yaml"), "--dry-run")) == 2
    other = tmp_path / "old.yaml"
    other.write_text("apiVersion: swissai/v0\nkind: ServePlan\n")
    result = _run("serve", str(other), "--dry-run")
    assert _code(result) == 2 and "apiVersion" in _message(result)


def test_empty_key_file_exit_2(plans: dict[str, Path], tmp_path: Path) -> None:
    key = tmp_path / "key"
    key.write_text("\n")
    result = _run("serve", str(plans["llama8"]), "--dry-run", "--api-key-file", str(key))
    assert _code(result) == 2


def test_catalog_plan_without_model_dir_exit_2(plans: dict[str, Path]) -> None:
    result = _run("serve", str(plans["llama8"]))
    assert _code(result) == 2
    assert _hint(result) == "pass --model-dir DIR"


def test_no_vllm_exit_3_with_install_hint(
    plans: dict[str, Path], tmp_path: Path, no_vllm_path: dict[str, str]
) -> None:
    result = _run("serve", str(plans["llama8"]), "--model-dir", str(tmp_path), env=no_vllm_path)
    assert _code(result) == 3
    assert "vLLM is not installed" in _message(result)
    assert "pip install" in _hint(result)


def _model_dir(tmp_path: Path, model_id: str, *, manifest: bool = True) -> Path:
    """A staged model directory: the catalog's config.json of model_id (the weights are not
    needed before vLLM starts) and, by default, its SHA256SUMS written by the real writer."""
    from swissai.adapters.model_manifest import DEFAULT_MANIFEST, build_manifest
    from swissai.resources import profiles_dir

    entry = yaml.safe_load((profiles_dir() / "models" / f"{model_id}.yaml").read_text())
    config = json.loads((profiles_dir() / "models" / entry["config"]).read_text())
    config.update(entry.get("config_overrides") or {})
    d = tmp_path / "model"
    d.mkdir()
    (d / "config.json").write_text(json.dumps(config))
    if manifest:
        (d / DEFAULT_MANIFEST).write_text(build_manifest(d))
    return d


def test_gpt_oss_needs_encodings_checked_by_sha256(
    plans: dict[str, Path], tmp_path: Path, fake_vllm_python: Path
) -> None:
    model = _model_dir(tmp_path, "gpt-oss-20b")
    common = [
        "serve",
        str(plans["oss20"]),
        "--model-dir",
        str(model),
        "--vllm-python",
        str(fake_vllm_python),
        "--target",
        "cpu",
    ]
    result = _run(*common)
    assert _code(result) == 3
    assert "o200k_base.tiktoken" in _message(result)
    enc = tmp_path / "encodings"
    enc.mkdir()
    (enc / "o200k_base.tiktoken").write_text("not the real file\n")
    result = _run(*common, "--encodings-dir", str(enc))
    assert _code(result) == 3
    assert "sha256" in _message(result)


def test_port_in_use_exit_3(plans: dict[str, Path], tmp_path: Path, fake_vllm_python: Path) -> None:
    model = _model_dir(tmp_path, "llama-3.1-8b-instruct")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        port = sock.getsockname()[1]
        result = _run(
            "serve",
            str(plans["llama8"]),
            "--model-dir",
            str(model),
            "--vllm-python",
            str(fake_vllm_python),
            "--target",
            "cpu",
            "--port",
            str(port),
        )
    assert _code(result) == 3
    assert f"127.0.0.1:{port}" in _message(result)


def test_missing_model_dir_exit_3(
    plans: dict[str, Path], tmp_path: Path, fake_vllm_python: Path
) -> None:
    result = _run(
        "serve",
        str(plans["llama8"]),
        "--model-dir",
        str(tmp_path / "nope"),
        "--vllm-python",
        str(fake_vllm_python),
        "--target",
        "cpu",
    )
    assert _code(result) == 3
    assert "config.json" in _message(result)


def test_gpu_target_without_gpu_exit_3(
    plans: dict[str, Path], tmp_path: Path, fake_vllm_python: Path
) -> None:
    pytest.importorskip("pynvml")
    try:
        import pynvml

        pynvml.nvmlInit()
        pynvml.nvmlShutdown()
        pytest.skip("this machine has NVML")
    except pynvml.NVMLError:
        pass
    model = _model_dir(tmp_path, "llama-3.1-8b-instruct")
    result = _run(
        "serve",
        str(plans["llama8"]),
        "--model-dir",
        str(model),
        "--vllm-python",
        str(fake_vllm_python),
        "--port",
        str(_free_port()),
    )
    assert _code(result) == 3
    assert "no usable GPU" in _message(result)
    assert "--target cpu" in _hint(result)


# --- review fixes: dry run = real run's validation, model identity, manifest, FlashInfer, key env


@pytest.mark.parametrize("plan", ["llama8", "oss20"])
def test_dry_run_without_model_dir_refuses_like_the_real_run(
    plans: dict[str, Path], plan: str, no_vllm_path: dict[str, str]
) -> None:
    """A catalog plan has no local directory: the dry run must not print a hub id (RES-005)."""
    dry = _run("serve", str(plans[plan]), "--dry-run", env=no_vllm_path)
    real = _run("serve", str(plans[plan]), env=no_vllm_path)
    assert _code(dry) == _code(real) == 2
    assert _hint(dry) == _hint(real) == "pass --model-dir DIR"
    hub = yaml.safe_load(plans[plan].read_text())["model"]["hf_repo"]
    assert hub not in dry.stdout and "# argv" not in dry.stdout


def _serve_real(plan: Path, model: Path, python: Path, *extra: str):  # type: ignore[no-untyped-def]
    return _run(
        "serve",
        str(plan),
        "--model-dir",
        str(model),
        "--vllm-python",
        str(python),
        "--target",
        "cpu",
        "--port",
        str(_free_port()),
        *extra,
    )


def test_model_dir_of_another_architecture_is_refused(
    plans: dict[str, Path], tmp_path: Path, fake_vllm_python: Path
) -> None:
    model = _model_dir(tmp_path, "gpt-oss-20b")
    result = _serve_real(plans["llama8"], model, fake_vllm_python)
    assert _code(result) == 3
    message = _message(result)
    assert "GptOssForCausalLM" in message and "llama-3.1-8b-instruct (LlamaForCausalLM)" in message
    assert "\n" not in message


def test_model_dir_with_another_parameter_count_is_refused(
    plans: dict[str, Path], tmp_path: Path, fake_vllm_python: Path
) -> None:
    model = _model_dir(tmp_path, "llama-3.1-70b")  # same architecture, other size
    result = _serve_real(plans["llama8"], model, fake_vllm_python)
    assert _code(result) == 3
    planned = yaml.safe_load(plans["llama8"].read_text())["model"]["params_total"]
    message = _message(result)
    assert f"{planned:,}" in message and "llama-3.1-8b-instruct" in message
    assert "parameters" in message


def test_model_dir_without_manifest_is_refused_unless_allowed(
    plans: dict[str, Path], tmp_path: Path, fake_vllm_python: Path
) -> None:
    model = _model_dir(tmp_path, "llama-3.1-8b-instruct", manifest=False)
    refused = _serve_real(plans["llama8"], model, fake_vllm_python)
    assert _code(refused) == 3
    assert "has no SHA256SUMS" in _message(refused)
    assert "--allow-unverified-model" in _hint(refused)
    # allowed: a warning, and the preflight goes on (to the port, held here)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        port = sock.getsockname()[1]
        allowed = _serve_real(
            plans["llama8"],
            model,
            fake_vllm_python,
            "--allow-unverified-model",
            "--port",
            str(port),
        )
    assert _code(allowed) == 3
    assert f"127.0.0.1:{port}" in _message(allowed)
    assert "serving UNVERIFIED model files (--allow-unverified-model)" in allowed.stderr


def test_flashinfer_plan_needs_a_cubin_dir_on_the_gpu_target(
    plans: dict[str, Path], tmp_path: Path, no_vllm_path: dict[str, str]
) -> None:
    plan = yaml.safe_load(plans["oss120-b200"].read_text())
    assert plan["vllm"]["moe_backend"] == "flashinfer"  # the case of the review
    common = ["serve", str(plans["oss120-b200"]), "--model-dir", "/models/oss", "--dry-run"]
    missing = _run(*common, env=no_vllm_path)
    assert _code(missing) == 3
    assert "FLASHINFER_CUBIN_DIR" in _message(missing)
    assert "--flashinfer-cubin-dir" in _hint(missing)
    cubins = tmp_path / "cubins"
    given = _run(*common, "--flashinfer-cubin-dir", str(cubins), "-o", "json", env=no_vllm_path)
    assert _code(given) == 0, given.output
    assert json.loads(given.stdout)["env"]["FLASHINFER_CUBIN_DIR"] == str(cubins)
    cpu = _run(*common, "--target", "cpu", env=no_vllm_path)  # no FlashInfer on the CPU
    assert _code(cpu) == 0, cpu.output
    assert "FLASHINFER_CUBIN_DIR" not in cpu.stdout


def test_flashinfer_cubin_dir_must_exist(
    plans: dict[str, Path], tmp_path: Path, fake_vllm_python: Path
) -> None:
    model = _model_dir(tmp_path, "gpt-oss-120b")
    result = _run(
        "serve",
        str(plans["oss120-b200"]),
        "--model-dir",
        str(model),
        "--vllm-python",
        str(fake_vllm_python),
        "--flashinfer-cubin-dir",
        str(tmp_path / "no-cubins"),
    )
    assert _code(result) == 3
    assert "no-cubins is not a directory" in _message(result)
    empty = tmp_path / "cubins"
    empty.mkdir()
    result = _run(
        "serve",
        str(plans["oss120-b200"]),
        "--model-dir",
        str(model),
        "--vllm-python",
        str(fake_vllm_python),
        "--flashinfer-cubin-dir",
        str(empty),
    )
    assert _code(result) == 3
    assert "is empty" in _message(result)


def test_api_key_from_environment_variable_is_passed_and_never_printed(
    plans: dict[str, Path], no_vllm_path: dict[str, str]
) -> None:
    env = {**no_vllm_path, "BANK_VLLM_KEY": SECRET}
    common = ["serve", str(plans["llama8"]), "--dry-run", "--model-dir", "/models/llama"]
    result = _run(*common, "--api-key-env", "BANK_VLLM_KEY", "-o", "json", env=env)
    assert _code(result) == 0, result.output
    assert SECRET not in result.output
    doc = json.loads(result.stdout)
    assert doc["env"]["VLLM_API_KEY"] == "****"
    table = _run(*common, "--api-key-env", "BANK_VLLM_KEY", env=env)
    assert _code(table) == 0 and "VLLM_API_KEY=****" in table.stdout
    assert SECRET not in table.output


def test_inherited_vllm_api_key_is_named_unless_it_is_the_key_asked_for(
    plans: dict[str, Path], no_vllm_path: dict[str, str]
) -> None:
    common = ["serve", str(plans["llama8"]), "--dry-run", "--model-dir", "/m", "-o", "json"]
    env = {**no_vllm_path, "VLLM_API_KEY": SECRET}
    implicit = _run(*common, env=env)
    assert "warning: VLLM_API_KEY from the environment is not passed to vLLM" in implicit.stderr
    assert "VLLM_API_KEY" not in json.loads(implicit.stdout)["env"]
    asked = _run(*common, "--api-key-env", "VLLM_API_KEY", env=env)
    assert "warning" not in asked.stderr
    assert json.loads(asked.stdout)["env"]["VLLM_API_KEY"] == "****"
    assert SECRET not in implicit.output + asked.output


def test_api_key_env_errors_exit_2(
    plans: dict[str, Path], tmp_path: Path, no_vllm_path: dict[str, str]
) -> None:
    key = tmp_path / "key"
    key.write_text(SECRET + "\n")
    common = ["serve", str(plans["llama8"]), "--dry-run", "--model-dir", "/models/llama"]
    env = {**no_vllm_path, "BANK_VLLM_KEY": SECRET, "EMPTY_KEY": ""}
    both = _run(*common, "--api-key-env", "BANK_VLLM_KEY", "--api-key-file", str(key), env=env)
    assert _code(both) == 2
    assert "exclude each other" in _message(both)
    for name in ("EMPTY_KEY", "UNSET_SWISSAI_KEY"):
        unset = _run(*common, "--api-key-env", name, env=env)
        assert _code(unset) == 2
        assert f"--api-key-env {name}" in _message(unset)
    for result in (both,):
        assert SECRET not in result.output


# --- the policy gate (issue 19) -----------------------------------------------------------------


def _plan_with(
    source: Path,
    tmp_path: Path,
    *,
    args: tuple[str, ...] | list[str] = (),
    env: dict[str, str] | None = None,
) -> Path:
    """A copy of a plan file with extra vllm.args and vllm.env (as a hand-edited plan)."""
    doc = yaml.safe_load(source.read_text())
    doc["vllm"]["args"] = [*doc["vllm"]["args"], *args]
    doc["vllm"]["env"] = {**doc["vllm"].get("env", {}), **(env or {})}
    path = tmp_path / "edited.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.mark.parametrize(
    ("token", "flag"),
    [
        ("--trust-remote", "--trust-remote-code"),
        ("--enable-log-req", "--enable-log-requests"),
        ("--enable_log_outputs", "--enable-log-outputs"),
        (f"--api-ke={SECRET}", "--api-key"),
        (f"--api_key={SECRET}", "--api-key"),
        ("--Trust-Remote-Code", "--trust-remote-code"),
    ],
)
@pytest.mark.parametrize("dry_run", [True, False])
def test_forbidden_flag_in_the_plan_is_refused_in_any_spelling(
    plans: dict[str, Path],
    tmp_path: Path,
    no_vllm_path: dict[str, str],
    token: str,
    flag: str,
    dry_run: bool,
) -> None:
    """vLLM's parser expands unique prefixes and reads `_` as `-`: each of these would reach
    the forbidden option. Refused (exit 2) before anything runs, naming the token; a key in the
    argv is never echoed."""
    plan = _plan_with(plans["llama8"], tmp_path, args=[token])
    extra = ["--dry-run"] if dry_run else []
    result = _run("serve", str(plan), "--model-dir", "/m", *extra, env=no_vllm_path)
    assert _code(result) == 2, result.output
    message = _message(result)
    assert token.split("=", 1)[0] in message and flag in message
    assert SECRET not in result.stdout + result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("name", ["VLLM_SERVER_DEV_MODE", "HF_TOKEN", "VLLM_API_KEY"])
def test_forbidden_variable_in_the_plan_env_is_refused(
    plans: dict[str, Path], tmp_path: Path, no_vllm_path: dict[str, str], name: str
) -> None:
    plan = _plan_with(plans["llama8"], tmp_path, env={name: SECRET})
    result = _run("serve", str(plan), "--model-dir", "/m", "--dry-run", env=no_vllm_path)
    assert _code(result) == 2
    assert name in _message(result)
    assert SECRET not in result.stdout + result.stderr


def test_inherited_forbidden_variables_never_reach_vllm(
    plans: dict[str, Path], no_vllm_path: dict[str, str]
) -> None:
    """VLLM_SERVER_DEV_MODE and HF_TOKEN from the operator's shell are dropped with a warning
    naming the variable, never its value."""
    env = {**no_vllm_path, "VLLM_SERVER_DEV_MODE": "1", "HF_TOKEN": SECRET}
    result = _run(
        "serve", str(plans["llama8"]), "--model-dir", "/m", "--dry-run", "-o", "json", env=env
    )
    assert _code(result) == 0, result.output
    assert "warning: VLLM_SERVER_DEV_MODE from the environment is not passed to vLLM" in (
        result.stderr
    )
    assert "warning: HF_TOKEN from the environment is not passed to vLLM" in result.stderr
    assert SECRET not in result.stdout + result.stderr
    shown = json.loads(result.stdout)["env"]
    assert "VLLM_SERVER_DEV_MODE" not in shown and "HF_TOKEN" not in shown


def test_dry_run_argv_is_one_unbroken_line_on_a_narrow_terminal(
    plans: dict[str, Path], no_vllm_path: dict[str, str]
) -> None:
    """The command a user copies: one line, whatever the terminal width, that splits back
    into exactly the argv the JSON document holds."""
    import shlex

    env = {**no_vllm_path, "COLUMNS": "40"}
    table = _run("serve", str(plans["llama8"]), "--model-dir", "/m", "--dry-run", env=env)
    doc = _run(
        "serve", str(plans["llama8"]), "--model-dir", "/m", "--dry-run", "-o", "json", env=env
    )
    lines = table.stdout.splitlines()
    assert lines[0] == "# argv" and lines[2] == "# env"
    assert shlex.split(lines[1]) == json.loads(doc.stdout)["argv"]
    assert len(lines[1]) > 40


def test_control_character_in_plan_args_is_refused(
    plans: dict[str, Path], tmp_path: Path, no_vllm_path: dict[str, str]
) -> None:
    plan = _plan_with(plans["llama8"], tmp_path, args=["--max-num-seqs=4\n--trust-remote-code"])
    result = _run("serve", str(plan), "--model-dir", "/m", "--dry-run", env=no_vllm_path)
    assert _code(result) == 2
    assert result.stdout == ""


def test_unwritable_log_file_is_exit_3_before_vllm_starts(
    plans: dict[str, Path], tmp_path: Path, fake_vllm_python: Path
) -> None:
    """A log that cannot be written killed the reader thread and left serve waiting out the
    startup timeout; now it is exit 3 naming the path, before anything starts."""
    model = _model_dir(tmp_path, "llama-3.1-8b-instruct")
    log_dir = tmp_path / "a-directory"
    log_dir.mkdir()
    result = _run(
        "serve", str(plans["llama8"]), "--model-dir", str(model), "--target", "cpu",
        "--vllm-python", str(fake_vllm_python), "--log-file", str(log_dir),
    )  # fmt: skip
    assert _code(result) == 3, result.output
    assert f"cannot write vLLM's log {log_dir}" in _message(result)
    assert "--log-file" in _hint(result)


def test_unwritable_observed_file_is_exit_3_before_vllm_starts(
    plans: dict[str, Path], tmp_path: Path, fake_vllm_python: Path
) -> None:
    model = _model_dir(tmp_path, "llama-3.1-8b-instruct")
    plan = tmp_path / "p.yaml"
    plan.write_text(plans["llama8"].read_text())
    (tmp_path / "p.observed.yaml").mkdir()  # where the observed figures would go
    result = _run(
        "serve", str(plan), "--model-dir", str(model), "--target", "cpu",
        "--vllm-python", str(fake_vllm_python),
    )  # fmt: skip
    assert _code(result) == 3, result.output
    assert f"cannot write the observed figures {tmp_path / 'p.observed.yaml'}" in _message(result)


def test_serve_key_file_uses_the_one_reader(plans: dict[str, Path], tmp_path: Path) -> None:
    """serve reads --api-key-file like smoke and bench: a FIFO is refused, never opened."""
    import os

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    result = _run(
        "serve", str(plans["llama8"]), "--model-dir", "/m", "--dry-run",
        "--api-key-file", str(fifo),
    )  # fmt: skip
    assert _code(result) == 2
    assert "is a FIFO" in _message(result)


# --- a real serve process (signals, child process group) -----------------------------------------

FAKE_VLLM = """#!{python}
# Stands in for `python -m vllm.entrypoints.openai.api_server` (no vLLM here; the real one runs
# in tests/integration): answers swissai's version query, prints vLLM's startup lines, serves
# /health, /v1/models (key required) and /metrics until SIGTERM.
import json, sys
from http.server import BaseHTTPRequestHandler, HTTPServer
if "-c" in sys.argv:
    print("vllm 0.32.0")
    sys.exit(0)
port = int(sys.argv[sys.argv.index("--port") + 1])
print("(APIServer pid=1) INFO non-default args: {{}}", flush=True)
print("Model loading took 0.5 GiB memory and 1.0 seconds", flush=True)
import os
key = os.environ.get("VLLM_API_KEY")
class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass
    def do_GET(self):
        if self.path == "/v1/models" and self.headers.get("Authorization") != f"Bearer {{key}}":
            self.send_response(401); self.end_headers(); return
        body = {{"/health": b"", "/metrics": b"vllm:num_requests_running 0\\n",
                 "/v1/models": json.dumps({{"data": [{{"id": "m"}}]}}).encode()}}.get(self.path)
        self.send_response(200 if body is not None else 404)
        self.end_headers()
        self.wfile.write(body or b"")
HTTPServer(("127.0.0.1", port), Handler).serve_forever()
"""


def test_sigterm_stops_vllm_cleanly_and_exits_0(plans: dict[str, Path], tmp_path: Path) -> None:
    """A real `python -m swissai serve` process: ready -> one JSON document on stdout ->
    SIGTERM -> vLLM's process group is stopped (drain, SIGTERM) -> exit 0."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from swissai.adapters.vllm_process import group_alive

    fake = tmp_path / "fake-vllm-python"
    fake.write_text(FAKE_VLLM.format(python=sys.executable))
    fake.chmod(0o755)
    model = _model_dir(tmp_path, "llama-3.1-8b-instruct")
    key = tmp_path / "key"
    key.write_text(SECRET + "\n")
    key.chmod(0o600)
    plan = tmp_path / "plan.yaml"
    plan.write_text(plans["llama8"].read_text())
    port = _free_port()
    err_path = tmp_path / "stderr"
    with err_path.open("w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "swissai", "serve", str(plan), "--target", "cpu",
             "--vllm-python", str(fake), "--model-dir", str(model), "--api-key-file", str(key),
             "--port", str(port), "--grace", "5", "-o", "json"],
            stdout=subprocess.PIPE, stderr=err, text=True, cwd=tmp_path,
            env={**os.environ, "HF_TOKEN": "hf_parent_shell_token"},
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while "Ctrl-C stops it" not in err_path.read_text():
            assert proc.poll() is None, err_path.read_text()
            assert time.monotonic() < deadline, err_path.read_text()
            time.sleep(0.2)
        pid = int(err_path.read_text().split("(pid ")[1].split(")")[0])
        proc.send_signal(signal.SIGTERM)
        stdout, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    stderr = err_path.read_text()
    assert proc.returncode == 0, stderr
    doc = json.loads(stdout)  # exactly one document
    assert doc["ready"] is True and doc["base_url"] == f"http://127.0.0.1:{port}"
    assert "vLLM stopped (terminated)" in stderr
    assert not group_alive(pid)
    assert (tmp_path / "plan.observed.yaml").is_file()
    assert "warning: HF_TOKEN from the environment is not passed to vLLM" in stderr
    assert SECRET not in stdout + stderr and "hf_parent_shell_token" not in stderr
    log = (tmp_path / "plan.vllm.log").read_text()
    assert "Model loading took 0.5 GiB" in log


def test_serve_service_keeps_serving_when_the_log_fails(
    plans: dict[str, Path], tmp_path: Path
) -> None:
    """The service itself (as swissai.api would call it), with the fake vLLM above and a log on
    /dev/full (every write fails, like a full disk): one warning naming the log, readiness
    still followed, ServeReady emitted, and `stop` ends it with vLLM's group terminated."""
    import sys
    import threading

    from swissai.services import serve as service
    from swissai.services.events import Collect

    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full here")
    fake = tmp_path / "fake-vllm-python"
    fake.write_text(FAKE_VLLM.format(python=sys.executable))
    fake.chmod(0o755)
    plan = tmp_path / "plan.yaml"
    plan.write_text(plans["llama8"].read_text())
    key = tmp_path / "key"
    key.write_text(SECRET + "\n")
    key.chmod(0o600)
    request = service.ServeRequest(
        plan_file=plan,
        target="cpu",
        vllm_python=fake,
        model_dir=_model_dir(tmp_path, "llama-3.1-8b-instruct"),
        api_key_file=key,
        port=_free_port(),
        grace_s=5,
        log_file=Path("/dev/full"),
    )
    launch = service.prepare(request)
    stop = threading.Event()
    events = Collect()

    def sink(event: object) -> None:
        events(event)
        if isinstance(event, service.ServeReady):
            threading.Timer(1.0, stop.set).start()

    outcome = service.run(launch, service.Preflight("0.32.0", None), sink, stop=stop)
    assert outcome.ready is not None and outcome.stopped == "terminated"
    warnings = events.messages("warning")
    assert sum("cannot write vLLM's log /dev/full" in w for w in warnings) == 1
    assert (tmp_path / "plan.observed.yaml").is_file()
