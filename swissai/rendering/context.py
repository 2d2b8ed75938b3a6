"""Plan + site profile -> RenderValues (swissai.rendering.values), one small function per section.

The same values feed the Jinja templates of `swissai render` and become the `values.yaml` of the
Helm chart (`--helm`), so both outputs describe the same objects. Everything is computed and
validated here; templates only lay the values out. Sizing rules (shm, memory, probes, grace
period) and the availability rules are documented in docs/render.md.

Policy lives elsewhere and is only applied here: forbidden vLLM flags and variables in
swissai.core.vllm_flags (one normalisation as vLLM parses, shared with check and serve), the
gpt-oss encodings in swissai.core.encodings, the plan's availability in
swissai.core.availability.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass
from typing import Any

from swissai import __version__
from swissai.core.availability import derive_availability
from swissai.core.encodings import ENCODINGS_ENV, TIKTOKEN_REQUIRED, TIKTOKEN_SHA256
from swissai.core.vllm_args import LAUNCH_ENV, OFFLINE_ENV
from swissai.core.vllm_flags import arg_violations, env_violations, parse_flag
from swissai.errors import InfeasiblePlan, InputError
from swissai.models.plan import PlanAvailability, ServePlan
from swissai.models.site import Peers, SiteProfile, dns_label, label_value, safe_text
from swissai.rendering.values import Exposure as ExposureValues
from swissai.rendering.values import (
    K8s,
    Labels,
    Monitoring,
    NetworkPolicy,
    Pdb,
    Pvc,
    RenderValues,
    Rollout,
    Service,
    VllmContainer,
    WorkerContainer,
)

PORT = 8000
RAY_PORT = 6379
MODELS_MOUNT = "/models"
HOME = "/home/swissai"
SCRIPTS_MOUNT = "/opt/swissai"
TLS_MOUNT = "/etc/swissai/tls"
PROBE_PERIOD_S = 10
PRESTOP_SLEEP_S = 30
DRAIN_TOKENS = 4096
RAY_WAIT_S = 900
HOSTNAME_KEY = "kubernetes.io/hostname"
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Arguments whose value vLLM resolves as a hub id unless it is a local path (RES-005).
_LOCAL_PATH_ARGS = ("--tokenizer", "--config")


@dataclass(frozen=True)
class RenderContext:
    """What the templates see (`values`, typed) and what render tells the user."""

    values: RenderValues
    plan_digest: str
    warnings: tuple[str, ...]

    @property
    def multi_node(self) -> bool:
        return self.values.multi_node


@dataclass(frozen=True)
class _Inputs:
    """Facts every section needs, derived once from plan and site."""

    plan: ServePlan
    site: SiteProfile
    name: str
    multi_node: bool
    nodes_per_replica: int
    gpus_per_pod: int
    model_dir: str
    is_gpt_oss: bool
    rdma: bool
    digest: str
    scheme: str
    selector: Labels
    labels: Labels
    availability: PlanAvailability


def plan_digest(plan: ServePlan) -> str:
    canonical = json.dumps(plan.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _bad(what: str, problem: str, hint: str | None = None) -> InputError:
    return InputError(f"{what}: {problem}", hint=hint or "fix the plan file or the site profile")


def _check_text(what: str, value: str) -> str:
    try:
        return safe_text(value)
    except ValueError as exc:
        raise _bad(what, str(exc)) from exc


def _flag(arg: str) -> str:
    """The flag vLLM reads `arg` as (`_` for `-`, unique prefixes expanded), or "" for a value."""
    flag = parse_flag(arg)
    return flag.name if flag is not None else ""


def _path_values(args: list[str], flag: str) -> list[str]:
    """Values given to `flag` (`--flag value` or `--flag=value`, any spelling vLLM accepts)."""
    out: list[str] = []
    for i, arg in enumerate(args):
        if _flag(arg) != flag:
            continue
        if "=" in arg:
            out.append(arg.split("=", 1)[1])
        elif i + 1 < len(args):
            out.append(args[i + 1])
    return out


# -- vLLM arguments and environment -------------------------------------------------------------


def pod_adapters(plan: ServePlan, site: SiteProfile) -> list[tuple[str, str, str, str]]:
    """(name, in-pod dir, manifest file, manifest sha256) of every LoRA adapter the plan serves,
    from the site profile's `lora.adapters` (the same rules as the weights: a directory on the
    model volume, pinned by the sha256 of its manifest). An adapter without a pin is exit 2."""
    from swissai.core.lora import adapters_in_args

    names = [name for name, _ in adapters_in_args(list(plan.vllm.args))]
    pinned = {a.name: a for a in site.lora.adapters}
    model_rel = (site.model.path or plan.model.id).strip("/")
    out: list[tuple[str, str, str, str]] = []
    for name in names:
        entry = pinned.get(name)
        if entry is None:
            raise _bad(
                f"plan LoRA adapter {name}",
                "not in the site profile's lora.adapters (no sha256 manifest pins it)",
                "add it: lora.adapters: [{name, path, manifest_sha256}] "
                "(`swissai model manifest DIR` prints the sha256)",
            )
        rel = _check_text(f"lora.adapters {name} path", entry.path).strip("/")
        parts = rel.split("/")
        if not rel or ".." in parts or entry.path.startswith("/"):
            raise _bad(f"lora.adapters {name} path {entry.path}", "not a folder of the volume")
        if rel == model_rel or rel.startswith(model_rel + "/"):
            raise _bad(
                f"lora.adapters {name} path {entry.path}",
                "inside the model directory: its manifest would list the adapter's files",
                "put adapters next to the model, e.g. adapters/NAME",
            )
        out.append((name, f"{MODELS_MOUNT}/{rel}", entry.manifest_file, entry.manifest_sha256))
    return out


def _adapters_env(ins: _Inputs) -> list[K8s]:
    """verify_model.py's ADAPTERS: LoRA adapters verified like the weights (SUP-003, SEC-007);
    nothing without adapters (the pod spec of a plan without them is unchanged)."""
    adapters = pod_adapters(ins.plan, ins.site)
    if not adapters:
        return []
    value = ";".join(f"{path}|{manifest}|{sha}" for _, path, manifest, sha in adapters)
    return [{"name": "ADAPTERS", "value": value}]


def adapter_args(plan: ServePlan, site: SiteProfile, args: list[str]) -> list[str]:
    """`--lora-modules NAME=PATH` pointing at the adapter's directory on the model volume."""
    from swissai.core.lora import with_adapter_paths

    adapters = pod_adapters(plan, site)
    return with_adapter_paths(args, {name: path for name, path, _, _ in adapters})


