"""The `swissai` application and the one place that maps errors to exit codes."""

from __future__ import annotations

import os
import sys

import typer

from swissai import __version__
from swissai.errors import EXIT_INTERRUPTED, SwissaiError

app = typer.Typer(
    name="swissai",
    help="Plan, render, check, deploy and verify on-premises vLLM serving of open-weight LLMs "
    "under Swiss data-residency rules.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"swissai {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks for errors."),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    if debug:
        os.environ["SWISSAI_DEBUG"] = "1"


def _register() -> None:
    from swissai.cli import bench, check, init, model, plan, probe, render, serve, smoke

    app.command("plan", help=plan.HELP)(plan.plan)
    app.command("probe", help=probe.HELP)(probe.probe)
    app.command("serve", help=serve.HELP)(serve.serve)
    app.command("init", help=init.HELP)(init.init)
    app.command("render", help=render.HELP)(render.render)
    app.add_typer(model.app, name="model")
    app.command("check", help=check.HELP)(check.check)
    app.command("smoke", help=smoke.HELP)(smoke.smoke)
    app.command("bench", help=bench.HELP)(bench.bench)
    from swissai.cli import deploy, lifecycle

    app.command("deploy", help=deploy.HELP)(deploy.deploy)
    for name, command in lifecycle.COMMANDS.items():
        app.command(name, help=command.__doc__)(command)


_register()


def _debug() -> bool:
    return "--debug" in sys.argv or os.environ.get("SWISSAI_DEBUG") == "1"


def run() -> None:
    """Entry point: run the app; SwissaiError -> one line + hint on stderr and its exit code."""
    try:
        app()
    except SwissaiError as exc:
        if _debug():
            raise
        sys.stderr.write(f"error: {exc.message}\n")
        if exc.hint:
            sys.stderr.write(f"hint: {exc.hint}\n")
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(EXIT_INTERRUPTED)
