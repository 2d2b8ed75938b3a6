"""RenderValues: the typed values every template reads, and the Helm chart's values.yaml.

The Jinja templates of `swissai render` and the static Helm templates read
`values.model_dump(mode="json", by_alias=True)` (camelCase keys); the chart ships them as
files/layout.json (swissai.rendering.helm). The chart's values.yaml is the much smaller
`ChartValues` (what a release sets), and its `values.schema.json` is `chart_values_json_schema()`,
generated from that model, so Helm refuses a values override of the wrong type
(`replicas: "two"`) or an unknown key, naming it.

Structures that Kubernetes itself defines (probes, security contexts, volumes, affinity, env
entries, NetworkPolicy specs) are kept as the JSON the API reads (`K8s` below): the Kubernetes
schemas validate them in the tests (tests/integration/test_render_validators.py); the fields
swissai decides are typed and constrained here.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

K8s = dict[str, Any]  # a Kubernetes structure as the API reads it (JSON)
Labels = dict[str, str]
DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DIGEST_IMAGE = r"^[^\s@]+@sha256:[0-9a-f]{64}$"


class _Values(BaseModel):
    """Frozen, unknown keys refused, camelCase on the wire (the chart's keys)."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=True
    )


class VllmContainer(_Values):
    """The vLLM container of a single-node pod or of the leader of a multi-node group."""

    command: list[str] = Field(description="`vllm serve`, or the Ray leader script")
    args: list[str] = Field(description="the plan's vllm.args, model path replaced by the mount")
    env: list[K8s] = Field(description="container env entries (name/value or valueFrom)")
    port: int = Field(ge=1, le=65535, description="vLLM's HTTP port in the container")
    port_name: str = Field(description="name of the container and Service port")
    resources: K8s = Field(description="requests == limits: CPU, memory, GPUs, (RDMA)")
    volume_mounts: list[K8s]
    startup_probe: K8s = Field(description="GET /health, budget = max(2 x load time + 300 s, site)")
    readiness_probe: K8s
    liveness_probe: K8s
    pre_stop_sleep_seconds: int = Field(ge=0, description="drain delay before SIGTERM")


class WorkerContainer(_Values):
    """The container of a Ray worker pod (multi-node groups only); it serves no HTTP."""

    command: list[str]
    env: list[K8s] = Field(description="the leader's env without the API key")
    startup_probe: K8s = Field(description="`ray health-check` on the leader, leader's budget")
    liveness_probe: K8s
    ray_port: int = Field(ge=1, le=65535, description="the Ray head (GCS) port on the leader")


class Rollout(_Values):
    """Rolling update of the Deployment or LeaderWorkerSet (the plan's availability)."""

    max_surge: int = Field(ge=0, description="replicas started before old ones stop")
    max_unavailable: int = Field(ge=0, description="replicas stopped at once")


class Pdb(_Values):
    """The PodDisruptionBudget: one field, the plan's availability in the unit the object
    counts. Deployments: `minAvailable` = availability.min_available pods (one pod per
    replica). LeaderWorkerSets: `maxUnavailable` = replicas - min_available pods, because one
    pod down takes its whole group down (RecreateGroupOnPodRestart)."""

    field: Literal["minAvailable", "maxUnavailable"]
    value: int = Field(ge=0)


class Service(_Values):
    port: int = Field(ge=1, le=65535)
    port_name: str
    selector: Labels = Field(description="serving pods (leaders of multi-node groups)")


class NetworkPolicy(_Values):
    name: str = Field(pattern=DNS_LABEL)
    spec: K8s = Field(description="NetworkPolicy spec as the API reads it")


class Monitoring(_Values):
    enabled: bool
    service_monitor_labels: Labels = Field(description="labels Prometheus selects monitors by")
    interval: str
    scheme: Literal["http", "https"]
    dashboard: bool = Field(description="ship the Grafana dashboard ConfigMap")
    dashboard_labels: Labels
    dashboard_json: str = Field(description="the dashboard, empty when not shipped")


class Exposure(_Values):
    type: Literal["cluster_ip", "http_route", "ingress", "route"]
    host: str
    paths: list[str] = Field(description="the only paths routed to vLLM (NET-001)")
    gateway_name: str
    gateway_namespace: str
    gateway_section: str
    ingress_class_name: str
    ingress_annotations: Labels
    tls_secret_name: str
    backend_tls: bool = Field(description="vLLM serves HTTPS itself (tls.mode vllm)")