def serve_args(plan: ServePlan, model_path: str, extra: list[str]) -> list[str]:
    """The plan's arguments verbatim, with the --model value replaced by the mounted path and
    `extra` appended unless the plan already sets them. Forbidden flags are refused in every
    spelling vLLM accepts (swissai.core.vllm_flags)."""
    args = [_check_text(f"plan vllm.args[{i}]", a) for i, a in enumerate(plan.vllm.args)]
    for violation in arg_violations(args, "plan vllm.args"):
        # the token's flag part only: a value (an API key) never reaches the message
        raise _bad(f"plan vllm.args {violation.token}", violation.reason)
    for flag in _LOCAL_PATH_ARGS:
        for value in _path_values(args, flag):
            if not value.startswith("/"):
                raise _bad(
                    f"plan vllm.args {flag} {value}",
                    "not an absolute path: a hub id is downloaded at start-up (RES-005)",
                    f"put the files on the model volume and pass their path under {MODELS_MOUNT}",
                )
    out: list[str] = []
    replaced = False
    skip = False
    for i, arg in enumerate(args):
        if skip:
            skip = False
            continue
        if _flag(arg) == "--model" and "=" not in arg and i + 1 < len(args):
            out += [arg, model_path]
            skip = replaced = True
        elif _flag(arg) == "--model" and "=" in arg:
            out.append(f"{arg.split('=', 1)[0]}={model_path}")
            replaced = True
        else:
            out.append(arg)
    if not replaced:
        out = [model_path, *out]
    present = {_flag(a) for a in out}
    i = 0
    while i < len(extra):
        flag = extra[i]
        takes_value = i + 1 < len(extra) and not extra[i + 1].startswith("--")
        if flag not in present:
            out += extra[i : i + 2] if takes_value else [flag]
        i += 2 if takes_value else 1
    return out


def plan_env(plan: ServePlan) -> list[K8s]:
    """The plan's variables (checked) and the offline/telemetry ones at their exact values."""
    for violation in env_violations(plan.vllm.env, "plan vllm.env"):
        raise _bad(violation.where, violation.reason)
    env: list[K8s] = []
    for name, value in plan.vllm.env.items():
        if not _ENV_NAME.match(name):
            raise _bad(f"plan vllm.env {name!r}", "not an environment variable name")
        env.append({"name": name, "value": _check_text(f"plan vllm.env {name}", value)})
    # VLLM_DO_NOT_TRACK too: vLLM reads `VLLM_DO_NOT_TRACK or DO_NOT_TRACK`, so a value baked
    # into the image (invisible here) would otherwise mask DO_NOT_TRACK=1 (RES-006).
    for name, required in {**OFFLINE_ENV, **LAUNCH_ENV}.items():
        given = plan.vllm.env.get(name)
        if given is None:
            env.append({"name": name, "value": required})
        elif given != required:
            raise _bad(
                f"plan vllm.env {name}={given!r}",
                f"must be exactly {required!r} (vLLM, huggingface_hub and Ray compare the string; "
                "RES-005/RES-006)",
            )
    return env


