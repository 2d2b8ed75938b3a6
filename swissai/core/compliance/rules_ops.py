"""OPS: resilience (catalog §6)."""

from __future__ import annotations

import re
from typing import Any, Literal

from swissai.core.compliance.context import (
    CheckContext,
    ContainerRef,
    PodSpecRef,
    Results,
    as_dict,
    as_list,
    get,
    mount_for,
    parse_image,
    selector_matches,
    serving_workloads,
)
from swissai.core.compliance.registry import rule
from swissai.models.manifest import Document
from swissai.models.plan import PlanAvailability
from swissai.models.policy import Severity


def _replicas(ctx: CheckContext, obj: Document) -> int:
    for hpa in ctx.kind("HorizontalPodAutoscaler"):
        target = as_dict(get(hpa.data, "spec.scaleTargetRef"))
        if (
            hpa.namespace == obj.namespace
            and target.get("kind") == obj.kind
            and target.get("name") == obj.name
        ):
            return _count(get(hpa.data, "spec.minReplicas"), 1)
    value = get(obj.data, "spec.replicas")
    return int(value) if isinstance(value, int) else 1


def _count(value: object, default: int) -> int:
    """A small non-negative count from a manifest field that may hold anything (an int, a
    string of digits, or garbage from a hostile manifest): `default` unless it is one."""
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value if 0 <= value < 2**31 else default
    text = str(value).strip() if isinstance(value, str) else ""
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 9 else default


