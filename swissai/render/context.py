"""RenderContext: plan + site profile -> the typed values every template reads.

The same values feed the Jinja templates of `swissai render` and become the `values.yaml` of the
Helm chart (`--helm`), so both outputs describe the same objects. Everything is computed and
validated here; templates only lay the values out. Sizing rules (shm, memory, probes, grace
period) are documented in docs/render.md.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass
from typing import Any

from swissai import __version__
from swissai.core.vllm_args import LAUNCH_ENV, OFFLINE_ENV
from swissai.errors import InfeasiblePlan, InputError
from swissai.models.plan import ServePlan
from swissai.models.site import SiteProfile, dns_label, label_value, safe_text

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
# The hashes tiktoken itself pins for the encodings gpt-oss needs offline (RES-007).
TIKTOKEN_FILES = {
    "o200k_base.tiktoken": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    "cl100k_base.tiktoken": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
}
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Arguments that must never reach a serving pod: remote code (SEC-006), a literal key (SEC-003),
# prompt logging (LOG-001), external tools (RES-010).
_FORBIDDEN_ARGS = {
    "--trust-remote-code": "remote code from the model repository is never run (SEC-006)",
    "--api-key": "the API key comes from a Secret via VLLM_API_KEY, never from argv (SEC-003)",
    "--enable-log-requests": "prompts must not be logged (LOG-001)",
    "--enable-log-outputs": "completions must not be logged (LOG-001)",
    "--tool-server": "no external tool servers (RES-010)",
}
# Arguments whose value vLLM resolves as a hub id unless it is a local path (RES-005).
_LOCAL_PATH_ARGS = ("--tokenizer", "--config")
_FORBIDDEN_ENV = {
    "VLLM_API_KEY": "the API key comes from the site's Secret (api_key.secret_name)",
    "HF_TOKEN": "no hub token in a sovereign deployment (RES-005)",
    "HUGGING_FACE_HUB_TOKEN": "no hub token in a sovereign deployment (RES-005)",
    "VLLM_USAGE_STATS_SERVER": "usage statistics stay off (RES-006)",
    "VLLM_SERVER_DEV_MODE": "no development endpoints (SEC-005)",
    "HF_ENDPOINT": "no hub endpoint: weights come from the mounted volume (RES-005)",
    "VLLM_USE_MODELSCOPE": "no model hub (RES-005)",
}


@dataclass(frozen=True)
class RenderContext:
    """What the templates see: `values` (JSON-able, also the Helm values) and file contents."""

    values: dict[str, Any]
    plan_digest: str
    warnings: tuple[str, ...]

    @property
    def multi_node(self) -> bool:
        return bool(self.values["multiNode"])


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
    """The flag of an argument in its canonical spelling: vLLM's parser reads `_` as `-`
    (`--trust_remote_code` is `--trust-remote-code`)."""
    if not arg.startswith("--"):
        return ""
    return "--" + arg[2:].split("=", 1)[0].replace("_", "-")


def _path_values(args: list[str], flag: str) -> list[str]:
    """Values given to `flag` (`--flag value` or `--flag=value`, any spelling)."""
    out: list[str] = []
    for i, arg in enumerate(args):
        if _flag(arg) != flag:
            continue
        if "=" in arg:
            out.append(arg.split("=", 1)[1])
        elif i + 1 < len(args):
            out.append(args[i + 1])
    return out


def _serve_args(plan: ServePlan, model_path: str, extra: list[str]) -> list[str]:
    """The plan's arguments verbatim, with the --model value replaced by the mounted path."""
    args = [_check_text(f"plan vllm.args[{i}]", a) for i, a in enumerate(plan.vllm.args)]
    for arg in args:
        flag = _flag(arg)
        if flag in _FORBIDDEN_ARGS:
            raise _bad(f"plan vllm.args {arg.split('=', 1)[0]}", _FORBIDDEN_ARGS[flag])
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
        if arg == "--model" and i + 1 < len(args):
            out += ["--model", model_path]
            skip = replaced = True
        elif _flag(arg) == "--model" and "=" in arg:
            out.append(f"--model={model_path}")
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


def _plan_env(plan: ServePlan) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = []
    for name, value in plan.vllm.env.items():
        if not _ENV_NAME.match(name):
            raise _bad(f"plan vllm.env {name!r}", "not an environment variable name")
        if name in _FORBIDDEN_ENV:
            raise _bad(f"plan vllm.env {name}", _FORBIDDEN_ENV[name])
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


