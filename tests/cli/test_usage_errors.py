"""Usage errors from the option parser are one `error:` line and one `hint:` line with exit 2,
like every other bad input (no boxes, no traceback). Real processes."""

from __future__ import annotations

import pytest

from tests.swissai_process import swissai


@pytest.mark.parametrize(
    ("args", "error", "hint"),
    [
        (["plan", "--tp", "abc"], "error: Invalid value for '--tp'", "swissai plan --help"),
        (["plan", "--bogus"], "error: No such option: --bogus", "swissai plan --help"),
        (["bogus"], "error: No such command 'bogus'", "swissai --help"),
        (["check", "--fail-on"], "error: Option '--fail-on' requires an argument", "swissai check"),
    ],
)
def test_usage_error_is_two_lines_and_exit_2(args: list[str], error: str, hint: str) -> None:
    result = swissai(*args)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2, result.stderr
    assert lines[0].startswith(error)
    assert lines[1].startswith("hint:") and hint in lines[1]
    assert result.stdout == ""


def test_no_arguments_prints_the_help_only() -> None:
    result = swissai()
    assert "Usage: swissai" in result.stdout
    assert "error" not in result.stderr
