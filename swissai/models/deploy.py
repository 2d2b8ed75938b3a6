"""Deployment records (FINMA traceability) and the result of `swissai deploy`.

A record says who deployed which plan, model revision and images, when, with which check
result, and how it ended. It is stored as an immutable ConfigMap in the namespace (with the
applied manifests, Secrets without their data, so `rollback` can return to it), summarised in
annotations on every applied object, and appended to a local JSON-lines file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from swissai.models.base import Frozen
from swissai.models.plan import ServePlan
from swissai.models.site import SiteProfile

RECORD_API_VERSION = "swissai/v1alpha1"
Outcome = Literal[
    "succeeded",
    "failed-rolled-back",
    "failed-left-as-is",
    "half-applied",
    "rolled-back",
    "destroyed",
    "unchanged",
    "interrupted",
    "restored",  # swissai restore re-applied this revision from a backup
]
# records whose revision is (or was) running
LIVE_OUTCOMES = ("succeeded", "rolled-back", "restored")
# records whose objects may be live: every outcome but a clean roll back or a destroy
Ownership = Literal["created", "adopted"]


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
    ownership: dict[str, Ownership] = Field(
        default_factory=dict,
        description="object -> created (swissai made it: rollback/destroy may delete it) or "
        "adopted (it existed before swissai's first apply: only swissai's fields are released)",
    )
    applied: list[str] | None = Field(
        None, description="interrupted or half-applied: the objects applied before it stopped"
    )


class DeployRequest(Frozen):
    """What `swissai deploy` (and `swissai.api.deploy`) asks the deploy service to do."""

    plan: ServePlan
    site: SiteProfile
    namespace: str | None = Field(None, description="overrides the site profile's namespace")
    context: str | None = None
    kubeconfig: Path | None = None
    dry_run: bool = False
    force_conflicts: bool = False
    rollback_on_failure: bool = False
    skip_check_gate: str | None = Field(None, description="reason; None = the gate applies")
    timeout_s: int | None = Field(None, description="ready wait; None = from the plan")
    record_file: Path | None = Field(
        Path("swissai-deployments.jsonl"), description="local copy of the records; None = none"
    )


class LifecycleRequest(Frozen):
    """What `status`, `rollback` and `destroy` act on: one workload in one namespace."""

    namespace: str
    workload: str | None = Field(None, description="None = the only workload with records")
    claim_name: str | None = Field(
        None, description="the site's model claim (a name records may hold besides the workload's)"
    )
    context: str | None = None
    kubeconfig: Path | None = None
    timeout_s: int = Field(900, description="wait for ready (rollback), and per request")
    record_file: Path | None = Path("swissai-deployments.jsonl")


class ReplicaState(Frozen):
    name: str
    phase: str
    detail: str | None = None


class StatusResult(Frozen):
    """What `swissai status -o json` prints."""

    namespace: str
    workload: str | None = None
    deployed: bool
    records: int
    revision: str | None = None
    plan_hash: str | None = None
    model: str | None = None
    model_revision: str | None = None
    replicas: int | None = None
    replicas_ready: int | None = None
    endpoint: str | None = None
    deployed_by: str | None = None
    deployed_at: str | None = None
    record: str | None = None
    last_outcome: str | None = None
    replica_states: list[ReplicaState] = Field(default_factory=list)
    ignored_records: list[str] = Field(
        default_factory=list, description="record ConfigMaps that failed verification"
    )


class RollbackResult(Frozen):
    namespace: str
    workload: str
    from_revision: str
    to_revision: str
    did: str
    record: str | None = None
    ready: bool | None = Field(None, description="None when not waited for")


class DestroyResult(Frozen):
    namespace: str
    workload: str | None
    deleted: list[str] = Field(default_factory=list)
    released: list[str] = Field(default_factory=list, description="adopted: swissai's fields")
    exported_to: str | None = None
    records: int = 0


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
