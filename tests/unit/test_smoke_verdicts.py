"""core.smoke: which verdicts fail a run, with and without --strict."""

from __future__ import annotations

import pytest

from swissai.core.smoke import STRICT_RULES, counts_as_failure


@pytest.mark.parametrize("strict", [False, True])
def test_a_failed_check_always_fails(strict: bool) -> None:
    assert counts_as_failure("fail", None, strict)
    assert counts_as_failure("fail", "NET-001", strict)


def test_only_exposure_warnings_fail_under_strict() -> None:
    assert {"NET-001"} == STRICT_RULES
    assert counts_as_failure("warn", "NET-001", strict=True)
    assert not counts_as_failure("warn", "NET-001", strict=False)
    # no tool call by a tiny model, no reasoning field, --no-expect-auth: warnings stay warnings
    assert not counts_as_failure("warn", None, strict=True)
    assert not counts_as_failure("warn", "OTHER-001", strict=True)


@pytest.mark.parametrize("status", ["pass", "skip"])
def test_pass_and_skip_never_fail(status: str) -> None:
    assert not counts_as_failure(status, "NET-001", strict=True)  # type: ignore[arg-type]
