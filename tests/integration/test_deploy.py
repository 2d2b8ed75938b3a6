"""`swissai deploy`, `status`, `rollback`, `destroy` against a stateful fake API server.

The real kubernetes client talks HTTP to tests/fakes/fake_kube_api.py on 127.0.0.1 (generated
kubeconfig, bearer token); nothing in the client or in swissai is patched. The fake's kubelet
scripts drive the pods (scheduled, pulled, verified, loading, ready, or OOMKilled...).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fakes.fake_kube_api import (
    LWS_CRD,
    SERVICE_MONITOR_CRD,
    FakeKubeApi,
    kubelet_by_annotation,
    kubelet_oom,
    kubelet_ready,
)
from typer.testing import CliRunner

from swissai.cli.main import app
from swissai.errors import SwissaiError

DATA = Path(__file__).resolve().parents[1] / "data" / "deploy"
NS = "swissai-llm"
TOKEN = "fake-token-0123"
H100 = "NVIDIA-H100-80GB-HBM3"
PSS = {
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/enforce-version": "latest",
}


def node(name: str, gpus: int, region: str = "ch-zh1", product: str = H100) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                "topology.kubernetes.io/region": region,
                "nvidia.com/gpu.present": "true",
                "nvidia.com/gpu.product": product,
            },
        },
        "status": {
            "allocatable": {"nvidia.com/gpu": str(gpus), "cpu": "128"},
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }


def seed_cluster(api: FakeKubeApi, nodes: list[dict[str, Any]] | None = None) -> None:
    """A bank cluster as the platform team prepared it: GPU nodes, storage, the namespace with
    Pod Security, the filled model claim, the Prometheus Operator."""
    for item in nodes if nodes is not None else [node("gpu-zh1-a", 8), node("gpu-zh1-b", 8)]:
        api.seed(item, manager="kubelet")
    api.seed(
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {"name": "ceph-rbd-ch"},
            "provisioner": "rbd.csi.ceph.com",
        }
    )
    api.seed(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS, "labels": dict(PSS)}}
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
def api(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeKubeApi]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.delenv("CI", raising=False)
    fake = FakeKubeApi(token=TOKEN, kubelet=kubelet_ready())
    fake.start()
    seed_cluster(fake)
    monkeypatch.setenv("KUBECONFIG", str(fake.kubeconfig(tmp_path / "kubeconfig")))
    yield fake
    fake.stop()


def invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """Run the app as `swissai` does: SwissaiError -> its exit code and message."""
    result = CliRunner().invoke(app, list(args), env=env)
    stderr = result.stderr
    if isinstance(result.exception, SwissaiError):
        exc = result.exception
        return exc.exit_code, result.stdout, f"{stderr}{exc.message}\nhint: {exc.hint}"
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, stderr


def deploy(*extra: str, plan: str = "plan-single-node.yaml") -> tuple[int, str, str]:
    return invoke(
        "deploy", str(DATA / plan), "--site", str(DATA / "site.yaml"), "--timeout", "20", *extra
    )


def swissai_objects(api: FakeKubeApi) -> list[str]:
    """Objects field manager `swissai` owns fields of (what a deploy has applied)."""
    found = []
    with api.lock:
        for key, owners in api.owners.items():
            if "swissai" in owners:
                found.append(f"{api.objects[key]['kind']}/{key[3]}")
    return sorted(found)


def records(api: FakeKubeApi) -> list[dict[str, Any]]:
    cms = [
        c for c in api.list("ConfigMap", NS) if c["metadata"]["name"].startswith("swissai-record-")
    ]
    return [
        json.loads(c["data"]["record.json"])
        for c in sorted(cms, key=lambda c: c["metadata"]["name"])
    ]


# --- scenarios -------------------------------------------------------------------------------


def test_fresh_deploy_reaches_ready_and_records_it(api: FakeKubeApi, tmp_path: Path) -> None:
    api.kubelet = kubelet_ready(step_s=0.3)  # slow enough to see every phase
    code, out, err = deploy("-o", "json")
    assert code == 0, err
    result = json.loads(out)
    assert result["outcome"] == "succeeded"
    assert result["replicas"] == 1 and result["replicas_ready"] == 1
    assert result["changes"]["Deployment/swissai-llm/gpt-oss-120b"] == "create"
    assert result["changes"]["Namespace/swissai-llm"] == "update"  # labels added to the seed
    # progress said each phase, in order, on stderr
    phases = ["scheduled", "image pulled", "model verified", "vLLM loading", "ready"]
    positions = [err.find(f": {p}") for p in phases]
    assert all(p >= 0 for p in positions) and positions == sorted(positions), err
    # everything was applied by field manager swissai, the workload annotated with the revision
    dep = api.get("Deployment", "gpt-oss-120b", NS)
    assert dep is not None
    assert dep["metadata"]["annotations"]["swissai.io/revision"] == result["revision"]
    assert "swissai" in api.managers("Deployment", "gpt-oss-120b", NS)
    # the record: an immutable ConfigMap and the local file
    [record] = records(api)
    assert record["outcome"] == "succeeded"
    assert record["deployed_by"] == "alice@bank.internal"
    assert record["model_revision"] == "1" * 40
    assert record["check"]["fail_on"] == "high" and record["check"]["failed"] is False
    assert any(
        i.startswith("registry.bank.internal/vllm/vllm-openai@sha256:") for i in record["images"]
    )
    assert record["image_ids"], "the running pods' image digests are recorded"
    cm = api.list("ConfigMap", NS)
    assert any(c.get("immutable") is True and c["metadata"]["name"] == result["record"] for c in cm)
    local = [
        json.loads(line)
        for line in (tmp_path / "swissai-deployments.jsonl").read_text().splitlines()
    ]
    assert [r["outcome"] for r in local] == ["succeeded"]


def test_second_deploy_is_a_no_op(api: FakeKubeApi) -> None:
    assert deploy()[0] == 0
    writes_before = len(api.writes())
    rv_before = api.rv
    code, out, err = deploy("-o", "json")
    assert code == 0, err
    assert "nothing to change" in err
    result = json.loads(out)
    assert result["outcome"] == "unchanged"
    assert set(result["changes"].values()) == {"unchanged"}
    assert api.writes()[writes_before:] == []  # only dry runs and reads
    assert api.rv == rv_before
    assert len(records(api)) == 1


def test_dry_run_prints_the_diff_and_changes_nothing(api: FakeKubeApi) -> None:
    code, out, err = deploy("--dry-run")
    assert code == 0, err
    assert "+++ new/Deployment/swissai-llm/gpt-oss-120b" in out
    assert "would change" in err
    assert api.get("Deployment", "gpt-oss-120b", NS) is None
    assert api.writes() == []


def test_not_enough_gpus_fails_preflight_and_applies_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    with FakeKubeApi(token=TOKEN, kubelet=kubelet_ready()) as fake:
        # 4 GPUs in Zurich, 8 of another product, 8 outside Switzerland: none can take 8
        seed_cluster(
            fake,
            [
                node("gpu-zh1-a", 4),
                node("gpu-zh1-b", 8, product="NVIDIA-A100-SXM4-40GB"),
                node("gpu-fra-a", 8, region="eu-central-1"),
            ],
        )
        monkeypatch.setenv("KUBECONFIG", str(fake.kubeconfig(tmp_path / "kc")))
        code, _, err = deploy()
        assert code == 3
        assert "preflight gpu-capacity: need 1 pod(s) x 8 nvidia.com/gpu" in err
        assert "gpu-zh1-a 4 free of 8" not in err and "gpu-zh1-a 4 free of 4" in err
        assert "fix:" in err and "nothing was applied" in err
        assert fake.writes() == []
        assert swissai_objects(fake) == []


def test_oom_killed_after_apply_rolls_back_and_exits_5(api: FakeKubeApi, tmp_path: Path) -> None:
    code, first, err = deploy("-o", "json")
    assert code == 0, err
    old = json.loads(first)["revision"]
    old_pods = {p["metadata"]["name"] for p in api.list("Pod", NS)}
    # the new revision (more context) OOMs while loading; the old one still starts fine
    api.kubelet = kubelet_by_annotation(
        "swissai.io/revision",
        {old: kubelet_ready()},
        kubelet_oom(log=["INFO Loading safetensors checkpoint shards", "CUDA out of memory"]),
    )
    code, _, err = deploy("--rollback-on-failure", plan="plan-single-node-long.yaml")
    assert code == 5
    assert "OOMKilled" in err
    assert "rolled back to revision " + old in err.replace("Rolled", "rolled")
    assert "CUDA out of memory" in err  # the vLLM container's last log lines
    dep = api.get("Deployment", "gpt-oss-120b", NS)
    assert dep is not None and dep["metadata"]["annotations"]["swissai.io/revision"] == old
    assert {p["metadata"]["name"] for p in api.list("Pod", NS)} == old_pods
    outcomes = [r["outcome"] for r in records(api)]
    assert outcomes == ["succeeded", "failed-rolled-back"]
    code, out, err = invoke("status", "--site", str(DATA / "site.yaml"), "-o", "json")
    assert code == 0, err
    assert json.loads(out)["revision"] == old


def test_failure_without_rollback_says_it_is_left_as_is(api: FakeKubeApi) -> None:
    api.kubelet = kubelet_oom()
    code, _, err = deploy("--no-rollback-on-failure")
    assert code == 5
    assert "Left as it is" in err and "OOMKilled" in err
    assert api.get("Deployment", "gpt-oss-120b", NS) is not None
    assert [r["outcome"] for r in records(api)] == ["failed-left-as-is"]


def test_ci_mode_rolls_back_a_fresh_deploy_by_deleting_what_it_created(api: FakeKubeApi) -> None:
    api.kubelet = kubelet_oom()
    code, _, err = invoke(
        "deploy",
        str(DATA / "plan-single-node.yaml"),
        "--site",
        str(DATA / "site.yaml"),
        "--timeout",
        "20",
        env={"CI": "true"},
    )
    assert code == 5
    assert "there was no previous revision" in err
    assert api.get("Deployment", "gpt-oss-120b", NS) is None
    assert api.get("Namespace", NS) is not None  # namespaces are never deleted
    assert api.list("Pod", NS) == []


def test_api_server_drop_mid_apply_is_reported_and_a_rerun_converges(api: FakeKubeApi) -> None:
    api.drop_after_writes(3)
    code, _, err = deploy("--rollback-on-failure")
    assert code == 5
    assert "HALF-APPLIED: 3 of" in err
    assert "may or may not have been applied" in err
    assert "the roll back failed" in err
    assert "run the same swissai deploy again" in err
    assert "record only in swissai-deployments.jsonl" in err
    api.restore()
    code, out, err = deploy("-o", "json")
    assert code == 0, err
    result = json.loads(out)
    assert result["outcome"] == "succeeded" and result["replicas_ready"] == 1
    assert "Deployment/gpt-oss-120b" in swissai_objects(api)
    local = Path("swissai-deployments.jsonl").read_text().splitlines()
    assert [json.loads(x)["outcome"] for x in local] == ["half-applied", "succeeded"]


def test_rbac_forbidden_is_a_preflight_failure(api: FakeKubeApi) -> None:
    api.deny |= {("create", "apps", "deployments"), ("patch", "apps", "deployments")}
    code, _, err = deploy()
    assert code == 3
    assert (
        "preflight rbac: not allowed to create, patch deployments.apps in namespace swissai-llm"
        in err
    )
    assert "--print-rbac" in err
    assert api.writes() == []


def test_crd_missing_for_a_multi_node_plan(api: FakeKubeApi) -> None:
    api.seed(node("gpu-be1-a", 8, region="ch-be1"))
    # the check gate runs for real: swissai's own multi-node render passes it
    code, _, err = deploy(plan="plan-multi-node.yaml")
    assert code == 3
    assert "preflight crd: the cluster does not serve LeaderWorkerSet" in err
    assert "kubernetes-sigs/lws" in err
    assert api.writes() == []
    # with the controller installed the same plan deploys: one group of 2 pods, ready
    api.seed(LWS_CRD)
    code, out, err = deploy("-o", "json", plan="plan-multi-node.yaml")
    assert code == 0, err
    assert json.loads(out)["replicas_ready"] == 1
    assert len(api.list("Pod", NS)) == 2


def test_conflict_with_another_field_manager_is_reported_then_forced(api: FakeKubeApi) -> None:
    assert deploy()[0] == 0
    dep = api.get("Deployment", "gpt-oss-120b", NS)
    assert dep is not None
    dep["spec"]["replicas"] = 3  # someone scaled it by hand
    api.seed(dep, manager="kubectl-scale")
    code, _, err = deploy()
    assert code == 3
    assert (
        "conflict: Deployment/swissai-llm/gpt-oss-120b: .spec.replicas (owned by kubectl-scale)"
        in err
    )
    code, _, err = deploy("--force-conflicts")
    assert code == 0, err
    live = api.get("Deployment", "gpt-oss-120b", NS)
    assert live is not None and live["spec"]["replicas"] == 1


def test_check_gate_blocks_and_can_be_skipped_with_a_logged_reason(
    api: FakeKubeApi, tmp_path: Path
) -> None:
    site = yaml.safe_load((DATA / "site.yaml").read_text())
    site["compliance"]["fail_on"] = "low"  # the evidence findings (medium) now block
    path = tmp_path / "site-findings.yaml"
    path.write_text(yaml.safe_dump(site))
    base = ["deploy", str(DATA / "plan-single-node.yaml"), "--site", str(path), "--timeout", "20"]
    code, _, err = invoke(*base)
    assert code == 1
    assert "check gate" in err and "nothing was applied" in err
    assert api.writes() == []
    code, _, err = invoke(*base, "--skip-check-gate", "CHG-4711 emergency fix approved by CISO")
    assert code == 0, err
    assert "check gate skipped" in err
    assert records(api)[0]["check"]["skipped_reason"] == "CHG-4711 emergency fix approved by CISO"


def test_rollback_and_destroy_complete_the_lifecycle(api: FakeKubeApi, tmp_path: Path) -> None:
    code, out, _ = deploy("-o", "json")
    first = json.loads(out)["revision"]
    code, out, err = deploy("-o", "json", plan="plan-single-node-long.yaml")
    assert code == 0, err
    second = json.loads(out)["revision"]
    assert first != second
    site = ["--site", str(DATA / "site.yaml")]
    code, _, err = invoke("rollback", *site, "--timeout", "20")
    assert code == 0, err
    assert f"from {second} to {first}" in err
    dep = api.get("Deployment", "gpt-oss-120b", NS)
    assert dep is not None and dep["metadata"]["annotations"]["swissai.io/revision"] == first
    code, out, _ = invoke("status", *site, "-o", "json")
    status = json.loads(out)
    assert status["revision"] == first and status["replicas_ready"] == 1
    assert status["endpoint"].startswith("http://gpt-oss-120b.swissai-llm.svc:")
    # destroy: refuses without --yes when nobody can answer, exports the records first
    code, _, err = invoke("destroy", *site)
    assert code == 2 and "--yes" in err
    assert api.get("Deployment", "gpt-oss-120b", NS) is not None
    code, _, err = invoke("destroy", *site, "--yes", "--export", str(tmp_path / "export.json"))
    assert code == 0, err
    exported = json.loads((tmp_path / "export.json").read_text())
    assert [e["record"]["outcome"] for e in exported] == ["succeeded", "succeeded", "rolled-back"]
    assert api.get("Deployment", "gpt-oss-120b", NS) is None
    assert api.list("Pod", NS) == []
    assert api.get("Namespace", NS) is not None
    assert records(api)[-1]["outcome"] == "destroyed"


def test_print_rbac_is_least_privilege_and_enough(api: FakeKubeApi) -> None:
    code, out, err = deploy("--print-rbac")
    assert code == 0, err
    role, cluster_role = list(yaml.safe_load_all(out))
    assert role["kind"] == "Role" and role["metadata"]["namespace"] == NS
    rules = {(r["apiGroups"][0], r["resources"][0]): set(r["verbs"]) for r in role["rules"]}
    assert rules[("apps", "deployments")] == {"get", "create", "patch", "delete"}
    assert rules[("", "pods")] == {"get", "list", "watch"}
    assert "*" not in json.dumps(role) + json.dumps(cluster_role)
    cluster_rules = {
        (r["apiGroups"][0], r["resources"][0]): set(r["verbs"]) for r in cluster_role["rules"]
    }
    assert "delete" not in cluster_rules[("", "namespaces")]
    assert cluster_rules[("", "nodes")] == {"list"}
    assert api.requests == []  # printing the Role needs no cluster


def test_exec_credential_plugin_kubeconfig(api: FakeKubeApi, tmp_path: Path) -> None:
    """An OIDC-style exec plugin (here a tiny script) provides the bearer token."""
    plugin = tmp_path / "plugin.py"
    plugin.write_text(
        "import json\nprint(json.dumps({'apiVersion': 'client.authentication.k8s.io/v1', "
        f"'kind': 'ExecCredential', 'status': {{'token': '{TOKEN}'}}}}))\n"
    )
    user = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": sys.executable,
            "args": [str(plugin)],
            "interactiveMode": "Never",
        }
    }
    kc = api.kubeconfig(tmp_path / "exec-kubeconfig", user=user)
    code, out, err = deploy("--kubeconfig", str(kc), "--dry-run", "-o", "json")
    assert code == 0, err
    assert json.loads(out)["outcome"] == "dry-run"


def test_wrong_token_and_unreachable_server_are_environment_errors(
    api: FakeKubeApi, tmp_path: Path
) -> None:
    kc = api.kubeconfig(tmp_path / "bad", user={"token": "wrong"})
    code, _, err = deploy("--kubeconfig", str(kc))
    assert code == 3 and "401 Unauthorized" in err and "log in again" in err
    url = api.url
    api.stop()
    doc = yaml.safe_load((tmp_path / "bad").read_text())
    doc["clusters"][0]["cluster"]["server"] = url
    (tmp_path / "bad").write_text(yaml.safe_dump(doc))
    code, _, err = deploy("--kubeconfig", str(kc))
    assert code == 3 and "does not answer" in err and "connection refused" in err
    assert "MaxRetryError" not in err and "urllib3" not in err
    # a name that does not resolve (the .invalid TLD never does, RFC 2606)
    doc["clusters"][0]["cluster"]["server"] = "https://no-such-host.invalid:6443"
    (tmp_path / "bad").write_text(yaml.safe_dump(doc))
    code, _, err = deploy("--kubeconfig", str(kc))
    assert code == 3 and "DNS name not found" in err, err


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl to make a CA")
def test_kubeconfig_ca_bundle_over_https(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    cert, key = tmp_path / "ca.pem", tmp_path / "ca.key"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    with FakeKubeApi(token=TOKEN, tls=(cert, key), kubelet=kubelet_ready()) as fake:
        seed_cluster(fake)
        kc = fake.kubeconfig(tmp_path / "kc", ca_file=cert)
        code, out, err = deploy("--kubeconfig", str(kc), "-o", "json")
        assert code == 0, err
        assert json.loads(out)["replicas_ready"] == 1
        # without the CA bundle the server is not trusted
        doc = yaml.safe_load(kc.read_text())
        del doc["clusters"][0]["cluster"]["certificate-authority"]
        kc.write_text(yaml.safe_dump(doc))
        code, _, err = deploy("--kubeconfig", str(kc))
        assert code == 3
        assert "TLS certificate not trusted" in err and "certificate-authority" in err
        assert "SSLError" not in err and "MaxRetryError" not in err


# --- kubeconfig selection and parsing --------------------------------------------------------


def test_kubeconfig_env_naming_missing_files_never_falls_back_to_home(
    api: FakeKubeApi, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """kubectl uses only the files $KUBECONFIG names; ~/.kube/config may be another cluster."""
    home = tmp_path / "h"
    (home / ".kube").mkdir(parents=True)
    api.kubeconfig(home / ".kube" / "config")  # a reachable cluster: the wrong one here
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("KUBECONFIG", "./typo")
    for args in (
        ("deploy", str(DATA / "plan-single-node.yaml"), "--site", str(DATA / "site.yaml")),
        ("status", "--site", str(DATA / "site.yaml")),
    ):
        code, _, err = invoke(*args)
        assert code == 3, err
        assert "KUBECONFIG names no existing kubeconfig file: typo" in err
    assert api.requests == []  # never connected to the cluster in ~/.kube/config
    # missing names next to an existing file are skipped, as kubectl does
    real = api.kubeconfig(tmp_path / "real")
    monkeypatch.setenv("KUBECONFIG", f"./typo:{real}")
    code, out, err = deploy("--dry-run", "-o", "json")
    assert code == 0, err
    assert json.loads(out)["outcome"] == "dry-run"


@pytest.mark.parametrize("text", ["garbage: [", "- just\n- a list\n"])
def test_malformed_kubeconfig_is_exit_3_naming_the_file(
    api: FakeKubeApi, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, text: str
) -> None:
    bad = tmp_path / "bad-kubeconfig"
    bad.write_text(text)
    site = ["--site", str(DATA / "site.yaml")]
    plan = str(DATA / "plan-single-node.yaml")
    for args in (
        ("deploy", plan, *site, "--kubeconfig", str(bad)),
        ("status", *site, "--kubeconfig", str(bad)),
        ("rollback", *site, "--kubeconfig", str(bad)),
        ("destroy", *site, "--yes", "--kubeconfig", str(bad)),
    ):
        code, _, err = invoke(*args)  # any other exception (a traceback) is raised here
        assert code == 3, (args, err)
        assert f"the kubeconfig {bad} is not" in err, err
    monkeypatch.setenv("KUBECONFIG", str(bad))
    code, _, err = invoke("deploy", plan, *site)
    assert code == 3 and str(bad) in err
    assert api.requests == []


# --- GPUs in use -------------------------------------------------------------------------------


def gpu_pod(
    name: str, node_name: str, gpus: int, namespace: str = "research", **extra: Any
) -> dict[str, Any]:
    resources = extra.pop("resources", {"requests": {"nvidia.com/gpu": str(gpus)}})
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "nodeName": node_name,
            "containers": [
                {"name": "main", "image": "registry.bank.internal/x:1", "resources": resources}
            ],
        },
        "status": {"phase": extra.pop("phase", "Running")},
    }


def test_busy_gpu_node_fails_preflight_before_anything_is_applied(api: FakeKubeApi) -> None:
    """Allocatable is not free: other teams' pods hold GPUs on both nodes."""
    api.seed(gpu_pod("train-1", "gpu-zh1-a", 4))
    # only a limit: the API server defaults the request of an extended resource to it
    api.seed(gpu_pod("infer-2", "gpu-zh1-b", 2, resources={"limits": {"nvidia.com/gpu": "2"}}))
    api.seed(gpu_pod("done-3", "gpu-zh1-b", 8, phase="Succeeded"))  # terminated: holds nothing
    code, _, err = deploy()
    assert code == 3, err
    assert "preflight gpu-capacity: need 1 pod(s) x 8 nvidia.com/gpu" in err
    assert "gpu-zh1-a 4 free of 8 allocatable" in err
    assert "gpu-zh1-b 6 free of 8 allocatable" in err
    assert "nothing was applied" in err
    assert api.writes() == []
    assert swissai_objects(api) == []
    # the scheduler would place it once the training pod is gone
    with api.lock:
        api.delete(("", "pods", "research", "train-1"), dry=False)
    code, _, err = deploy()
    assert code == 0, err


