"""`swissai upgrade` against the stateful fake API server (tests/fakes/fake_kube_api.py, whose
Deployment controller rolls pods by maxSurge/maxUnavailable, counting ready pods) with the smoke
gate against the fake OpenAI endpoint (tests/fakes/fake_openai.py): the real kubernetes client
and the real smoke service, nothing patched.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fakes.fake_kube_api import (
    LWS_CRD,
    FakeKubeApi,
    kubelet_by_annotation,
    kubelet_oom,
    kubelet_ready,
)
from fakes.fake_openai import FakeOpenAI
from test_deploy import (  # the fixture and helpers of the deploy tests
    DATA,
    NS,
    deploy,
    invoke,
    node,
    records,
)
from test_deploy import (
    api as _api_fixture,  # noqa: F401 - its `api` fixture, used below
)

SITE = ["--site", str(DATA / "site.yaml")]
NEW_PLAN = str(DATA / "plan-single-node-long.yaml")
KEY = "sk-upgrade-test-0123456789"


@pytest.fixture
def api(_api_fixture: FakeKubeApi) -> FakeKubeApi:  # noqa: F811 - the imported fixture
    """The seeded fake cluster of test_deploy.py: two nodes of 8 H100s; pods go to gpu-zh1-a."""
    _api_fixture.kubelet = kubelet_ready(node="gpu-zh1-a")
    return _api_fixture


@pytest.fixture
def endpoint(tmp_path: Path) -> Iterator[tuple[FakeOpenAI, Path]]:
    key = tmp_path / "api-key"
    key.write_text(KEY + "\n")
    key.chmod(0o600)
    fake = FakeOpenAI(api_key=KEY, model="gpt-oss-120b", harmony=True)
    fake.start()
    yield fake, key
    fake.stop()


def upgrade(*extra: str) -> tuple[int, str, str]:
    return invoke("upgrade", NEW_PLAN, *SITE, "--timeout", "20", "-o", "json", *extra)


def pod_events(api: FakeKubeApi) -> list[tuple[int, str, str, bool]]:
    """(rv, event, pod name, ready) of every pod change, in order."""
    out = []
    for rv, event, key, obj in api.history:
        if key[1] == "pods":
            ready = any(
                c.get("type") == "Ready" and c.get("status") == "True"
                for c in (obj.get("status") or {}).get("conditions") or []
            )
            out.append((rv, event, key[3], ready))
    return out


def test_dry_run_chooses_blue_green_from_the_free_gpus_and_changes_nothing(
    api: FakeKubeApi,
) -> None:
    assert deploy()[0] == 0
    writes = len(api.writes())
    code, out, err = upgrade("--dry-run")
    assert code == 0, err
    result = json.loads(out)
    assert result["outcome"] == "dry-run" and result["strategy"] == "blue-green"
    assert result["gpus_free"] == 8 and result["gpus_needed"] == 8  # gpu-zh1-b is idle
    actions = [s["action"] for s in result["steps"]]
    assert actions == ["check", "apply", "start", "wait", "smoke", "record"]
    assert "maxSurge 1, maxUnavailable 0" in result["steps"][1]["detail"]
    assert len(api.writes()) == writes


def test_blue_green_keeps_the_old_replica_serving_until_the_new_one_is_ready(
    api: FakeKubeApi, endpoint: tuple[FakeOpenAI, Path]
) -> None:
    fake, key = endpoint
    code, out, err = deploy("-o", "json")
    assert code == 0, err
    old = json.loads(out)["revision"]
    [old_pod] = [p["metadata"]["name"] for p in api.list("Pod", NS)]
    start = api.rv
    code, out, err = upgrade("--smoke-url", fake.base_url, "--api-key-file", str(key))
    assert code == 0, err
    result = json.loads(out)
    assert result["outcome"] == "upgraded" and result["strategy"] == "blue-green"
    assert result["from_revision"] == old
    [smoke] = result["smoke"]
    assert smoke.startswith("7 passed, ") and "warning" in smoke
    assert fake.counters.requests > 0
    dep = api.get("Deployment", "gpt-oss-120b", NS)
    assert dep is not None
    assert dep["metadata"]["annotations"]["swissai.io/revision"] == result["to_revision"]
    assert dep["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    # the old pod was deleted only after a new pod had become ready
    events = [e for e in pod_events(api) if e[0] > start]
    deleted = next(rv for rv, event, name, _ in events if event == "DELETED" and name == old_pod)
    first_ready = next(rv for rv, _, name, ready in events if ready and name != old_pod)
    assert first_ready < deleted
    assert [r["outcome"] for r in records(api)] == ["succeeded", "succeeded"]


def test_a_failed_smoke_gate_returns_to_the_old_revision(
    api: FakeKubeApi, endpoint: tuple[FakeOpenAI, Path]
) -> None:
    fake, key = endpoint
    code, out, _ = deploy("-o", "json")
    old = json.loads(out)["revision"]
    new = json.loads(upgrade("--dry-run")[1])["to_revision"]
    ready = kubelet_ready(node="gpu-zh1-a")

    def breaks_the_gateway(api: FakeKubeApi, pod: dict[str, object]) -> None:
        # the new revision comes with a gateway that lets every key through
        fake.accept_any_key = True
        ready(api, pod)

    api.kubelet = kubelet_by_annotation("swissai.io/revision", {new: breaks_the_gateway}, ready)
    code, _, err = upgrade("--smoke-url", fake.base_url, "--api-key-file", str(key))
    assert code == 5, err
    assert "failed its smoke gate" in err and f"returned to revision {old}" in err
    assert "auth-wrong-key" in err
    dep = api.get("Deployment", "gpt-oss-120b", NS)
    assert dep is not None and dep["metadata"]["annotations"]["swissai.io/revision"] == old
    assert [r["outcome"] for r in records(api)] == ["succeeded", "succeeded", "rolled-back"]


def test_a_smoke_gate_that_fails_before_the_upgrade_changes_nothing(
    api: FakeKubeApi, endpoint: tuple[FakeOpenAI, Path], tmp_path: Path
) -> None:
    fake, key = endpoint
    assert deploy()[0] == 0
    writes = len(api.writes())
    # the default endpoint is cluster DNS, unreachable from here
    code, _, err = upgrade("--api-key-file", str(key))
    assert code == 3, err
    assert "smoke gate fails against the running revision" in err and "--smoke-url" in err
    wrong = tmp_path / "wrong-key"
    wrong.write_text("sk-wrong-0000000000\n")
    wrong.chmod(0o600)
    code, _, err = upgrade("--smoke-url", fake.base_url, "--api-key-file", str(wrong))
    assert code == 3 and "nothing was changed" in err, err
    assert len(api.writes()) == writes


def test_new_pods_that_never_get_ready_leave_the_old_one_serving(api: FakeKubeApi) -> None:
    code, out, _ = deploy("-o", "json")
    old = json.loads(out)["revision"]
    [old_pod] = api.list("Pod", NS)
    code, out, err = upgrade("--dry-run")
    new = json.loads(out)["to_revision"]
    api.kubelet = kubelet_by_annotation(
        "swissai.io/revision", {new: kubelet_oom()}, kubelet_ready(node="gpu-zh1-a")
    )
    code, _, err = upgrade("--no-smoke")
    assert code == 5, err
    assert f"upgrade to {new} failed" in err and "rolled back" in err.lower()
    # the old pod was never stopped: same uid, still ready
    pods = api.list("Pod", NS)
    assert [p["metadata"]["uid"] for p in pods] == [old_pod["metadata"]["uid"]]
    dep = api.get("Deployment", "gpt-oss-120b", NS)
    assert dep is not None and dep["metadata"]["annotations"]["swissai.io/revision"] == old


def test_one_replica_without_free_gpus_is_refused_unless_an_outage_is_allowed(
    api: FakeKubeApi,
) -> None:
    with api.lock:  # one node of 8 GPUs: the running replica takes all of them
        for key in [k for k in api.objects if k[1] == "nodes" and k[3] == "gpu-zh1-b"]:
            api._remove(key)
    assert deploy()[0] == 0
    writes = len(api.writes())
    code, _, err = upgrade("--no-smoke")
    assert code == 3, err
    assert "no free GPUs and one replica" in err and "--allow-outage" in err
    assert len(api.writes()) == writes
    code, out, err = upgrade("--no-smoke", "--allow-outage")
    assert code == 0, err
    result = json.loads(out)
    assert result["strategy"] == "rolling" and result["outcome"] == "upgraded"
    dep = api.get("Deployment", "gpt-oss-120b", NS)
    assert dep is not None
    assert dep["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 0, "maxUnavailable": 1}


def test_upgrade_without_a_deployment_is_refused(api: FakeKubeApi) -> None:
    code, _, err = upgrade("--no-smoke")
    assert code == 3 and "nothing to upgrade" in err
    assert api.writes() == []


@pytest.mark.slow
def test_sigterm_during_the_upgrade_leaves_the_old_revision_serving_and_says_so(
    api: FakeKubeApi, tmp_path: Path
) -> None:
    """A cancelled CI job in the middle of a blue-green move: the new pods never got ready,
    the old pod was never stopped, the deploy's roll back puts the old template back."""
    out = deploy("-o", "json")[1]
    old = json.loads(out)["revision"]
    [old_pod] = api.list("Pod", NS)
    new = json.loads(upgrade("--dry-run")[1])["to_revision"]
    api.kubelet = kubelet_by_annotation(
        "swissai.io/revision", {new: lambda api, pod: None}, kubelet_ready(node="gpu-zh1-a")
    )  # the new pods stay Pending
    env = {k: v for k, v in os.environ.items() if k not in ("SWISSAI_DEBUG", "CI")}
    env["NO_PROXY"] = "127.0.0.1,localhost"
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "swissai", "upgrade", NEW_PLAN, *SITE, "--no-smoke"),
            *("--timeout", "120", "--record-file", str(tmp_path / "records.jsonl")),
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while len(api.list("Pod", NS)) < 2:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no new pod was created"
        time.sleep(0.1)
    time.sleep(1.0)  # the deploy is in its wait now
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert "upgrade interrupted" in err and f"The old revision {old} serves" in err
    assert "Traceback" not in err
    assert [p["metadata"]["uid"] for p in api.list("Pod", NS)] == [old_pod["metadata"]["uid"]]
    dep = api.get("Deployment", "gpt-oss-120b", NS)
    assert dep is not None and dep["metadata"]["annotations"]["swissai.io/revision"] == old
    assert records(api)[-1]["outcome"] == "failed-rolled-back"


