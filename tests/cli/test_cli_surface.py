"""The command line as a whole: help that fits 80 columns, -h, --version, shell completion,
and the last-resort handler (never a raw traceback)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import typer
from typer.testing import CliRunner

from swissai import __version__
from swissai.cli.main import SwissaiGroup, app
from tests.swissai_inprocess import swissai

COMMANDS = [
    [],
    ["plan"],
    ["probe"],
    ["init"],
    ["render"],
    ["check"],
    ["deploy"],
    ["status"],
    ["rollback"],
    ["destroy"],
    ["serve"],
    ["smoke"],
    ["bench"],
    ["model"],
    ["model", "manifest"],
    ["model", "verify"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "swissai")
def test_help_fits_80_columns_with_full_flag_names(command: list[str]) -> None:
    result = swissai(*command, "-h", columns=80)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Usage: swissai")
    too_long = [line for line in result.stdout.splitlines() if len(line) > 80]
    assert too_long == []
    assert "…" not in result.stdout  # no flag name cut short


def test_version() -> None:
    result = swissai("--version")
    assert result.returncode == 0
    assert result.stdout == f"swissai {__version__}\n"


def test_shell_completion_is_installable_and_completes_commands() -> None:
    # --install-completion/--show-completion detect the user's shell (shellingham), which a
    # CI job does not have; the completion protocol itself is shell-independent:
    assert "--install-completion" in swissai("--help").stdout
    env = {k: v for k, v in os.environ.items() if k != "SWISSAI_DEBUG"}
    env.update(
        {"_SWISSAI_COMPLETE": "complete_bash", "COMP_WORDS": "swissai pl", "COMP_CWORD": "1"}
    )
    done = subprocess.run(
        [sys.executable, "-m", "swissai"], env=env, capture_output=True, text=True, check=False
    )
    assert done.stdout.split() == ["plan"]


def _app_that_breaks() -> typer.Typer:
    """A one-command app on swissai's root command class: the handler, not a swissai
    command, is under test (no swissai internals are patched to provoke the bug)."""
    broken = typer.Typer(cls=SwissaiGroup)

    @broken.command()
    def explode() -> None:
        raise ZeroDivisionError("division by zero in a place nobody expected")

    @broken.command()
    def other() -> None:  # a second command keeps `explode` a subcommand
        pass

    return broken


def test_an_unexpected_exception_is_one_internal_error_line_and_exit_1() -> None:
    result = CliRunner().invoke(_app_that_breaks(), ["explode"])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "error: internal error: ZeroDivisionError: division by zero in a place nobody expected",
        "hint: this is a bug in swissai; rerun with --debug for the traceback and report it",
    ]
    assert "Traceback" not in result.stderr


def test_debug_lets_the_unexpected_exception_through() -> None:
    result = CliRunner().invoke(_app_that_breaks(), ["explode", "--debug"])
    assert isinstance(result.exception, ZeroDivisionError)


def test_the_app_is_the_same_for_the_console_script_and_the_runner() -> None:
    """Exit codes are mapped inside the app: CliRunner sees exactly the console script's."""
    assert isinstance(typer.main.get_command(app), SwissaiGroup)
    inproc = swissai("plan", "--gpus", "1xh100-80gb", "-o", "json")
    assert inproc.returncode == 4


def test_plan_table_in_a_pipe_has_no_box_and_the_command_is_one_line() -> None:
    """stdout is not a terminal (CI logs, `| less`): no frame characters, and the `vllm serve`
    command a user copies is one unbroken line, even at 80 columns."""
    result = swissai("plan", "--gpus", "8xh100-80gb", columns=80)
    assert result.returncode == 0
    assert not set("╭╮╰╯│─") & set(result.stdout)
    commands = [line for line in result.stdout.splitlines() if line.startswith("command: ")]
    assert len(commands) == 1
    assert commands[0].startswith("command: vllm serve --model ")
    assert commands[0].endswith("--enable-auto-tool-choice")  # the last argument, same line