def _container_env(ins: _Inputs) -> list[K8s]:
    site = ins.site
    env = plan_env(ins.plan)
    env += [
        {"name": "HOME", "value": HOME},
        {"name": "XDG_CACHE_HOME", "value": f"{HOME}/.cache"},
        {"name": "HF_HOME", "value": f"{HOME}/.cache/huggingface"},
        {"name": "VLLM_CACHE_ROOT", "value": f"{HOME}/.cache/vllm"},
        {"name": "TRITON_CACHE_DIR", "value": f"{HOME}/.cache/triton"},
        {"name": "TORCHINDUCTOR_CACHE_DIR", "value": f"{HOME}/.cache/inductor"},
        {"name": "PYTHONDONTWRITEBYTECODE", "value": "1"},
    ]
    if ins.is_gpt_oss:
        # harmony reads the encodings from here instead of downloading them (RES-007)
        encodings = f"{ins.model_dir}/{site.model.tiktoken_dir}"
        env += [{"name": name, "value": encodings} for name in ENCODINGS_ENV]
    env.append(
        {
            "name": "VLLM_API_KEY",
            "valueFrom": {
                "secretKeyRef": {"name": site.api_key.secret_name, "key": site.api_key.secret_key}
            },
        }
    )
    if ins.multi_node:
        env += [
            {"name": "VLLM_HOST_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            {"name": "SWISSAI_GPUS_PER_POD", "value": str(ins.gpus_per_pod)},
            {"name": "SWISSAI_RAY_WAIT_S", "value": str(RAY_WAIT_S)},
        ]
    return env


# -- sizing: resources, shm, probes, grace ------------------------------------------------------


def shm_gib(gpus_per_pod: int, dp: int) -> int:
    """/dev/shm: vLLM's worker message queue and NCCL segments (deploy_practices.md §1)."""
    base = 1 if gpus_per_pod <= 1 else 2 if gpus_per_pod <= 2 else 8 if gpus_per_pod <= 4 else 16
    return base + (dp - 1 if dp > 1 else 0)


def _resources(ins: _Inputs, shm: int) -> K8s:
    site, plan, gpus = ins.site, ins.plan, ins.gpus_per_pod
    weights_gib = plan.memory_per_gpu_gib.weights * gpus
    memory_gib = math.ceil(
        weights_gib * 1.1 + shm + site.resources.memory_overhead_gib_per_gpu * gpus
    )
    ephemeral = site.resources.home_size_gib + site.resources.tmp_size_gib + 1
    quantities: dict[str, Any] = {
        "cpu": str(site.resources.cpu_per_gpu * gpus),
        "memory": f"{memory_gib}Gi",
        "ephemeral-storage": f"{ephemeral}Gi",
        site.gpu.resource_name: str(gpus),
    }
    if ins.rdma:
        quantities[site.security.rdma_resource] = "1"
    return {"requests": dict(quantities), "limits": dict(quantities)}


def startup_budget_s(plan: ServePlan, site: SiteProfile) -> int:
    """How long a pod may take to load: twice the estimated load time plus 300 s, at least the
    site's model_load_budget_seconds."""
    return max(
        math.ceil(plan.estimates.load_time_s * 2 + 300), site.compliance.model_load_budget_seconds
    )


def _probes(scheme: str, budget_s: int) -> tuple[K8s, K8s, K8s]:
    http = {"path": "/health", "port": "http", "scheme": scheme}
    startup = {
        "httpGet": http,
        "periodSeconds": PROBE_PERIOD_S,
        "timeoutSeconds": 5,
        "failureThreshold": math.ceil(budget_s / PROBE_PERIOD_S),
    }
    readiness = {"httpGet": http, "periodSeconds": 5, "timeoutSeconds": 2, "failureThreshold": 3}
    liveness = {"httpGet": http, "periodSeconds": 10, "timeoutSeconds": 5, "failureThreshold": 6}
    return startup, readiness, liveness


def _worker_probes(budget_s: int) -> tuple[K8s, K8s]:
    """Ray workers serve no HTTP: their probes ask the leader's Ray head (GCS). The startup
    probe holds the liveness probe off for the same budget as the leader's, so a leader that
    comes up late (its own model verification, a reschedule) does not get the worker
    restarted, which would recreate the whole group (RecreateGroupOnPodRestart)."""
    # exec probes get no $(VAR) expansion: the shell reads the LWS variable
    check = f'ray health-check --address "${{LWS_LEADER_ADDRESS}}:{RAY_PORT}"'
    ray_health = {"exec": {"command": ["/bin/sh", "-c", check]}}
    startup = {
        **ray_health,
        "periodSeconds": PROBE_PERIOD_S,
        "timeoutSeconds": 10,
        "failureThreshold": math.ceil(budget_s / PROBE_PERIOD_S),
    }
    liveness = {**ray_health, "periodSeconds": 30, "timeoutSeconds": 10, "failureThreshold": 5}
    return startup, liveness


def grace_period_s(plan: ServePlan) -> int:
    """Time to drain the requests in flight: DRAIN_TOKENS at the estimated per-sequence decode
    rate, plus the preStop sleep, x1.5, between 60 and 900 s."""
    per_seq = max(plan.estimates.decode_tokens_per_s_per_sequence, 1.0)
    drain_s = min(plan.limits.max_model_len, DRAIN_TOKENS) / per_seq
    return min(max(math.ceil((drain_s + PRESTOP_SLEEP_S) * 1.5), 60), 900)


# -- security, volumes, init containers -----------------------------------------------------------


def _security(ins: _Inputs) -> tuple[K8s, K8s, K8s]:
    """(pod, vLLM container, other containers): HRD-004/005/006; on OpenShift restricted-v2
    assigns the UID. IPC_LOCK only for the RDMA waiver."""
    site = ins.site
    pod: K8s = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    if not site.security.openshift:
        for key, value in (
            ("runAsUser", site.security.run_as_user),
            ("runAsGroup", site.security.run_as_group),
            ("fsGroup", site.security.fs_group),
        ):
            if value is not None:
                pod[key] = value
    container: K8s = {
        "allowPrivilegeEscalation": False,
        "privileged": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    if ins.rdma:
        container["capabilities"] = {"drop": ["ALL"], "add": ["IPC_LOCK"]}
    plain = {**container, "capabilities": {"drop": ["ALL"]}}
    return pod, container, plain


def _volumes(ins: _Inputs, shm: int) -> tuple[list[K8s], list[K8s]]:
    site = ins.site
    volumes: list[K8s] = []
    store = site.storage.object_store
    if site.storage.source == "object_store" and store is not None:
        volumes.append(
            {
                "name": "models",
                "ephemeral": {
                    "volumeClaimTemplate": {
                        "metadata": {"labels": dict(ins.labels)},
                        "spec": {
                            "accessModes": ["ReadWriteOnce"],
                            "storageClassName": site.storage.storage_class,
                            "resources": {"requests": {"storage": store.size}},
                        },
                    }
                },
            }
        )
    else:
        volumes.append(
            {
                "name": "models",
                "persistentVolumeClaim": {
                    "claimName": site.storage.pvc.claim_name,
                    "readOnly": True,
                },
            }
        )
    volumes += [
        {"name": "scripts", "configMap": {"name": f"{ins.name}-scripts", "defaultMode": 0o555}},
        {"name": "home", "emptyDir": {"sizeLimit": f"{site.resources.home_size_gib}Gi"}},
        {"name": "tmp", "emptyDir": {"sizeLimit": f"{site.resources.tmp_size_gib}Gi"}},
        {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": f"{shm}Gi"}},
    ]
    mounts: list[K8s] = [
        {"name": "models", "mountPath": MODELS_MOUNT, "readOnly": True},
        {"name": "scripts", "mountPath": SCRIPTS_MOUNT, "readOnly": True},
        {"name": "home", "mountPath": HOME},
        {"name": "tmp", "mountPath": "/tmp"},
        {"name": "dshm", "mountPath": "/dev/shm"},
    ]
    if ins.scheme == "HTTPS":
        volumes.append({"name": "tls", "secret": {"secretName": site.tls.secret_name}})
        mounts.append({"name": "tls", "mountPath": TLS_MOUNT, "readOnly": True})
    return volumes, mounts


def required_encodings(tiktoken_dir: str) -> str:
    """verify_model.py's REQUIRED_FILES for gpt-oss: the encodings harmony needs, each with the
    sha256 tiktoken pins (swissai.core.encodings)."""
    return ";".join(
        f"{tiktoken_dir}/{name}={TIKTOKEN_SHA256[name]}" for name in sorted(TIKTOKEN_REQUIRED)
    )


def _init_containers(ins: _Inputs, plain_security: K8s) -> list[K8s]:
    """(fetch-model from the in-cluster object store), then verify-model against the manifest."""
    site = ins.site
    small = {"cpu": "2", "memory": "2Gi", "ephemeral-storage": "1Gi"}
    out: list[K8s] = []
    store = site.storage.object_store
    if site.storage.source == "object_store" and store is not None:
        source = f":s3:{store.bucket}" + (f"/{store.prefix.strip('/')}" if store.prefix else "")
        _check_text("storage.object_store.prefix", source)
        out.append(
            {
                "name": "fetch-model",
                "image": store.fetch_image.reference,
                "imagePullPolicy": store.fetch_image.pull_policy,
                "command": ["rclone", "copy", "--transfers", "16", source, ins.model_dir],
                "env": [
                    {"name": "HOME", "value": "/tmp"},
                    {"name": "RCLONE_CONFIG", "value": "/tmp/rclone.conf"},
                    {"name": "RCLONE_S3_PROVIDER", "value": "Other"},
                    {"name": "RCLONE_S3_ENDPOINT", "value": store.endpoint},
                    {"name": "RCLONE_S3_ENV_AUTH", "value": "true"},
                    *[
                        {
                            "name": key,
                            "valueFrom": {
                                "secretKeyRef": {"name": store.credentials_secret, "key": key}
                            },
                        }
                        for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
                    ],
                ],
                "resources": {"requests": dict(small), "limits": dict(small)},
                "securityContext": plain_security,
                "volumeMounts": [
                    {"name": "models", "mountPath": MODELS_MOUNT},
                    {"name": "tmp", "mountPath": "/tmp"},
                ],
            }
        )
    required = required_encodings(site.model.tiktoken_dir) if ins.is_gpt_oss else ""
    verify_res = {"cpu": "4", "memory": "2Gi", "ephemeral-storage": "1Gi"}
    out.append(
        {
            "name": "verify-model",
            "image": site.image.reference,
            "imagePullPolicy": site.image.pull_policy,
            "command": ["python3", f"{SCRIPTS_MOUNT}/verify_model.py"],
            "env": [
                {"name": "MODEL_DIR", "value": ins.model_dir},
                {"name": "MANIFEST_FILE", "value": site.model.manifest_file},
                {"name": "MANIFEST_SHA256", "value": site.model.manifest_sha256},
                {"name": "REQUIRED_FILES", "value": required},
                *_adapters_env(ins),
                {"name": "VERIFY_THREADS", "value": "4"},
                {"name": "PYTHONDONTWRITEBYTECODE", "value": "1"},
            ],
            "resources": {"requests": dict(verify_res), "limits": dict(verify_res)},
            "securityContext": plain_security,
            "volumeMounts": [
                {"name": "models", "mountPath": MODELS_MOUNT, "readOnly": True},
                {"name": "scripts", "mountPath": SCRIPTS_MOUNT, "readOnly": True},
                {"name": "tmp", "mountPath": "/tmp"},
            ],
        }
    )
    return out


# -- placement and availability -------------------------------------------------------------------


def anti_affinity(selector: Labels, spread: str) -> K8s | None:
    """One replica per node, as the plan's availability says: a hard rule only when the nodes
    can hold one replica each (`required`), else a preference the scheduler may break rather
    than leave a replica Pending (`preferred`); none for `none`."""
    term = {"labelSelector": {"matchLabels": dict(selector)}, "topologyKey": HOSTNAME_KEY}
    if spread == "required":
        return {"requiredDuringSchedulingIgnoredDuringExecution": [term]}
    if spread == "preferred":
        return {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 100, "podAffinityTerm": term}
            ]
        }
    return None


def _affinity(ins: _Inputs) -> K8s:
    """Swiss regions (required), zones and GPU products; replicas apart per availability."""
    placement, gpu = ins.site.placement, ins.site.gpu
    terms = [{"key": placement.region_label, "operator": "In", "values": list(placement.regions)}]
    if placement.zones:
        terms.append(
            {"key": placement.zone_label, "operator": "In", "values": list(placement.zones)}
        )
    if gpu.products:
        terms.append({"key": gpu.product_label, "operator": "In", "values": list(gpu.products)})
    affinity: K8s = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": terms}]
            }
        }
    }
    rule = anti_affinity(ins.selector, ins.availability.spread)
    if rule is not None:
        affinity["podAntiAffinity"] = rule
    return affinity


