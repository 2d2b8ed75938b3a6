"""`swissai serve PLAN`: start vLLM exactly as planned, offline, and check the plan against it.

Parses options, calls swissai.services.serve, prints: the dry run (argv on one line, then the
environment), or the plan-vs-observed table (or one JSON/YAML document) when vLLM is ready.
Ctrl-C is exit 130, SIGTERM exit 0; either way the service stops vLLM's whole process group.
"""

from __future__ import annotations

import json
import shlex
import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from swissai.cli.options import Output, output_option
from swissai.errors import EXIT_INTERRUPTED, InputError

if TYPE_CHECKING:
    from swissai.services.serve import Launch, ServeReady

HELP = (
    "Start vLLM from a plan, offline (hub and telemetry off, API key from a file or an "
    "environment variable), after verifying the model directory against its sha256 manifest and "
    "the plan's model; wait until it serves, and compare vLLM's own memory figures with the "
    "plan. Flags and variables the policy forbids (remote code, a key on the argv, request "
    "logging, dev mode, hub tokens) are refused in any spelling vLLM reads. --dry-run validates "
    "the same inputs and prints the argv and environment only."
)


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
    port: int = typer.Option(8000, "--port", help="Port vLLM listens on (1 to 65535)."),
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
        30, "--grace", help="Seconds between SIGTERM and SIGKILL when stopping (0 to 3600)."
    ),
    log_file: Path | None = typer.Option(
        None, "--log-file", help="vLLM's log (default: PLAN.vllm.log next to the plan)."
    ),
    strict: bool = typer.Option(
        False, "--strict", help="Exit 1 (and stop vLLM) when vLLM deviates from the plan."
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Copy vLLM's log to stderr."),
    output: Output = output_option(),
) -> None:
    from swissai.cli.console import EventPrinter
    from swissai.services import serve as service
    from swissai.services.events import Message

    if target not in ("gpu", "cpu"):
        raise InputError(f"--target {target}: use gpu or cpu")
    request = service.ServeRequest(
        plan_file=plan_file,
        target="gpu" if target == "gpu" else "cpu",
        host=host,
        port=port,
        model_dir=model_dir,
        api_key_file=api_key_file,
        api_key_env=api_key_env,
        vllm_python=vllm_python,
        vllm_bin=vllm_bin,
        manifest_sha256=manifest_sha256,
        allow_unverified_model=allow_unverified_model,
        flashinfer_cubin_dir=flashinfer_cubin_dir,
        encodings_dir=encodings_dir,
        cpu_kvcache_gib=cpu_kvcache_gib,
        startup_timeout_s=startup_timeout,
        grace_s=grace,
        log_file=log_file,
        strict=strict,
    )
    printer = EventPrinter()
    if dry_run:
        launch = service.prepare(request, printer, dry_run=True)
        _print_dry_run(launch, output)
        for text in launch.notes:
            printer(Message(text, "note"))
        return

    def on_event(event: object) -> None:
        if isinstance(event, service.ServeReady):
            printer.close()  # the progress display ends before the table
            _print_ready(event, output)
        elif isinstance(event, service.VllmLogLine):
            printer.err.print(event.line, markup=False, highlight=False, soft_wrap=True)
        else:
            printer(event)

    try:
        launch = service.prepare(request, on_event)
        pre = service.preflight(launch, on_event)
    except KeyboardInterrupt:
        printer.close()
        raise typer.Exit(EXIT_INTERRUPTED) from None
    # From here SIGTERM asks the service to stop vLLM cleanly (exit 0); before, during a long
    # preflight, it ends swissai at once as usual (nothing is running yet).
    stop = threading.Event()
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGTERM) if in_main else None
    if in_main:
        signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    try:
        service.run(launch, pre, on_event, stop=stop, verbose=verbose)
    except KeyboardInterrupt:
        raise typer.Exit(EXIT_INTERRUPTED) from None
    finally:
        printer.close()
        if in_main:
            signal.signal(signal.SIGTERM, previous)


def _print_dry_run(launch: Launch, output: Output) -> None:
    """The argv a user copies: ONE unbroken line (plain stdout, never wrapped by rich),
    secrets masked; then the environment swissai sets, secrets masked."""
    argv = launch.printable_argv
    if output is Output.table:
        typer.echo("# argv")
        typer.echo(shlex.join(argv))
        typer.echo("# env")
        for key, value in launch.shown_env.items():
            typer.echo(f"{key}={value}")
        return
    doc = {"argv": argv, "env": launch.shown_env}
    if output is Output.json:
        typer.echo(json.dumps(doc, indent=2))
    else:
        typer.echo(_yaml(doc), nl=False)


def _yaml(doc: dict[str, Any]) -> str:
    import yaml

    return str(yaml.safe_dump(doc, sort_keys=False, width=100))


def _print_ready(ready: ServeReady, output: Output) -> None:
    import sys

    if output is Output.table:
        from swissai.cli.console import stdout_console, table

        grid = table(title="plan vs vLLM (per GPU)", title_justify="left")
        grid.add_column("figure")
        grid.add_column("planned", justify="right")
        grid.add_column("observed", justify="right")
        grid.add_column("verdict")
        for row in ready.rows:
            verdict = {True: "ok", False: "DEVIATES", None: "n/a"}[row.within_tolerance]
            grid.add_row(
                row.label,
                "-" if row.planned is None else f"{row.planned:g}",
                "-" if row.observed is None else f"{row.observed:g}",
                verdict + (f" ({row.note})" if row.note else ""),
            )
        stdout_console(110).print(grid)
    elif output is Output.json:
        typer.echo(json.dumps(ready.document(), indent=2))
    else:
        typer.echo(_yaml(ready.document()), nl=False)
    sys.stdout.flush()
