"""`swissai check` on the serving stacks banks already run (issue 18): KServe, KAITO, KubeRay,
Argo Rollouts, llm-d, NVIDIA NIM read through their pod templates and model references; the
"not inspected" finding for kinds swissai does not read; the false positives and misses of
the third-party review. The manifests in tests/data/compliance/crd/ are small ones written in
the shapes these projects document (field paths and links in the README there), run through
the real engine.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from compliance_support import DATA, check

from swissai.models.findings import Finding, Report, at_or_above
from swissai.services.check import render_report

CRD = DATA / "crd"


def _findings(report: Report, rule_id: str, obj: str) -> list[Finding]:
    return [f for f in report.findings if f.rule_id == rule_id and f.object == obj]


def _one(report: Report, rule_id: str, obj: str, field: str) -> Finding:
    found = [f for f in _findings(report, rule_id, obj) if f.field == field]
    assert found, [(f.rule_id, f.object, f.field) for f in report.findings if f.object == obj]
    return found[0]


def test_kserve_runtime_and_hf_storage_uri_fail_with_the_field_path() -> None:
    """The issue's reproducer: a vLLM ServingRuntime plus an InferenceService pulling from
    hf:// got PASS; now the hub download is critical at spec.predictor.model.storageUri."""
    report = check([CRD / "kserve.yaml"], None)
    assert report.failed
    hub = _one(report, "RES-005", "InferenceService/ai/llama", "spec.predictor.model.storageUri")
    assert hub.severity == "critical" and "hf://meta-llama" in hub.message
    assert hub.line == 32  # the storageUri line of kserve.yaml
    registry = _one(report, "RES-009", "ServingRuntime/ai/vllm-runtime", "spec.containers[0].image")
    assert registry.severity == "critical"
    # the runtime's pods carry the labels KServe gives the InferenceService's predictor, so
    # the NetworkPolicy on `serving.kserve.io/inferenceservice: llama` covers them
    assert _findings(report, "NET-002", "NetworkPolicy/ai/(ingress for vllm-runtime)") == []
    # /mnt/models is filled by KServe's storage initializer: not "not under a mounted volume"
    assert not [
        f
        for f in _findings(report, "RES-005", "ServingRuntime/ai/vllm-runtime")
        if "mnt" in f.message
    ]


@pytest.mark.parametrize(
    ("name", "severity"),
    [
        ("from-s3", "high"),
        ("from-gs", "critical"),
        ("from-pvc", None),
        ("from-oci-internal", None),
        ("from-oci-public", "critical"),
    ],
)
def test_kserve_storage_uri_schemes(name: str, severity: str | None) -> None:
    site = CRD / "site.yaml"
    report = check([CRD / "kserve-schemes.yaml"], site)
    found = _findings(report, "RES-005", f"InferenceService/ai/{name}")
    assert [f.severity for f in found] == ([severity] if severity else [])
    for f in found:
        assert f.field == "spec.predictor.model.storageUri"


def test_llm_inference_service_and_llm_d_model_service() -> None:
    report = check([CRD / "llmisvc.yaml"], None)
    uri = _one(report, "RES-005", "LLMInferenceService/ai/qwen", "spec.model.uri")
    assert uri.severity == "critical"
    root = _one(
        report,
        "HRD-004",
        "LLMInferenceService/ai/qwen",
        "spec.template.containers[0].securityContext.runAsUser",
    )
    assert "runAsUser 0" in root.message
    artifacts = _one(report, "RES-005", "ModelService/ai/granite", "spec.modelArtifacts.uri")
    assert "hf://ibm-granite" in artifacts.message
    assert _one(report, "RES-009", "ModelService/ai/granite", "spec.decode.containers[0].image")


