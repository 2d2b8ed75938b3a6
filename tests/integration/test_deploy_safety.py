"""Deploy, rollback and destroy never lose data and never act on what they do not own (issue 19).

Against the stateful fake API server (tests/fakes/fake_kube_api.py) through the real kubernetes
client over HTTP; nothing in swissai or the client is patched. Each test is the regression test
of one defect: interrupted deploys that left no record, workloads sharing one namespace that
shared records, rollback/destroy deleting objects swissai only adopted, forged records acted on,
a bad record file found only after the apply, schema errors of a first install found mid-apply,
rollback forcing over other managers' changes, and flag values let through.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fakes.fake_kube_api import FakeKubeApi, kubelet_by_annotation, kubelet_oom, kubelet_ready
from test_deploy import (  # the fixture and helpers of the deploy tests
    DATA,
    NS,
    deploy,
    invoke,
    records,
    swissai_objects,
)
from test_deploy import (
    api as _api_fixture,  # noqa: F401 - its `api` fixture, used below
)

SITE = DATA / "site.yaml"


@pytest.fixture
def api(_api_fixture: FakeKubeApi) -> FakeKubeApi:  # noqa: F811 - the imported fixture
    """The seeded fake cluster of tests/integration/test_deploy.py (its `api` fixture)."""
    return _api_fixture


def site_file(tmp_path: Path, filename: str, **changes: Any) -> Path:
    """The test site profile with `changes` (dotted keys) applied, as tmp_path/filename."""
    data = yaml.safe_load(SITE.read_text(encoding="utf-8"))
    for dotted, value in changes.items():
        node = data
        *parents, last = dotted.split(".")
        for key in parents:
            node = node[key]
        node[last] = value
    path = tmp_path / filename
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def deploy_with(
    site: Path, *extra: str, plan: str = "plan-single-node.yaml"
) -> tuple[int, str, str]:
    return invoke("deploy", str(DATA / plan), "--site", str(site), "--timeout", "20", *extra)


# --- interruption --------------------------------------------------------------------------


def _start_deploy(api: FakeKubeApi, tmp_path: Path, *extra: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("SWISSAI_DEBUG", "CI")}
    env["NO_PROXY"] = "127.0.0.1,localhost"
    env["KUBECONFIG"] = str(api.kubeconfig(tmp_path / "kubeconfig"))
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "swissai",
            "deploy",
            str(DATA / "plan-single-node.yaml"),
            "--site",
            str(SITE),
            "--timeout",
            "120",
            "--record-file",
            str(tmp_path / "records.jsonl"),
            *extra,
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _signal_while_pending(api: FakeKubeApi, proc: subprocess.Popen[str], sig: int) -> str:
    """Wait until the pod exists and stays Pending (the kubelet never starts it), signal."""
    deadline = time.monotonic() + 60
    while not api.list("Pod", NS):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no pod was created"
        time.sleep(0.1)
    time.sleep(1.0)  # the deploy is in its wait now
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    return err


@pytest.mark.slow
def test_sigterm_during_wait_records_the_interrupted_deploy_and_exits_143(
    api: FakeKubeApi, tmp_path: Path
) -> None:
    """A cancelled CI job: the record says what was applied; status and destroy see it."""
    api.kubelet = None  # pods stay Pending
    proc = _start_deploy(api, tmp_path, "--no-rollback-on-failure")
    err = _signal_while_pending(api, proc, signal.SIGTERM)
    assert proc.returncode == 143, err
    assert "interrupted by SIGTERM during wait" in err
    assert "Traceback" not in err
    [record] = records(api)
    assert record["outcome"] == "interrupted"
    assert "Deployment/swissai-llm/gpt-oss-120b" in record["applied"]
    local = (tmp_path / "records.jsonl").read_text().splitlines()
    assert [json.loads(line)["outcome"] for line in local] == ["interrupted"]
    assert api.get("Deployment", "gpt-oss-120b", NS) is not None  # left as it was (no rollback)
    code, out, err = invoke("status", "--site", str(SITE), "-o", "json")
    assert code == 0, err
    status = json.loads(out)
    assert status["deployed"] is True and status["last_outcome"].startswith("interrupted")
    code, _, err = invoke("destroy", "--site", str(SITE), "--yes", "--export", str(tmp_path / "e"))
    assert code == 0, err
    assert api.get("Deployment", "gpt-oss-120b", NS) is None


@pytest.mark.slow
def test_sigint_during_wait_rolls_back_when_asked_and_exits_130(
    api: FakeKubeApi, tmp_path: Path
) -> None:
    api.kubelet = None
    proc = _start_deploy(api, tmp_path, "--rollback-on-failure")
    err = _signal_while_pending(api, proc, signal.SIGINT)
    assert proc.returncode == 130, err
    assert "interrupted by SIGINT during wait: Rolled back" in err
    [record] = records(api)
    assert record["outcome"] == "failed-rolled-back"
    assert api.get("Deployment", "gpt-oss-120b", NS) is None  # it created it: deleted
    assert api.get("PersistentVolumeClaim", "swissai-models", NS) is not None  # not its own


@pytest.mark.slow
def test_sigterm_during_apply_applies_nothing_more_and_records_what_was_applied(
    api: FakeKubeApi, tmp_path: Path
) -> None:
    api.write_delay_s = 0.4  # 12 objects: about 5 s of apply
    proc = _start_deploy(api, tmp_path, "--no-rollback-on-failure")
    deadline = time.monotonic() + 60
    while len(swissai_objects(api)) < 3:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the apply did not start"
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert "interrupted by SIGTERM during apply" in err
    [record] = records(api)
    assert record["outcome"] == "interrupted"
    applied = record["applied"]
    assert 3 <= len(applied) < len(record["objects"])
    # the request in flight finished, nothing after it was applied
    live = {ref.split("/", 1)[0] + "/" + ref.rsplit("/", 1)[-1] for ref in applied}
    assert set(swissai_objects(api)) - {"ConfigMap/" + n for n in _record_names(api)} == live
    assert api.get("Deployment", "gpt-oss-120b", NS) is None


@pytest.mark.slow
def test_sigterm_during_rollback_stops_between_writes_and_exits_143(
    api: FakeKubeApi, tmp_path: Path
) -> None:
    assert deploy()[0] == 0
    assert deploy(plan="plan-single-node-long.yaml")[0] == 0
    api.write_delay_s = 0.5
    env = {k: v for k, v in os.environ.items() if k not in ("SWISSAI_DEBUG", "CI")}
    env["KUBECONFIG"] = str(api.kubeconfig(tmp_path / "kubeconfig"))
    writes_before = len(api.writes())
    proc = subprocess.Popen(
        [sys.executable, "-m", "swissai", "rollback", "--site", str(SITE), "--timeout", "60"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while len(api.writes()) <= writes_before:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the roll back did not start writing"
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert "interrupted: stopped by SIGTERM after re-applying" in err
    # the write in flight, then only the record of the interruption
    assert len(api.writes()) - writes_before <= 3
    assert records(api)[-1]["outcome"] == "interrupted"
    # running it again finishes the roll back
    api.write_delay_s = 0.0
    code, _, err = invoke("rollback", "--site", str(SITE), "--timeout", "20")
    assert code == 0, err
    assert records(api)[-1]["outcome"] == "rolled-back"


def _record_names(api: FakeKubeApi) -> list[str]:
    return [
        c["metadata"]["name"]
        for c in api.list("ConfigMap", NS)
        if c["metadata"]["name"].startswith("swissai-record-")
    ]


# --- scope: two workloads in one namespace ---------------------------------------------------


def test_two_workloads_in_one_namespace_have_their_own_records(
    api: FakeKubeApi, tmp_path: Path
) -> None:
    site_a = site_file(tmp_path, "a.yaml", name="llm-a")
    site_b = site_file(tmp_path, "b.yaml", name="llm-b")
    code, out, err = deploy_with(site_a, "-o", "json")
    assert code == 0, err
    revision_a = json.loads(out)["revision"]
    # b's first deploy fails: its roll back must not "return" to a's revision
    api.kubelet = kubelet_by_annotation(
        "swissai.io/revision", {revision_a: kubelet_ready()}, kubelet_oom()
    )
    code, _, err = deploy_with(site_b, "--rollback-on-failure")
    assert code == 5, err
    assert "there was no previous revision" in err
    assert api.get("Deployment", "llm-b", NS) is None
    dep_a = api.get("Deployment", "llm-a", NS)
    assert dep_a is not None and dep_a["metadata"]["annotations"]["swissai.io/revision"] == (
        revision_a
    )
    api.kubelet = kubelet_ready()
    code, out, err = deploy_with(site_b, "-o", "json")
    assert code == 0, err
    code, out, err = invoke("status", "--site", str(site_a), "-o", "json")
    assert code == 0, err
    status = json.loads(out)
    assert status["workload"] == "llm-a" and status["revision"] == revision_a
    # two workloads and no name: status asks which
    code, _, err = invoke("status", "--namespace", NS)
    assert code == 2 and "--workload" in err
    code, _, err = invoke(
        "destroy", "--site", str(site_a), "--yes", "--export", str(tmp_path / "x")
    )
    assert code == 0, err
    assert api.get("Deployment", "llm-a", NS) is None
    assert api.get("Deployment", "llm-b", NS) is not None
    assert api.get("Service", "llm-b", NS) is not None


# --- ownership: created vs adopted --------------------------------------------------------------


def test_rollback_and_destroy_never_delete_an_adopted_claim(
    api: FakeKubeApi, tmp_path: Path
) -> None:
    """The storage team's claim holding the weights, adopted when a later revision renders it
    (storage.pvc.create: true), survives rollback and destroy; swissai only releases its
    fields."""
    code, _, err = deploy()
    assert code == 0, err
    adopting = site_file(tmp_path, "adopt.yaml", **{"storage.pvc.create": True})
    code, out, err = deploy_with(adopting, "-o", "json")
    assert code == 0, err
    assert json.loads(out)["changes"]["PersistentVolumeClaim/swissai-llm/swissai-models"] == (
        "update"
    )
    assert records(api)[-1]["ownership"]["PersistentVolumeClaim/swissai-llm/swissai-models"] == (
        "adopted"
    )
    assert "swissai" in api.managers("PersistentVolumeClaim", "swissai-models", NS)
    code, _, err = invoke("rollback", "--site", str(adopting), "--timeout", "20")
    assert code == 0, err
    claim = api.get("PersistentVolumeClaim", "swissai-models", NS)
    assert claim is not None, "rollback deleted the storage team's claim"
    assert claim["spec"]["accessModes"] == ["ReadOnlyMany"]
    assert "swissai" not in api.managers("PersistentVolumeClaim", "swissai-models", NS)
    assert "released swissai's fields" in err
    code, _, err = deploy_with(adopting)
    assert code == 0, err
    code, _, err = invoke(
        "destroy", "--site", str(adopting), "--yes", "--export", str(tmp_path / "e")
    )
    assert code == 0, err
    assert api.get("Deployment", "gpt-oss-120b", NS) is None
    assert api.get("PersistentVolumeClaim", "swissai-models", NS) is not None


# --- trust in records -------------------------------------------------------------------------


def _forged(
    api: FakeKubeApi, name: str, genuine: dict[str, Any], manager: str, **edit: Any
) -> None:
    """A record ConfigMap made by someone else from a genuine one (a newer id)."""
    from swissai.services.deploy_steps import record_digest

    record = json.loads(genuine["data"]["record.json"])
    record.update(edit.pop("record", {}))
    manifests = edit.pop("manifests", genuine["data"]["manifests.yaml"])
    record_json = json.dumps(record, indent=2)
    meta = genuine["metadata"]
    cm = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name,
            "namespace": NS,
            "labels": dict(meta["labels"]),
            "annotations": {
                **meta["annotations"],
                "swissai.io/record-sha256": record_digest(record_json, manifests),
            },
        },
        "immutable": True,
        "data": {"record.json": record_json, "manifests.yaml": manifests},
    }
    api.apply_as(manager, cm, force=False)


def _record_maps(api: FakeKubeApi) -> list[dict[str, Any]]:
    return sorted(
        (
            c
            for c in api.list("ConfigMap", NS)
            if c["metadata"]["name"].startswith("swissai-record-")
        ),
        key=lambda c: c["metadata"]["creationTimestamp"] + c["metadata"]["name"],
    )


def test_forged_records_are_ignored_with_a_warning_and_never_acted_on(
    api: FakeKubeApi, tmp_path: Path
) -> None:
    code, out, err = deploy("-o", "json")
    assert code == 0, err
    first = json.loads(out)["revision"]
    code, out, err = deploy("-o", "json", plan="plan-single-node-long.yaml")
    assert code == 0, err
    second = json.loads(out)["revision"]
    genuine = _record_maps(api)[0]
    # 1) anyone with ConfigMap create: a "newer" revision whose namespace is privileged
    privileged = genuine["data"]["manifests.yaml"].replace(
        "pod-security.kubernetes.io/enforce: restricted",
        "pod-security.kubernetes.io/enforce: privileged",
    )
    assert privileged != genuine["data"]["manifests.yaml"]
    _forged(
        api,
        "swissai-record-29990101t000000000000z-f0f0f0f0",
        genuine,
        "mallory",
        record={"revision": "f0f0f0f0f0f0"},
        manifests=privileged,
    )
    # 2) imitating swissai's field manager and hash, naming another team's object
    api.seed(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "payments-config", "namespace": NS},
            "data": {"k": "v"},
        }
    )
    other = genuine["data"]["manifests.yaml"] + (
        "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: payments-config\n"
        f"  namespace: {NS}\ndata:\n  k: v\n"
    )
    _forged(
        api,
        "swissai-record-29990101t000000000001z-e0e0e0e0",
        genuine,
        "swissai",
        record={
            "revision": "e0e0e0e0e0e0",
            "ownership": {"ConfigMap/swissai-llm/payments-config": "created"},
        },
        manifests=other,
    )
    code, _, err = invoke("rollback", "--site", str(SITE), "--timeout", "20")
    assert code == 0, err
    assert "ignoring record ConfigMap swissai-llm/swissai-record-29990101t000000000000z" in err
    assert "not written by swissai alone" in err
    assert "ignoring record ConfigMap swissai-llm/swissai-record-29990101t000000000001z" in err
    assert "payments-config" in err
    assert f"from {second} to {first}" in err
    namespace = api.get("Namespace", NS)
    assert namespace is not None
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    code, _, err = invoke("destroy", "--site", str(SITE), "--yes", "--export", str(tmp_path / "e"))
    assert code == 0, err
    assert api.get("ConfigMap", "payments-config", NS) is not None


# --- record file, first install, numbers ----------------------------------------------------


def test_an_unwritable_record_file_stops_the_deploy_before_anything_is_applied(
    api: FakeKubeApi, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    writes_before = api.writes()
    code, _, err = deploy("--record-file", str(blocker / "records.jsonl"))
    assert code == 2, err
    assert "nothing was applied" in err
    assert api.writes() == writes_before
    assert swissai_objects(api) == []


def test_first_install_dry_runs_objects_of_the_namespace_it_creates(
    api: FakeKubeApi, tmp_path: Path
) -> None:
    """A namespace that does not exist yet: the server's schema errors (422) still come out of
    the dry run, so nothing is applied (exit 3) instead of failing mid-apply (exit 5)."""
    with api.lock:
        api._remove(("", "namespaces", "", NS))
    # a workload name the server refuses for the Service (a DNS-1035 label: no leading digit)
    site = site_file(tmp_path, "digit.yaml", name="7b-llm", **{"storage.pvc.create": True})
    code, _, err = deploy_with(site)
    assert code == 3, err
    assert "dry run" in err and "DNS-1035" in err
    assert api.get("Namespace", NS) is None
    assert swissai_objects(api) == []


def test_a_fresh_namespace_dry_run_that_passes_is_applied(api: FakeKubeApi, tmp_path: Path) -> None:
    with api.lock:
        api._remove(("", "namespaces", "", NS))
    site = site_file(tmp_path, "fresh.yaml", **{"storage.pvc.create": True})
    code, out, err = deploy_with(site, "-o", "json")
    assert code == 0, err
    assert json.loads(out)["changes"]["Deployment/swissai-llm/gpt-oss-120b"] == "create"


def test_negative_replicas_in_a_plan_are_refused_before_the_cluster_is_touched(
    api: FakeKubeApi, tmp_path: Path
) -> None:
    plan = yaml.safe_load((DATA / "plan-single-node.yaml").read_text(encoding="utf-8"))
    plan["layout"]["replicas"] = -1
    (tmp_path / "bad-plan.yaml").write_text(yaml.safe_dump(plan), encoding="utf-8")
    requests_before = len(api.requests)
    code, _, err = invoke(
        "deploy", str(tmp_path / "bad-plan.yaml"), "--site", str(SITE), "--timeout", "20"
    )
    assert code == 2, err
    assert "layout.replicas" in err
    assert len(api.requests) == requests_before


# --- rollback and other managers --------------------------------------------------------------


def test_rollback_stops_on_other_managers_changes_unless_forced(api: FakeKubeApi) -> None:
    code, out, _ = deploy("-o", "json")
    first = json.loads(out)["revision"]
    code, out, err = deploy("-o", "json", plan="plan-single-node-long.yaml")
    assert code == 0, err
    # the on-call engineer scales by hand (kubectl scale --server-side)
    api.apply_as(
        "kubectl-scale",
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "gpt-oss-120b", "namespace": NS},
            "spec": {"replicas": 2},
        },
    )
    writes_before = api.writes()
    code, _, err = invoke("rollback", "--site", str(SITE), "--timeout", "20")
    assert code == 3, err
    assert ".spec.replicas" in err and "kubectl-scale" in err
    assert "--force-conflicts" in err
    assert api.writes() == writes_before
    code, _, err = invoke("rollback", "--site", str(SITE), "--timeout", "20", "--force-conflicts")
    assert code == 0, err
    dep = api.get("Deployment", "gpt-oss-120b", NS)
    assert dep is not None and dep["metadata"]["annotations"]["swissai.io/revision"] == first
    assert dep["spec"]["replicas"] == 1


# --- flag values, kubeconfig, a silent API server -------------------------------------------


@pytest.mark.parametrize("value", ["nan", "inf", "-1", "0", "99999999999"])
def test_timeout_values_that_make_no_sense_are_exit_2(api: FakeKubeApi, value: str) -> None:
    writes_before = api.writes()
    for command in (
        ["deploy", str(DATA / "plan-single-node.yaml"), "--site", str(SITE)],
        ["rollback", "--site", str(SITE)],
    ):
        code, _, err = invoke(*command, "--timeout", value)
        assert code == 2, (command, err)
        assert "Traceback" not in err
    assert api.writes() == writes_before


def test_bad_namespace_and_non_utf8_kubeconfig(api: FakeKubeApi, tmp_path: Path) -> None:
    code, _, err = invoke("status", "--namespace", "Not_A_Name")
    assert code == 2 and "--namespace" in err
    bad = tmp_path / "latin1-kubeconfig"
    bad.write_bytes("current-context: z\xfcrich\n".encode("latin-1"))
    code, _, err = invoke("status", "--site", str(SITE), "--kubeconfig", str(bad))
    assert code == 3, err
    assert "not UTF-8" in err and "internal error" not in err


@pytest.fixture
def silent_server(tmp_path: Path) -> Iterator[Path]:
    """A socket that accepts connections and never answers; a kubeconfig pointing at it."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
                accepted.append(conn)
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    port = server.getsockname()[1]
    config = tmp_path / "silent-kubeconfig"
    config.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "s", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
                "users": [{"name": "s", "user": {"token": "t"}}],
                "contexts": [{"name": "s", "context": {"cluster": "s", "user": "s"}}],
                "current-context": "s",
            }
        ),
        encoding="utf-8",
    )
    yield config
    stop.set()
    thread.join(timeout=2)
    for conn in accepted:
        conn.close()
    server.close()