def test_upgrading_to_the_running_plan_changes_nothing(api: FakeKubeApi) -> None:
    assert deploy()[0] == 0
    writes = len(api.writes())
    code, out, err = invoke(
        "upgrade", str(DATA / "plan-single-node.yaml"), *SITE, "--no-smoke", "-o", "json"
    )
    assert code == 0, err
    result = json.loads(out)
    assert result["strategy"] == "none" and result["outcome"] == "unchanged"
    assert len(api.writes()) == writes


def test_a_leaderworkerset_group_moves_as_a_whole(api: FakeKubeApi, tmp_path: Path) -> None:
    """A multi-node replica (leader + worker, 8 GPUs each): the headroom is counted in whole
    groups, the LeaderWorkerSet's rolloutStrategy gets the surge in groups."""
    api.seed(node("gpu-be1-a", 8, region="ch-be1"), manager="kubelet")
    api.seed(LWS_CRD)
    code, out, err = deploy("-o", "json", plan="plan-multi-node.yaml")
    assert code == 0, err
    old = json.loads(out)["revision"]
    text = (DATA / "plan-multi-node.yaml").read_text()
    new_plan = tmp_path / "plan-multi-node-short.yaml"
    new_plan.write_text(
        text.replace("- '131072'", "- '65536'", 1).replace(
            "max_model_len: 131072", "max_model_len: 65536", 1
        )
    )
    # the fake kubelet binds both pods of the running group to gpu-zh1-a (it does not schedule
    # by capacity); gpu-zh1-b and gpu-be1-a are idle: room for one more group of two 8-GPU pods
    code, out, err = invoke(
        "upgrade", str(new_plan), *SITE, "--timeout", "20", "--no-smoke", "-o", "json"
    )
    assert code == 0, err
    result = json.loads(out)
    assert result["strategy"] == "blue-green" and result["gpus_needed"] == 16
    assert "moves as a whole" in result["steps"][1]["detail"]
    lws = api.get("LeaderWorkerSet", "gpt-oss-120b", NS)
    assert lws is not None
    assert lws["spec"]["rolloutStrategy"]["rollingUpdateConfiguration"] == {
        "maxUnavailable": 0,
        "maxSurge": 1,
    }
    pods = api.list("Pod", NS)
    assert len(pods) == 2
    assert (
        {p["metadata"]["annotations"]["swissai.io/revision"] for p in pods}
        == {result["to_revision"]}
        != {old}
    )
