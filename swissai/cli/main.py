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


def _usage_hint() -> str:
    words = [a for a in sys.argv[1:] if not a.startswith("-")]
    command = words[0] if words and words[0] in {c.name for c in app.registered_commands} else ""
    return f"see `swissai {command + ' ' if command else ''}--help`"


def run() -> None:
    """Entry point: run the app; every error is one line + a hint on stderr and its exit code
    (SwissaiError subclasses carry theirs; usage errors from the option parser are exit 2)."""
    from typer.exceptions import TyperException

    try:
        code = app(prog_name="swissai", standalone_mode=False)
    except SwissaiError as exc:
        if _debug():
            raise
        sys.stderr.write(f"error: {exc.message}\n")
        if exc.hint:
            sys.stderr.write(f"hint: {exc.hint}\n")
        sys.exit(exc.exit_code)
    except TyperException as exc:  # bad option or value, unknown command
        if _debug():
            raise
        message = " ".join(exc.format_message().split())
        if not message:  # no arguments at all: the help was printed, nothing to add
            sys.exit(exc.exit_code)
        sys.stderr.write(f"error: {message}\n")
        sys.stderr.write(f"hint: {_usage_hint()}\n")
        sys.exit(exc.exit_code)
    except (KeyboardInterrupt, typer.Abort):
        sys.stderr.write("interrupted\n")
        sys.exit(EXIT_INTERRUPTED)
    sys.exit(code if isinstance(code, int) else 0)
