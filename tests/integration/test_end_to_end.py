"""The path a new user walks, as one test: plan -> init (filled in) -> render (plain and Helm)
-> check --fail-on high -> deploy against the fake API server -> status -> serve --dry-run ->
smoke against the fake endpoint. Each step must pass on its own, and every artifact must name
the same model path, encodings path, image digest, replicas, ports and key handling.

Real parts: the swissai application in-process (CliRunner over the same app object as the
console script), the real kubernetes client over HTTP to the stateful fake API server
(tests/fakes/fake_kube_api.py: no cluster can run here), the fake OpenAI-compatible server
(tests/fakes/fake_openai.py) standing for vLLM behind its gateway (the real vLLM CPU server is
exercised by tests/integration/test_serve_vllm.py). Nothing in swissai is patched.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fakes.fake_kube_api import SERVICE_MONITOR_CRD, FakeKubeApi, kubelet_ready
from fakes.fake_openai import FakeOpenAI

from tests.swissai_inprocess import swissai

NS = "swissai-llm"
TOKEN = "fake-token-e2e"
API_KEY = "sk-e2e-0123456789abcdef"
DIGEST = "sha256:" + "4e5c1f0bd2a4b3c6" * 4
REVISION = "b5c1e6d2a9f04c3b8e7d6a5f4c3b2a1908f7e6d5"
MANIFEST_SHA256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
REGISTRY = "registry.bank.internal"


def _seed(api: FakeKubeApi) -> None:
    """A bank cluster as its platform team prepared it: two 8-GPU nodes in a Swiss region,
    the storage class, the namespace with Pod Security restricted, the filled model claim,
    the Prometheus Operator."""
    for name in ("gpu-zh1-a", "gpu-zh1-b"):
        api.seed(
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {
                    "name": name,
                    "labels": {
                        "topology.kubernetes.io/region": "ch-zh1",
                        "nvidia.com/gpu.present": "true",
                        "nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3",
                    },
                },
                "status": {
                    "allocatable": {"nvidia.com/gpu": "8", "cpu": "128"},
                    "conditions": [{"type": "Ready", "status": "True"}],
                },
            },
            manager="kubelet",
        )
    api.seed(
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {"name": "ceph-rbd-ch"},
            "provisioner": "rbd.csi.ceph.com",
        }
    )
    api.seed(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": NS,
                "labels": {
                    "pod-security.kubernetes.io/enforce": "restricted",
                    "pod-security.kubernetes.io/enforce-version": "latest",
                },
            },
        }
    )
    api.seed(
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": "swissai-models", "namespace": NS},
            "spec": {"accessModes": ["ReadOnlyMany"], "storageClassName": "ceph-rbd-ch"},
            "status": {"phase": "Bound"},
        }
    )
    api.seed(SERVICE_MONITOR_CRD)


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.delenv("CI", raising=False)
    api = FakeKubeApi(token=TOKEN, kubelet=kubelet_ready(node="gpu-zh1-a"))
    api.start()
    _seed(api)
    monkeypatch.setenv("KUBECONFIG", str(api.kubeconfig(tmp_path / "kubeconfig")))
    yield tmp_path
    api.stop()


def _ok(*args: str, cwd: Path) -> str:
    result = swissai(*args, cwd=cwd)
    assert result.returncode == 0, f"swissai {' '.join(args)}:\n{result.stderr}"
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    return result.stdout


def _objects(folder: Path) -> dict[str, dict[str, Any]]:
    found = {}
    for path in sorted(folder.glob("*.yaml")):
        for obj in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if obj:
                found[f"{obj['kind']}/{obj['metadata']['name']}"] = obj
    return found


def _flag(args: list[str], flag: str) -> str:
    return args[args.index(flag) + 1]


def _env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def test_a_new_user_walks_from_plan_to_a_smoke_tested_endpoint(workdir: Path) -> None:
    # 1. plan on the workstation (no GPU here): one node of 8 H100
    _ok("plan", "--gpus", "8xh100-80gb", "--out", "plan.yaml", cwd=workdir)
    plan = yaml.safe_load((workdir / "plan.yaml").read_text())
    replicas = plan["layout"]["replicas"]
    assert plan["feasible"] and replicas >= 2  # availability: no single-replica default
    assert plan["availability"]["replicas"] == replicas
    served_name = _flag(plan["vllm"]["args"], "--served-model-name")

    # 2. init, then the operator fills in what only the institution knows
    _ok(
        "init",
        "--namespace",
        NS,
        "--registry",
        REGISTRY,
        "--owner",
        "AI Platform <ai-platform@bank.internal>",
        "--inventory-id",
        "AI-0042",
        cwd=workdir,
    )
    site_file = workdir / "swissai.yaml"
    text = site_file.read_text()
    text = text.replace("sha256:" + "0" * 64, DIGEST).replace("0" * 64, MANIFEST_SHA256)
    site_file.write_text(text.replace("0" * 40, REVISION))

    # 3. render, plain and Helm; both from ./swissai.yaml without --site
    _ok("render", "plan.yaml", "--out", "manifests", cwd=workdir)
    _ok("render", "plan.yaml", "--helm", "--out", "chart", cwd=workdir)
    objects = _objects(workdir / "manifests")
    deployment = objects[f"Deployment/{served_name}"]
    pod = deployment["spec"]["template"]["spec"]
    vllm = next(c for c in pod["containers"] if c["name"] == "vllm")
    model_path = _flag(vllm["args"], "--model")
    port = vllm["ports"][0]["containerPort"]
    env = _env(vllm)
    image = f"{REGISTRY}/vllm/vllm-openai@{DIGEST}"
    assert vllm["image"] == image
    assert env["TIKTOKEN_ENCODINGS_BASE"] == f"{model_path}/encodings"  # core/encodings
    assert env["VLLM_API_KEY"] == {
        "secretKeyRef": {"name": "swissai-vllm-api-key", "key": "api-key"}
    }
    assert not any(a.startswith("--api-key") for a in vllm["args"])
    assert deployment["spec"]["replicas"] == replicas
    strategy = deployment["spec"]["strategy"]["rollingUpdate"]
    assert strategy["maxUnavailable"] == plan["availability"]["max_unavailable"]
    assert strategy["maxSurge"] == plan["availability"]["max_surge"]
    pdb = objects[f"PodDisruptionBudget/{served_name}"]
    assert pdb["spec"]["minAvailable"] == plan["availability"]["min_available"] == replicas - 1
    anti = pod["affinity"]["podAntiAffinity"]
    spread = plan["availability"]["spread"]
    assert ("preferredDuringSchedulingIgnoredDuringExecution" in anti) == (spread == "preferred")
    service = objects[f"Service/{served_name}"]
    assert service["spec"]["ports"][0]["targetPort"] in (port, "http")
    values = yaml.safe_load((workdir / "chart" / "values.yaml").read_text())
    assert values["image"] == image and values["replicas"] == replicas

    # 4. check, as CI runs it: high findings fail the job; the filled-in render has none
    report = json.loads(
        _ok(
            "check",
            "manifests",
            "--plan",
            "plan.yaml",
            "--fail-on",
            "high",
            "-o",
            "json",
            cwd=workdir,
        )
    )
    assert report["failed"] is False

    # 5. deploy into the (fake) cluster, then status
    deployed = json.loads(_ok("deploy", "plan.yaml", "--timeout", "60", "-o", "json", cwd=workdir))
    assert deployed["outcome"] == "succeeded"
    assert deployed["replicas"] == deployed["replicas_ready"] == replicas
    status = json.loads(_ok("status", "-o", "json", cwd=workdir))
    assert status["deployed"] is True and status["replicas_ready"] == replicas
    assert status["revision"] == deployed["revision"]
    record = json.loads((workdir / "swissai-deployments.jsonl").read_text().splitlines()[-1])
    assert image in record["images"] and record["model_revision"] == REVISION

    # 6. serve --dry-run on a workstation with the weights: the same flags, the same layout
    weights = workdir / "models" / served_name
    weights.mkdir(parents=True)
    (workdir / "key.txt").write_text(API_KEY + "\n")
    (workdir / "key.txt").chmod(0o600)
    dry = json.loads(
        _ok(
            "serve",
            "plan.yaml",
            "--dry-run",
            "--model-dir",
            str(weights),
            "--api-key-file",
            "key.txt",
            "-o",
            "json",
            cwd=workdir,
        )
    )
    argv, serve_env = dry["argv"], dry["env"]
    assert API_KEY not in json.dumps(dry)  # the key is never printed
    assert serve_env["VLLM_API_KEY"] != API_KEY
    assert not any(a.startswith("--api-key") for a in argv)
    assert serve_env["TIKTOKEN_ENCODINGS_BASE"] == f"{weights}/encodings"
    for flag in ("--served-model-name", "--tensor-parallel-size", "--max-model-len"):
        assert _flag(argv, flag) == _flag(vllm["args"], flag) == _flag(plan["vllm"]["args"], flag)
    assert _flag(argv, "--port") == str(port)

    # 7. smoke the endpoint (the fake OpenAI server stands for vLLM behind the gateway)
    endpoint = FakeOpenAI(
        model=served_name, root=model_path, api_key=API_KEY, harmony=True, gateway=True
    )
    base = endpoint.start()
    try:
        smoke = json.loads(
            _ok("smoke", base, "--api-key-file", "key.txt", "-o", "json", cwd=workdir)
        )
    finally:
        endpoint.stop()
    assert smoke["ok"] is True and smoke["model"] == served_name
    assert API_KEY not in json.dumps(smoke)