def test_redeploy_counts_the_gpus_of_its_own_pods_as_free(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    with FakeKubeApi(token=TOKEN, kubelet=kubelet_ready(node="gpu-zh1-a")) as fake:
        seed_cluster(fake, [node("gpu-zh1-a", 8)])
        monkeypatch.setenv("KUBECONFIG", str(fake.kubeconfig(tmp_path / "kc")))
        assert deploy()[0] == 0
        [pod] = fake.list("Pod", NS)
        assert pod["spec"]["nodeName"] == "gpu-zh1-a"  # all 8 GPUs of the node are its
        # a new revision replaces that pod: its GPUs are not in the way
        code, _, err = deploy(plan="plan-single-node-long.yaml")
        assert code == 0, err
        # another team's pod on the same node is (its own 8 count as free, that one not)
        fake.seed(gpu_pod("train-1", "gpu-zh1-a", 1))
        code, _, err = deploy()
        assert code == 3 and "gpu-zh1-a 7 free of 8 allocatable" in err, err


# --- the EXAMPLE values of swissai init ------------------------------------------------------


def test_example_values_of_init_are_refused_before_preflight(
    api: FakeKubeApi, tmp_path: Path
) -> None:
    site = yaml.safe_load((DATA / "site.yaml").read_text())
    site["image"]["digest"] = "sha256:" + "0" * 64
    site["model"]["revision"] = "0" * 40
    site["model"]["manifest_sha256"] = "0" * 64
    path = tmp_path / "site-example.yaml"
    path.write_text(yaml.safe_dump(site))
    base = ["deploy", str(DATA / "plan-single-node.yaml"), "--site", str(path)]
    for extra in ([], ["--skip-check-gate", "CHG-1 approved"], ["--dry-run"]):
        code, _, err = invoke(*base, *extra)
        assert code == 2, err
        message = err.splitlines()[0] if err else ""
        assert (
            "still has the EXAMPLE values of image.digest, model.revision, "
            "model.manifest_sha256; nothing was applied" in message
        ), err
        assert "replace them" in err
    assert api.requests == []  # refused before connecting, so before preflight
    # one placeholder is named alone
    site["image"]["digest"] = "sha256:" + "a" * 64
    site["model"]["manifest_sha256"] = "2" * 64
    path.write_text(yaml.safe_dump(site))
    code, _, err = invoke(*base)
    assert code == 2 and "EXAMPLE values of model.revision;" in err
    # printing the Role needs no real values
    code, out, err = invoke(*base, "--print-rbac")
    assert code == 0 and "kind: Role" in out, err


# --- the printed Role is enough, and every rule of it is needed ------------------------------


def test_printed_rbac_is_enough_for_the_whole_lifecycle_and_each_rule_is_needed(
    api: FakeKubeApi, tmp_path: Path
) -> None:
    code, out, err = deploy("--print-rbac")
    assert code == 0, err
    printed = [d for d in yaml.safe_load_all(out) if d]
    assert [d["kind"] for d in printed] == ["Role", "ClusterRole"]
    api.grant(printed)  # from here on: exactly these rules, everything else is 403
    site = ["--site", str(DATA / "site.yaml")]
    code, out, err = deploy("-o", "json")
    assert code == 0, err
    first = json.loads(out)["revision"]
    code, _, err = deploy(plan="plan-single-node-long.yaml")
    assert code == 0, err
    code, out, err = invoke("status", *site, "-o", "json")
    assert code == 0 and json.loads(out)["replicas_ready"] == 1, err
    code, _, err = invoke("rollback", *site, "--timeout", "20")
    assert code == 0 and f"to {first}" in err, err
    # a failed deploy rolled back deletes what it added
    api.kubelet = kubelet_oom()
    code, _, err = deploy("--rollback-on-failure", plan="plan-single-node-long.yaml")
    assert code == 5 and "rolled back to revision " + first in err.replace("Rolled", "rolled")
    api.kubelet = kubelet_ready()
    code, _, err = invoke("destroy", *site, "--yes", "--export", str(tmp_path / "export.json"))
    assert code == 0, err
    assert api.get("Deployment", "gpt-oss-120b", NS) is None
    # the grants are enforced on the requests themselves, not only in the access reviews
    role, cluster_role = printed
    no_records = [r for r in role["rules"] if r["resources"] != ["configmaps"]]
    api.grant([{**role, "rules": no_records}, cluster_role])
    code, _, err = invoke("status", *site)
    assert code == 3 and "cannot read the deployment records" in err and "403" in err
    # without any one printed rule the deploy stops in preflight, before any write
    writes = len(api.writes())
    for doc_index, doc in enumerate(printed):
        for rule_index, rule in enumerate(doc["rules"]):
            reduced = [dict(d) for d in printed]
            reduced[doc_index] = {
                **doc,
                "rules": [r for i, r in enumerate(doc["rules"]) if i != rule_index],
            }
            api.grant(reduced)
            code, _, err = deploy()
            assert code == 3, (rule, err)
            assert "preflight rbac: not allowed to" in err, (rule, err)
            assert rule["resources"][0].split("/")[0] in err, (rule, err)
    assert len(api.writes()) == writes
