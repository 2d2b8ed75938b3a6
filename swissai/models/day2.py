"""Results of the day-2 commands: `diff`, `upgrade`, `history`, `backup`, `restore`."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from swissai.models.base import Frozen

Area = Literal["model", "weights", "images", "vllm", "args", "env", "layout", "limits", "memory"]
Strategy = Literal["blue-green", "rolling", "in-place", "none"]


class PlanChange(Frozen):
    area: Area
    key: str = Field(description="dotted path of the changed value")
    old: Any = None
    new: Any = None


class PlanDiff(Frozen):
    """What `swissai diff -o json` prints: the changes and what they need."""

    apiVersion: str = "swissai/v1alpha1"
    kind: Literal["PlanDiff"] = "PlanDiff"
    old: str = Field(description="where the old side came from (a file, or live:NS/WORKLOAD)")
    new: str
    changes: list[PlanChange] = Field(default_factory=list)
    restart: bool = Field(description="the serving pods are replaced (vLLM restarts)")
    gpus_old: int = Field(description="GPUs the old side requests (replicas x GPUs per replica)")
    gpus_new: int
    more_gpus: int = Field(description="GPUs the new side needs beyond the old (0 when fewer)")
    drain: bool = Field(
        description="replicas in service are stopped: their in-flight requests must drain first"
    )
    outage: bool = Field(
        description="with no spare GPUs the change stops every replica at once (one replica)"
    )
    reasons: list[str] = Field(default_factory=list, description="why, one line each")


class UpgradeStep(Frozen):
    action: str
    detail: str


class UpgradeResult(Frozen):
    """What `swissai upgrade -o json` prints."""

    apiVersion: str = "swissai/v1alpha1"
    kind: Literal["UpgradeResult"] = "UpgradeResult"
    namespace: str
    workload: str
    strategy: Strategy
    outcome: Literal["dry-run", "upgraded", "unchanged", "rolled-back"]
    from_revision: str | None = None
    to_revision: str
    gpus_free: int = Field(description="allocatable GPUs not requested by any pod (headroom)")
    gpus_needed: int = Field(description="GPUs the new revision needs beside the old")
    steps: list[UpgradeStep] = Field(default_factory=list)
    smoke: list[str] = Field(default_factory=list, description="smoke gate results, one a step")
    reason: str | None = None


class HistoryEntry(Frozen):
    record: str
    revision: str
    outcome: str
    plan_hash: str
    images: list[str]
    image_ids: list[str] = Field(default_factory=list)
    model_revision: str
    vllm_version: str
    deployed_by: str
    local_user: str
    started_at: str
    finished_at: str
    previous_revision: str | None = None
    reason: str | None = None


class HistoryResult(Frozen):
    """What `swissai history -o json` prints: the verified records, oldest first."""

    namespace: str
    workload: str | None
    current_revision: str | None = None
    records: list[HistoryEntry] = Field(default_factory=list)
    ignored_records: list[str] = Field(default_factory=list)


class BackupResult(Frozen):
    path: str
    namespace: str
    workloads: list[str]
    records: int
    objects: int
    files: list[str] = Field(description="members of the archive")
    encrypted: bool
    sha256: str = Field(description="of the written file")


class RestoreResult(Frozen):
    path: str
    namespace: str
    records: int
    objects: list[str] = Field(description="objects applied, in apply order")
    skipped_records: int = Field(0, description="record ConfigMaps already present, identical")
    dry_run: bool = False
    record: str | None = Field(None, description="the record of the restore itself")
