"""The pure decisions of the deploy services: record verification and scope, created vs adopted,
what a roll back deletes or only releases, input bounds, and connection failures in words."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

from swissai.adapters.kube_apply import describe_failure
from swissai.errors import InputError
from swissai.models.deploy import DeployRecord
from swissai.services.deploy_steps import (
    RecordScope,
    StoredRecord,
    check_record_file,
    check_timeout,
    ownership_of,
    plan_restore,
    record_configmap,
    release_intent,
    verify_record,
)

NS = "llm"
SCOPE = RecordScope(NS, "chat", claim_name="weights")


def obj(kind: str, name: str, namespace: str | None = NS, api: str = "v1") -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    return {"apiVersion": api, "kind": kind, "metadata": meta}


def record(**update: Any) -> DeployRecord:
    base: dict[str, Any] = {
        "id": "20260101t000000000000z-abcdef12",
        "outcome": "succeeded",
        "namespace": NS,
        "workload": "chat",
        "context": "c",
        "server": "https://api",
        "deployed_by": "alice",
        "local_user": "alice",
        "started_at": "2026-01-01T00:00:00Z",
        "finished_at": "2026-01-01T00:01:00Z",
        "revision": "abcdef123456",
        "plan_hash": "0" * 16,
        "model_id": "gpt-oss-120b",
        "model_revision": "1" * 40,
        "vllm_version": "0.32.0",
        "images": [],
        "objects": ["Deployment/llm/chat"],
    }
    base.update(update)
    return DeployRecord.model_validate(base)


def stored_map(rec: DeployRecord, objects: list[dict[str, Any]], managers: list[str]) -> Any:
    cm = record_configmap(rec, objects)
    cm["metadata"]["managedFields"] = [{"manager": m, "operation": "Apply"} for m in managers]
    cm["metadata"]["creationTimestamp"] = "2026-01-01T00:01:00Z"
    return cm


def test_a_record_written_by_swissai_within_scope_is_trusted() -> None:
    objects = [obj("Deployment", "chat", api="apps/v1"), obj("Namespace", NS, None)]
    verified = verify_record(stored_map(record(), objects, ["swissai"]), SCOPE)
    assert isinstance(verified, StoredRecord)
    assert verified.created_at == "2026-01-01T00:01:00Z"


@pytest.mark.parametrize(
    ("managers", "reason"),
    [(["kubectl-create"], "not written by swissai"), (["swissai", "kubectl-edit"], "alone")],
)
def test_records_written_or_edited_by_others_are_refused(managers: list[str], reason: str) -> None:
    result = verify_record(stored_map(record(), [obj("Service", "chat")], managers), SCOPE)
    assert isinstance(result, str) and reason in result


def test_an_edited_record_fails_its_hash() -> None:
    cm = stored_map(record(), [obj("Service", "chat")], ["swissai"])
    cm["data"]["manifests.yaml"] += "---\nkind: Secret\n"
    result = verify_record(cm, SCOPE)
    assert isinstance(result, str) and "hash" in result


@pytest.mark.parametrize(
    "outside",
    [
        obj("ConfigMap", "payments-config"),  # another team's name
        obj("Service", "chat", namespace="other"),  # another namespace
        obj("ClusterRoleBinding", "chat-admin", None, "rbac.authorization.k8s.io/v1"),
        obj("Namespace", "kube-system", None),
        obj("PersistentVolumeClaim", "someone-elses-claim"),
    ],
)
def test_a_record_naming_anything_outside_the_workload_is_refused(outside: dict[str, Any]) -> None:
    cm = stored_map(record(), [obj("Service", "chat"), outside], ["swissai"])
    result = verify_record(cm, SCOPE)
    assert isinstance(result, str) and "it names" in result


def test_the_site_claim_and_workload_prefixed_names_are_in_scope() -> None:
    assert SCOPE.refuses(obj("PersistentVolumeClaim", "weights")) is None
    assert SCOPE.refuses(obj("NetworkPolicy", "chat-default-deny", api="networking.k8s.io/v1")) is (
        None
    )
    assert SCOPE.refuses(obj("ConfigMap", "chatbot")) is not None  # a prefix, not NAME-*


def test_a_record_of_another_workload_is_refused() -> None:
    other = record(workload="search")
    result = verify_record(stored_map(other, [obj("Service", "search")], ["swissai"]), SCOPE)
    assert isinstance(result, str) and "search" in result


def test_ownership_created_unless_it_existed_before_swissai_first_applied_it() -> None:
    claim, dep = obj("PersistentVolumeClaim", "weights"), obj("Deployment", "chat", api="apps/v1")
    live = {"PersistentVolumeClaim/llm/weights": claim, "Deployment/llm/chat": dep}
    # first deploy: both existed, nothing says swissai created them -> adopted
    assert set(ownership_of([claim, dep], live, []).values()) == {"adopted"}
    earlier = StoredRecord(
        "r", record(ownership={"Deployment/llm/chat": "created"}), [dep], "2026-01-01T00:00:00Z"
    )
    found = ownership_of([claim, dep], live, [earlier])
    assert found == {
        "PersistentVolumeClaim/llm/weights": "adopted",
        "Deployment/llm/chat": "created",
    }
    assert ownership_of([claim], {}, []) == {"PersistentVolumeClaim/llm/weights": "created"}


def test_a_roll_back_deletes_only_what_swissai_created_and_keeps_namespaces() -> None:
    namespace = obj("Namespace", NS, None)
    claim = obj("PersistentVolumeClaim", "weights")
    added = obj("Service", "chat-extra")
    dep = obj("Deployment", "chat", api="apps/v1")
    plan = plan_restore(
        [namespace, dep],
        [namespace, dep, claim, added],
        {"Service/llm/chat-extra": "created", "PersistentVolumeClaim/llm/weights": "adopted"},
    )
    assert [o["metadata"]["name"] for o in plan.delete] == ["chat-extra"]
    assert [o["metadata"]["name"] for o in plan.release] == ["weights"]
    assert {o["kind"] for o in plan.reapply} == {"Namespace", "Deployment"}
    # unknown origin (no ownership recorded) is never deleted either
    assert plan_restore(None, [added], {}).delete == []


def test_the_release_intent_names_the_object_and_nothing_else() -> None:
    intent = release_intent({**obj("PersistentVolumeClaim", "weights"), "spec": {"x": 1}})
    assert intent == obj("PersistentVolumeClaim", "weights")


@pytest.mark.parametrize("value", [float("nan"), float("inf"), 0, -5, 86401])
def test_timeouts_that_make_no_sense_are_refused(value: float) -> None:
    with pytest.raises(InputError):
        check_timeout(value)


def test_record_file_checks(tmp_path: Path) -> None:
    check_record_file(tmp_path / "new" / "records.jsonl")  # can be created
    check_record_file(None)
    with pytest.raises(InputError, match="not a file"):
        check_record_file(tmp_path)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(InputError, match="cannot create"):
        check_record_file(blocker / "records.jsonl")


def test_connection_failures_are_said_in_words() -> None:
    import urllib3

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    pool = urllib3.PoolManager()
    with pytest.raises(urllib3.exceptions.HTTPError) as refused:
        pool.request("GET", f"http://127.0.0.1:{port}/", retries=False)
    assert describe_failure(refused.value) == "connection refused"
    timeout = urllib3.exceptions.ReadTimeoutError(None, "/", "Read timed out. (read timeout=1)")
    assert describe_failure(timeout) == "timed out (no answer)"
    assert "MaxRetryError" not in describe_failure(
        urllib3.exceptions.MaxRetryError(None, "/", reason=timeout)
    )