def test_kaito_presets_and_templates() -> None:
    report = check([CRD / "kaito.yaml"], None)
    builtin = _one(report, "RES-005", "Workspace/ai/falcon", "inference.preset.name")
    assert "mcr.microsoft.com" in builtin.message
    hf = _one(report, "RES-005", "Workspace/ai/qwen", "inference.preset.name")
    assert "hf://Qwen/Qwen3-0.6B" in hf.message
    assert _one(report, "RES-005", "InferenceSet/ai/phi", "spec.template.inference.preset.name")
    hub = _one(
        report, "RES-005", "Workspace/ai/custom", "inference.template.spec.containers[0].args[1]"
    )
    assert "hub id" in hub.message


def test_kuberay_head_and_workers_usage_stats_and_dashboard_exposure() -> None:
    report = check([CRD / "kuberay.yaml"], None)
    obj = "RayService/ai/llm"
    stats = {f.field for f in _findings(report, "RES-006", obj)}
    assert "spec.rayClusterConfig.headGroupSpec.template.spec.containers[0].env" in stats
    assert "spec.rayClusterConfig.workerGroupSpecs[0].template.spec.containers[0].env" in stats
    ingress = _one(report, "NET-003", obj, "spec.rayClusterConfig.headGroupSpec.enableIngress")
    assert ingress.severity == "critical"
    assert _one(report, "NET-003", obj, "spec.rayClusterConfig.headGroupSpec.rayStartParams")


def test_ray_serve_llm_model_source_and_runtime_env() -> None:
    report = check([CRD / "kuberay.yaml"], None)
    obj = "RayService/ai/serve-llm"
    source = _one(report, "RES-005", obj, "spec.serveConfigV2")
    assert "Qwen/Qwen2.5-7B-Instruct" in source.message and source.severity == "critical"
    install = _one(report, "RES-008", obj, "spec.serveConfigV2")
    assert "runtime_env pip" in install.message
    # include-dashboard: "false" and usage stats off: nothing for NET-003 or RES-006
    assert _findings(report, "NET-003", obj) == [] and _findings(report, "RES-006", obj) == []


def test_argo_rollout_and_nim() -> None:
    report = check([CRD / "rollout-nim.yaml"], None)
    hub = _one(report, "RES-005", "Rollout/ai/vllm", "spec.template.spec.containers[0].args[1]")
    assert "hub id" in hub.message
    assert "NGC" in _one(report, "RES-005", "NIMService/ai/llama", "spec.storage").message
    assert _one(report, "RES-005", "NIMCache/ai/llama-cache", "spec.source.ngc").severity == (
        "critical"
    )
    assert _one(report, "RES-009", "NIMService/ai/llama", "spec.image")
    # the operator writes the NIM pod: no hardening findings on fields the CR does not have
    assert not [f for f in report.findings if f.rule_id.startswith("HRD") and "NIM" in f.object]


def test_unknown_kinds_with_pods_or_models_are_listed_as_not_inspected() -> None:
    report = check([CRD / "unknown-kinds.yaml"], None)
    listed = {(f.object, f.field, f.severity) for f in report.findings if f.rule_id == "GOV-009"}
    assert listed == {
        (
            "SeldonDeployment/ai/llm",
            "spec.predictors[0].componentSpecs[0].spec.containers",
            "info",
        ),
        ("ModelDeployment/ai/llm", "spec.source.modelUri", "info"),
        ("Workspace/ai/notebook", "spec.template.spec.containers", "info"),
    }
    assert not report.failed  # info never fails a gate, even --fail-on low
    assert report.summary.info == 3
    low = check([CRD / "unknown-kinds.yaml"], None, fail_on="low")
    assert not [
        f for f in low.findings if f.rule_id == "GOV-009" and at_or_above(f.severity, "low")
    ]


def test_not_inspected_is_listed_in_sarif_and_junit() -> None:
    report = check([CRD / "unknown-kinds.yaml"], None)
    sarif = json.loads(render_report(report, "sarif"))
    results = [r for r in sarif["runs"][0]["results"] if r["ruleId"] == "GOV-009"]
    assert len(results) == 3 and {r["level"] for r in results} == {"note"}
    junit = render_report(report, "junit")
    assert "GOV-009" in junit and "SeldonDeployment/ai/llm" in junit