def _scaled(value: object, replicas: int, round_up: bool) -> int | None:
    """An int-or-percent of `replicas` as Kubernetes resolves it (maxSurge and PDB
    minAvailable round up, maxUnavailable rounds down); None when it is neither."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if text.endswith("%") and text[:-1].isdigit():
        share = int(text[:-1]) * replicas
        return -(-share // 100) if round_up else share // 100
    return int(text) if text.isdigit() else None


def _rollout(obj: Document, replicas: int) -> tuple[int | None, int | None, str]:
    """(maxUnavailable, maxSurge, field) of the workload's rolling update, with Kubernetes'
    defaults (Deployment 25%/25%, StatefulSet 1/0, LeaderWorkerSet 1/0); Recreate stops every
    replica first. (None, None, field) when the kind has no rolling update."""
    if obj.kind == "Deployment":
        strategy = as_dict(get(obj.data, "spec.strategy"))
        if strategy.get("type") == "Recreate":
            return replicas, 0, "spec.strategy.type"
        rolling = as_dict(strategy.get("rollingUpdate"))
        return (
            _scaled(rolling.get("maxUnavailable", "25%"), replicas, round_up=False),
            _scaled(rolling.get("maxSurge", "25%"), replicas, round_up=True),
            "spec.strategy",
        )
    if obj.kind == "LeaderWorkerSet":
        rolling = as_dict(get(obj.data, "spec.rolloutStrategy.rollingUpdateConfiguration"))
        return (
            _scaled(rolling.get("maxUnavailable", 1), replicas, round_up=False),
            _scaled(rolling.get("maxSurge", 0), replicas, round_up=True),
            "spec.rolloutStrategy",
        )
    if obj.kind == "StatefulSet":
        if get(obj.data, "spec.updateStrategy.type") == "OnDelete":
            return None, None, "spec.updateStrategy"
        rolling = as_dict(get(obj.data, "spec.updateStrategy.rollingUpdate"))
        return (
            _scaled(rolling.get("maxUnavailable", 1), replicas, round_up=False),
            0,
            "spec.updateStrategy",
        )
    return None, None, "spec"


def _pdb_min_available(pdb: Document, replicas: int) -> int | None:
    """The replicas a PodDisruptionBudget keeps (minAvailable, or replicas - maxUnavailable)."""
    min_a = get(pdb.data, "spec.minAvailable")
    if min_a is not None:
        return _scaled(min_a, replicas, round_up=True)
    max_u = get(pdb.data, "spec.maxUnavailable")
    if max_u is not None:
        unavailable = _scaled(max_u, replicas, round_up=True)
        return None if unavailable is None else max(replicas - unavailable, 0)
    return None


def _accepted(intent: PlanAvailability) -> str:
    return f"the plan accepts it (availability.update_outage: {intent.reason})"


@rule(
    "OPS-001",
    title="Redundant serving replicas with a workable PodDisruptionBudget and GPU headroom",
    severity="medium",
    targets=["manifests", "live", "plan"],
    inspects="""Serving workloads have `replicas` (or HPA `minReplicas`) >= `min_replicas` (the
    plan's `layout.replicas` too); a PodDisruptionBudget selects the pods and still allows a
    disruption. With `--plan` and the plan's `availability`, the manifests must render exactly
    that intent: replicas, the rolling update's maxUnavailable and maxSurge, and the PDB's
    minAvailable (none needed when the plan keeps no replica serving); a plan that accepts an
    update outage (`update_outage: true`) is still reported below min_replicas, saying so.
    Live: allocatable GPUs on allowed-location nodes cover (replicas + 1) x GPUs per replica.
    High when the site marks a critical function.""",
    references=[
        "FINMA-OR §IV.E",
        "FINMA-OR §V",
        'FINMA-AI "Tests and ongoing monitoring"',
        "DPO 3(2)(d),(e)",
        "KL pdb-min-available",
        "KL pdb-max-unavailable",
        "KY require-pdb",
    ],
    remediation="""Two replicas on different GPU nodes plus a PDB with `maxUnavailable: 1`; with
    a plan, render it again (`swissai render PLAN`) so the manifests carry its availability.""",
)
def ops_001(ctx: CheckContext, r: Results) -> None:
    sev: Severity | None = "high" if ctx.policy.criticality == "critical_function" else None
    minimum = ctx.policy.min_replicas
    intent = ctx.plan.availability if ctx.plan is not None else None
    accepted = f"; {_accepted(intent)}" if intent is not None and intent.update_outage else ""
    for pod in serving_workloads(ctx):
        obj = pod.obj
        if obj.kind == "Pod" and obj.source == "cluster":
            continue
        s = ctx.subject(obj)
        r.ok(s)
        replicas = _replicas(ctx, obj)
        if replicas < minimum:
            r.fail(
                s,
                "spec.replicas",
                f"{replicas} replica(s) < min_replicas {minimum}: one node loss stops the "
                f"service{accepted}",
                severity=sev,
            )
        if intent is not None:
            _against_intent(ctx, r, pod, replicas, intent)
        pdbs = [
            p
            for p in ctx.in_namespace("PodDisruptionBudget", obj.namespace)
            if selector_matches(get(p.data, "spec.selector"), pod.labels)
            and get(p.data, "spec.selector")
        ]
        if not pdbs and (intent is None or intent.min_available > 0):
            r.fail(
                s, "metadata", f"no PodDisruptionBudget selects the pods of {obj.ref}", severity=sev
            )
        for p in pdbs:
            keeps = _pdb_min_available(p, replicas)
            max_u = get(p.data, "spec.maxUnavailable")
            blocked = (max_u is not None and str(max_u) in ("0", "0%")) or (
                keeps is not None and keeps >= replicas
            )
            if blocked:
                r.fail(
                    ctx.subject(p),
                    "spec",
                    f"PodDisruptionBudget {p.name} allows no disruption (node drains block)",
                    severity=sev,
                )
            elif intent is not None and keeps is not None and keeps != intent.min_available:
                r.fail(
                    ctx.subject(p),
                    "spec",
                    f"PodDisruptionBudget {p.name} keeps {keeps} replica(s) available, the plan "
                    f"intends minAvailable {intent.min_available} ({intent.reason})",
                    severity=sev,
                )
    ps = ctx.plan_subject
    if ps is not None and ctx.plan is not None:
        r.ok(ps)
        if ctx.plan.layout.replicas < minimum:
            r.fail(
                ps,
                "layout.replicas",
                f"the plan has {ctx.plan.layout.replicas} replica(s) < min_replicas {minimum}"
                + accepted,
                severity=sev,
            )
    nodes = ctx.kind("Node")
    if nodes and ctx.plan is not None:
        gpus = sum(
            _count(get(n.data, f'status.allocatable["{ctx.policy.gpu_resource}"]'), 0)
            for n in nodes
            if n.labels.get(ctx.policy.location_label_key) in ctx.policy.allowed_locations
        )
        need = (ctx.plan.layout.replicas + 1) * ctx.plan.layout.gpus_per_replica
        if gpus < need:
            r.fail(
                ctx.missing("Node/(gpu headroom)", nodes[0]),
                "",
                f"{gpus} allocatable GPUs on Swiss nodes < (replicas + 1) x GPUs per replica = {need}",
                severity=sev,
            )


def _against_intent(
    ctx: CheckContext, r: Results, pod: PodSpecRef, replicas: int, intent: PlanAvailability
) -> None:
    """OPS-001 with the plan's availability: replicas and rolling update as the plan intends."""
    s = ctx.subject(pod.obj)
    if replicas != intent.replicas:
        r.fail(
            s,
            "spec.replicas",
            f"{replicas} replica(s), the plan intends {intent.replicas} (availability.replicas)",
        )
    max_unavailable, max_surge, field = _rollout(pod.obj, replicas)
    differences = [
        f"{name} {got}, the plan intends {want}"
        for name, got, want in (
            ("maxUnavailable", max_unavailable, intent.max_unavailable),
            ("maxSurge", max_surge, intent.max_surge),
        )
        if got is not None and got != want
    ]
    if differences:
        r.fail(
            s,
            field,
            f"rolling update: {'; '.join(differences)} ({intent.reason})",
        )


HOST_KEY = "kubernetes.io/hostname"
Spread = Literal["required", "preferred", "none"]


def hostname_spread(spec: dict[str, Any]) -> Spread:
    """How a pod spec keeps its replicas on distinct nodes: `required` (anti-affinity required
    during scheduling, or a topology spread constraint with DoNotSchedule, the default), else
    `preferred` (a preferred anti-affinity or ScheduleAnyway), else `none`."""
    required = preferred = False
    for c in as_list(spec.get("topologySpreadConstraints")):
        constraint = as_dict(c)
        if constraint.get("topologyKey") == HOST_KEY:
            if constraint.get("whenUnsatisfiable", "DoNotSchedule") == "DoNotSchedule":
                required = True
            else:
                preferred = True
    aa = as_dict(get(spec, "affinity.podAntiAffinity"))
    if any(
        as_dict(term).get("topologyKey") == HOST_KEY
        for term in as_list(aa.get("requiredDuringSchedulingIgnoredDuringExecution"))
    ):
        required = True
    if any(
        get(term, "podAffinityTerm.topologyKey") == HOST_KEY
        for term in as_list(aa.get("preferredDuringSchedulingIgnoredDuringExecution"))
    ):
        preferred = True
    return "required" if required else "preferred" if preferred else "none"


@rule(
    "OPS-002",
    title="Replicas spread across nodes and Swiss failure domains",
    severity="medium",
    targets=["manifests", "live", "plan"],
    inspects="""Serving workloads with two or more replicas have pod anti-affinity or
    `topologySpreadConstraints` on `kubernetes.io/hostname`, and on
    `topology.kubernetes.io/zone` or the location label when the site spreads across sites.
    With `--plan` and the plan's `availability`, the one-replica-per-node rule is the plan's
    `spread`: `required` needs a required rule; `preferred` (the plan's nodes cannot hold one
    replica each) needs a preferred one, and a required one is a finding (it would leave
    replicas Pending); `none` needs neither. Live: serving replicas Pending under a required
    rule are a finding; replicas sharing a node are one only without any preferred spread
    (with one, the scheduler had no other node).""",
    references=[
        "FINMA-OR §IV.E",
        "FINMA-OR §V",
        "KL no-anti-affinity",
        "KY spread-pods-across-topology",
    ],
    remediation="""Add spread constraints; keep both sites in Switzerland (RES-002). Use a
    required rule only where the nodes can hold one replica each; render from the plan so the
    rule is the plan's.""",
)
def ops_002(ctx: CheckContext, r: Results) -> None:
    intent = ctx.plan.availability if ctx.plan is not None else None
    for pod in serving_workloads(ctx):
        if pod.obj.kind == "Pod":
            continue
        s = ctx.subject(pod.obj)
        r.ok(s)
        spread = hostname_spread(pod.spec)
        path = f"{pod.path}.topologySpreadConstraints"
        if intent is not None:
            if spread != intent.spread and not (intent.spread == "none" and spread == "preferred"):
                pending = (
                    " (a required rule leaves replicas Pending)" if spread == "required" else ""
                )
                r.fail(
                    s,
                    path,
                    f"one replica per node is {spread} here, the plan intends {intent.spread}"
                    f"{pending}: {intent.reason}",
                )
        elif _replicas(ctx, pod.obj) < 2 and pod.obj.kind != "LeaderWorkerSet":
            continue
        elif spread == "none":
            r.fail(s, path, "replicas are not spread across nodes (kubernetes.io/hostname)")
        keys = {
            str(as_dict(t).get("topologyKey"))
            for t in as_list(pod.spec.get("topologySpreadConstraints"))
        }
        aa = as_dict(get(pod.spec, "affinity.podAntiAffinity"))
        for term in as_list(aa.get("requiredDuringSchedulingIgnoredDuringExecution")):
            keys.add(str(as_dict(term).get("topologyKey")))
        for term in as_list(aa.get("preferredDuringSchedulingIgnoredDuringExecution")):
            keys.add(str(get(term, "podAffinityTerm.topologyKey")))
        if (
            ctx.policy.spread_across_sites
            and (intent is None or intent.replicas >= 2)
            and not keys & {"topology.kubernetes.io/zone", ctx.policy.location_label_key}
        ):
            r.fail(s, path, "replicas are not spread across zones/sites")
    by_owner: dict[str, list[str]] = {}
    spread_of: dict[str, Spread] = {}
    for p in ctx.live_pods:
        owner = as_dict((as_list(p.metadata.get("ownerReferences")) or [{}])[0]).get("name")
        images = " ".join(
            str(as_dict(c).get("image")) for c in as_list(get(p.data, "spec.containers"))
        )
        if not owner or "vllm" not in images:
            continue
        key = f"{p.namespace}/{owner}"
        spread_of[key] = hostname_spread(as_dict(p.data.get("spec")))
        if get(p.data, "status.phase") == "Pending" and spread_of[key] == "required":
            r.fail(
                ctx.subject(p),
                "spec.affinity",
                f"replica {p.name} of {key} is Pending under a required one-replica-per-node "
                "rule: the cluster has fewer free GPU nodes than replicas",
            )
        elif get(p.data, "spec.nodeName"):
            by_owner.setdefault(key, []).append(str(get(p.data, "spec.nodeName")))
    for owner, node_names in by_owner.items():
        if len(node_names) != len(set(node_names)) and spread_of.get(owner) == "none":
            r.fail(
                ctx.missing(f"ReplicaSet/{owner}", ctx.live_pods[0]),
                "",
                f"replicas of {owner} share a node: {sorted(node_names)}",
            )


# extended resources of accelerator device plugins (NVIDIA, AMD ROCm, Google TPU, Intel GPU
# and Gaudi, AWS Neuron); nvidia.com/mig-* are NVIDIA MIG slices
ACCELERATOR_PREFIXES = (
    "nvidia.com/",
    "amd.com/gpu",
    "google.com/tpu",
    "gpu.intel.com/",
    "habana.ai/",
    "aws.amazon.com/neuron",
)


def _cpu_only(c: ContainerRef) -> bool:
    """A vLLM CPU build: the image says so (vllm-cpu, `-cpu` tags), or the env or flags pick
    the CPU device (VLLM_TARGET_DEVICE=cpu, --device cpu, VLLM_CPU_KVCACHE_SPACE)."""
    ref = parse_image(c.image) if c.image else None
    image = f"{ref.repository}:{ref.tag or ''}".lower() if ref else ""
    return (
        "cpu" in re.split(r"[/:_.-]", image)
        or (c.env_value("VLLM_TARGET_DEVICE") or "").lower() == "cpu"
        or "VLLM_CPU_KVCACHE_SPACE" in c.env
        or (c.vllm is not None and (c.vllm.value("device") or "").lower() == "cpu")
    )


def _accelerator(c: ContainerRef, gpu: str, req: dict[str, Any], lim: dict[str, Any]) -> str | None:
    """The accelerator resource this container should limit: the one it requests or limits
    (AMD, TPU, MIG as well as `gpu_resource`), else `gpu_resource`; None for a CPU-only one."""
    for key in list(lim) + list(req):
        if str(key).startswith(ACCELERATOR_PREFIXES):
            return str(key)
    return None if _cpu_only(c) else gpu


@rule(
    "OPS-003",
    title="CPU, memory, GPU and shared memory are declared",
    severity="medium",
    targets=["manifests"],
    inspects="""vLLM containers request CPU and memory and limit memory; the accelerator
    limit is set and equals any request (the accelerator the container asks for: `amd.com/gpu`,
    `google.com/tpu`, NVIDIA MIG slices, else `gpu_resource`; none for a vLLM CPU build); `/dev/shm` is an emptyDir with
    `medium: Memory` and a `sizeLimit` (not hostPath, not hostIPC); the namespace has a
    ResourceQuota or LimitRange in the inputs.""",
    references=[
        "CKV_K8S_10",
        "CKV_K8S_11",
        "CKV_K8S_12",
        "CKV_K8S_13",
        "KL unset-cpu-requirements",
        "KL unset-memory-requirements",
        "NSA-K8s (resource policies)",
        "FINMA-OR §IV.B",
    ],
    remediation="Set requests and limits from the sizing step of `swissai plan`.",
)
def ops_003(ctx: CheckContext, r: Results) -> None:
    gpu = ctx.policy.gpu_resource
    for c in ctx.serving:
        s = ctx.subject(c.obj)
        r.ok(s)
        res = as_dict(c.container.get("resources"))
        req, lim = as_dict(res.get("requests")), as_dict(res.get("limits"))
        rpath = f"{c.path}.resources"
        for what, ok in (
            ("CPU request", "cpu" in req),
            ("memory request", "memory" in req),
            ("memory limit", "memory" in lim),
        ):
            if not ok:
                r.fail(s, rpath, f"container {c.name}: no {what}")
        accelerator = _accelerator(c, gpu, req, lim)
        if accelerator is None:
            pass  # CPU-only vLLM: no accelerator to limit
        elif accelerator not in lim:
            r.fail(s, rpath, f"container {c.name}: no {accelerator} limit")
        elif accelerator in req and str(req[accelerator]) != str(lim[accelerator]):
            r.fail(
                s,
                rpath,
                f"container {c.name}: {accelerator} request {req[accelerator]} != limit "
                f"{lim[accelerator]}",
            )
        shm = mount_for(c, "/dev/shm")
        volumes = {
            str(as_dict(v).get("name")): as_dict(v) for v in as_list(c.pod.spec.get("volumes"))
        }
        if shm is None or str(shm[1].get("mountPath")).rstrip("/") != "/dev/shm":
            r.fail(
                s,
                f"{c.path}.volumeMounts",
                f"container {c.name}: no /dev/shm emptyDir (medium: Memory) for NCCL and tensor transfer",
            )
        else:
            vol = volumes.get(str(shm[1].get("name")), {})
            ed = as_dict(vol.get("emptyDir"))
            if "emptyDir" not in vol or ed.get("medium") != "Memory" or not ed.get("sizeLimit"):
                r.fail(
                    s,
                    f"{c.path}.volumeMounts[{shm[0]}]",
                    f"container {c.name}: /dev/shm must be an emptyDir with medium Memory and a sizeLimit",
                )
        if c.pod.spec.get("hostIPC") is True:
            r.fail(
                s,
                f"{c.pod.path}.hostIPC",
                "hostIPC: the Docker advice --ipc=host must not become host IPC on Kubernetes",
            )
    for ns in ctx.namespaces:
        if not ctx.in_namespace("ResourceQuota", ns) and not ctx.in_namespace("LimitRange", ns):
            declared = [o for o in ctx.kind("Namespace") if ns is not None and o.name == ns]
            r.fail(
                ctx.subject(declared[0])
                if declared
                else ctx.missing(f"Namespace/{ns or '(unset)'}", ctx.first_in_namespace(ns)),
                "",
                f"namespace {ns or '(unset)'} has no ResourceQuota or LimitRange in the inputs",
            )


@rule(
    "OPS-004",
    title="Probes fit vLLM start-up and serving behaviour",
    severity="medium",
    targets=["manifests"],
    inspects="""vLLM containers: readinessProbe HTTP GET `/health`; a livenessProbe; a
    startupProbe with failureThreshold x periodSeconds >= `model_load_budget_seconds`; probes
    never call key-protected `/v1` paths. Containers that serve no API (Ray workers of a
    LeaderWorkerSet, `--headless` engines) need only a livenessProbe; a startupProbe they carry
    must still cover the budget.""",
    references=[
        "CKV_K8S_8",
        "CKV_K8S_9",
        "KL liveness-port",
        "KL readiness-port",
        "FINMA-OR §IV.E",
        'FINMA-AI "Tests and ongoing monitoring"',
    ],
    remediation="Use the probe template from `swissai render`.",
)
def ops_004(ctx: CheckContext, r: Results) -> None:
    budget = ctx.policy.model_load_budget_seconds
    for c in ctx.serving:
        s = ctx.subject(c.obj)
        r.ok(s)
        api = c.serves_api  # workers answer no HTTP: no /health to be ready on
        ready = as_dict(c.container.get("readinessProbe"))
        if api and str(get(ready, "httpGet.path") or "") != "/health":
            r.fail(
                s,
                f"{c.path}.readinessProbe",
                f"container {c.name}: readinessProbe is not an HTTP GET on /health",
            )
        if not c.container.get("livenessProbe"):
            r.fail(s, f"{c.path}.livenessProbe", f"container {c.name}: no livenessProbe")
        startup = as_dict(c.container.get("startupProbe"))
        if not startup and api:
            r.fail(
                s,
                f"{c.path}.startupProbe",
                f"container {c.name}: no startupProbe (loading and graph capture take minutes)",
            )
        elif startup:
            window = _count(startup.get("failureThreshold"), 3) * _count(
                startup.get("periodSeconds"), 10
            )
            if window < budget:
                r.fail(
                    s,
                    f"{c.path}.startupProbe",
                    f"container {c.name}: startupProbe allows {window}s < model_load_budget_seconds {budget}",
                )
        for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
            path = str(get(c.container, f"{probe}.httpGet.path") or "")
            if path.startswith("/v1"):
                r.fail(
                    s,
                    f"{c.path}.{probe}.httpGet.path",
                    f"container {c.name}: {probe} calls the key-protected {path}",
                )


@rule(
    "OPS-005",
    title="Recovery objectives, fallback and restore tests are declared",
    severity="medium",
    targets=["site"],
    inspects="""`compliance.bcm` has criticality, RTO, RPO, a fallback mode, a restore procedure
    and a restore/DR test no older than 365 days. High for a critical function.""",
    references=[
        "FINMA-OR §IV.E",
        "FINMA-OR §V",
        'FINMA-AI "Tests and ongoing monitoring"',
        "DPO 3(2)(d)",
    ],
    remediation="Fill the BCM block; schedule a restore test.",
    evidence="compliance.bcm (criticality, rto_minutes, rpo_minutes, fallback, restore_procedure, last_restore_test).",
)
def ops_005(ctx: CheckContext, r: Results) -> None:
    bcm = ctx.policy.bcm
    if bcm is None:
        r.missing_evidence(
            ctx.site_path("bcm"),
            "recovery objectives and restore tests are not declared",
            "compliance.bcm with RTO, RPO, fallback, restore procedure and last restore test",
        )
        return
    site = ctx.site_subject
    r.ok(site)
    sev: Severity | None = "high" if ctx.policy.criticality == "critical_function" else None
    for name in ("criticality", "rto_minutes", "rpo_minutes", "fallback", "restore_procedure"):
        if getattr(bcm, name) in (None, ""):
            r.fail(site, ctx.site_path(f"bcm.{name}"), f"bcm.{name} is missing", severity=sev)
    if not ctx.evidence_date_ok(bcm.last_restore_test, 365):
        r.fail(
            site,
            ctx.site_path("bcm.last_restore_test"),
            "no restore/DR test within 365 days",
            severity=sev,
        )
