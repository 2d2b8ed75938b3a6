"""Shared inputs and helpers of the render tests (unit, golden, integration, cli)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from swissai.models.plan import ServePlan
from swissai.models.site import SiteProfile

DATA = Path(__file__).parent / "data" / "render"
PLAN_SINGLE = DATA / "plan-gpt-oss-120b.yaml"
PLAN_MULTI = DATA / "plan-deepseek-r1-2x8.yaml"
SITE = DATA / "site.yaml"
LWS_CRD = DATA / "leaderworkerset.x-k8s.io_leaderworkersets.yaml"


def load_plan(path: Path) -> ServePlan:
    return ServePlan.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))


def site_data() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(SITE.read_text(encoding="utf-8"))
    return data


def site(**overrides: Any) -> SiteProfile:
    """The test site profile with top-level sections replaced or merged (one level deep)."""
    data = site_data()
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return SiteProfile.model_validate(data)


def planned(gpus: str, **kwargs: Any) -> ServePlan:
    """A gpt-oss-120b plan from the planner itself (pure, fast): with `availability` filled."""
    from swissai.adapters.profiles import load_gpu, load_model
    from swissai.core.hardware import hardware_from_spec
    from swissai.core.planner import PlanRequest, make_plan

    hardware = hardware_from_spec(gpus, load_gpu)
    return make_plan(PlanRequest(model=load_model("gpt-oss-120b"), hardware=hardware, **kwargs))


def variants() -> dict[str, tuple[ServePlan, SiteProfile]]:
    """Plans x site profiles that together reach every template branch."""
    single, multi = load_plan(PLAN_SINGLE), load_plan(PLAN_MULTI)
    store = {
        "endpoint": "http://minio.models.svc:9000",
        "bucket": "models",
        "prefix": "gpt-oss-120b",
        "credentials_secret": "models-s3",
        "namespace": "models",
        "fetch_image": {
            "registry": "registry.bank.internal",
            "repository": "rclone/rclone",
            "digest": "sha256:" + "ab" * 32,
        },
    }
    return {
        "single": (single, site()),
        "multi": (multi, site()),
        "multi-rdma": (multi, site(security={"rdma": True, "rdma_networks": "roce-p2"})),
        "http-route": (single, site(exposure={"type": "http_route", "gateway_section": "https"})),
        "ingress-vllm-tls": (
            single,
            site(
                exposure={"type": "ingress", "ingress_class_name": "nginx-internal"},
                tls={"mode": "vllm", "cert_manager_issuer": "bank-ca"},
            ),
        ),
        "openshift-route": (
            single,
            site(
                security={"openshift": True},
                exposure={"type": "route"},
                monitoring={"enabled": False},
            ),
        ),
        "object-store": (
            single,
            site(storage={"source": "object_store", "object_store": store}),
        ),
        "pvc-created": (
            single,
            site(storage={"pvc": {"create": True, "claim_name": "weights"}}),
        ),
        # the default plan: 2 x TP4 on one 8-GPU node, preferred anti-affinity, minAvailable 1
        "two-replicas-one-node": (planned("8xh100-80gb"), site()),
        # 1 x TP4 with 4 idle GPUs: surge 1, maxUnavailable 0
        "one-replica-surge": (planned("8xh100-80gb", tp=4, replicas=1), site()),
    }


def pod_specs(obj: dict[str, Any]) -> Iterator[dict[str, Any]]:
    spec = obj.get("spec", {})
    if obj["kind"] == "Deployment":
        yield spec["template"]["spec"]
    elif obj["kind"] == "LeaderWorkerSet":
        template = spec["leaderWorkerTemplate"]
        yield template["leaderTemplate"]["spec"]
        yield template["workerTemplate"]["spec"]


def containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    return [*pod.get("initContainers", []), *pod["containers"]]


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}
