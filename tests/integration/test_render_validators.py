"""Rendered objects against real validators: Kubernetes schemas (kubernetes-validate, oldest and
newest supported versions), the LeaderWorkerSet CRD, Helm v4 (render + lint via helm-python-sdk)
and checkov (`--framework kubernetes`, offline)."""

from __future__ import annotations

import json
import os
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from render_support import LWS_CRD, PLAN_SINGLE, load_plan, pod_specs, site, variants

from swissai.adapters.tracked_files import write_tracked
from swissai.rendering.context import build_context
from swissai.rendering.helm import chart
from swissai.rendering.manifests import render

K8S_VERSIONS = ("1.30.0", "1.37.0")  # oldest supported, newest in kubernetes-validate
CORE_GROUPS = ("v1", "apps/v1", "policy/v1", "networking.k8s.io/v1")
REPO = Path(__file__).resolve().parents[2]
CHECKOV = REPO / ".venv-checkov" / "bin" / "checkov"
DOCS_SECURITY = REPO / "docs" / "security.md"
VARIANTS = variants()


def write_chart(plan: Any, profile: Any, out: Path) -> None:
    write_tracked(out, chart(build_context(plan, profile), plan, profile))


@cache
def _rendered(name: str) -> list[dict[str, Any]]:
    plan, profile = VARIANTS[name]
    return render(plan, profile).objects


def _strict(schema: Any) -> Any:
    """The CRD schema with unknown fields forbidden (the API server would prune them silently)."""
    if isinstance(schema, dict):
        out = {k: _strict(v) for k, v in schema.items()}
        if (
            "properties" in out
            and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")
        ):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    return schema


@cache
def _lws_validator() -> Any:
    import jsonschema

    crd = next(d for d in yaml.safe_load_all(LWS_CRD.read_text(encoding="utf-8")) if d)
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    # Draft 4 is the dialect of Kubernetes' structural schemas; built once (the CRD is 1.3 MB).
    return jsonschema.Draft4Validator(_strict(version["schema"]["openAPIV3Schema"]))


@pytest.mark.parametrize("name", sorted(VARIANTS))
@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_core_objects_validate_strictly(name: str, version: str) -> None:
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    checked = 0
    for obj in _rendered(name):
        if obj["apiVersion"] in CORE_GROUPS:
            kubernetes_validate.validate(obj, version, strict=True)
            checked += 1
    assert checked >= 9


def test_the_validator_rejects_what_it_should() -> None:
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    deployment = next(o for o in _rendered("single") if o["kind"] == "Deployment")
    broken = json.loads(json.dumps(deployment))
    broken["spec"]["template"]["spec"]["containers"][0]["securityContex"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSIONS[0], strict=True)


@pytest.mark.parametrize("name", ["multi", "multi-rdma"])
def test_leaderworkerset_validates_against_its_crd(name: str) -> None:
    (lws,) = [o for o in _rendered(name) if o["kind"] == "LeaderWorkerSet"]
    validator = _lws_validator()
    assert list(validator.iter_errors(lws)) == []
    broken = json.loads(json.dumps(lws))
    broken["spec"]["leaderWorkerTemplate"]["sise"] = 2
    broken["spec"]["replicas"] = "one"
    assert len(list(validator.iter_errors(broken))) == 2


def _helm_objects(manifests: dict[str, str], tests: bool = False) -> list[dict[str, Any]]:
    """The objects of a Helm render: NOTES.txt is text, `helm test` hooks only with `tests`."""
    objects = []
    for path, text in sorted(manifests.items()):
        if path.endswith("NOTES.txt") or ("/templates/tests/" in path and not tests):
            continue
        objects += [doc for doc in yaml.safe_load_all(text) if doc]
    return objects


def _key(obj: dict[str, Any]) -> tuple[str, str]:
    return obj["kind"], obj["metadata"]["name"]


