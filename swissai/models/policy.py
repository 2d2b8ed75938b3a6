"""Compliance policy parameters (rule catalog §0.4) and declared evidence, embedded in the site
profile as `compliance:`; `swissai check` without --site uses these defaults (the ones
`swissai init` writes).

Two kinds of fields:
- policy parameters (allowed registries, regions, storage classes, egress CIDRs, thresholds);
- declarations of evidence held elsewhere (DPIA, four-eyes approval, model card, BCM, scans).
  Rules that need human evidence report `missing_evidence_severity` (medium) until the evidence
  is declared here; `severity_overrides` lets a site raise any rule's severity (never lower it:
  lowering a finding takes a waiver with an approver and an expiry date).
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field

from swissai.models.base import Frozen

Severity = Literal["critical", "high", "medium", "low"]

DEFAULT_DENIED_REGISTRIES = [
    "docker.io",
    "registry-1.docker.io",
    "index.docker.io",
    "ghcr.io",
    "nvcr.io",
    "quay.io",
    "registry.k8s.io",
    "k8s.gcr.io",
    "gcr.io",
    "public.ecr.aws",
    "mcr.microsoft.com",
]
RFC1918 = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]


class EvidenceRef(Frozen):
    """A reference to a document held in the institution's register (not copied here)."""

    ref: str = Field(description="document id, path or URL in the institution's register")
    sha256: str | None = Field(None, description="digest of the referenced file, if a file")
    date: dt.date | None = Field(None, description="date of the document (report, test, review)")


class DataFlow(Frozen):
    """A destination that receives prompts, completions, logs, traces, metrics or backups."""

    destination: str = Field(description="host, CIDR or service that receives data")
    country: str = Field(description="ISO 3166 alpha-2 country code, e.g. CH")
    data_categories: list[str] = Field(default_factory=list)
    purpose: str = ""
    legal_basis: Literal["fadp16_adequacy", "fadp16_2_safeguards", "fadp17_exception"] | None = (
        Field(None, description="required when country is not in allowed_countries (RES-001)")
    )
    document: str | None = Field(None, description="reference to the safeguard document")


class ThirdParty(Frozen):
    name: str
    country: str
    role: str = ""
    outsourcing: bool = False


class Residency(Frozen):
    """RES-001: the declared residency policy and every outbound data flow."""

    allowed_countries: list[str] = Field(default_factory=lambda: ["CH"])
    data_flows: list[DataFlow] = Field(default_factory=list)
    third_parties: list[ThirdParty] = Field(default_factory=list)


class Inventory(Frozen):
    """GOV-001: the AI application's entry in the institution's AI inventory."""

    id: str = Field(
        description="inventory id; rendered objects carry label swissai.io/inventory-id"
    )
    name: str = ""
    purpose: str = ""
    business_owner: str = ""
    technical_owner: str = ""
    risk_class: str = Field("", description="the institution's risk classification / materiality")
    data_categories: list[str] = Field(default_factory=list)
    user_population: Literal["internal", "client-facing", ""] = ""


class Approval(Frozen):
    """GOV-003: four-eyes approval of the production change."""

    requester: str
    approver: str
    date: dt.date
    change_id: str
    independent_reviewer: str | None = None


class Privacy(Frozen):
    """GOV-007 (record of processing, DPIA) and the DPO Art. 4 triggers used by LOG-002."""

    record_of_processing: str | None = None
    dpia: str | None = None
    dpia_required: bool | None = None
    rationale: str | None = Field(None, description="why no DPIA is required")
    sensitive_large_scale: bool = False
    high_risk_profiling: bool = False


class Bcm(Frozen):
    """OPS-005: recovery objectives, fallback and the last restore test."""

    criticality: str = ""
    rto_minutes: int | None = None
    rpo_minutes: int | None = None
    fallback: str = ""
    restore_procedure: str = ""
    last_restore_test: dt.date | None = None


class ImageEvidence(Frozen):
    """SUP-005: SBOM and vulnerability scan of one image."""

    image: str
    sbom: EvidenceRef | None = None
    scan: EvidenceRef | None = None
    critical_vulnerabilities_with_fix: int = 0


class AuditLog(Frozen):
    fields: list[str] = Field(default_factory=list)
    retention_days: int | None = None
    store: str = ""


class Gateway(Frozen):
    """SEC-002, LOG-003, NET-001: the authenticating gateway in front of vLLM."""

    name: str = ""
    auth: Literal["oidc", "mtls", "per_client_api_keys", "none"] | None = None
    audit_log: AuditLog | None = None


class ContentLogging(Frozen):
    """LOG-002: approved prompt/completion logging and its sink."""

    enabled: bool = False
    sink: str = ""
    access_group: str = ""
    encrypted: bool = False
    retention_days: int | None = None
    waiver: str | None = None