def _zone_spread(ins: _Inputs) -> list[K8s]:
    selector = dict(ins.selector)
    if ins.multi_node:
        selector["swissai.io/role"] = "leader"
    required = ins.site.placement.zone_spread == "required"
    return [
        {
            "maxSkew": 1,
            "topologyKey": ins.site.placement.zone_label,
            "whenUnsatisfiable": "DoNotSchedule" if required else "ScheduleAnyway",
            "labelSelector": {"matchLabels": selector},
        }
    ]


def rollout(availability: PlanAvailability) -> Rollout:
    return Rollout(max_surge=availability.max_surge, max_unavailable=availability.max_unavailable)


def pdb(availability: PlanAvailability, multi_node: bool) -> Pdb:
    """The budget in the unit the PodDisruptionBudget counts (pods): see values.Pdb."""
    if multi_node:
        return Pdb(
            field="maxUnavailable",
            value=max(1, availability.replicas - availability.min_available),
        )
    return Pdb(field="minAvailable", value=availability.min_available)


# -- metadata -------------------------------------------------------------------------------------


def _namespace_labels(ins: _Inputs) -> Labels:
    """Pod Security restricted (HRD-001), or privileged for an RDMA waiver."""
    psv = ins.site.security.pod_security_version
    labels = {
        **ins.labels,
        "pod-security.kubernetes.io/enforce": "privileged" if ins.rdma else "restricted",
        "pod-security.kubernetes.io/enforce-version": psv,
        "pod-security.kubernetes.io/warn": "restricted",
        "pod-security.kubernetes.io/warn-version": psv,
        "pod-security.kubernetes.io/audit": "restricted",
        "pod-security.kubernetes.io/audit-version": psv,
        "environment": ins.site.governance.environment,
    }
    if ins.site.security.openshift:
        labels["security.openshift.io/scc.podSecurityLabelSync"] = "false"
    return labels