def _same_inputs(plan: Any, profile: Any) -> dict[str, Any]:
    """The release that matches `swissai render`'s inputs: named like the workload, in the
    site's namespace, creating it."""
    values = build_context(plan, profile).values
    return {"name": values.name, "namespace": values.namespace}


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_helm_chart_lints_and_renders_the_same_objects(name: str, tmp_path: Path) -> None:
    helm = pytest.importorskip("helm_python")
    plan, profile = VARIANTS[name]
    chart = tmp_path / "chart"
    write_chart(plan, profile, chart)
    report = helm.lint(str(chart), strict=True, kube_version="v1.30.0")
    assert report["errors"] == []
    assert [m for m in report["messages"] if m["severity"] >= 2] == []
    loaded = helm.Chart.load(str(chart))
    plain = sorted(_rendered(name), key=_key)
    rendered = loaded.render({"namespace": {"create": True}}, **_same_inputs(plan, profile))
    objects = sorted(_helm_objects(rendered), key=_key)
    assert [_key(o) for o in objects] == [_key(o) for o in plain]
    assert objects == plain


@pytest.mark.parametrize("name", ["single", "multi", "object-store"])
def test_helm_names_and_namespace_come_from_the_release(name: str, tmp_path: Path) -> None:
    """Helm's conventions: fullname from the release, objects in the release namespace, no
    Namespace unless namespace.create; every reference follows (selectors, the Service's DNS
    name in the scripts, policies), so the objects equal the plain render with the names
    substituted."""
    helm = pytest.importorskip("helm_python")
    plan, profile = VARIANTS[name]
    write_chart(plan, profile, tmp_path / "chart")
    loaded = helm.Chart.load(str(tmp_path / "chart"))
    values = build_context(plan, profile).values
    objects = _helm_objects(loaded.render(name="prod", namespace="team-a"))
    fullname = f"prod-{values.name}"
    assert "Namespace" not in {o["kind"] for o in objects}
    assert {o["metadata"]["namespace"] for o in objects} == {"team-a"}
    assert all(o["metadata"]["name"].startswith(fullname) for o in objects)
    plain = [o for o in _rendered(name) if o["kind"] != "Namespace"]
    assert len(objects) == len(plain)
    for obj in objects:
        labels = obj["metadata"]["labels"]
        assert labels["app.kubernetes.io/instance"] == fullname
        assert labels["swissai.io/model"] == plan.model.id  # what runs keeps its name
    text = json.dumps(objects)
    assert f'"{values.namespace}"' not in text and f"{values.name}." not in text.replace(
        fullname, ""
    )  # no planned namespace or Service DNS name left over
    (service,) = [o for o in objects if o["kind"] == "Service"]
    assert service["spec"]["selector"]["app.kubernetes.io/instance"] == fullname
    # fullnameOverride wins; a release that contains the chart name is used as is
    override = _helm_objects(loaded.render({"fullnameOverride": "llm"}, name="x"))
    assert {o["metadata"]["name"] for o in override if o["kind"] == "Service"} == {"llm"}
    same = _helm_objects(loaded.render(name=f"{values.name}-blue"))
    assert {o["metadata"]["name"] for o in same if o["kind"] == "Service"} == {
        f"{values.name}-blue"
    }


def test_one_image_value_reaches_every_container_that_runs_it(tmp_path: Path) -> None:
    """`--set image=...` moves vLLM, verify-model, the Ray workers and the test pod together;
    the object store's fetch image is another image and stays."""
    helm = pytest.importorskip("helm_python")
    new = "registry.bank.internal/vllm/vllm-openai@sha256:" + "ab" * 32
    for name in ("multi", "object-store"):
        plan, profile = VARIANTS[name]
        write_chart(plan, profile, tmp_path / name)
        loaded = helm.Chart.load(str(tmp_path / name))
        objects = _helm_objects(loaded.render({"image": new}, name="x"), tests=True)
        images = {
            c["name"]: c["image"]
            for o in objects
            for pod in [*pod_specs(o), *([o["spec"]] if o["kind"] == "Pod" else [])]
            for c in [*pod.get("initContainers", []), *pod["containers"]]
        }
        old = build_context(plan, profile).values.image
        assert old not in json.dumps(objects)
        assert {k: v for k, v in images.items() if k != "fetch-model"} == dict.fromkeys(
            {k for k in images if k != "fetch-model"}, new
        )
        assert images.get("fetch-model", "") != new