class Attestations(Frozen):
    """Facts about the platform that manifests cannot show (host and cluster configuration)."""

    api_audit_logging: EvidenceRef | None = Field(None, description="LOG-004")
    secrets_encryption: EvidenceRef | None = Field(None, description="SEC-004 (etcd)")
    disk_encryption: EvidenceRef | None = Field(None, description="SEC-004 (volumes)")
    image_signature_policy: EvidenceRef | None = Field(None, description="SUP-002")
    transport_encryption: EvidenceRef | None = Field(
        None, description="SEC-001: mesh mTLS or network encryption managed outside the chart"
    )
    internode_network: EvidenceRef | None = Field(
        None, description="SEC-001, NET-002: the isolated network for NCCL/torch.distributed"
    )
    flashinfer_artifacts_in_image: bool = Field(
        False, description="RES-007: the image ships flashinfer-cubin and flashinfer-jit-cache"
    )


class ModelEvidence(Frozen):
    """SUP-003: the model revision and its sha256 file manifest."""

    source: str = ""
    revision: str = Field("", description="40-hex commit of the model repository")
    license: str = ""
    manifest: EvidenceRef | None = None


class CompliancePolicy(Frozen):
    """Policy parameters of the rule catalog, with the catalog's defaults, and declared evidence."""

    location_label_key: str = Field(
        "topology.kubernetes.io/region",
        description="node label that states where a node is (RES-002, OPS-002); a trusted key "
        "such as node-restriction.kubernetes.io/site cannot be self-set by kubelets",
    )
    allowed_locations: list[str] = Field(
        default_factory=lambda: ["ch-zh1", "ch-be1"], description="Swiss regions/sites (RES-002)"
    )
    allowed_registries: list[str] = Field(
        default_factory=lambda: ["registry.bank.internal"], description="RES-009"
    )
    denied_registries: list[str] = Field(default_factory=lambda: list(DEFAULT_DENIED_REGISTRIES))
    allowed_storage_classes: list[str] = Field(default_factory=lambda: ["ceph-rbd-ch"])
    allowed_provisioners: list[str] = Field(default_factory=lambda: ["rbd.csi.ceph.com"])
    internal_cidrs: list[str] = Field(default_factory=lambda: list(RFC1918))
    internal_domains: list[str] = Field(
        default_factory=lambda: [".svc", ".cluster.local", ".bank.internal"]
    )
    allowed_egress_cidrs: list[str] = Field(
        default_factory=list, description="egress destinations beyond DNS and the namespace"
    )
    exposed_paths: list[str] = Field(
        default_factory=lambda: [
            "/v1/chat/completions",
            "/v1/completions",
            "/v1/responses",
            "/v1/models",
        ]
    )
    min_replicas: int = Field(2, ge=1, description="OPS-001")
    model_load_budget_seconds: int = Field(1800, ge=1, description="OPS-004")
    log_retention_min_days: int = Field(365, ge=1, description="LOG-002, LOG-003 (DPO Art. 4(5))")
    scan_max_age_days: int = Field(30, ge=1, description="SUP-005")
    fail_on: str = Field("high", description="default --fail-on of check and deploy gates")
    # --- added with `swissai check` (issue 5) ---
    gpu_resource: str = Field("nvidia.com/gpu", description="OPS-003, OPS-001")
    environment: Literal["production", "staging", "test", "development"] = Field(
        "production", description="GOV-003 (approvals in production), GOV-008"
    )
    criticality: Literal["critical_function", "standard"] = Field(
        "standard", description="OPS-001, OPS-005 escalate to high for a critical function"
    )
    spread_across_sites: bool = Field(
        False, description="OPS-002: also require spreading replicas across zones/sites"
    )
    max_waiver_days: int = Field(
        90, ge=1, description="longest allowed waiver (created, or today without it, → expires)"
    )
    missing_evidence_severity: Severity = Field(
        "medium", description="severity of a rule whose human evidence is not declared yet"
    )
    severity_overrides: dict[str, Severity] = Field(
        default_factory=dict, description="rule id -> severity; raises, never lowers"
    )
    residency: Residency = Field(default_factory=Residency)
    inventory: Inventory | None = None
    approvals: Approval | None = None
    record_store: str | None = Field(None, description="GOV-004: deployment record store (CH)")
    documentation: dict[str, EvidenceRef] = Field(
        default_factory=dict,
        description="GOV-005: model_card, intended_use, limitations, explainability",
    )
    evaluation: EvidenceRef | None = Field(None, description="GOV-006: evaluation report")
    monitoring: EvidenceRef | None = Field(None, description="GOV-006: KPIs, drift, alert routes")
    privacy: Privacy = Field(default_factory=Privacy)
    bcm: Bcm | None = None
    images: list[ImageEvidence] = Field(default_factory=list)
    gateway: Gateway = Field(default_factory=Gateway)
    content_logging: ContentLogging = Field(default_factory=ContentLogging)
    attestations: Attestations = Field(default_factory=Attestations)
    model: ModelEvidence | None = None
    approved_sandbox: bool = Field(False, description="RES-010: code_interpreter sandbox approved")
    lora_approved: bool = Field(False, description="SEC-005: --enable-lora is approved")
    lora_runtime_loading_allowed: bool = Field(
        False,
        description="SEC-007: VLLM_ALLOW_RUNTIME_LORA_UPDATING (the /v1/load_lora_adapter and "
        "/v1/unload_lora_adapter endpoints) is explicitly allowed",
    )
