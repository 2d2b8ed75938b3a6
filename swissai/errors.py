"""One error hierarchy; each error carries a one-line message, a hint and its exit code.

Exit codes are a contract (ARCHITECTURE.md): 0 ok, 1 findings, 2 usage/input, 3 environment,
4 infeasible plan, 5 deploy failed after apply, 130 interrupted (SIGINT), 143 terminated (SIGTERM,
what a cancelled CI job sends; an extension of the contract). The CLI maps them in one place
(`swissai.cli.main.run`).
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_ENVIRONMENT = 3
EXIT_INFEASIBLE = 4
EXIT_DEPLOY_FAILED = 5
EXIT_INTERRUPTED = 130  # 128 + SIGINT
EXIT_TERMINATED = 143  # 128 + SIGTERM


class SwissaiError(Exception):
    """Base class: a message for people, a hint that says what to do, and an exit code."""

    exit_code: int = EXIT_USAGE

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class InputError(SwissaiError):
    """Bad flag, bad file, unknown id, a layout that cannot exist."""

    exit_code = EXIT_USAGE


class EnvironmentProblem(SwissaiError):
    """The machine or cluster cannot do it: no NVML, no vLLM, no kubeconfig."""

    exit_code = EXIT_ENVIRONMENT


class InfeasiblePlan(SwissaiError):
    """A plan was computed and it does not fit."""

    exit_code = EXIT_INFEASIBLE


class FindingsError(SwissaiError):
    """Findings at or above the threshold."""

    exit_code = EXIT_FINDINGS


class DeployFailed(SwissaiError):
    """The deploy failed after apply started."""

    exit_code = EXIT_DEPLOY_FAILED


class Interrupted(SwissaiError):
    """SIGINT (exit 130) or SIGTERM (exit 143) stopped a command; the message says the state."""

    exit_code = EXIT_INTERRUPTED

    def __init__(self, message: str, hint: str | None = None, *, exit_code: int = 130) -> None:
        super().__init__(message, hint)
        self.exit_code = exit_code
