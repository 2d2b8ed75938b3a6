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
    from swissai.cli import plan

    app.command("plan", help=plan.HELP)(plan.plan)


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
