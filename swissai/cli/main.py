"""The `swissai` application and the one place that maps errors to exit codes.

The mapping lives inside the application (`SwissaiGroup.main`), so the console script, `python
-m swissai` and Typer's in-process `CliRunner` behave alike: every error is one `error:` line
and one `hint:` line on stderr and its exit code (ARCHITECTURE.md); `--debug` (anywhere on the
command line, or SWISSAI_DEBUG=1) shows the traceback instead.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any

import typer
from typer.core import TyperGroup

from swissai import __version__
from swissai.errors import EXIT_FINDINGS, EXIT_INTERRUPTED, SwissaiError

EXIT_TERMINATED = 143


class SwissaiGroup(TyperGroup):
    """The root command: error mapping, `--debug` anywhere, commands in the order written."""

    def list_commands(self, ctx: Any) -> list[str]:
        return list(self.commands)

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        debug, argv = _take_debug(argv)
        debug = debug or os.environ.get("SWISSAI_DEBUG") == "1"
        code = _run(self, argv, prog_name or "swissai", complete_var, debug, extra)
        if not standalone_mode:
            return code
        sys.exit(code)


def _take_debug(argv: list[str]) -> tuple[bool, list[str]]:
    """`--debug` may stand anywhere before `--`; it is removed before parsing."""
    end = argv.index("--") if "--" in argv else len(argv)
    head = [a for a in argv[:end] if a != "--debug"]
    return len(head) != end, head + argv[end:]


def _error(message: str, hint: str | None) -> None:
    sys.stdout.flush()
    sys.stderr.write(f"error: {message}\n")
    if hint:
        sys.stderr.write(f"hint: {hint}\n")
    sys.stderr.flush()


def _run(
    group: SwissaiGroup,
    argv: list[str],
    prog_name: str,
    complete_var: str | None,
    debug: bool,
    extra: dict[str, Any],
) -> int:
    try:
        result = TyperGroup.main(
            group,
            args=argv,
            prog_name=prog_name,
            complete_var=complete_var,
            standalone_mode=False,
            **extra,
        )
    except SwissaiError as exc:
        if debug:
            raise
        _error(exc.message, exc.hint)
        return exc.exit_code
    except typer.Abort:
        # typer.confirm(abort=True) answered no, or EOF at a prompt
        sys.stderr.write("aborted: nothing was changed\n")
        return EXIT_FINDINGS
    except typer.TyperException as exc:  # bad option or value, unknown command
        if debug:
            raise
        if type(exc).__name__ == "NoArgsIsHelpError":  # `swissai` or `swissai model` alone
            sys.stdout.write(exc.format_message() + "\n")
            return 0
        message = " ".join(exc.format_message().replace("Value error, ", "").split())
        if not message:
            return int(exc.exit_code)
        _error(message, _usage_hint(group, argv))
        return int(exc.exit_code)
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return EXIT_INTERRUPTED
    except Exception as exc:  # the last resort: never a raw traceback
        if debug:
            raise
        _error(
            f"internal error: {type(exc).__name__}: {_first_line(exc)}",
            "this is a bug in swissai; rerun with --debug for the traceback and report it",
        )
        return EXIT_FINDINGS
    if result == EXIT_INTERRUPTED:  # Typer maps Ctrl-C to Exit(130)
        sys.stderr.write("interrupted\n")
    return result if isinstance(result, int) else 0


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else "(no message)"


def _usage_hint(group: SwissaiGroup, argv: list[str]) -> str:
    words = [a for a in argv if not a.startswith("-")]
    command = words[0] if words and words[0] in group.commands else ""
    return f"see `swissai {command + ' ' if command else ''}--help`"


app = typer.Typer(
    name="swissai",
    cls=SwissaiGroup,
    help="Plan, render, check, deploy and verify on-premises vLLM serving of open-weight LLMs "
    "under Swiss data-residency rules.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"swissai {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    debug: bool = typer.Option(
        False, "--debug", help="Show tracebacks for errors (accepted anywhere on the line)."
    ),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Plan, render, check, deploy and verify on-premises vLLM serving."""


def _register() -> None:
    from swissai.cli import (
        backup,
        bench,
        bundle,
        check,
        cost,
        deploy,
        init,
        lifecycle,
        model,
        plan,
        probe,
        render,
        report,
        serve,
        size,
        smoke,
        upgrade,
    )

    app.command("plan", help=plan.HELP)(plan.plan)
    app.command("size", help=size.HELP)(size.size)
    app.command("cost", help=cost.HELP)(cost.cost)
    app.command("probe", help=probe.HELP)(probe.probe)
    app.command("serve", help=serve.HELP)(serve.serve)
    app.command("init", help=init.HELP)(init.init)
    app.command("render", help=render.HELP)(render.render)
    app.add_typer(model.app, name="model")
    app.add_typer(bundle.app, name="bundle")
    app.command("check", help=check.HELP)(check.check)
    app.command("smoke", help=smoke.HELP)(smoke.smoke)
    app.command("bench", help=bench.HELP)(bench.bench)
    app.command("deploy", help=deploy.HELP)(deploy.deploy)
    app.command("report", help=report.HELP)(report.report)
    for name, command in lifecycle.COMMANDS.items():
        app.command(name, help=command.__doc__)(command)
    app.command("diff", help=upgrade.DIFF_HELP)(upgrade.diff)
    app.command("upgrade", help=upgrade.UPGRADE_HELP)(upgrade.upgrade)
    app.command("backup", help=backup.BACKUP_HELP)(backup.backup)
    app.command("restore", help=backup.RESTORE_HELP)(backup.restore)


_register()


def run() -> None:
    """Console-script entry point (`swissai`, `python -m swissai`)."""
    app(prog_name="swissai")