def test_helm_chart_has_notes_and_a_hardened_test_hook(tmp_path: Path) -> None:
    helm = pytest.importorskip("helm_python")
    plan, profile = VARIANTS["single"]
    write_chart(plan, profile, tmp_path / "chart")
    loaded = helm.Chart.load(str(tmp_path / "chart"))
    rendered = loaded.render(name="prod", namespace="team-a")
    (notes,) = [t for p, t in rendered.items() if p.endswith("NOTES.txt")]
    assert "helm test prod -n team-a" in notes and "deployment/prod-gpt-oss-120b" in notes
    assert "WARNING: this chart was planned for namespace llm-prod, not team-a" in notes
    planned = loaded.render(name="prod", namespace="llm-prod")
    assert "WARNING" not in next(t for p, t in planned.items() if p.endswith("NOTES.txt"))
    hooks = [
        o
        for o in _helm_objects(rendered, tests=True)
        if "helm.sh/hook" in o["metadata"].get("annotations", {})
    ]
    assert {o["kind"] for o in hooks} == {"Pod", "NetworkPolicy"}
    (pod,) = [o for o in hooks if o["kind"] == "Pod"]
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    (container,) = pod["spec"]["containers"]
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    script = container["command"][-1]
    assert "/v1/models" in script and "/v1/chat/completions" in script and "args" not in container
    env = {e["name"]: e for e in container["env"]}
    assert env["BASE_URL"]["value"] == "http://prod-gpt-oss-120b.team-a.svc:8000"
    assert "secretKeyRef" in env["VLLM_API_KEY"]["valueFrom"]
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    for obj in hooks:
        kubernetes_validate.validate(obj, K8S_VERSIONS[0], strict=True)
    off = loaded.render({"test": {"enabled": False}}, name="prod")
    assert not [o for o in _helm_objects(off, tests=True) if o["kind"] == "Pod"]


def test_helm_values_yaml_is_short_documented_and_without_anchors(tmp_path: Path) -> None:
    plan, profile = VARIANTS["single"]
    write_chart(plan, profile, tmp_path / "chart")
    text = (tmp_path / "chart" / "values.yaml").read_text(encoding="utf-8")
    lines = text.splitlines()
    assert len(lines) < 60 and "&" not in text and "*" not in text
    keys = [
        i
        for i, line in enumerate(lines)
        if line and not line.lstrip().startswith("#") and ":" in line
    ]
    for i in keys:  # every key has a comment right above it, or opens a commented section
        assert lines[i - 1].lstrip().startswith("#") or lines[i].rstrip().endswith(":")
    values = yaml.safe_load(text)
    assert values["namespace"] == {"create": False}
    assert set(values) == {
        "nameOverride",
        "fullnameOverride",
        "namespace",
        "image",
        "replicas",
        "test",
    }


