"""Golden files of `swissai render` (single node, multi node, Helm chart) and the invariants
that a careless golden update must not be able to accept."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import pytest
from render_support import PLAN_MULTI, PLAN_SINGLE, containers, env_of, load_plan, pod_specs, site
from render_support import variants as all_variants

from swissai.core.vllm_args import OFFLINE_ENV
from swissai.rendering.helm import chart_files
from swissai.rendering.manifests import render

GOLDEN = Path(__file__).parent / "data" / "render"
CASES = {"single": PLAN_SINGLE, "multi": PLAN_MULTI}


def _compare(folder: Path, files: dict[str, str], update: bool) -> None:
    if update:
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.rglob("*"):
            if stale.is_file() and stale.relative_to(folder).as_posix() not in files:
                stale.unlink()
        for name, text in files.items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_text(text, encoding="utf-8")
        return
    present = (
        sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
        if folder.is_dir()
        else []
    )
    assert present == sorted(files), f"golden files in {folder} differ; run --update-goldens"
    for name, text in files.items():
        expected = (folder / name).read_text(encoding="utf-8")
        if expected != text:
            diff = "".join(
                difflib.unified_diff(
                    expected.splitlines(True), text.splitlines(True), f"golden/{name}", "rendered"
                )
            )
            pytest.fail(f"{name} differs from its golden file (--update-goldens):\n{diff}")


@pytest.mark.parametrize("case", sorted(CASES))
def test_manifests_match_goldens(case: str, update_goldens: bool) -> None:
    rendered = render(load_plan(CASES[case]), site())
    _compare(GOLDEN / case, rendered.files(), update_goldens)


def test_helm_chart_matches_goldens(update_goldens: bool) -> None:
    plan = load_plan(PLAN_SINGLE)
    from swissai.rendering.context import build_context

    profile = site()
    _compare(
        GOLDEN / "helm", chart_files(build_context(plan, profile), plan, profile), update_goldens
    )


def test_rollout_follows_the_plans_availability(rendered: Any) -> None:
    from swissai.core.availability import derive_availability

    plan, objects = rendered
    availability = derive_availability(plan)
    (workload,) = _workloads(objects)
    if workload["kind"] == "Deployment":
        strategy = workload["spec"]["strategy"]["rollingUpdate"]
    else:
        strategy = workload["spec"]["rolloutStrategy"]["rollingUpdateConfiguration"]
    assert strategy == {
        "maxSurge": availability.max_surge,
        "maxUnavailable": availability.max_unavailable,
    }
    assert workload["spec"]["replicas"] == availability.replicas


# -- invariants, over every variant --------------------------------------------------------------

VARIANTS = all_variants()


@pytest.fixture(params=sorted(VARIANTS), scope="module")
def rendered(request: pytest.FixtureRequest) -> tuple[Any, list[dict[str, Any]]]:
    plan, profile = VARIANTS[request.param]
    return plan, render(plan, profile).objects


def _workloads(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found = [o for o in objects if o["kind"] in ("Deployment", "LeaderWorkerSet")]
    assert len(found) == 1
    return found


def test_gpu_requests_equal_limits_and_the_layout(rendered: Any) -> None:
    plan, objects = rendered
    layout = plan.layout
    (workload,) = _workloads(objects)
    pods = list(pod_specs(workload))
    assert len(pods) == (2 if layout.nodes_per_replica > 1 else 1)
    for pod in pods:
        (vllm,) = pod["containers"]
        requests, limits = vllm["resources"]["requests"], vllm["resources"]["limits"]
        assert requests == limits
        gpus = int(requests["nvidia.com/gpu"])
        assert gpus * layout.nodes_per_replica == layout.gpus_per_replica
        assert gpus * layout.nodes_per_replica == (
            layout.tensor_parallel_size * layout.pipeline_parallel_size * layout.data_parallel_size
        )
        assert "cpu" in requests and "memory" in requests
        for init in pod["initContainers"]:
            assert "nvidia.com/gpu" not in init["resources"]["limits"]
    if workload["kind"] == "Deployment":
        assert workload["spec"]["replicas"] == layout.replicas
    else:
        assert workload["spec"]["leaderWorkerTemplate"]["size"] == layout.nodes_per_replica


def test_shm_is_memory_backed_sized_and_counted_in_memory(rendered: Any) -> None:
    _, objects = rendered
    for pod in pod_specs(_workloads(objects)[0]):
        (shm,) = [v for v in pod["volumes"] if v["name"] == "dshm"]
        assert shm["emptyDir"]["medium"] == "Memory"
        shm_gib = int(shm["emptyDir"]["sizeLimit"].removesuffix("Gi"))
        memory_gib = int(pod["containers"][0]["resources"]["limits"]["memory"].removesuffix("Gi"))
        assert memory_gib > shm_gib >= 1


def test_no_privilege_and_every_container_restricted(rendered: Any) -> None:
    _, objects = rendered
    for pod in pod_specs(_workloads(objects)[0]):
        for key in ("hostNetwork", "hostPID", "hostIPC"):
            assert not pod.get(key)
        assert pod["automountServiceAccountToken"] is False
        assert pod["enableServiceLinks"] is False
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert pod["securityContext"].get("runAsUser", 10000) >= 10000
        assert all("hostPath" not in v for v in pod["volumes"])
        for container in containers(pod):
            sc = container["securityContext"]
            assert sc["privileged"] is False
            assert sc["allowPrivilegeEscalation"] is False
            assert sc["readOnlyRootFilesystem"] is True
            assert sc["runAsNonRoot"] is True
            assert sc["capabilities"]["drop"] == ["ALL"]
            assert set(sc["capabilities"].get("add", [])) <= {"IPC_LOCK"}
            assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
            assert not any("hostPort" in p for p in container.get("ports", []))
            assert "@sha256:" in container["image"]


def test_capabilities_only_with_the_rdma_waiver(rendered: Any) -> None:
    plan, objects = rendered
    (namespace,) = [o for o in objects if o["kind"] == "Namespace"]
    labels = namespace["metadata"]["labels"]
    added = [
        c["securityContext"]["capabilities"].get("add")
        for pod in pod_specs(_workloads(objects)[0])
        for c in containers(pod)
    ]
    if any(added):
        assert labels["pod-security.kubernetes.io/enforce"] == "privileged"
        assert "swissai.io/pod-security-exception" in namespace["metadata"]["annotations"]
        assert plan.layout.nodes_per_replica > 1
    else:
        assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert labels["pod-security.kubernetes.io/warn"] == "restricted"


def test_writable_paths_are_volumes_and_models_read_only(rendered: Any) -> None:
    _, objects = rendered
    for pod in pod_specs(_workloads(objects)[0]):
        vllm = pod["containers"][0]
        mounts = {m["mountPath"]: m for m in vllm["volumeMounts"]}
        env = env_of(vllm)
        for path in ("/tmp", "/dev/shm", env["HOME"]):
            assert path in mounts and not mounts[path].get("readOnly")
        for key in ("HF_HOME", "VLLM_CACHE_ROOT", "TRITON_CACHE_DIR", "TORCHINDUCTOR_CACHE_DIR"):
            assert env[key].startswith(env["HOME"] + "/")
        assert mounts["/models"]["readOnly"] is True


def test_offline_and_telemetry_env_exact_and_key_from_secret(rendered: Any) -> None:
    plan, objects = rendered
    for pod in pod_specs(_workloads(objects)[0]):
        vllm = pod["containers"][0]
        env = env_of(vllm)
        for name, value in OFFLINE_ENV.items():
            assert env[name] == value
        assert env["VLLM_NO_USAGE_STATS"] == "1" and env["DO_NOT_TRACK"] == "1"
        assert env["VLLM_DO_NOT_TRACK"] == "1"
        args = vllm.get("args", [])
        assert "--trust-remote-code" not in args and "--api-key" not in args
        assert not any(a.startswith("--trust-remote-code") for a in args)
        if "args" in vllm:
            assert env["VLLM_API_KEY"] == {
                "secretKeyRef": {"name": "swissai-vllm-api-key", "key": "api-key"}
            }
            model = args[args.index("--model") + 1]
            assert model.startswith("/models/")
        if "gpt-oss" in plan.model.id:
            assert env["TIKTOKEN_ENCODINGS_BASE"].startswith("/models/")
            assert env["TIKTOKEN_RS_CACHE_DIR"] == env["TIKTOKEN_ENCODINGS_BASE"]


def test_model_is_verified_before_vllm(rendered: Any) -> None:
    plan, objects = rendered
    for pod in pod_specs(_workloads(objects)[0]):
        verify = pod["initContainers"][-1]
        assert verify["name"] == "verify-model"
        env = env_of(verify)
        assert len(env["MANIFEST_SHA256"]) == 64
        if "gpt-oss" in plan.model.id:
            assert "o200k_base.tiktoken=446a9538" in env["REQUIRED_FILES"]


def test_probes_and_draining(rendered: Any) -> None:
    plan, objects = rendered
    (workload,) = _workloads(objects)
    leader = next(pod_specs(workload))
    vllm = leader["containers"][0]
    startup = vllm["startupProbe"]
    assert startup["httpGet"]["path"] == "/health"
    assert startup["periodSeconds"] * startup["failureThreshold"] >= max(
        1800, 2 * plan.estimates.load_time_s
    )
    for probe in ("readinessProbe", "livenessProbe"):
        assert vllm[probe]["httpGet"]["path"] == "/health"
    assert vllm["livenessProbe"]["failureThreshold"] > 1
    pre_stop = vllm["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert leader["terminationGracePeriodSeconds"] > pre_stop


def test_every_object_is_labelled_and_annotated(rendered: Any) -> None:
    plan, objects = rendered
    for obj in objects:
        meta = obj["metadata"]
        labels, notes = meta["labels"], meta["annotations"]
        assert labels["app.kubernetes.io/managed-by"] == "swissai"
        assert labels["swissai.io/model"] == plan.model.id
        assert len(labels["swissai.io/model-revision"]) == 40
        assert len(labels["swissai.io/plan-hash"]) == 16
        assert labels["swissai.io/inventory-id"] == "AI-2026-017"
        assert labels["swissai.io/version"]
        assert notes["swissai.io/owner"] == "Jane Muster <jane.muster@bank.ch>"
        assert notes["swissai.io/plan-digest"].startswith(
            "sha256:" + labels["swissai.io/plan-hash"]
        )
        if obj["kind"] != "Namespace":
            assert meta["namespace"] == "llm-prod"
    for workload in _workloads(objects):
        templates = (
            [workload["spec"]["template"]]
            if workload["kind"] == "Deployment"
            else [
                workload["spec"]["leaderWorkerTemplate"]["leaderTemplate"],
                workload["spec"]["leaderWorkerTemplate"]["workerTemplate"],
            ]
        )
        for template in templates:
            assert template["metadata"]["labels"]["swissai.io/model"] == plan.model.id


def test_network_is_default_deny_with_named_exceptions(rendered: Any) -> None:
    plan, objects = rendered
    policies = {o["metadata"]["name"]: o["spec"] for o in objects if o["kind"] == "NetworkPolicy"}
    name = next(o for o in objects if o["kind"] == "Service")["metadata"]["name"]
    deny = policies[f"{name}-default-deny"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    for spec in policies.values():
        for rule in spec.get("ingress", []) + spec.get("egress", []):
            peers = rule.get("from", rule.get("to"))
            assert peers, "an empty rule would allow everything"
            assert all("ipBlock" not in p for p in peers)
    assert (f"{name}-allow-group" in policies) == (plan.layout.nodes_per_replica > 1)
    (service,) = [o for o in objects if o["kind"] == "Service"]
    assert service["spec"]["type"] == "ClusterIP"


def test_swiss_placement_and_spread(rendered: Any) -> None:
    _, objects = rendered
    for pod in pod_specs(_workloads(objects)[0]):
        terms = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        expressions = terms["nodeSelectorTerms"][0]["matchExpressions"]
        region = next(e for e in expressions if e["key"] == "topology.kubernetes.io/region")
        assert region["operator"] == "In" and set(region["values"]) <= {"ch-zh1", "ch-be1"}
        anti = pod["affinity"]["podAntiAffinity"]
        terms = anti.get("requiredDuringSchedulingIgnoredDuringExecution") or [
            t["podAffinityTerm"] for t in anti["preferredDuringSchedulingIgnoredDuringExecution"]
        ]
        assert terms[0]["topologyKey"] == "kubernetes.io/hostname"
    leader = next(pod_specs(_workloads(objects)[0]))
    assert leader["topologySpreadConstraints"][0]["topologyKey"] == "topology.kubernetes.io/zone"


def test_pdb_allows_one_disruption(rendered: Any) -> None:
    _, objects = rendered
    (pdb,) = [o for o in objects if o["kind"] == "PodDisruptionBudget"]
    (workload,) = _workloads(objects)
    replicas = workload["spec"]["replicas"]
    if workload["kind"] == "Deployment":
        # one pod per replica: all but one keep serving through a drain, and a drain never blocks
        assert pdb["spec"] == {**pdb["spec"], "minAvailable": replicas - 1}
    else:
        # one pod down takes its group down: one pod at a time is one replica at a time
        assert pdb["spec"]["maxUnavailable"] == 1
    assert ("minAvailable" in pdb["spec"]) != ("maxUnavailable" in pdb["spec"])


def test_exposure_routes_only_the_allowed_paths(rendered: Any) -> None:
    _, objects = rendered
    allowed = {"/v1/chat/completions", "/v1/completions", "/v1/responses", "/v1/models"}
    for obj in objects:
        if obj["kind"] == "HTTPRoute":
            paths = {m["path"]["value"] for r in obj["spec"]["rules"] for m in r["matches"]}
            assert paths == allowed
        elif obj["kind"] == "Ingress":
            paths = {p["path"] for r in obj["spec"]["rules"] for p in r["http"]["paths"]}
            assert paths == allowed and obj["spec"]["tls"][0]["secretName"]
        elif obj["kind"] == "Route":
            assert obj["spec"]["path"] in allowed and obj["spec"]["tls"]["termination"]


def test_monitoring_objects_follow_the_site() -> None:
    plan = load_plan(PLAN_SINGLE)
    kinds_on = {o["kind"] for o in render(plan, site()).objects}
    kinds_off = {o["kind"] for o in render(plan, site(monitoring={"enabled": False})).objects}
    assert "ServiceMonitor" in kinds_on and "ServiceMonitor" not in kinds_off


def test_chart_helpers_replace_the_sentinels_of_the_layout() -> None:
    """files/layout.json spells the release's name, namespace and image as sentinels; the
    static helper must replace exactly those strings (a renamed sentinel would leak into
    every object)."""
    from swissai.rendering.helm import IMAGE_SENTINEL, NAME_SENTINEL, NAMESPACE_SENTINEL
    from swissai.resources import templates_dir

    helpers = (templates_dir() / "helm" / "templates" / "_helpers.tpl").read_text()
    for sentinel in (IMAGE_SENTINEL, NAME_SENTINEL, NAMESPACE_SENTINEL):
        assert f'replace "{sentinel}"' in helpers
    layout = (GOLDEN / "helm" / "files" / "layout.json").read_text()
    assert NAME_SENTINEL in layout and NAMESPACE_SENTINEL in layout and IMAGE_SENTINEL in layout
    assert "llm-prod" not in layout  # the site's namespace only through the release
