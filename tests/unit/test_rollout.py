"""swissai.core.rollout: phases and failure reasons from pod status and events."""

from __future__ import annotations

from typing import Any

from swissai.core.rollout import READY, pod_progress, summarize, wait_timeout_s


def pod(name: str = "p", **status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "uid": "u-" + name, "labels": {}},
        "spec": {"initContainers": [{"name": "verify-model"}], "containers": [{"name": "vllm"}]},
        "status": status,
    }


def event(reason: str, message: str, name: str = "p") -> dict[str, Any]:
    return {
        "involvedObject": {"kind": "Pod", "name": name, "uid": "u-" + name},
        "reason": reason,
        "message": message,
    }


SCHEDULED = [{"type": "PodScheduled", "status": "True"}]
INIT_DONE = [
    {"name": "verify-model", "state": {"terminated": {"exitCode": 0}}, "imageID": "x@sha256:1"}
]
RUNNING = [{"name": "vllm", "state": {"running": {}}, "imageID": "x@sha256:1"}]


def test_phases_in_order() -> None:
    assert pod_progress(pod(), []).phase == 0
    assert pod_progress(pod(conditions=SCHEDULED), []).phase == 1
    assert pod_progress(pod(conditions=SCHEDULED), [event("Pulled", "ok")]).phase == 2
    p = pod(conditions=SCHEDULED, initContainerStatuses=INIT_DONE)
    assert pod_progress(p, [event("Pulled", "ok")]).phase == 3
    p = pod(conditions=SCHEDULED, initContainerStatuses=INIT_DONE, containerStatuses=RUNNING)
    progress = pod_progress(p, [event("Unhealthy", "Startup probe failed: connection refused")])
    assert progress.phase == 4 and "Startup probe failed" in progress.detail
    ready = [*SCHEDULED, {"type": "Ready", "status": "True"}]
    p = pod(conditions=ready, initContainerStatuses=INIT_DONE, containerStatuses=RUNNING)
    assert pod_progress(p, []).phase == READY


def test_unschedulable_is_shown_not_fatal() -> None:
    message = "0/3 nodes are available: 3 Insufficient nvidia.com/gpu."
    progress = pod_progress(pod(), [event("FailedScheduling", message)])
    assert progress.failure is None and "Insufficient nvidia.com/gpu" in progress.detail


def test_fatal_reasons_in_the_clusters_words() -> None:
    oom = [
        {
            "name": "vllm",
            "state": {"waiting": {"reason": "CrashLoopBackOff"}},
            "lastState": {"terminated": {"reason": "OOMKilled", "exitCode": 137}},
        }
    ]
    failure = pod_progress(pod(conditions=SCHEDULED, containerStatuses=oom), []).failure
    assert failure is not None and failure.startswith("OOMKilled: container vllm")
    pull = [
        {
            "name": "vllm",
            "state": {"waiting": {"reason": "ImagePullBackOff", "message": "manifest unknown"}},
        }
    ]
    failure = pod_progress(pod(containerStatuses=pull), []).failure
    assert failure == "ImagePullBackOff: container vllm: manifest unknown"
    bad = [
        {
            "name": "verify-model",
            "state": {"terminated": {"exitCode": 1, "message": "sha256 mismatch"}},
        }
    ]
    failure = pod_progress(pod(initContainerStatuses=bad), []).failure
    assert (
        failure is not None
        and failure.startswith("model verification failed")
        and "sha256 mismatch" in failure
    )
    killed = event("Killing", "Container vllm failed startup probe, will be restarted")
    failure = pod_progress(pod(conditions=SCHEDULED), [killed]).failure
    assert failure is not None and failure.startswith("failed probes")


def test_events_of_an_earlier_pod_with_the_same_name_are_ignored() -> None:
    old = {
        "involvedObject": {"kind": "Pod", "name": "p", "uid": "old"},
        "reason": "Killing",
        "message": "failed liveness probe",
    }
    assert pod_progress(pod(), [old]).failure is None


def test_leaderworkerset_group_is_one_replica_as_slow_as_its_slowest_pod() -> None:
    ready = [*SCHEDULED, {"type": "Ready", "status": "True"}]
    leader = pod(
        "w-0", conditions=ready, initContainerStatuses=INIT_DONE, containerStatuses=RUNNING
    )
    worker = pod("w-0-1", conditions=SCHEDULED)
    for p, index in ((leader, "0"), (worker, "1")):
        p["metadata"]["labels"] = {
            "leaderworkerset.sigs.k8s.io/name": "w",
            "leaderworkerset.sigs.k8s.io/group-index": "0",
            "leaderworkerset.sigs.k8s.io/worker-index": index,
        }
    rollout = summarize([leader, worker], [], expected=1)
    assert [r.name for r in rollout.replicas] == ["w-0"]
    assert rollout.replicas[0].phase == 1 and not rollout.done
    assert rollout.replicas[0].pods == ("w-0", "w-0-1")


def test_wait_timeout_grows_with_the_plans_load_time() -> None:
    assert wait_timeout_s(0) == 600
    assert wait_timeout_s(1200) == 2700
