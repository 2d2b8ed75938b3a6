"""LoRA adapters after the plan: render mounts them from the model volume under the weights'
rules (a pinned sha256 manifest per adapter, verified by the pod's own verifier before vLLM
starts, no hub id), `check` (SEC-007) covers them, and `swissai model manifest` handles adapter
directories. The verifier is the real templates/scripts/verify_model.py, run as the pod runs it
(a subprocess with the environment render writes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from swissai.core.compliance.context import parse_vllm
from swissai.resources import templates_dir
from tests.swissai_inprocess import swissai


def make_adapter(root: Path, rank: int = 8) -> Path:
    root.mkdir(parents=True)
    (root / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": rank}))
    (root / "adapter_model.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
    return root


def manifest_of(directory: Path) -> str:
    res = swissai("model", "manifest", str(directory))
    assert res.returncode == 0, res.stderr
    assert "LoRA adapter (rank 8)" in res.stderr and "lora.adapters" in res.stderr  # how to pin
    sha = res.stdout.split("manifest_sha256: ")[1].strip()
    res = swissai("model", "manifest", str(directory), "--force", "-o", "json")
    doc = json.loads(res.stdout)
    assert doc["lora_adapter"] == {"rank": 8} and doc["sha256"] == sha
    return sha


@pytest.fixture
def rendered(tmp_path: Path) -> dict[str, Any]:
    volume = tmp_path / "volume"
    adapter = make_adapter(volume / "adapters" / "legal-de")
    sha = manifest_of(adapter)
    assert swissai("init", "--out", str(tmp_path / "site.yaml")).returncode == 0
    site = (
        (tmp_path / "site.yaml")
        .read_text()
        .replace('"lora_approved": false', '"lora_approved": true')
    )
    site += (
        "lora:\n  adapters:\n  - name: legal-de\n    path: adapters/legal-de\n"
        f"    manifest_sha256: '{sha}'\n"
    )
    (tmp_path / "site.yaml").write_text(site)
    plan = tmp_path / "plan.yaml"
    res = swissai(
        "plan", "--gpus", "8xh100-80gb", "--lora", f"legal-de={adapter}", "--out", str(plan)
    )
    assert res.returncode == 0, res.stderr
    res = swissai(
        "render", str(plan), "--site", str(tmp_path / "site.yaml"), "--out", str(tmp_path / "k8s")
    )
    assert res.returncode == 0, res.stderr
    deployment = next((tmp_path / "k8s").glob("*-deployment-*.yaml"))
    return {
        "dir": tmp_path,
        "volume": volume,
        "adapter": adapter,
        "plan": plan,
        "deployment": yaml.safe_load(deployment.read_text()),
        "deployment_file": deployment,
    }


def pod(rendered: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = rendered["deployment"]["spec"]["template"]["spec"]
    return spec


def test_render_points_vllm_at_the_volume_and_the_verifier_at_the_manifest(
    rendered: dict[str, Any],
) -> None:
    spec = pod(rendered)
    vllm = next(c for c in spec["containers"] if c["name"] == "vllm")
    args = parse_vllm(vllm.get("command", []), vllm["args"], implicit_serve=False)
    assert args is not None and args.flags["lora-modules"] == ["legal-de=/models/adapters/legal-de"]
    assert args.model is not None and "adapters" not in args.model
    verify = next(c for c in spec["initContainers"] if c["name"] == "verify-model")
    env = {e["name"]: e.get("value") for e in verify["env"]}
    directory, manifest, sha = env["ADAPTERS"].split("|")
    assert (directory, manifest) == ("/models/adapters/legal-de", "SHA256SUMS")
    assert len(sha) == 64
    # the adapter lives on the read-only model volume the vLLM container mounts
    mounts = {m["mountPath"]: m for m in vllm["volumeMounts"]}
    assert mounts["/models"]["readOnly"] is True


def run_verifier(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    script = templates_dir() / "scripts" / "verify_model.py"
    return subprocess.run(
        [sys.executable, str(script)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_pods_verifier_checks_the_adapter_before_vllm_starts(
    rendered: dict[str, Any], tmp_path: Path
) -> None:
    """The init container's environment as rendered, with /models mapped to a local folder."""
    spec = pod(rendered)
    verify = next(c for c in spec["initContainers"] if c["name"] == "verify-model")
    env = {e["name"]: str(e.get("value", "")) for e in verify["env"] if "value" in e}
    volume = rendered["volume"]
    model = volume / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    res = swissai("model", "manifest", str(model), "-o", "json")
    env.update(
        MODEL_DIR=str(model),
        MANIFEST_SHA256=json.loads(res.stdout)["sha256"],
        REQUIRED_FILES="",
        ADAPTERS=env["ADAPTERS"].replace("/models/", f"{volume}/"),
    )
    ok = run_verifier(env)
    assert ok.returncode == 0, ok.stderr
    assert f"{rendered['adapter']} OK" in ok.stdout
    # one changed byte in the adapter's weights: the pod does not start
    weights = rendered["adapter"] / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-1] + b"!")
    bad = run_verifier(env)
    assert bad.returncode == 1
    assert "sha256 mismatch adapter_model.safetensors" in bad.stderr