def test_helm_values_schema_rejects_a_tag_only_image(tmp_path: Path) -> None:
    helm = pytest.importorskip("helm_python")
    plan = load_plan(PLAN_SINGLE)
    write_chart(plan, site(), tmp_path / "chart")
    loaded = helm.Chart.load(str(tmp_path / "chart"))
    with pytest.raises(helm.HelmError, match="image"):
        loaded.render({"image": "registry.bank.internal/vllm/vllm-openai:latest"}, name="x")
    objects = _helm_objects(loaded.render({"namespace": {"create": True}}, name="x"))
    assert "Namespace" in {o["kind"] for o in objects}


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ({"replicas": "two"}, "replicas"),
        ({"replicas": 0}, "replicas"),
        ({"namespace": {"create": "yes"}}, "create"),
        ({"namespace": {"creat": True}}, "creat"),
        ({"fullnameOverride": "Not_A_Name"}, "fullnameOverride"),
        ({"test": {"enabled": 1}}, "enabled"),
        ({"replica": 2}, "replica"),  # a typo is an unknown key, not a silent default
    ],
)
def test_helm_values_schema_generated_from_the_model_rejects_wrong_values(
    override: dict[str, Any], key: str, tmp_path: Path
) -> None:
    """values.schema.json comes from ChartValues: Helm refuses what the model refuses, naming
    the key."""
    helm = pytest.importorskip("helm_python")
    plan = load_plan(PLAN_SINGLE)
    write_chart(plan, site(), tmp_path / "chart")
    loaded = helm.Chart.load(str(tmp_path / "chart"))
    with pytest.raises(helm.HelmError, match=key):
        loaded.render(override, name="x")
    # the same override with a right value renders
    objects = _helm_objects(loaded.render({"replicas": 3}, name="x"))
    (deployment,) = [o for o in objects if o["kind"] == "Deployment"]
    assert deployment["spec"]["replicas"] == 3


def test_helm_lints_the_chart_of_a_two_replica_plan_with_preferred_spread(tmp_path: Path) -> None:
    """The default plan (2 x TP4 on one 8-GPU node): Helm lints its chart and renders the same
    preferred anti-affinity, minAvailable 1 and rollout as `swissai render`."""
    helm = pytest.importorskip("helm_python")
    from swissai.adapters.profiles import load_gpu, load_model
    from swissai.core.hardware import hardware_from_spec
    from swissai.core.planner import PlanRequest, make_plan

    plan = make_plan(
        PlanRequest(
            model=load_model("gpt-oss-120b"), hardware=hardware_from_spec("8xh100-80gb", load_gpu)
        )
    )
    assert plan.layout.replicas == 2
    write_chart(plan, site(), tmp_path / "chart")
    report = helm.lint(str(tmp_path / "chart"), strict=True, kube_version="v1.30.0")
    assert report["errors"] == []
    loaded = helm.Chart.load(str(tmp_path / "chart"))
    objects = _helm_objects(
        loaded.render({"namespace": {"create": True}}, **_same_inputs(plan, site()))
    )
    assert sorted(objects, key=_key) == sorted(render(plan, site()).objects, key=_key)
    (pdb,) = [o for o in objects if o["kind"] == "PodDisruptionBudget"]
    assert pdb["spec"]["minAvailable"] == 1


def _documented_exceptions() -> set[str]:
    text = DOCS_SECURITY.read_text(encoding="utf-8")
    return {word.strip("`|*, ") for word in text.split() if word.strip("`|*, ").startswith("CKV")}


def test_checkov_reports_no_undocumented_failure(tmp_path: Path) -> None:
    if not CHECKOV.exists():
        if os.environ.get("CI"):
            pytest.fail("checkov missing: `make test` runs scripts/setup-checkov.sh first")
        pytest.skip("checkov not installed: run scripts/setup-checkov.sh")
    for name in VARIANTS:
        plan, profile = VARIANTS[name]
        write_tracked(tmp_path / name, render(plan, profile).files())
    result = subprocess.run(
        [str(CHECKOV), "-d", str(tmp_path), "--framework", "kubernetes", "--quiet",
         "--compact", "--skip-download", "-o", "json"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    reports = json.loads(result.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    failed = {c["check_id"] for r in reports for c in r["results"]["failed_checks"]}
    passed = sum(r["summary"]["passed"] for r in reports)
    assert passed > 50
    assert failed <= _documented_exceptions(), f"undocumented checkov failures: {failed}"