def _annotations(ins: _Inputs, served: str, config_digest: str) -> Labels:
    site = ins.site
    annotations = {
        "swissai.io/owner": site.governance.owner,
        "swissai.io/plan-digest": f"sha256:{ins.digest}",
        "swissai.io/config-digest": f"sha256:{config_digest}",
        "swissai.io/model-manifest-digest": f"sha256:{site.model.manifest_sha256}",
        "swissai.io/served-model-name": served,
        "swissai.io/vllm-image": site.image.reference,
        "swissai.io/swissai-version": __version__,
    }
    if ins.rdma:
        annotations["swissai.io/pod-security-exception"] = (
            "RDMA: IPC_LOCK capability and RDMA device; namespace enforce=privileged "
            "(docs/security.md, needs a waiver)"
        )
    return annotations


# -- network --------------------------------------------------------------------------------------


def _peers(peers: Peers) -> K8s:
    peer: K8s = {"namespaceSelector": {"matchLabels": dict(peers.namespace_labels)}}
    if peers.pod_labels:
        peer["podSelector"] = {"matchLabels": dict(peers.pod_labels)}
    return peer


def _serving_selector(ins: _Inputs) -> Labels:
    selector = dict(ins.selector)
    if ins.multi_node:
        selector["swissai.io/role"] = "leader"
    return selector