# ------------------------------------------------------------------ false positives


@pytest.fixture(scope="module")
def fp() -> Report:
    return check([CRD / "false-positives.yaml"], None)


def test_line_continuation_is_not_the_model(fp: Report) -> None:
    assert _findings(fp, "RES-005", "Deployment/ai/continuation") == []


def test_kubernetes_variable_resolved_from_env(fp: Report) -> None:
    assert _findings(fp, "RES-005", "Deployment/ai/k8s-variable") == []


def test_shell_variable_from_a_secret_is_unresolved_not_a_hub_id(fp: Report) -> None:
    found = _findings(fp, "RES-005", "Deployment/ai/shell-variable")
    assert [f.severity for f in found] == ["medium"]
    assert "unresolved" in found[0].message and "hub id" not in found[0].message


@pytest.mark.parametrize("name", ["amd", "tpu", "cpu-only"])
def test_accelerator_rule_is_accelerator_aware(fp: Report, name: str) -> None:
    messages = [f.message for f in _findings(fp, "OPS-003", f"Deployment/ai/{name}")]
    assert not [m for m in messages if "nvidia.com/gpu" in m or " limit" in m], messages


def test_accelerator_rule_still_fires_on_a_gpu_workload_without_a_limit(fp: Report) -> None:
    messages = [f.message for f in _findings(fp, "OPS-003", "Deployment/ai/continuation")]
    assert any("no nvidia.com/gpu limit" in m for m in messages)


def test_helm_test_pod_calling_its_own_service_is_no_download(fp: Report) -> None:
    assert _findings(fp, "RES-008", "Pod/ai/ollama-test-connection") == []


def test_router_environment_selector_label_is_no_test_workload(tmp_path: Path) -> None:
    site = tmp_path / "swissai.yaml"
    site.write_text(
        "apiVersion: swissai/v1alpha1\nkind: SiteProfile\nnamespace: ai\n"
        "compliance:\n  environment: production\n",
        encoding="utf-8",
    )
    report = check([CRD / "false-positives.yaml"], site)
    assert _findings(report, "GOV-008", "Deployment/ai/vllm-deployment-router") == []
    # the same label outside the selector still declares a test workload
    text = (CRD / "false-positives.yaml").read_text(encoding="utf-8")
    moved = tmp_path / "moved.yaml"
    moved.write_text(
        text.replace(
            "matchLabels: {environment: test, release: test}", "matchLabels: {release: test}"
        ),
        encoding="utf-8",
    )
    flagged = _findings(check([moved], site), "GOV-008", "Deployment/ai/vllm-deployment-router")
    assert [f.message for f in flagged] == ["test workload in the production namespace ai"]


# ------------------------------------------------------------------ misses


@pytest.fixture(scope="module")
def misses() -> Report:
    return check([CRD / "misses.yaml"], None)


def test_downloads_in_lifecycle_hooks(misses: Report) -> None:
    found = {f.field: f.message for f in _findings(misses, "RES-008", "Deployment/ai/ollama")}
    assert (
        "ollama pull"
        in found["spec.template.spec.containers[0].lifecycle.postStart.exec.command[2]"]
    )
    assert (
        "example.org"
        in found["spec.template.spec.containers[1].lifecycle.postStart.exec.command[2]"]
    )


def test_ray_started_from_a_script(misses: Report) -> None:
    stats = _findings(misses, "RES-006", "StatefulSet/ai/ray-head")
    assert any("RAY_USAGE_STATS_ENABLED" in f.message for f in stats)
    dashboard = _one(misses, "NET-003", "ConfigMap/ai/ray-start", 'data["start.sh"]')
    assert "0.0.0.0:8265" in dashboard.message


def test_vllm_on_the_host_network(misses: Report) -> None:
    hostnet = _one(misses, "NET-003", "Deployment/ai/hostnet", "spec.template.spec.hostNetwork")
    assert hostnet.severity == "critical"
