"""SmokeReport: what `swissai smoke -o json|yaml` prints (and `-o junit` renders as JUnit XML).

One entry per check, in the order they ran. `status` is pass, fail, warn or skip; under
`--strict` a warning counts as a failure (`counts_as_failure`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from swissai.models.base import Frozen

SMOKE_API_VERSION = "swissai/v1alpha1"

Status = Literal["pass", "fail", "warn", "skip"]


class SmokeCheck(Frozen):
    name: str = Field(description="stable check id, e.g. models, completion, auth-wrong-key")
    title: str = Field(description="what the check proves, for people")
    status: Status
    detail: str = Field(description="one line: what was seen")
    rule: str | None = Field(default=None, description="compliance rule id, e.g. NET-001")
    duration_ms: float = 0.0
    counts_as_failure: bool = Field(description="fail, or warn under --strict")


class SmokeReport(Frozen):
    apiVersion: str = SMOKE_API_VERSION
    kind: Literal["SmokeReport"] = "SmokeReport"
    base_url: str = Field(description="the endpoint, without credentials")
    model: str | None = Field(description="the served model the checks used")
    strict: bool
    ok: bool = Field(description="no check counts as a failure")
    passed: int
    failed: int
    warnings: int
    skipped: int
    checks: list[SmokeCheck]