@pytest.mark.slow
def test_a_server_that_never_answers_times_out_with_progress(
    silent_server: Path, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("SWISSAI_DEBUG", "CI")}
    env.update(KUBECONFIG=str(silent_server), NO_PROXY="127.0.0.1,localhost")
    started = time.monotonic()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "swissai",
            "status",
            "--site",
            str(SITE),
            "--timeout",
            "4",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    elapsed_s = time.monotonic() - started
    assert result.returncode == 3, result.stderr
    assert "timed out" in result.stderr
    assert "waiting for the API server" in result.stderr  # the wait > 2 s was not silent
    assert "MaxRetryError" not in result.stderr and "Traceback" not in result.stderr
    assert elapsed_s < 30


def test_a_local_record_failure_after_apply_is_a_warning_and_the_cluster_keeps_the_record(
    api: FakeKubeApi, tmp_path: Path
) -> None:
    """The in-cluster record is written first; a local copy that cannot be written afterwards
    is a warning, never an exit 2 that loses the record."""
    from swissai.models.deploy import DeployRecord
    from swissai.services.deploy_steps import connect, write_record
    from swissai.services.events import Collect

    code, _, err = deploy()
    assert code == 0, err
    [stored] = records(api)
    record = DeployRecord.model_validate(stored).model_copy(
        update={"id": "20990101t000000000000z-deadbeef", "outcome": "rolled-back"}
    )
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    sink = Collect()
    cluster = connect(None, None, sink)
    try:
        name = write_record(cluster, record, [], blocker / "records.jsonl", sink)
    finally:
        cluster.close()
    assert name == "swissai-record-20990101t000000000000z-deadbeef"
    assert api.get("ConfigMap", name, NS) is not None
    assert any("cannot append the record" in m for m in sink.messages("warning"))


@pytest.mark.slow
def test_check_cluster_against_a_silent_server_times_out_with_progress(
    silent_server: Path, tmp_path: Path
) -> None:
    """`check --cluster` reads through the same client path: 20 s per request, then exit 3."""
    env = {k: v for k, v in os.environ.items() if k not in ("SWISSAI_DEBUG", "CI")}
    env.update(KUBECONFIG=str(silent_server), NO_PROXY="127.0.0.1,localhost")
    result = subprocess.run(
        [sys.executable, "-m", "swissai", "check", "--cluster", "--namespace", NS],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=90,
        check=False,
    )
    assert result.returncode == 3, result.stderr
    assert "unreachable" in result.stderr and "timed out" in result.stderr
    assert "waiting for the API server (GET /api/v1/nodes)" in result.stderr
    assert "Traceback" not in result.stderr
