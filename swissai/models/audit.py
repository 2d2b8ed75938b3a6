"""Inputs of the audit pack (`swissai report`) that no other command defines."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from swissai.models.base import Frozen


class AccuracyQuantity(Frozen):
    n: int = Field(ge=0, description="observations compared")
    median_abs_rel_err: float = Field(ge=0, description="median |predicted/observed - 1|")
    max_abs_rel_err: float = Field(ge=0, description="largest |predicted/observed - 1|")


class PlannerAccuracy(Frozen):
    """The planner measured against real vLLM startup logs (`benchmarks/plan_accuracy.py
    --json FILE`, over tests/data/vllm_observations.yaml)."""

    apiVersion: Literal["swissai/v1alpha1"] = "swissai/v1alpha1"
    kind: Literal["PlannerAccuracy"] = "PlannerAccuracy"
    asserted_rows: int = Field(ge=0)
    verdicts_agree: int = Field(ge=0, description="rows whose fits/does-not-fit verdict agrees")
    quantities: dict[str, AccuracyQuantity] = Field(
        description="weights, kv_cache, concurrency: relative errors over the asserted rows"
    )
    source: str = Field("tests/data/vllm_observations.yaml", description="the observations")


class ReportWritten(Frozen):
    """What `swissai report` wrote (stdout with -o json|yaml)."""

    kind: Literal["AuditReport"] = "AuditReport"
    out: str = Field(description="the HTML file")
    sha256: str = Field(description="sha256 of its bytes (same inputs, same value)")
    bytes: int
    pdf: str | None = None
    sections: list[str]
