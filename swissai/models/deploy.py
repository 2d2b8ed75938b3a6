"""Deployment records (FINMA traceability) and the result of `swissai deploy`.

A record says who deployed which plan, model revision and images, when, with which check
result, and how it ended. It is stored as an immutable ConfigMap in the namespace (with the
applied manifests, Secrets without their data, so `rollback` can return to it), summarised in
annotations on every applied object, and appended to a local JSON-lines file.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from swissai.models.base import Frozen

RECORD_API_VERSION = "swissai/v1alpha1"
Outcome = Literal[
    "succeeded",
    "failed-rolled-back",
    "failed-left-as-is",
    "half-applied",
    "rolled-back",
    "destroyed",
    "unchanged",
]
LIVE_OUTCOMES = ("succeeded", "rolled-back")  # records whose revision is (or was) running


class CheckSummary(Frozen):
    fail_on: str
    failed: bool = Field(description="findings at or above fail_on existed")
    counts: dict[str, int] = Field(default_factory=dict, description="unwaived, by severity")
    skipped_reason: str | None = Field(
        None, description="--skip-check-gate REASON: the gate was overridden, and why"
    )


class DeployRecord(Frozen):
    apiVersion: str = RECORD_API_VERSION
    kind: Literal["DeploymentRecord"] = "DeploymentRecord"
    id: str = Field(description="UTC time stamp + revision; the ConfigMap is swissai-record-<id>")
    outcome: Outcome
    namespace: str
    workload: str
    context: str
    server: str
    deployed_by: str = Field(description="the cluster identity (SelfSubjectReview)")
    local_user: str
    started_at: str
    finished_at: str
    revision: str = Field(description="sha256 (12 hex) of the rendered objects")
    plan_hash: str
    model_id: str
    model_revision: str
    vllm_version: str
    images: list[str] = Field(description="images as rendered (pinned by digest)")
    image_ids: list[str] = Field(
        default_factory=list, description="image digests the running pods report"
    )
    check: CheckSummary | None = None
    objects: list[str] = Field(description="Kind/namespace/name of every object, apply order")
    changed: list[str] = Field(default_factory=list, description="objects this run changed")
    replicas: int = 0
    replicas_ready: int = 0
    endpoint: str | None = None
    reason: str | None = Field(None, description="why it failed, in the cluster's words")
    rollback: str | None = Field(None, description="what the roll back did")
    previous_revision: str | None = None


class DeployResult(Frozen):
    """What `swissai deploy -o json` prints."""

    apiVersion: str = RECORD_API_VERSION
    kind: Literal["DeployResult"] = "DeployResult"
    outcome: Outcome | Literal["dry-run"]
    namespace: str
    revision: str
    plan_hash: str
    changes: dict[str, str] = Field(description="object -> create, update or unchanged")
    replicas: int
    replicas_ready: int
    endpoint: str | None
    record: str | None = Field(None, description="the record ConfigMap, when one was written")
    diff: str | None = Field(None, description="--dry-run: unified diff against the live objects")