def test_render_refuses_an_adapter_the_site_does_not_pin(tmp_path: Path) -> None:
    adapter = make_adapter(tmp_path / "a")
    assert swissai("init", "--out", str(tmp_path / "site.yaml")).returncode == 0
    plan = tmp_path / "plan.yaml"
    assert (
        swissai(
            "plan", "--gpus", "8xh100-80gb", "--lora", f"a={adapter}", "--out", str(plan)
        ).returncode
        == 0
    )
    res = swissai(
        "render", str(plan), "--site", str(tmp_path / "site.yaml"), "--out", str(tmp_path / "k8s")
    )
    assert res.returncode == 2
    assert "not in the site profile's lora.adapters" in res.stderr
    assert not (tmp_path / "k8s").exists()


def test_check_passes_the_rendered_adapter_and_fails_runtime_loading(
    rendered: dict[str, Any],
) -> None:
    d = rendered["dir"]
    res = swissai(
        "check", str(d / "k8s"), "--plan", str(rendered["plan"]), "--site", str(d / "site.yaml"),
        "-o", "json",
    )  # fmt: skip
    report = json.loads(res.stdout)
    assert not [f for f in report["findings"] if f["rule_id"] in ("SEC-005", "SEC-007")]
    assert {c["status"] for c in report["checks"] if c["rule_id"] == "SEC-007"} == {"passed"}
    # switch runtime loading on in the rendered Deployment: critical unless the site allows it
    doc = rendered["deployment"]
    vllm = next(c for c in doc["spec"]["template"]["spec"]["containers"] if c["name"] == "vllm")
    vllm["env"].append({"name": "VLLM_ALLOW_RUNTIME_LORA_UPDATING", "value": "true"})
    rendered["deployment_file"].write_text(yaml.safe_dump(doc))
    res = swissai("check", str(d / "k8s"), "--site", str(d / "site.yaml"), "-o", "json")
    sec = [f for f in json.loads(res.stdout)["findings"] if f["rule_id"] == "SEC-007"]
    assert [f["severity"] for f in sec] == ["critical"]
    allowed = (
        (d / "site.yaml")
        .read_text()
        .replace('"lora_runtime_loading_allowed": false', '"lora_runtime_loading_allowed": true')
    )
    (d / "site.yaml").write_text(allowed)
    res = swissai("check", str(d / "k8s"), "--site", str(d / "site.yaml"), "-o", "json")
    assert not [f for f in json.loads(res.stdout)["findings"] if f["rule_id"] == "SEC-007"]


def test_model_manifest_refuses_a_broken_adapter(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "adapter_config.json").write_text('{"peft_type": "PREFIX_TUNING", "r": 8}')
    res = swissai("model", "manifest", str(tmp_path / "a"))
    assert res.returncode == 2 and "is not LORA" in res.stderr
    assert not (tmp_path / "a" / "SHA256SUMS").exists()
