"""SiteProfile (`swissai.yaml`): everything about the institution that is not the plan.

Written by `swissai init`, read by `render`, `check`, `deploy` with `--site`. Unknown keys are
errors with the key's path (Frozen forbids extras). Every value that lands in a manifest is
checked here against what Kubernetes accepts (names, label keys and values), so that a quote or a
newline in a profile is refused with its path instead of reaching a template.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, model_validator

from swissai.models.base import Frozen
from swissai.models.policy import CompliancePolicy

# Kubernetes syntax (k8s.io/apimachinery/pkg/util/validation).
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_QUALIFIED_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_HEX40 = re.compile(r"^[0-9a-f]{40}$")
_REGISTRY = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?(:[0-9]{1,5})?$")
_REPOSITORY = re.compile(r"^[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*$")
_SAFE_TEXT = re.compile(r"^[^\x00-\x1f\x7f]*$")

EXAMPLE_DIGEST = "sha256:" + "0" * 64
EXAMPLE_REVISION = "0" * 40
EXAMPLE_MANIFEST_SHA256 = "0" * 64


def dns_label(value: str) -> str:
    if len(value) > 63 or not _DNS_LABEL.match(value):
        raise ValueError(
            f"{value!r} is not a Kubernetes name (lower-case letters, digits and '-', "
            "at most 63 characters, starting and ending with a letter or digit)"
        )
    return value


def dns_subdomain(value: str) -> str:
    if len(value) > 253 or not _DNS_SUBDOMAIN.match(value):
        raise ValueError(f"{value!r} is not a DNS name (lower-case letters, digits, '-' and '.')")
    return value


def label_key(value: str) -> str:
    prefix, _, name = value.rpartition("/")
    if (prefix and (len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix))) or (
        len(name) > 63 or not _QUALIFIED_NAME.match(name)
    ):
        raise ValueError(f"{value!r} is not a Kubernetes label key ([prefix/]name)")
    return value


def label_value(value: str) -> str:
    if value and (len(value) > 63 or not _QUALIFIED_NAME.match(value)):
        raise ValueError(
            f"{value!r} is not a Kubernetes label value (letters, digits, '-', '_', '.', "
            "at most 63 characters, starting and ending with a letter or digit)"
        )
    return value


def safe_text(value: str) -> str:
    if not _SAFE_TEXT.match(value):
        raise ValueError(f"{value!r} contains a control character (newline, tab, ...)")
    return value


def _labels(value: dict[str, str]) -> dict[str, str]:
    for key, item in value.items():
        label_key(key)
        label_value(item)
    return value


def _pattern(regex: re.Pattern[str], what: str) -> AfterValidator:
    def check(value: str) -> str:
        if not regex.match(value):
            raise ValueError(f"{value!r} is not {what}")
        return value

    return AfterValidator(check)


Name = Annotated[str, AfterValidator(dns_label)]
Subdomain = Annotated[str, AfterValidator(dns_subdomain)]
LabelKey = Annotated[str, AfterValidator(label_key)]
LabelValue = Annotated[str, AfterValidator(label_value)]
Labels = Annotated[dict[str, str], AfterValidator(_labels)]
Text = Annotated[str, AfterValidator(safe_text)]
Digest = Annotated[str, _pattern(_DIGEST, "an image digest 'sha256:' + 64 lower-case hex")]
Sha256Hex = Annotated[str, _pattern(_HEX64, "a sha256 of 64 lower-case hex characters")]
Revision = Annotated[str, _pattern(_HEX40, "a 40-character commit id (not a branch like main)")]
Registry = Annotated[str, _pattern(_REGISTRY, "a registry host[:port]")]
Repository = Annotated[str, _pattern(_REPOSITORY, "an image repository path")]


class Image(Frozen):
    """A container image from an internal registry, pinned by digest (RES-009, SUP-001)."""

    registry: Registry = Field("registry.bank.internal", description="internal registry host")
    repository: Repository = Field("vllm/vllm-openai", description="path inside the registry")
    tag: LabelValue | None = Field(
        "v0.33.0", description="informative only (annotation); the digest decides what runs"
    )
    digest: Digest = Field(EXAMPLE_DIGEST, description="sha256 digest of the image manifest")
    pull_policy: Literal["IfNotPresent", "Always"] = "IfNotPresent"
    pull_secret: Name | None = Field(None, description="imagePullSecret for the registry")

    @property
    def reference(self) -> str:
        return f"{self.registry}/{self.repository}@{self.digest}"


class Placement(Frozen):
    """Where pods may run: Swiss regions (required node affinity, RES-002) and zones (OPS-002)."""

    region_label: LabelKey = Field(
        "topology.kubernetes.io/region",
        description="node label naming the region; must equal compliance.location_label_key",
    )
    regions: list[LabelValue] = Field(
        default_factory=lambda: ["ch-zh1", "ch-be1"],
        min_length=1,
        description="allowed regions; each must be in compliance.allowed_locations",
    )
    zone_label: LabelKey = "topology.kubernetes.io/zone"
    zones: list[LabelValue] = Field(
        default_factory=list, description="optional: restrict to these zones as well"
    )
    zone_spread: Literal["preferred", "required"] = Field(
        "preferred", description="spread replicas across zones: required = DoNotSchedule"
    )


class Toleration(Frozen):
    key: LabelKey
    operator: Literal["Exists", "Equal"] = "Exists"
    value: LabelValue | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None


class GpuScheduling(Frozen):
    resource_name: LabelKey = Field("nvidia.com/gpu", description="extended resource of the GPU")
    node_selector: Labels = Field(default_factory=lambda: {"nvidia.com/gpu.present": "true"})
    product_label: LabelKey = "nvidia.com/gpu.product"
    products: list[LabelValue] = Field(
        default_factory=list,
        description="GPU Feature Discovery product names the plan was made for, "
        "e.g. NVIDIA-H100-80GB-HBM3; empty = any GPU node",
    )
    tolerations: list[Toleration] = Field(
        default_factory=lambda: [
            Toleration(key="nvidia.com/gpu", operator="Exists", effect="NoSchedule")
        ]
    )
    runtime_class_name: Name | None = Field(None, description="e.g. nvidia, if the cluster has it")


class PvcSource(Frozen):
    claim_name: Name = Field("swissai-models", description="pre-populated claim with the weights")
    create: bool = Field(False, description="also render the PersistentVolumeClaim")
    size: Text = "500Gi"
    access_mode: Literal["ReadOnlyMany", "ReadWriteMany"] = "ReadOnlyMany"


class ObjectStoreSource(Frozen):
    """An in-cluster S3-compatible store; weights are fetched into a per-pod ephemeral volume."""

    endpoint: Text = Field(description="http(s)://host[:port] inside the cluster or institution")
    bucket: Name
    prefix: Text = ""
    credentials_secret: Name = Field(
        description="Secret with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
    )
    fetch_image: Image = Field(description="an rclone image from the internal registry")
    namespace: Name = Field(description="namespace of the store (egress NetworkPolicy)")
    port: int = Field(9000, ge=1, le=65535)
    size: Text = Field("500Gi", description="ephemeral volume size for the fetched weights")


class ModelStorage(Frozen):
    source: Literal["pvc", "object_store"] = Field(
        "pvc", description="never a public hub (RES-005)"
    )
    storage_class: Subdomain = Field(
        "ceph-rbd-ch",
        description="for claims swissai renders; in compliance.allowed_storage_classes",
    )
    pvc: PvcSource = PvcSource()
    object_store: ObjectStoreSource | None = None


class ModelFiles(Frozen):
    """The model directory, its pinned revision and its sha256 manifest (SUP-003)."""

    path: Text | None = Field(
        None, description="directory inside the volume; default: the plan's model id"
    )
    revision: Revision = Field(EXAMPLE_REVISION, description="40-hex commit of the weights")
    manifest_file: Text = Field(
        "SHA256SUMS", description="written by `swissai model manifest`, inside the model dir"
    )
    manifest_sha256: Sha256Hex = Field(
        EXAMPLE_MANIFEST_SHA256, description="sha256 of the manifest file itself"
    )
    # = swissai.core.encodings.ENCODINGS_SUBDIR (models import no core; a test keeps them equal)
    tiktoken_dir: Text = Field(
        "encodings",
        description="gpt-oss: folder of the o200k_base/cl100k_base encodings inside the model "
        "dir (the one location swissai serve, model verify and RES-007 use)",
    )


class LoraAdapterFiles(Frozen):
    """One LoRA adapter on the model volume, pinned like the weights (SUP-003, SEC-007)."""

    name: Name = Field(description="the model name clients request the adapter by")
    path: Text = Field(description="directory inside the model volume, e.g. adapters/legal-de")
    manifest_file: Text = Field("SHA256SUMS", description="`swissai model manifest` output")
    manifest_sha256: Sha256Hex = Field(description="sha256 of the adapter's manifest file")


class LoraFiles(Frozen):
    """LoRA adapters served next to the base model (plan --lora, docs/lora.md)."""

    adapters: list[LoraAdapterFiles] = Field(default_factory=list)


class Tls(Frozen):
    mode: Literal["gateway", "vllm"] = Field(
        "gateway",
        description="gateway: TLS ends at the gateway, a mesh protects the internal hop; "
        "vllm: vLLM serves HTTPS itself from secret_name (SEC-001)",
    )
    secret_name: Name | None = Field("swissai-tls", description="kubernetes.io/tls Secret")
    cert_manager_issuer: Name | None = Field(
        None, description="cert-manager issuer that fills secret_name (Ingress annotation)"
    )
    cert_manager_issuer_kind: Literal["ClusterIssuer", "Issuer"] = "ClusterIssuer"


# The namespace label OpenShift puts on the router's namespace (NetworkPolicy peers for Routes).
OPENSHIFT_INGRESS_LABEL = ("network.openshift.io/policy-group", "ingress")


class Peers(Frozen):
    """NetworkPolicy peers: pods with pod_labels in namespaces with namespace_labels."""

    namespace_labels: Labels
    pod_labels: Labels = Field(default_factory=dict)


class Exposure(Frozen):
    type: Literal["cluster_ip", "http_route", "ingress", "route"] = Field(
        "cluster_ip",
        description="cluster_ip behind the gateway, Gateway API, Ingress or OpenShift Route",
    )
    host: Subdomain = "llm.bank.internal"
    gateway_name: Name = "bank-gateway"
    gateway_namespace: Name = "gateway"
    gateway_section: Name | None = Field(None, description="listener (sectionName) for HTTPRoute")
    ingress_class_name: Name | None = None
    clients: Peers = Field(
        default_factory=lambda: Peers(
            namespace_labels={"kubernetes.io/metadata.name": "gateway"}, pod_labels={}
        ),
        description="who may reach the API port: the gateway's pods; for type route the "
        "default is the OpenShift router (namespaces labelled "
        f"{OPENSHIFT_INGRESS_LABEL[0]}={OPENSHIFT_INGRESS_LABEL[1]})",
    )

    @model_validator(mode="before")
    @classmethod
    def _route_clients(cls, data: Any) -> Any:
        """An OpenShift Route is served by the router pods in the namespace(s) labelled
        `network.openshift.io/policy-group: ingress`, not by a `gateway` namespace: without
        this default the allow-gateway NetworkPolicy would block every request."""
        if isinstance(data, dict) and data.get("type") == "route" and data.get("clients") is None:
            key, value = OPENSHIFT_INGRESS_LABEL
            return {**data, "clients": {"namespace_labels": {key: value}, "pod_labels": {}}}
        return data


class ApiKey(Frozen):
    secret_name: Name = Field("swissai-vllm-api-key", description="created by the platform team")
    secret_key: LabelKey = "api-key"


class Monitoring(Frozen):
    enabled: bool = True
    prometheus: Peers = Field(
        default_factory=lambda: Peers(
            namespace_labels={"kubernetes.io/metadata.name": "monitoring"},
            pod_labels={"app.kubernetes.io/name": "prometheus"},
        )
    )
    service_monitor_labels: Labels = Field(
        default_factory=dict, description="labels your Prometheus selects ServiceMonitors by"
    )
    interval: Annotated[str, _pattern(re.compile(r"^[0-9]+(s|m)$"), "a duration like 30s")] = "30s"
    grafana_dashboard: bool = True
    dashboard_labels: Labels = Field(default_factory=lambda: {"grafana_dashboard": "1"})


class Dns(Frozen):
    peers: Peers = Field(
        default_factory=lambda: Peers(
            namespace_labels={"kubernetes.io/metadata.name": "kube-system"},
            pod_labels={"k8s-app": "kube-dns"},
        )
    )
    ports: list[int] = Field(default_factory=lambda: [53], min_length=1)


class Security(Frozen):
    openshift: bool = Field(
        False, description="restricted-v2 SCC: no fixed runAsUser/fsGroup, any UID works"
    )
    run_as_user: int | None = Field(10001, ge=1, description="ignored on OpenShift")
    run_as_group: int | None = Field(10001, ge=1)
    fs_group: int | None = Field(10001, ge=1)
    pod_security_version: Annotated[
        str, _pattern(re.compile(r"^(latest|v1\.[0-9]+)$"), "latest or v1.N")
    ] = "latest"
    rdma: bool = Field(
        False,
        description="multi-node over RDMA/InfiniBand: adds IPC_LOCK and the RDMA resource, "
        "which Pod Security restricted forbids (namespace becomes privileged; needs a waiver)",
    )
    rdma_resource: LabelKey = "rdma/rdma_shared_device_a"
    rdma_networks: Text | None = Field(None, description="k8s.v1.cni.cncf.io/networks annotation")


class Resources(Frozen):
    cpu_per_gpu: int = Field(8, ge=1)
    memory_overhead_gib_per_gpu: int = Field(
        4, ge=0, description="host RAM per GPU worker process beyond weights and /dev/shm"
    )
    home_size_gib: int = Field(20, ge=1, description="writable HOME with vLLM/Triton caches")
    tmp_size_gib: int = Field(4, ge=1)


class Governance(Frozen):
    owner: Text = Field("ai-platform@bank.internal", description="accountable owner (GOV-003)")
    cost_centre: LabelValue = "CC-0000"
    inventory_id: LabelValue = Field("AI-0000", description="AI application inventory id")
    environment: Literal["production", "staging", "development", "test"] = "production"


class SiteProfile(Frozen):
    apiVersion: Literal["swissai/v1alpha1"] = "swissai/v1alpha1"
    kind: Literal["SiteProfile"] = "SiteProfile"
    namespace: Name = "swissai-llm"
    name: Name | None = Field(None, description="workload name; default: from the model id")
    image: Image = Image()
    placement: Placement = Placement()
    gpu: GpuScheduling = GpuScheduling()
    storage: ModelStorage = ModelStorage()
    model: ModelFiles = ModelFiles()
    lora: LoraFiles = LoraFiles()
    tls: Tls = Tls()
    exposure: Exposure = Exposure()
    api_key: ApiKey = ApiKey()
    monitoring: Monitoring = Monitoring()
    dns: Dns = Dns()
    security: Security = Security()
    resources: Resources = Resources()
    governance: Governance = Governance()
    compliance: CompliancePolicy = CompliancePolicy()

    @model_validator(mode="after")
    def _consistent(self) -> SiteProfile:
        policy = self.compliance
        if self.namespace == "default":
            raise ValueError("namespace: 'default' is not allowed (GOV-008); choose your own")
        if self.image.registry not in policy.allowed_registries:
            raise ValueError(
                f"image.registry: {self.image.registry} is not in compliance.allowed_registries"
            )
        if self.placement.region_label != policy.location_label_key:
            raise ValueError(
                "placement.region_label must equal compliance.location_label_key "
                f"({policy.location_label_key})"
            )
        outside = [r for r in self.placement.regions if r not in policy.allowed_locations]
        if outside:
            raise ValueError(
                f"placement.regions: {', '.join(outside)} not in compliance.allowed_locations"
            )
        if self.storage.storage_class not in policy.allowed_storage_classes:
            raise ValueError(
                f"storage.storage_class: {self.storage.storage_class} is not in "
                "compliance.allowed_storage_classes"
            )
        if self.storage.source == "object_store":
            store = self.storage.object_store
            if store is None:
                raise ValueError(
                    "storage.object_store: required when storage.source is object_store"
                )
            if store.fetch_image.registry not in policy.allowed_registries:
                raise ValueError(
                    "storage.object_store.fetch_image.registry: not in "
                    "compliance.allowed_registries"
                )
            parts = urlsplit(store.endpoint)
            host = parts.hostname or ""
            if parts.scheme not in ("http", "https") or not host:
                raise ValueError("storage.object_store.endpoint: use http(s)://host[:port]")
            if not any(host.endswith(d) or host == d.lstrip(".") for d in policy.internal_domains):
                raise ValueError(
                    f"storage.object_store.endpoint: {host} is not in compliance.internal_domains "
                    "(never a public hub or cloud store, RES-005)"
                )
        # Keys the check engine reads from the policy must agree with what render uses.
        for policy_key, site_key, value in (
            ("gpu_resource", "gpu.resource_name", self.gpu.resource_name),
            ("environment", "governance.environment", self.governance.environment),
        ):
            expected = getattr(policy, policy_key, value)
            if expected != value:
                raise ValueError(
                    f"{site_key} ({value}) must equal compliance.{policy_key} ({expected})"
                )
        if self.tls.mode == "vllm" and self.tls.secret_name is None:
            raise ValueError("tls.secret_name: required when tls.mode is vllm")
        if self.exposure.type == "ingress" and self.tls.secret_name is None:
            raise ValueError("tls.secret_name: required for exposure.type ingress (SEC-001)")
        path = self.model.path
        if path is not None and (path.startswith("/") or ".." in path.split("/") or not path):
            raise ValueError("model.path: a relative directory inside the volume, without '..'")
        return self

    def placeholders(self) -> list[str]:
        """Example values `swissai init` writes that must be replaced before production."""
        found = []
        if self.image.digest == EXAMPLE_DIGEST:
            found.append("image.digest")
        if self.model.revision == EXAMPLE_REVISION:
            found.append("model.revision")
        if self.model.manifest_sha256 == EXAMPLE_MANIFEST_SHA256:
            found.append("model.manifest_sha256")
        return found
