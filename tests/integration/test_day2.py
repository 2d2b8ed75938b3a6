"""Day 2 against the stateful fake API server: `history`, `rollback --to`, `diff --live`,
`backup` and `restore`.

The real kubernetes client talks HTTP to tests/fakes/fake_kube_api.py (as in test_deploy.py);
backups are real gzip'd tar files, encrypted with the real `cryptography` Fernet. The restore
proof: deploy, back up, destroy (or a new cluster), restore, then every object swissai created
equals the original except server-set fields.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest
from fakes.fake_kube_api import FakeKubeApi, kubelet_ready
from test_deploy import (  # the fixture and helpers of the deploy tests
    DATA,
    NS,
    TOKEN,
    deploy,
    invoke,
    records,
    seed_cluster,
)
from test_deploy import (
    api as _api_fixture,  # noqa: F401 - its `api` fixture, used below
)

SITE = ["--site", str(DATA / "site.yaml")]
SERVER_SET = ("uid", "resourceVersion", "generation", "creationTimestamp", "managedFields")


@pytest.fixture
def api(_api_fixture: FakeKubeApi) -> FakeKubeApi:  # noqa: F811 - the imported fixture
    """The seeded fake cluster of tests/integration/test_deploy.py (its `api` fixture)."""
    return _api_fixture


def created_objects(api: FakeKubeApi) -> dict[str, Any]:
    """Every object swissai created (only field manager swissai on it, no kubelet/controller
    child), without the fields the server sets: what a restore must reproduce."""
    out = {}
    with api.lock:
        for key, obj in api.objects.items():
            owners = api.owners.get(key, {})
            if set(owners) != {"swissai"} or obj["kind"] == "Pod":
                continue
            if obj["kind"] == "ConfigMap" and obj["metadata"]["name"].startswith("swissai-record-"):
                continue
            clean = {k: v for k, v in obj.items() if k != "status"}
            clean["metadata"] = {k: v for k, v in obj["metadata"].items() if k not in SERVER_SET}
            out[f"{obj['kind']}/{key[3]}"] = json.loads(json.dumps(clean))
    return out


def test_history_lists_the_records_and_rollback_to_any_of_them(api: FakeKubeApi) -> None:
    code, out, err = deploy("-o", "json")
    assert code == 0, err
    first = json.loads(out)["revision"]
    code, out, err = deploy("-o", "json", plan="plan-single-node-long.yaml")
    assert code == 0, err
    second = json.loads(out)["revision"]
    code, out, err = invoke("history", *SITE, "-o", "json")
    assert code == 0, err
    history = json.loads(out)
    assert [r["revision"] for r in history["records"]] == [first, second]
    assert history["current_revision"] == second
    entry = history["records"][0]
    assert entry["deployed_by"] == "alice@bank.internal"
    assert entry["model_revision"] == "1" * 40 and entry["outcome"] == "succeeded"
    assert any("@sha256:" in image for image in entry["images"])
    # the table marks the current revision
    code, out, _ = invoke("history", *SITE)
    assert code == 0
    current = [line for line in out.splitlines() if line.startswith("*")]
    assert len(current) == 1 and second in current[0]
    # rollback --to a revision the history names (a prefix is enough)
    code, _, err = invoke("rollback", *SITE, "--to", first[:8], "--timeout", "20")
    assert code == 0, err
    dep = api.get("Deployment", "gpt-oss-120b", NS)
    assert dep is not None and dep["metadata"]["annotations"]["swissai.io/revision"] == first
    code, out, _ = invoke("history", *SITE, "-o", "json")
    history = json.loads(out)
    assert history["current_revision"] == first
    assert history["records"][-1]["outcome"] == "rolled-back"
    code, _, err = invoke("rollback", *SITE, "--to", "ffffffff")
    assert code == 2 and "no verified deployment record" in err


def test_diff_live_names_what_the_new_plan_changes(api: FakeKubeApi) -> None:
    assert deploy()[0] == 0
    code, out, err = invoke(
        "diff", "--live", str(DATA / "plan-single-node-long.yaml"), *SITE, "-o", "json"
    )
    assert code == 0, err
    result = json.loads(out)
    assert result["old"].startswith(f"live:{NS}/gpt-oss-120b@")
    keys = {c["key"] for c in result["changes"]}
    assert "vllm.args.--max-model-len" in keys
    assert result["restart"] is True and result["more_gpus"] == 0
    # the same plan: no change
    code, out, err = invoke(
        "diff", "--live", str(DATA / "plan-single-node.yaml"), *SITE, "-o", "json"
    )
    assert code == 0, err
    assert json.loads(out)["changes"] == [] and json.loads(out)["restart"] is False


def _backup(tmp_path: Path, *extra: str) -> tuple[int, str, str]:
    return invoke(
        "backup",
        *SITE,
        "--out",
        str(tmp_path / "stack.swb"),
        "--plan",
        str(DATA / "plan-single-node.yaml"),
        "-o",
        "json",
        *extra,
    )


def test_backup_destroy_restore_reproduces_the_objects(api: FakeKubeApi, tmp_path: Path) -> None:
    assert deploy()[0] == 0
    original = created_objects(api)
    assert "Deployment/gpt-oss-120b" in original and "Service/gpt-oss-120b" in original
    code, out, err = _backup(tmp_path)
    assert code == 0, err
    result = json.loads(out)
    assert result["encrypted"] is False and "NOT encrypted" in err
    assert result["records"] == 1 and result["objects"] >= len(original)
    with tarfile.open(tmp_path / "stack.swb") as tar:
        names = tar.getnames()
    assert names[0] == "backup.json"
    assert {"files/site.yaml", "files/plan-single-node.yaml", "weights.json"} <= set(names)
    code, _, err = invoke("destroy", *SITE, "--yes", "--export", str(tmp_path / "export.json"))
    assert code == 0, err
    assert api.get("Deployment", "gpt-oss-120b", NS) is None
    code, out, err = invoke("restore", str(tmp_path / "stack.swb"), "-o", "json")
    assert code == 0, err
    restored = json.loads(out)
    assert restored["skipped_records"] == 1  # the record stayed (destroy keeps the audit trail)
    assert "all equal the backup" in err
    assert created_objects(api) == original
    # status sees the restored revision again (a `restored` record after the destroy one)
    code, out, err = invoke("status", *SITE, "-o", "json", "--timeout", "20")
    assert code == 0, err
    status = json.loads(out)
    assert (
        status["deployed"] is True
        and status["revision"]
        == original["Deployment/gpt-oss-120b"]["metadata"]["annotations"]["swissai.io/revision"]
    )
    assert [r["outcome"] for r in records(api)][-2:] == ["destroyed", "restored"]
    # a second restore converges: nothing new, still equal
    code, _, err = invoke("restore", str(tmp_path / "stack.swb"))
    assert code == 0, err
    assert created_objects(api) == original


def test_encrypted_backup_restores_into_a_new_cluster(
    api: FakeKubeApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert deploy()[0] == 0
    original = created_objects(api)
    key = tmp_path / "backup.key"
    code, _, err = invoke("backup", "--new-key", str(key))
    assert code == 0, err
    assert key.stat().st_mode & 0o777 == 0o600
    code, _, err = invoke("backup", "--new-key", str(key))
    assert code == 2 and "never overwritten" in err
    code, out, err = _backup(tmp_path, "--key-file", str(key))
    assert code == 0, err
    assert json.loads(out)["encrypted"] is True
    data = (tmp_path / "stack.swb").read_bytes()
    assert data.startswith(b"swissai-backup-fernet-v1\n") and b"gpt-oss-120b" not in data
    # a new cluster: the platform team prepared nodes, storage, the namespace and the weights
    fresh = FakeKubeApi(token=TOKEN, kubelet=kubelet_ready())
    fresh.start()
    try:
        seed_cluster(fresh)
        monkeypatch.setenv("KUBECONFIG", str(fresh.kubeconfig(tmp_path / "kubeconfig-new")))
        code, _, err = invoke("restore", str(tmp_path / "stack.swb"))
        assert code == 2 and "encrypted" in err and "--key-file" in err
        assert fresh.writes() == []
        code, out, err = invoke(
            "restore", str(tmp_path / "stack.swb"), "--key-file", str(key), "-o", "json"
        )
        assert code == 0, err
        assert json.loads(out)["records"] == 1
        assert created_objects(fresh) == original
        code, out, err = invoke("history", *SITE, "-o", "json")
        assert code == 0, err
        assert [r["outcome"] for r in json.loads(out)["records"]] == ["succeeded", "restored"]
        assert json.loads(out)["ignored_records"] == []  # the restored records verify
    finally:
        fresh.stop()


def _rewrite_member(path: Path, name: str, mutate: Any) -> None:
    with tarfile.open(path) as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar}  # type: ignore[union-attr]
    members[name] = mutate(members[name])
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for member, data in members.items():
            info = tarfile.TarInfo(member)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    path.write_bytes(buffer.getvalue())


def test_restore_refuses_bad_backups_and_foreign_objects(api: FakeKubeApi, tmp_path: Path) -> None:
    assert deploy()[0] == 0
    assert _backup(tmp_path)[0] == 0
    backup = tmp_path / "stack.swb"
    # a tampered member: exit 1 naming it, nothing written
    tampered = tmp_path / "tampered.swb"
    tampered.write_bytes(backup.read_bytes())
    with tarfile.open(backup) as tar:
        name = next(n for n in tar.getnames() if n.startswith("intent/"))
    _rewrite_member(tampered, name, lambda d: d.replace(b"gpt-oss-120b", b"gpt-oss-666b", 1))
    writes = len(api.writes())
    code, _, err = invoke("restore", str(tampered))
    assert code == 1 and name in err and "sha256" in err
    # a crafted intent whose hash is rewritten too: not the objects of any verified record
    crafted = tmp_path / "crafted.swb"
    crafted.write_bytes(backup.read_bytes())
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": "gpt-oss-120b-admin"},
        "roleRef": {"kind": "ClusterRole", "name": "cluster-admin", "apiGroup": ""},
    }

    def add_binding(data: bytes) -> bytes:
        return json.dumps([*json.loads(data), binding]).encode()

    _rewrite_member(crafted, name, add_binding)
    with tarfile.open(crafted) as tar:
        forged = tar.extractfile(name).read()  # type: ignore[union-attr]

    def rehash(data: bytes) -> bytes:
        index = json.loads(data)
        index["members"][name]["sha256"] = hashlib.sha256(forged).hexdigest()
        return json.dumps(index).encode()

    _rewrite_member(crafted, "backup.json", rehash)
    code, _, err = invoke("restore", str(crafted))
    assert code == 1 and "not the objects of any of its verified records" in err, err
    # truncated
    truncated = tmp_path / "truncated.swb"
    truncated.write_bytes(backup.read_bytes()[:200])
    code, _, err = invoke("restore", str(truncated))
    assert code == 1 and "truncated" in err
    # the wrong key for an encrypted backup
    key, other = tmp_path / "k1", tmp_path / "k2"
    assert invoke("backup", "--new-key", str(key))[0] == 0
    assert invoke("backup", "--new-key", str(other))[0] == 0
    code, _, err = invoke(
        "backup", *SITE, "--out", str(tmp_path / "enc.swb"), "--key-file", str(key)
    )
    assert code == 0, err
    code, _, err = invoke("restore", str(tmp_path / "enc.swb"), "--key-file", str(other))
    assert code == 1 and "key does not open it" in err
    code, _, err = invoke("restore", str(tmp_path / "missing.swb"))
    assert code == 2 and "missing.swb" in err
    assert len(api.writes()) == writes
    # a foreign object in the way: destroy, then another team creates the Service
    assert invoke("destroy", *SITE, "--yes", "--export", str(tmp_path / "x.json"))[0] == 0
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "gpt-oss-120b", "namespace": NS},
        "spec": {"ports": [{"port": 80}]},
    }
    api.seed(service, manager="kubectl")
    writes = len(api.writes())
    code, _, err = invoke("restore", str(backup))
    assert code == 1 and "Service/swissai-llm/gpt-oss-120b exists and is not swissai's" in err
    assert "nothing was restored" in err
    assert len(api.writes()) == writes
    assert api.get("Deployment", "gpt-oss-120b", NS) is None


def test_a_backup_after_destroy_restores_the_records_only(
    api: FakeKubeApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert deploy()[0] == 0
    assert invoke("destroy", *SITE, "--yes", "--export", str(tmp_path / "x.json"))[0] == 0
    code, out, err = _backup(tmp_path)
    assert code == 0, err
    assert json.loads(out)["objects"] == 0
    fresh = FakeKubeApi(token=TOKEN, kubelet=kubelet_ready())
    fresh.start()
    try:
        seed_cluster(fresh)
        monkeypatch.setenv("KUBECONFIG", str(fresh.kubeconfig(tmp_path / "kubeconfig-new")))
        code, out, err = invoke("restore", str(tmp_path / "stack.swb"), "-o", "json")
        assert code == 0, err
        result = json.loads(out)
        assert result["records"] == 2 and result["objects"] == [] and result["record"] is None
        assert fresh.get("Deployment", "gpt-oss-120b", NS) is None
        code, out, _ = invoke("status", *SITE, "-o", "json")
        assert json.loads(out)["deployed"] is False  # the destroy is part of the history
    finally:
        fresh.stop()


def test_restore_into_a_cluster_without_the_namespace(
    api: FakeKubeApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert deploy()[0] == 0
    original = created_objects(api)
    assert _backup(tmp_path)[0] == 0
    fresh = FakeKubeApi(token=TOKEN, kubelet=kubelet_ready())
    fresh.start()
    try:
        seed_cluster(fresh)
        with fresh.lock:  # a new cluster: nodes and storage, no namespace yet
            fresh._remove(next(k for k in fresh.objects if k[1] == "namespaces" and k[3] == NS))
        monkeypatch.setenv("KUBECONFIG", str(fresh.kubeconfig(tmp_path / "kubeconfig-new")))
        code, out, err = invoke("restore", str(tmp_path / "stack.swb"), "--dry-run", "-o", "json")
        assert code == 0, err
        assert json.loads(out)["dry_run"] is True and "nothing was changed" in err
        assert fresh.writes() == [] and fresh.get("Namespace", NS) is None
        code, _, err = invoke("restore", str(tmp_path / "stack.swb"))
        assert code == 0, err
        namespace = fresh.get("Namespace", NS)
        assert namespace is not None
        labels = namespace["metadata"]["labels"]
        assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
        restored = created_objects(fresh)
        assert f"Namespace/{NS}" in restored  # created by the restore this time
        assert {k: v for k, v in restored.items() if k != f"Namespace/{NS}"} == original
    finally:
        fresh.stop()