def _shm_gib(gpus_per_pod: int, dp: int) -> int:
    """/dev/shm: vLLM's worker message queue and NCCL segments (deploy_practices.md §1)."""
    base = 1 if gpus_per_pod <= 1 else 2 if gpus_per_pod <= 2 else 8 if gpus_per_pod <= 4 else 16
    return base + (dp - 1 if dp > 1 else 0)


def _peers(peers: Any) -> dict[str, Any]:
    peer: dict[str, Any] = {"namespaceSelector": {"matchLabels": dict(peers.namespace_labels)}}
    if peers.pod_labels:
        peer["podSelector"] = {"matchLabels": dict(peers.pod_labels)}
    return peer


def build_context(plan: ServePlan, site: SiteProfile) -> RenderContext:
    """Validate the inputs and compute every value; InputError (exit 2) or InfeasiblePlan (4)."""
    if not plan.feasible:
        raise InfeasiblePlan(
            f"the plan for {plan.model.id} does not fit; nothing is rendered",
            hint="run `swissai plan` again with the nearest feasible settings it prints",
        )
    warnings: list[str] = []
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
    if layout.gpus_per_replica % nodes:
        raise _bad("plan layout", "gpus_per_replica is not a multiple of nodes_per_replica")
    gpus_per_pod = layout.gpus_per_replica // nodes
    multi_node = nodes > 1
    served = plan.model.id
    for given in _path_values(list(plan.vllm.args), "--served-model-name"):
        served = given
    _check_text("served model name", served)
    model_path_rel = site.model.path or plan.model.id
    _check_text("model.path", model_path_rel)
    model_dir = f"{MODELS_MOUNT}/{model_path_rel}"
    is_gpt_oss = "gpt-oss" in plan.model.id or "gpt-oss" in (plan.model.hf_repo or "")
    rdma = site.security.rdma and multi_node
    if site.security.rdma and not multi_node:
        warnings.append("security.rdma is ignored: the plan runs on one node per replica")
    digest = plan_digest(plan)
    for key in site.placeholders():
        warnings.append(f"site profile still has the example value of {key}: replace it")

    # -- labels and annotations on every object (GOV-001, GOV-002) -----------------------------
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

    # -- vLLM container: args, env, resources, probes ------------------------------------------
    scheme = "HTTPS" if site.tls.mode == "vllm" else "HTTP"
    extra = ["--port", str(PORT), "--disable-fastapi-docs"]
    if multi_node:
        extra += ["--distributed-executor-backend", "ray"]
    if scheme == "HTTPS":
        extra += ["--ssl-certfile", f"{TLS_MOUNT}/tls.crt", "--ssl-keyfile", f"{TLS_MOUNT}/tls.key"]
    args = _serve_args(plan, model_dir, extra)
    env = _plan_env(plan)
    env += [
        {"name": "HOME", "value": HOME},
        {"name": "XDG_CACHE_HOME", "value": f"{HOME}/.cache"},
        {"name": "HF_HOME", "value": f"{HOME}/.cache/huggingface"},
        {"name": "VLLM_CACHE_ROOT", "value": f"{HOME}/.cache/vllm"},
        {"name": "TRITON_CACHE_DIR", "value": f"{HOME}/.cache/triton"},
        {"name": "TORCHINDUCTOR_CACHE_DIR", "value": f"{HOME}/.cache/inductor"},
        {"name": "PYTHONDONTWRITEBYTECODE", "value": "1"},
    ]
    if is_gpt_oss:
        tiktoken = f"{model_dir}/{site.model.tiktoken_dir}"
        env += [
            {"name": "TIKTOKEN_ENCODINGS_BASE", "value": tiktoken},
            {"name": "TIKTOKEN_RS_CACHE_DIR", "value": tiktoken},
        ]
    env.append(
        {
            "name": "VLLM_API_KEY",
            "valueFrom": {
                "secretKeyRef": {"name": site.api_key.secret_name, "key": site.api_key.secret_key}
            },
        }
    )
    if multi_node:
        env += [
            {"name": "VLLM_HOST_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            {"name": "SWISSAI_GPUS_PER_POD", "value": str(gpus_per_pod)},
            {"name": "SWISSAI_RAY_WAIT_S", "value": str(RAY_WAIT_S)},
        ]
    config_digest = hashlib.sha256(
        json.dumps({"args": args, "env": env}, sort_keys=True).encode()
    ).hexdigest()

    shm = _shm_gib(gpus_per_pod, layout.data_parallel_size)
    weights_gib = plan.memory_per_gpu_gib.weights * gpus_per_pod
    memory_gib = math.ceil(
        weights_gib * 1.1 + shm + site.resources.memory_overhead_gib_per_gpu * gpus_per_pod
    )
    cpu = site.resources.cpu_per_gpu * gpus_per_pod
    ephemeral = site.resources.home_size_gib + site.resources.tmp_size_gib + 1
    quantities: dict[str, Any] = {
        "cpu": str(cpu),
        "memory": f"{memory_gib}Gi",
        "ephemeral-storage": f"{ephemeral}Gi",
        site.gpu.resource_name: str(gpus_per_pod),
    }
    if rdma:
        quantities[site.security.rdma_resource] = "1"
    resources = {"requests": dict(quantities), "limits": dict(quantities)}

    budget_s = max(
        math.ceil(plan.estimates.load_time_s * 2 + 300), site.compliance.model_load_budget_seconds
    )
    startup_failures = math.ceil(budget_s / PROBE_PERIOD_S)
    http = {"path": "/health", "port": "http", "scheme": scheme}
    probes = {
        "startup": {
            "httpGet": http,
            "periodSeconds": PROBE_PERIOD_S,
            "timeoutSeconds": 5,
            "failureThreshold": startup_failures,
        },
        "readiness": {
            "httpGet": http,
            "periodSeconds": 5,
            "timeoutSeconds": 2,
            "failureThreshold": 3,
        },
        "liveness": {
            "httpGet": http,
            "periodSeconds": 10,
            "timeoutSeconds": 5,
            "failureThreshold": 6,
        },
    }

    # Ray workers serve no HTTP: their probes ask the leader's Ray head (GCS). The startup
    # probe holds the liveness probe off for the same budget as the leader's, so a leader that
    # comes up late (its own model verification, a reschedule) does not get the worker
    # restarted, which would recreate the whole group (RecreateGroupOnPodRestart).
    def ray_health() -> dict[str, Any]:
        # exec probes get no $(VAR) expansion: the shell reads the LWS variable
        check = f'ray health-check --address "${{LWS_LEADER_ADDRESS}}:{RAY_PORT}"'
        return {"exec": {"command": ["/bin/sh", "-c", check]}}

    worker_probes = {
        "startup": {
            **ray_health(),
            "periodSeconds": PROBE_PERIOD_S,
            "timeoutSeconds": 10,
            "failureThreshold": startup_failures,
        },
        "liveness": {
            **ray_health(),
            "periodSeconds": 30,
            "timeoutSeconds": 10,
            "failureThreshold": 5,
        },
    }
    per_seq = max(plan.estimates.decode_tokens_per_s_per_sequence, 1.0)
    drain_s = min(plan.limits.max_model_len, DRAIN_TOKENS) / per_seq
    grace = min(max(math.ceil((drain_s + PRESTOP_SLEEP_S) * 1.5), 60), 900)

    # -- security contexts (HRD-004/005/006; OpenShift restricted-v2 assigns the UID) ---------
    pod_security: dict[str, Any] = {
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    if not site.security.openshift:
        for key, value in (
            ("runAsUser", site.security.run_as_user),
            ("runAsGroup", site.security.run_as_group),
            ("fsGroup", site.security.fs_group),
        ):
            if value is not None:
                pod_security[key] = value
    container_security: dict[str, Any] = {
        "allowPrivilegeEscalation": False,
        "privileged": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    if rdma:
        container_security["capabilities"] = {"drop": ["ALL"], "add": ["IPC_LOCK"]}
    plain_security = {**container_security, "capabilities": {"drop": ["ALL"]}}

    # -- volumes --------------------------------------------------------------------------------
    scripts_name = f"{name}-scripts"
    volumes: list[dict[str, Any]] = []
    object_store = site.storage.source == "object_store"
    if object_store:
        store = site.storage.object_store
        assert store is not None  # the site validator requires it
        volumes.append(
            {
                "name": "models",
                "ephemeral": {
                    "volumeClaimTemplate": {
                        "metadata": {"labels": dict(labels)},
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
        {"name": "scripts", "configMap": {"name": scripts_name, "defaultMode": 0o555}},
        {"name": "home", "emptyDir": {"sizeLimit": f"{site.resources.home_size_gib}Gi"}},
        {"name": "tmp", "emptyDir": {"sizeLimit": f"{site.resources.tmp_size_gib}Gi"}},
        {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": f"{shm}Gi"}},
    ]
    mounts = [
        {"name": "models", "mountPath": MODELS_MOUNT, "readOnly": True},
        {"name": "scripts", "mountPath": SCRIPTS_MOUNT, "readOnly": True},
        {"name": "home", "mountPath": HOME},
        {"name": "tmp", "mountPath": "/tmp"},
        {"name": "dshm", "mountPath": "/dev/shm"},
    ]
    if scheme == "HTTPS":
        volumes.append({"name": "tls", "secret": {"secretName": site.tls.secret_name}})
        mounts.append({"name": "tls", "mountPath": TLS_MOUNT, "readOnly": True})

    # -- init containers: (fetch from the in-cluster store), verify against the manifest ------
    small = {"cpu": "2", "memory": "2Gi", "ephemeral-storage": "1Gi"}
    init_containers: list[dict[str, Any]] = []
    if object_store:
        store = site.storage.object_store
        assert store is not None
        source = f":s3:{store.bucket}" + (f"/{store.prefix.strip('/')}" if store.prefix else "")
        _check_text("storage.object_store.prefix", source)
        init_containers.append(
            {
                "name": "fetch-model",
                "image": store.fetch_image.reference,
                "imagePullPolicy": store.fetch_image.pull_policy,
                "command": ["rclone", "copy", "--transfers", "16", source, model_dir],
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
    required = (
        ";".join(f"{site.model.tiktoken_dir}/{f}={h}" for f, h in sorted(TIKTOKEN_FILES.items()))
        if is_gpt_oss
        else ""
    )
    verify_res = {"cpu": "4", "memory": "2Gi", "ephemeral-storage": "1Gi"}
    init_containers.append(
        {
            "name": "verify-model",
            "image": site.image.reference,
            "imagePullPolicy": site.image.pull_policy,
            "command": ["python3", f"{SCRIPTS_MOUNT}/verify_model.py"],
            "env": [
                {"name": "MODEL_DIR", "value": model_dir},
                {"name": "MANIFEST_FILE", "value": site.model.manifest_file},
                {"name": "MANIFEST_SHA256", "value": site.model.manifest_sha256},
                {"name": "REQUIRED_FILES", "value": required},
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

    # -- scheduling: Swiss regions (required), GPU nodes, spread across zones and nodes -------
    node_terms = [
        {
            "key": site.placement.region_label,
            "operator": "In",
            "values": list(site.placement.regions),
        }
    ]
    if site.placement.zones:
        node_terms.append(
            {
                "key": site.placement.zone_label,
                "operator": "In",
                "values": list(site.placement.zones),
            }
        )
    if site.gpu.products:
        node_terms.append(
            {"key": site.gpu.product_label, "operator": "In", "values": list(site.gpu.products)}
        )
    affinity = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": node_terms}]
            }
        },
        "podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {
                    "labelSelector": {"matchLabels": dict(selector)},
                    "topologyKey": "kubernetes.io/hostname",
                }
            ]
        },
    }
    spread_selector = dict(selector)
    if multi_node:
        spread_selector["swissai.io/role"] = "leader"
    spread = [
        {
            "maxSkew": 1,
            "topologyKey": site.placement.zone_label,
            "whenUnsatisfiable": "DoNotSchedule"
            if site.placement.zone_spread == "required"
            else "ScheduleAnyway",
            "labelSelector": {"matchLabels": spread_selector},
        }
    ]
    tolerations = [t.model_dump(exclude_none=True) for t in site.gpu.tolerations]

    # -- namespace: Pod Security restricted (HRD-001), or privileged for an RDMA waiver -------
    psv = site.security.pod_security_version
    enforce = "privileged" if rdma else "restricted"
    namespace_labels = {
        **labels,
        "pod-security.kubernetes.io/enforce": enforce,
        "pod-security.kubernetes.io/enforce-version": psv,
        "pod-security.kubernetes.io/warn": "restricted",
        "pod-security.kubernetes.io/warn-version": psv,
        "pod-security.kubernetes.io/audit": "restricted",
        "pod-security.kubernetes.io/audit-version": psv,
        "environment": site.governance.environment,
    }
    if site.security.openshift:
        namespace_labels["security.openshift.io/scc.podSecurityLabelSync"] = "false"

    annotations = {
        "swissai.io/owner": site.governance.owner,
        "swissai.io/plan-digest": f"sha256:{digest}",
        "swissai.io/config-digest": f"sha256:{config_digest}",
        "swissai.io/model-manifest-digest": f"sha256:{site.model.manifest_sha256}",
        "swissai.io/served-model-name": served,
        "swissai.io/vllm-image": site.image.reference,
        "swissai.io/swissai-version": __version__,
    }
    if rdma:
        annotations["swissai.io/pod-security-exception"] = (
            "RDMA: IPC_LOCK capability and RDMA device; namespace enforce=privileged "
            "(docs/security.md, needs a waiver)"
        )
    pod_annotations = dict(annotations)
    if rdma and site.security.rdma_networks:
        pod_annotations["k8s.v1.cni.cncf.io/networks"] = site.security.rdma_networks

    # -- network policies (RES-004, NET-002) ---------------------------------------------------
    serving_selector = dict(selector)
    if multi_node:
        serving_selector["swissai.io/role"] = "leader"
    dns_ports = [
        {"protocol": proto, "port": port} for port in site.dns.ports for proto in ("UDP", "TCP")
    ]
    policies: list[dict[str, Any]] = [
        {
            "name": f"{name}-default-deny",
            "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
        },
        {
            "name": f"{name}-allow-dns",
            "spec": {
                "podSelector": {},
                "policyTypes": ["Egress"],
                "egress": [{"to": [_peers(site.dns.peers)], "ports": dns_ports}],
            },
        },
        {
            "name": f"{name}-allow-gateway",
            "spec": {
                "podSelector": {"matchLabels": serving_selector},
                "policyTypes": ["Ingress"],
                "ingress": [
                    {
                        "from": [_peers(site.exposure.clients)],
                        "ports": [{"protocol": "TCP", "port": PORT}],
                    }
                ],
            },
        },
    ]
    if site.monitoring.enabled:
        policies.append(
            {
                "name": f"{name}-allow-prometheus",
                "spec": {
                    "podSelector": {"matchLabels": serving_selector},
                    "policyTypes": ["Ingress"],
                    "ingress": [
                        {
                            "from": [_peers(site.monitoring.prometheus)],
                            "ports": [{"protocol": "TCP", "port": PORT}],
                        }
                    ],
                },
            }
        )
    if multi_node:
        group_peer = [{"podSelector": {"matchLabels": dict(selector)}}]
        policies.append(
            {
                "name": f"{name}-allow-group",
                "spec": {
                    "podSelector": {"matchLabels": dict(selector)},
                    "policyTypes": ["Ingress", "Egress"],
                    "ingress": [{"from": group_peer}],
                    "egress": [{"to": group_peer}],
                },
            }
        )
    if object_store:
        store = site.storage.object_store
        assert store is not None
        policies.append(
            {
                "name": f"{name}-allow-model-store",
                "spec": {
                    "podSelector": {"matchLabels": dict(selector)},
                    "policyTypes": ["Egress"],
                    "egress": [
                        {
                            "to": [
                                {
                                    "namespaceSelector": {
                                        "matchLabels": {
                                            "kubernetes.io/metadata.name": store.namespace
                                        }
                                    }
                                }
                            ],
                            "ports": [{"protocol": "TCP", "port": store.port}],
                        }
                    ],
                },
            }
        )

    # -- exposure (NET-001: only the exposed paths, TLS on the client side) --------------------
    exposure = site.exposure
    paths = [_check_text("compliance.exposed_paths", p) for p in site.compliance.exposed_paths]
    ingress_annotations = {}
    if site.tls.cert_manager_issuer:
        key = (
            "cert-manager.io/cluster-issuer"
            if site.tls.cert_manager_issuer_kind == "ClusterIssuer"
            else "cert-manager.io/issuer"
        )
        ingress_annotations[key] = site.tls.cert_manager_issuer
    if scheme == "HTTPS":
        ingress_annotations["nginx.ingress.kubernetes.io/backend-protocol"] = "HTTPS"

    from swissai.resources import templates_dir

    scripts_dir = templates_dir() / "scripts"
    scripts = {"verify_model.py": (scripts_dir / "verify_model.py").read_text(encoding="utf-8")}
    if multi_node:
        for script in ("ray_leader.sh", "ray_worker.sh"):
            scripts[script] = (scripts_dir / script).read_text(encoding="utf-8")
    dashboard = ""
    if site.monitoring.enabled and site.monitoring.grafana_dashboard:
        dashboard = (templates_dir() / "grafana" / "vllm-dashboard.json").read_text(
            encoding="utf-8"
        )

    command = ["/bin/sh", f"{SCRIPTS_MOUNT}/ray_leader.sh"] if multi_node else ["vllm", "serve"]
    values: dict[str, Any] = {
        "name": name,
        "namespace": site.namespace,
        "createNamespace": True,
        "namespaceLabels": namespace_labels,
        "labels": labels,
        "annotations": annotations,
        "podAnnotations": pod_annotations,
        "selectorLabels": selector,
        "multiNode": multi_node,
        "replicas": layout.replicas,
        "groupSize": nodes,
        "gpusPerPod": gpus_per_pod,
        "image": site.image.reference,
        "imagePullPolicy": site.image.pull_policy,
        "imagePullSecrets": [{"name": site.image.pull_secret}] if site.image.pull_secret else [],
        "serviceAccountName": name,
        "runtimeClassName": site.gpu.runtime_class_name or "",
        "terminationGracePeriodSeconds": grace,
        "progressDeadlineSeconds": budget_s + 600,
        "podSecurityContext": pod_security,
        "containerSecurityContext": container_security,
        "nodeSelector": dict(site.gpu.node_selector),
        "affinity": affinity,
        "tolerations": tolerations,
        "topologySpreadConstraints": spread,
        "initContainers": init_containers,
        "volumes": volumes,
        "vllm": {
            "command": command,
            "args": args,
            "env": env,
            "port": PORT,
            "portName": "http",
            "resources": resources,
            "volumeMounts": mounts,
            "startupProbe": probes["startup"],
            "readinessProbe": probes["readiness"],
            "livenessProbe": probes["liveness"],
            "preStopSleepSeconds": PRESTOP_SLEEP_S,
        },
        "worker": {
            "command": ["/bin/sh", f"{SCRIPTS_MOUNT}/ray_worker.sh"],
            "env": [
                *[e for e in env if e["name"] != "VLLM_API_KEY"],
            ],
            "startupProbe": worker_probes["startup"],
            "livenessProbe": worker_probes["liveness"],
            "rayPort": RAY_PORT,
        },
        "scripts": scripts,
        "service": {"port": PORT, "portName": "http", "selector": serving_selector},
        "pdb": {"maxUnavailable": 1},
        "networkPolicies": policies,
        "monitoring": {
            "enabled": site.monitoring.enabled,
            "serviceMonitorLabels": dict(site.monitoring.service_monitor_labels),
            "interval": site.monitoring.interval,
            "scheme": scheme.lower(),
            "dashboard": bool(dashboard),
            "dashboardLabels": dict(site.monitoring.dashboard_labels),
            "dashboardJson": dashboard,
        },
        "exposure": {
            "type": exposure.type,
            "host": exposure.host,
            "paths": paths,
            "gatewayName": exposure.gateway_name,
            "gatewayNamespace": exposure.gateway_namespace,
            "gatewaySection": exposure.gateway_section or "",
            "ingressClassName": exposure.ingress_class_name or "",
            "ingressAnnotations": ingress_annotations,
            "tlsSecretName": site.tls.secret_name or "",
            "backendTls": scheme == "HTTPS",
        },
        "pvc": (
            {
                "name": site.storage.pvc.claim_name,
                "storageClassName": site.storage.storage_class,
                "accessMode": site.storage.pvc.access_mode,
                "size": site.storage.pvc.size,
            }
            if site.storage.source == "pvc" and site.storage.pvc.create
            else None
        ),
    }
    return RenderContext(values=values, plan_digest=digest, warnings=tuple(warnings))