def _network_policies(ins: _Inputs) -> list[NetworkPolicy]:
    """Default deny, then named exceptions (RES-004, NET-002)."""
    site, name, selector = ins.site, ins.name, ins.selector
    serving = _serving_selector(ins)
    dns_ports = [
        {"protocol": proto, "port": port} for port in site.dns.ports for proto in ("UDP", "TCP")
    ]

    def serving_from(peers: Peers) -> K8s:
        return {
            "podSelector": {"matchLabels": serving},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": [_peers(peers)], "ports": [{"protocol": "TCP", "port": PORT}]}],
        }

    policies = [
        NetworkPolicy(
            name=f"{name}-default-deny",
            spec={"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
        ),
        NetworkPolicy(
            name=f"{name}-allow-dns",
            spec={
                "podSelector": {},
                "policyTypes": ["Egress"],
                "egress": [{"to": [_peers(site.dns.peers)], "ports": dns_ports}],
            },
        ),
        NetworkPolicy(name=f"{name}-allow-gateway", spec=serving_from(site.exposure.clients)),
    ]
    if site.monitoring.enabled:
        policies.append(
            NetworkPolicy(
                name=f"{name}-allow-prometheus", spec=serving_from(site.monitoring.prometheus)
            )
        )
    if ins.multi_node:
        group_peer = [{"podSelector": {"matchLabels": dict(selector)}}]
        policies.append(
            NetworkPolicy(
                name=f"{name}-allow-group",
                spec={
                    "podSelector": {"matchLabels": dict(selector)},
                    "policyTypes": ["Ingress", "Egress"],
                    "ingress": [{"from": group_peer}],
                    "egress": [{"to": group_peer}],
                },
            )
        )
    store = site.storage.object_store
    if site.storage.source == "object_store" and store is not None:
        namespace = {"kubernetes.io/metadata.name": store.namespace}
        policies.append(
            NetworkPolicy(
                name=f"{name}-allow-model-store",
                spec={
                    "podSelector": {"matchLabels": dict(selector)},
                    "policyTypes": ["Egress"],
                    "egress": [
                        {
                            "to": [{"namespaceSelector": {"matchLabels": namespace}}],
                            "ports": [{"protocol": "TCP", "port": store.port}],
                        }
                    ],
                },
            )
        )
    return policies


def _exposure(ins: _Inputs) -> ExposureValues:
    """Only the exposed paths, TLS on the client side (NET-001)."""
    site = ins.site
    exposure = site.exposure
    paths = [_check_text("compliance.exposed_paths", p) for p in site.compliance.exposed_paths]
    ingress_annotations: Labels = {}
    if site.tls.cert_manager_issuer:
        key = (
            "cert-manager.io/cluster-issuer"
            if site.tls.cert_manager_issuer_kind == "ClusterIssuer"
            else "cert-manager.io/issuer"
        )
        ingress_annotations[key] = site.tls.cert_manager_issuer
    if ins.scheme == "HTTPS":
        ingress_annotations["nginx.ingress.kubernetes.io/backend-protocol"] = "HTTPS"
    return ExposureValues(
        type=exposure.type,
        host=exposure.host,
        paths=paths,
        gateway_name=exposure.gateway_name,
        gateway_namespace=exposure.gateway_namespace,
        gateway_section=exposure.gateway_section or "",
        ingress_class_name=exposure.ingress_class_name or "",
        ingress_annotations=ingress_annotations,
        tls_secret_name=site.tls.secret_name or "",
        backend_tls=ins.scheme == "HTTPS",
    )


# -- files shipped with the objects ---------------------------------------------------------------


def _scripts(multi_node: bool) -> Labels:
    from swissai.resources import templates_dir

    scripts_dir = templates_dir() / "scripts"
    names = ["verify_model.py"] + (["ray_leader.sh", "ray_worker.sh"] if multi_node else [])
    return {name: (scripts_dir / name).read_text(encoding="utf-8") for name in names}


def _monitoring(ins: _Inputs) -> Monitoring:
    from swissai.resources import templates_dir

    monitoring = ins.site.monitoring
    dashboard = ""
    if monitoring.enabled and monitoring.grafana_dashboard:
        dashboard = (templates_dir() / "grafana" / "vllm-dashboard.json").read_text(
            encoding="utf-8"
        )
    return Monitoring(
        enabled=monitoring.enabled,
        service_monitor_labels=dict(monitoring.service_monitor_labels),
        interval=monitoring.interval,
        scheme="https" if ins.scheme == "HTTPS" else "http",
        dashboard=bool(dashboard),
        dashboard_labels=dict(monitoring.dashboard_labels),
        dashboard_json=dashboard,
    )


def _pvc(site: SiteProfile) -> Pvc | None:
    if site.storage.source != "pvc" or not site.storage.pvc.create:
        return None
    return Pvc(
        name=site.storage.pvc.claim_name,
        storage_class_name=site.storage.storage_class,
        access_mode=site.storage.pvc.access_mode,
        size=site.storage.pvc.size,
    )


# -- the whole ----------------------------------------------------------------------------------


def _inputs(plan: ServePlan, site: SiteProfile, warnings: list[str]) -> _Inputs:
    """Validate what every section relies on (InputError, exit 2)."""
    try:
        model_label = label_value(plan.model.id)
        version_label = label_value(plan.vllm.version)
    except ValueError as exc:
        raise _bad("plan model.id / vllm.version", str(exc), "regenerate the plan") from exc
    name = site.name or plan.model.id.lower().replace(".", "-").replace("_", "-")
    try:
        dns_label(name)
    except ValueError as exc:
        raise _bad("workload name", str(exc), "set `name:` in the site profile") from exc
    if name == "vllm":
        raise _bad("name", "'vllm' collides with vLLM's VLLM_PORT variable", "choose another name")
    layout = plan.layout
    nodes = layout.nodes_per_replica
    if nodes < 1 or layout.gpus_per_replica % nodes:
        raise _bad("plan layout", "gpus_per_replica is not a multiple of nodes_per_replica")
    availability = derive_availability(plan)
    if availability.replicas != layout.replicas:
        raise _bad(
            "plan availability.replicas",
            f"{availability.replicas} differs from layout.replicas {layout.replicas}",
            "regenerate the plan with `swissai plan`",
        )
    model_path_rel = site.model.path or plan.model.id
    _check_text("model.path", model_path_rel)
    multi_node = nodes > 1
    if site.security.rdma and not multi_node:
        warnings.append("security.rdma is ignored: the plan runs on one node per replica")
    digest = plan_digest(plan)
    selector = {"app.kubernetes.io/name": name, "app.kubernetes.io/instance": name}
    labels = {
        **selector,
        "app.kubernetes.io/version": version_label,
        "app.kubernetes.io/component": "inference",
        "app.kubernetes.io/part-of": "swissai",
        "app.kubernetes.io/managed-by": "swissai",
        "swissai.io/model": model_label,
        "swissai.io/model-revision": site.model.revision,
        "swissai.io/plan-hash": digest[:16],
        "swissai.io/inventory-id": site.governance.inventory_id,
        "swissai.io/cost-centre": site.governance.cost_centre,
        "swissai.io/environment": site.governance.environment,
        "swissai.io/version": __version__,
    }
    return _Inputs(
        plan=plan,
        site=site,
        name=name,
        multi_node=multi_node,
        nodes_per_replica=nodes,
        gpus_per_pod=layout.gpus_per_replica // nodes,
        model_dir=f"{MODELS_MOUNT}/{model_path_rel}",
        is_gpt_oss="gpt-oss" in plan.model.id or "gpt-oss" in (plan.model.hf_repo or ""),
        rdma=site.security.rdma and multi_node,
        digest=digest,
        scheme="HTTPS" if site.tls.mode == "vllm" else "HTTP",
        selector=selector,
        labels=labels,
        availability=availability,
    )


def build_context(plan: ServePlan, site: SiteProfile) -> RenderContext:
    """Validate the inputs and compute every value; InputError (exit 2) or InfeasiblePlan (4)."""
    if not plan.feasible:
        raise InfeasiblePlan(
            f"the plan for {plan.model.id} does not fit; nothing is rendered",
            hint="run `swissai plan` again with the nearest feasible settings it prints",
        )
    warnings: list[str] = []
    ins = _inputs(plan, site, warnings)
    for key in site.placeholders():
        warnings.append(f"site profile still has the example value of {key}: replace it")
    served = plan.model.id
    for given in _path_values(list(plan.vllm.args), "--served-model-name"):
        served = given
    _check_text("served model name", served)

    extra = ["--port", str(PORT), "--disable-fastapi-docs"]
    if ins.multi_node:
        extra += ["--distributed-executor-backend", "ray"]
    if ins.scheme == "HTTPS":
        extra += ["--ssl-certfile", f"{TLS_MOUNT}/tls.crt", "--ssl-keyfile", f"{TLS_MOUNT}/tls.key"]
    args = adapter_args(plan, site, serve_args(plan, ins.model_dir, extra))
    env = _container_env(ins)
    config_digest = hashlib.sha256(
        json.dumps({"args": args, "env": env}, sort_keys=True).encode()
    ).hexdigest()

    shm = shm_gib(ins.gpus_per_pod, plan.layout.data_parallel_size)
    budget_s = startup_budget_s(plan, site)
    startup, readiness, liveness = _probes(ins.scheme, budget_s)
    worker_startup, worker_liveness = _worker_probes(budget_s)
    pod_security, container_security, plain_security = _security(ins)
    volumes, mounts = _volumes(ins, shm)
    annotations = _annotations(ins, served, config_digest)
    pod_annotations = dict(annotations)
    if ins.rdma and site.security.rdma_networks:
        pod_annotations["k8s.v1.cni.cncf.io/networks"] = site.security.rdma_networks
    command = ["/bin/sh", f"{SCRIPTS_MOUNT}/ray_leader.sh"] if ins.multi_node else ["vllm", "serve"]
    values = RenderValues(
        name=ins.name,
        namespace=site.namespace,
        create_namespace=True,
        namespace_labels=_namespace_labels(ins),
        labels=ins.labels,
        annotations=annotations,
        pod_annotations=pod_annotations,
        selector_labels=ins.selector,
        multi_node=ins.multi_node,
        replicas=ins.availability.replicas,
        group_size=ins.nodes_per_replica,
        gpus_per_pod=ins.gpus_per_pod,
        image=site.image.reference,
        image_pull_policy=site.image.pull_policy,
        image_pull_secrets=[{"name": site.image.pull_secret}] if site.image.pull_secret else [],
        service_account_name=ins.name,
        runtime_class_name=site.gpu.runtime_class_name or "",
        termination_grace_period_seconds=grace_period_s(plan),
        progress_deadline_seconds=budget_s + 600,
        rollout=rollout(ins.availability),
        pod_security_context=pod_security,
        container_security_context=container_security,
        node_selector=dict(site.gpu.node_selector),
        affinity=_affinity(ins),
        tolerations=[t.model_dump(exclude_none=True) for t in site.gpu.tolerations],
        topology_spread_constraints=_zone_spread(ins),
        init_containers=_init_containers(ins, plain_security),
        volumes=volumes,
        vllm=VllmContainer(
            command=command,
            args=args,
            env=env,
            port=PORT,
            port_name="http",
            resources=_resources(ins, shm),
            volume_mounts=mounts,
            startup_probe=startup,
            readiness_probe=readiness,
            liveness_probe=liveness,
            pre_stop_sleep_seconds=PRESTOP_SLEEP_S,
        ),
        worker=WorkerContainer(
            command=["/bin/sh", f"{SCRIPTS_MOUNT}/ray_worker.sh"],
            env=[e for e in env if e["name"] != "VLLM_API_KEY"],
            startup_probe=worker_startup,
            liveness_probe=worker_liveness,
            ray_port=RAY_PORT,
        ),
        scripts=_scripts(ins.multi_node),
        service=Service(port=PORT, port_name="http", selector=_serving_selector(ins)),
        pdb=pdb(ins.availability, ins.multi_node),
        network_policies=_network_policies(ins),
        monitoring=_monitoring(ins),
        exposure=_exposure(ins),
        pvc=_pvc(site),
    )
    return RenderContext(values=values, plan_digest=ins.digest, warnings=tuple(warnings))