class Pvc(_Values):
    """The model volume's claim, when the site has swissai create it."""

    name: str = Field(pattern=DNS_LABEL)
    storage_class_name: str
    access_mode: str
    size: str


class RenderValues(_Values):
    """Everything the templates lay out, computed and validated by swissai.rendering.context."""

    name: str = Field(pattern=DNS_LABEL, description="workload name (all objects derive from it)")
    namespace: str = Field(pattern=DNS_LABEL)
    create_namespace: bool = Field(description="render the Namespace object")
    namespace_labels: Labels = Field(description="Pod Security admission labels (HRD-001)")
    labels: Labels = Field(description="on every object (GOV-001/002)")
    annotations: Labels = Field(description="on every object: owner, digests, image")
    pod_annotations: Labels
    selector_labels: Labels
    multi_node: bool = Field(description="a replica spans nodes: LeaderWorkerSet + Ray")
    replicas: int = Field(ge=1, description="serving replicas (= the plan's availability)")
    group_size: int = Field(ge=1, description="pods per replica (nodes_per_replica)")
    gpus_per_pod: int = Field(ge=0)
    image: str = Field(pattern=DIGEST_IMAGE, description="vLLM image, pinned by digest")
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"]
    image_pull_secrets: list[K8s]
    service_account_name: str = Field(pattern=DNS_LABEL)
    runtime_class_name: str
    termination_grace_period_seconds: int = Field(ge=0)
    progress_deadline_seconds: int = Field(ge=1)
    rollout: Rollout
    pod_security_context: K8s
    container_security_context: K8s
    node_selector: Labels
    affinity: K8s = Field(description="Swiss regions (required) and replica anti-affinity")
    tolerations: list[K8s]
    topology_spread_constraints: list[K8s]
    init_containers: list[K8s] = Field(description="(fetch-model), verify-model")
    volumes: list[K8s]
    vllm: VllmContainer
    worker: WorkerContainer
    scripts: Labels = Field(description="file name -> content of the scripts ConfigMap")
    service: Service
    pdb: Pdb
    network_policies: list[NetworkPolicy]
    monitoring: Monitoring
    exposure: Exposure
    pvc: Pvc | None = None

    def data(self) -> dict[str, Any]:
        """What templates and values.yaml see: JSON types, the chart's camelCase keys."""
        return self.model_dump(mode="json", by_alias=True)


def _without_titles(schema: Any) -> Any:
    """pydantic's generated titles ("Gatewayname") say nothing the key does not; descriptions
    stay. Property names are keys of `properties`, never keywords, so they are kept."""
    if isinstance(schema, list):
        return [_without_titles(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "title":
            continue
        if key in ("properties", "$defs"):
            out[key] = {name: _without_titles(sub) for name, sub in value.items()}
        else:
            out[key] = _without_titles(value)
    return out


# -- the Helm chart's values.yaml -----------------------------------------------------------------


class ChartNamespace(_Values):
    create: bool = Field(
        False, description="also create the release namespace with its Pod Security labels"
    )


class ChartTest(_Values):
    enabled: bool = Field(True, description="ship the `helm test` pod (smoke checks)")


class ChartValues(_Values):
    """The chart's values.yaml: what a platform team sets per release (Helm conventions);
    everything computed from the plan is in the chart's files/layout.json."""

    name_override: str = Field(
        "",
        pattern=r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?)?$",
        max_length=40,
        description="replaces the chart name in object names",
    )
    fullname_override: str = Field(
        "",
        pattern=r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?)?$",
        max_length=40,
        description="the full object name (default: Helm's fullname from the release)",
    )
    namespace: ChartNamespace = Field(default_factory=ChartNamespace)
    image: str = Field(
        pattern=DIGEST_IMAGE, description="vLLM image pinned by digest, for every container"
    )
    replicas: int = Field(ge=1, description="serving replicas (the plan's availability)")
    test: ChartTest = Field(default_factory=ChartTest)


def chart_values_json_schema(title: str) -> dict[str, Any]:
    """The chart's values.schema.json, from ChartValues (JSON Schema 2020-12). Helm checks
    values against it before rendering: an unknown key or a wrong type is refused by name."""
    schema = _without_titles(ChartValues.model_json_schema(by_alias=True, mode="serialization"))
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": title, **schema}
