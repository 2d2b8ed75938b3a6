"""RES: data residency and sovereignty (catalog §1)."""

from __future__ import annotations

import re
from collections.abc import Iterator

from swissai.core.compliance.context import (
    TRUTHY,
    CheckContext,
    ContainerRef,
    Results,
    Subject,
    as_dict,
    as_list,
    cidr_inside,
    command_text,
    container_scripts,
    get,
    host_of,
    is_internal_host,
    parse_image,
    selector_matches,
)
from swissai.core.compliance.crd_views import runtime_env_fetches
from swissai.core.compliance.registry import rule
from swissai.core.encodings import ENCODINGS_ENV, ENCODINGS_SUBDIR, TIKTOKEN_SHA256
from swissai.models.manifest import Document
from swissai.models.policy import Severity

ENDPOINT_ENV = (
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
    "HF_ENDPOINT",
    "S3_ENDPOINT_URL",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "http_proxy",
    "https_proxy",
    "VLLM_USAGE_STATS_SERVER",
)
PUBLIC_CLOUD_PROVISIONERS = (
    "ebs.csi.aws.com",
    "efs.csi.aws.com",
    "kubernetes.io/aws-ebs",
    "pd.csi.storage.gke.io",
    "kubernetes.io/gce-pd",
    "disk.csi.azure.com",
    "file.csi.azure.com",
    "kubernetes.io/azure-disk",
    "kubernetes.io/azure-file",
    "filestore.csi.storage.gke.io",
)
INSTALL_PATTERNS = [
    "pip install",
    "pip3 install",
    "python -m pip",
    "python3 -m pip",
    "uv pip install",
    "uv sync",
    "conda install",
    "apt-get install",
    "apt install",
    "apk add",
    "curl ",
    "wget ",
    "git clone",
    "huggingface-cli download",
    "hf download",
    "snapshot_download",
    "flashinfer download-cubin",
    "ollama pull",
    "ollama run",
]
# fetchers whose target host decides: a Helm test pod that calls the chart's own Service
# (`curl http://release-svc:8000/health`) downloads nothing; a URL outside the bank does
URL_FETCHERS = ("curl ", "wget ")
_URL = re.compile(
    r"(?i)\b(?:https?|ftp)://[^\s'\"`]+|(?<![\w/.-])[a-z0-9][a-z0-9.-]*\.[a-z]{2,}(?::\d+)?/[^\s'\"`]*"
)


def flow_declared(ctx: CheckContext, host: str) -> bool:
    for flow in ctx.policy.residency.data_flows:
        dest = flow.destination.lower()
        dest_host = host_of(dest) or dest
        if host == dest_host or host.endswith("." + dest_host.lstrip(".")):
            return True
    return False


def external_endpoints(ctx: CheckContext) -> Iterator[tuple[ContainerRef, str, str, str]]:
    """(container, field, what, host) for every external endpoint a container would reach."""
    for c in ctx.containers:
        for name in ENDPOINT_ENV:
            value = c.env_value(name)
            if value and not is_internal_host(host_of(value), ctx.policy):
                yield c, c.env_path(name), name, host_of(value)
        if c.vllm is not None:
            for flag in ("otlp-traces-endpoint", "tool-server"):
                for value in c.vllm.flags.get(flag, []):
                    for part in (value or "").split(","):
                        host = host_of(part) if ("://" in part or "." in part) else ""
                        if host and not is_internal_host(host, ctx.policy):
                            yield c, f"{c.path}.args", f"--{flag}", host


@rule(
    "RES-001",
    title="Plan declares Swiss-only residency and every outbound data flow",
    severity="critical",
    targets=["plan", "site", "manifests"],
    inspects="""The site profile's `compliance.residency`: allowed_countries must be [CH];
    every data flow outside CH needs a legal basis (FADP 16/17), a document and an approved
    waiver. Cross-check: every external endpoint found in the manifests (OTLP, hub, proxy,
    tool servers) must appear in `residency.data_flows`.""",
    references=[
        "BankA 47",
        "FADP 16",
        "FADP 17",
        "FADP 12",
        "FINMA-OR §IV.D",
        "FINMA-OS (outsourcing abroad, inventory of outsourced functions)",
        "SBA-CG",
    ],
    remediation="""Keep `residency.allowed_countries: [CH]`; remove the foreign flow or document
    the safeguard and get a waiver approved. FADP alone does not forbid disclosure to adequate
    states: the Swiss-only rule is institutional policy.""",
)
def res_001(ctx: CheckContext, r: Results) -> None:
    site = ctx.site_subject
    residency = ctx.policy.residency
    r.ok(site)
    countries = [c.upper() for c in residency.allowed_countries]
    if countries != ["CH"]:
        r.fail(
            site,
            ctx.site_path("residency.allowed_countries"),
            f"residency.allowed_countries is {countries or '[]'}; the declared policy must be [CH] only",
        )
    for i, flow in enumerate(residency.data_flows):
        if flow.country.upper() == "CH":
            continue
        path = ctx.site_path(f"residency.data_flows[{i}]")
        if flow.legal_basis is None or not flow.document:
            r.fail(
                site,
                path,
                f"data flow to {flow.destination} ({flow.country}) has no legal basis "
                "(FADP 16/17) and document reference",
            )
        else:
            r.fail(
                site,
                path,
                f"data flow to {flow.destination} ({flow.country}) leaves Switzerland "
                f"({flow.legal_basis}); it needs an approved waiver",
            )
    for c, path, what, host in external_endpoints(ctx):
        subject = ctx.subject(c.obj)
        r.ok(subject)
        if not flow_declared(ctx, host):
            r.fail(
                subject,
                path,
                f"container {c.name}: {what} sends data to {host}, which is not "
                "declared in compliance.residency.data_flows",
            )


def _location_terms(ctx: CheckContext, spec: dict[str, object]) -> tuple[bool, str]:
    key, allowed = ctx.policy.location_label_key, set(ctx.policy.allowed_locations)
    selector = as_dict(spec.get("nodeSelector"))
    if key in selector:
        if str(selector[key]) in allowed:
            return True, ""
        return False, f"nodeSelector {key}={selector[key]} is not an allowed location"
    terms = as_list(
        get(
            spec,
            "affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms",
        )
    )
    if not terms:
        return False, f"no nodeSelector or required node affinity on {key}"
    for term in terms:
        ok = False
        for expr in as_list(as_dict(term).get("matchExpressions")):
            e = as_dict(expr)
            values = {str(v) for v in as_list(e.get("values"))}
            if e.get("key") == key and e.get("operator") == "In" and values and values <= allowed:
                ok = True
        if not ok:
            return (
                False,
                f"a required node-affinity term does not restrict {key} to {sorted(allowed)}",
            )
    return True, ""


@rule(
    "RES-002",
    title="Serving pods can only run on nodes located in Switzerland",
    severity="critical",
    targets=["manifests", "live"],
    inspects="""Serving pod templates need `nodeSelector[location_label_key]` or a required
    node-affinity term with `operator: In` and values within `allowed_locations` (preferred
    terms do not count). Live: running serving pods sit on nodes whose location label is
    allowed; GPU nodes without an allowed label are reported when a serving pod is not pinned.""",
    references=["FINMA-OR §IV.B", "FINMA-OR §IV.D", "BankA 47", "FADP 16", "SBA-CG"],
    remediation="""Have the infrastructure team set site labels under the
    `node-restriction.kubernetes.io/` prefix; add a required node affinity in the chart.""",
)
def res_002(ctx: CheckContext, r: Results) -> None:
    key, allowed = ctx.policy.location_label_key, ctx.policy.allowed_locations
    unpinned = False
    for pod in ctx.serving_pods:
        s = ctx.subject(pod.obj)
        ok, why = _location_terms(ctx, pod.spec)
        if ok:
            r.ok(s)
        else:
            unpinned = True
            r.fail(
                s,
                f"{pod.path}.affinity.nodeAffinity"
                if "affinity" in why
                else f"{pod.path}.nodeSelector",
                why,
            )
    nodes = {n.name: n for n in ctx.kind("Node")}
    for live in ctx.live_pods:
        node_name = str(get(live.data, "spec.nodeName") or "")
        images = " ".join(
            str(as_dict(c).get("image")) for c in as_list(get(live.data, "spec.containers"))
        )
        if not node_name or node_name not in nodes or "vllm" not in images:
            continue
        s = ctx.subject(live)
        label = nodes[node_name].labels.get(key)
        if label in allowed:
            r.ok(s)
        else:
            r.fail(
                s, "spec.nodeName", f"runs on node {node_name} whose {key} is {label or 'unset'}"
            )
    if unpinned:
        for node in nodes.values():
            gpus = get(node.data, f'status.allocatable["{ctx.policy.gpu_resource}"]')
            if gpus and str(gpus) != "0":
                s = ctx.subject(node)
                if node.labels.get(key) in allowed:
                    r.ok(s)
                else:
                    r.fail(
                        s,
                        "metadata.labels",
                        f"GPU node without an allowed {key} label; unpinned serving pods can land here",
                    )


@rule(
    "RES-003",
    title="Persistent data and backups use approved in-country storage",
    severity="high",
    targets=["manifests", "live"],
    inspects="""Every PersistentVolumeClaim and volumeClaimTemplate sets `storageClassName`
    explicitly and within `allowed_storage_classes`. StorageClasses (in the inputs or the live
    cluster): provisioner within `allowed_provisioners`, `allowedTopologies` only allowed
    locations; a public-cloud provisioner is critical. Velero BackupStorageLocations point at
    internal endpoints.""",
    references=["FINMA-OR §IV.B", "FINMA-OR §IV.D", "FINMA-OR §IV.E", "DPO 3(2)(d)", "FADP 16"],
    remediation="""Pin `storageClassName`; restrict the class to Swiss sites; point backups to
    the in-country object store.""",
    not_checked="plan.backup.targets (the ServePlan has no backup block) and PV nodeAffinity.",
)
def res_003(ctx: CheckContext, r: Results) -> None:
    allowed = ctx.policy.allowed_storage_classes
    claims: list[tuple[Document, str, object]] = []
    for pvc in ctx.kind("PersistentVolumeClaim"):
        claims.append((pvc, "spec.storageClassName", get(pvc.data, "spec.storageClassName")))
    for obj in ctx.kind("StatefulSet"):
        for i, t in enumerate(as_list(get(obj.data, "spec.volumeClaimTemplates"))):
            claims.append(
                (
                    obj,
                    f"spec.volumeClaimTemplates[{i}].spec.storageClassName",
                    get(t, "spec.storageClassName"),
                )
            )
    used: set[str] = set()
    for obj, path, sc in claims:
        s = ctx.subject(obj)
        if not sc:
            r.fail(
                s,
                path,
                "storageClassName is not set: the cluster default class decides where data lands",
            )
        elif str(sc) not in allowed:
            r.fail(s, path, f"storage class {sc} is not in allowed_storage_classes {allowed}")
        else:
            r.ok(s)
        if sc:
            used.add(str(sc))
    for sc_obj in ctx.kind("StorageClass"):
        if sc_obj.source == "cluster" and sc_obj.name not in used and sc_obj.name not in allowed:
            continue
        s = ctx.subject(sc_obj)
        r.ok(s)
        provisioner = str(sc_obj.data.get("provisioner") or "")
        if provisioner in PUBLIC_CLOUD_PROVISIONERS:
            r.fail(
                s,
                "provisioner",
                f"provisioner {provisioner} is a public-cloud volume service",
                severity="critical",
            )
        elif provisioner not in ctx.policy.allowed_provisioners:
            r.fail(s, "provisioner", f"provisioner {provisioner} is not in allowed_provisioners")
        for i, topo in enumerate(as_list(sc_obj.data.get("allowedTopologies"))):
            for expr in as_list(as_dict(topo).get("matchLabelExpressions")):
                values = {str(v) for v in as_list(as_dict(expr).get("values"))}
                if as_dict(expr).get("key") == ctx.policy.location_label_key and not values <= set(
                    ctx.policy.allowed_locations
                ):
                    r.fail(
                        s, f"allowedTopologies[{i}]", f"allowedTopologies include {sorted(values)}"
                    )
    for bsl in ctx.kind("BackupStorageLocation"):
        s = ctx.subject(bsl)
        url = str(get(bsl.data, "spec.config.s3Url") or "")
        if url and not is_internal_host(host_of(url), ctx.policy):
            r.fail(
                s,
                "spec.config.s3Url",
                f"backups go to {host_of(url)}, outside the internal domains",
                severity="critical",
            )
        else:
            r.ok(s)


def _policy_types(p: Document) -> list[str]:
    types = [str(t) for t in as_list(get(p.data, "spec.policyTypes"))]
    if types:
        return types
    return ["Ingress"] + (["Egress"] if "egress" in as_dict(p.data.get("spec")) else [])


@rule(
    "RES-004",
    title="Default-deny egress for the serving namespace",
    severity="critical",
    targets=["manifests", "live"],
    inspects="""Each namespace with serving pods has a NetworkPolicy with `podSelector: {}` and
    `Egress` in policyTypes. Egress rules that select serving pods allow only in-cluster peers
    (namespace/pod selectors) and `ipBlock` CIDRs within `internal_cidrs` or
    `allowed_egress_cidrs`; `0.0.0.0/0`, `::/0`, an empty rule and rules without `to` are
    findings. Cilium `toFQDNs` must be internal domains. Live: a CNI that enforces
    NetworkPolicy runs in kube-system.""",
    references=[
        "BankA 47",
        "FINMA-OR §IV.C",
        "FINMA-OR §IV.D",
        "FADP 8",
        "DPO 3(1)(c)",
        "CIS 5.3.1",
        "CIS 5.3.2",
        "NSA-K8s (network separation)",
        "CKV2_K8S_6",
        "KL non-isolated-pod",
        "vLLM-SEC",
    ],
    remediation="""Ship a default-deny egress policy plus explicit allows in the chart. Egress
    control also catches unknown phone-home paths in vLLM, FlashInfer, harmony or any future
    dependency.""",
)
def res_004(ctx: CheckContext, r: Results) -> None:
    allowed = ctx.policy.internal_cidrs + ctx.policy.allowed_egress_cidrs
    for ns in ctx.namespaces:
        near = ctx.first_in_namespace(ns)
        if not ctx.egress_denied.get(ns):
            r.fail(
                ctx.missing(f"Namespace/{ns or '(unset)'}", near),
                "",
                f"no default-deny egress NetworkPolicy (podSelector: {{}}, policyTypes: [Egress]) in namespace {ns or '(unset)'}",
            )
        for p in ctx.in_namespace("NetworkPolicy", ns):
            if "Egress" not in _policy_types(p):
                continue
            selected = any(
                selector_matches(get(p.data, "spec.podSelector"), pod.labels)
                for pod in ctx.serving_pods
                if pod.namespace == ns
            )
            if not selected:
                continue
            s = ctx.subject(p)
            r.ok(s)
            for i, rule_ in enumerate(as_list(get(p.data, "spec.egress"))):
                path = f"spec.egress[{i}]"
                er = as_dict(rule_)
                if not er or not as_list(er.get("to")):
                    r.fail(s, path, "egress rule without `to` allows every destination")
                    continue
                for j, peer in enumerate(as_list(er.get("to"))):
                    cidr = get(peer, "ipBlock.cidr")
                    if cidr and not cidr_inside(str(cidr), allowed):
                        r.fail(
                            s,
                            f"{path}.to[{j}].ipBlock.cidr",
                            f"egress to {cidr} reaches outside internal_cidrs/allowed_egress_cidrs",
                        )
        for p in ctx.in_namespace("CiliumNetworkPolicy", ns):
            s = ctx.subject(p)
            r.ok(s)
            for i, rule_ in enumerate(as_list(get(p.data, "spec.egress"))):
                for j, fqdn in enumerate(as_list(as_dict(rule_).get("toFQDNs"))):
                    name = str(
                        as_dict(fqdn).get("matchName") or as_dict(fqdn).get("matchPattern") or ""
                    )
                    if not is_internal_host(name.replace("*", "x"), ctx.policy):
                        r.fail(
                            s,
                            f"spec.egress[{i}].toFQDNs[{j}]",
                            f"egress to {name} is outside internal_domains",
                        )
                if "world" in [str(e) for e in as_list(as_dict(rule_).get("toEntities"))]:
                    r.fail(s, f"spec.egress[{i}].toEntities", "egress to the `world` entity")
    for c in ctx.serving:
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
            value = c.env_value(name)
            host = host_of(value or "")
            if value and not is_internal_host(host, ctx.policy) and not flow_declared(ctx, host):
                r.fail(
                    ctx.subject(c.obj),
                    c.env_path(name),
                    f"{name} points at {host}, a proxy not declared in residency.data_flows",
                )
    daemonsets = [
        d for d in ctx.kind("DaemonSet") if d.source == "cluster" and d.namespace == "kube-system"
    ]
    if daemonsets and ctx.namespaces:
        cni = ("calico", "cilium", "antrea", "kube-router", "canal", "weave")
        if not any(any(k in d.name for k in cni) for d in daemonsets):
            r.fail(
                ctx.missing("DaemonSet/kube-system/(cni)", daemonsets[0]),
                "",
                "no NetworkPolicy-enforcing CNI (Calico, Cilium, Antrea, kube-router, Canal, Weave) "
                "found in kube-system: NetworkPolicies may be decorative",
            )


def _model_source_problem(ctx: CheckContext, uri: str) -> tuple[str, Severity | None] | None:
    """What is wrong with a model reference an operator downloads (KServe storageUri schemes:
    hf://, s3://, gs://, pvc://, oci://, http(s)://; KAITO presets; NIM's NGC). None: stays on
    the premises."""
    scheme, sep, rest = uri.partition("://")
    scheme = scheme.lower() if sep else ""
    if scheme == "pvc" or (not sep and uri.startswith("/")):
        return None
    if scheme == "hf":
        return f"model {uri} is downloaded from the Hugging Face hub when the pod starts", None
    if scheme == "gs":
        return f"model {uri} is read from Google Cloud Storage (storage.googleapis.com)", None
    if scheme == "s3":
        return (
            f"model {uri} is read from S3; the endpoint (serving.kserve.io/s3-endpoint on the "
            "ServiceAccount's secret) is not in the manifests: AWS S3 unless it names an "
            "internal endpoint; point it at the bank's object store and attest it",
            "high",
        )
    if scheme == "oci":
        problem = _registry_problem(ctx, rest)
        return (f"modelcar {problem}", None) if problem else None
    if scheme == "kaito-preset":
        return (
            f"preset {rest}: the weights come from KAITO's public image on mcr.microsoft.com or "
            "are downloaded from Hugging Face when the workload starts; serve a local path "
            "with `inference.template` or a private preset image from the internal registry",
            None,
        )
    if scheme == "ngc":
        return "the model is downloaded from NVIDIA NGC (api.ngc.nvidia.com)", None
    if scheme in ("http", "https"):
        host = host_of(uri)
        if is_internal_host(host, ctx.policy):
            return None
        return f"model is downloaded from {host}", None
    if not sep:
        return f"model {uri} is a hub id, downloaded when the pod starts", None
    return (
        f"model reference {uri}: scheme not known to swissai; check where it is read from",
        "medium",
    )


def _external_fetch(ctx: CheckContext, text: str) -> str | None:
    """The first host outside the bank that `curl`/`wget` in `text` reach; '' when the
    command names no host swissai can read (a variable), None when every host is internal."""
    hosts = [host_of(m.group(0)) for m in _URL.finditer(text)]
    # and the operands of the fetcher (`wget -qO- myrel-ollama:11434`, no scheme)
    words = text.replace(";", " ").replace("&&", " ").replace("|", " ").split()
    for i, word in enumerate(words):
        if word.rsplit("/", 1)[-1] in ("curl", "wget"):
            for operand in words[i + 1 :]:
                if operand.rsplit("/", 1)[-1] in ("curl", "wget", "sh", "bash"):
                    break
                if not operand.startswith("-") and "$" not in operand:
                    hosts.append(host_of(operand.strip("'\"")))
    hosts = [h for h in hosts if h and not h.startswith("/")]
    if not hosts:
        return ""
    for host in hosts:
        if not is_internal_host(host, ctx.policy):
            return host
    return None


def _offline(c: ContainerRef) -> bool:
    return any(
        (c.env_value(n) or "").lower() in TRUTHY for n in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def _mounted(c: ContainerRef, path: str) -> bool:
    # an operator's own mount (KServe's storage initializer fills /mnt/models)
    for injected in c.pod.injected_mounts:
        if path == injected or path.startswith(injected.rstrip("/") + "/"):
            return True
    for m in as_list(c.container.get("volumeMounts")):
        mount = str(as_dict(m).get("mountPath") or "").rstrip("/")
        if mount and (path == mount or path.startswith(mount + "/")):
            return True
    return False


def _arg_path(c: ContainerRef, token: str | None) -> str:
    for key in ("args", "command"):
        for i, t in enumerate(as_list(c.container.get(key))):
            if token and token in str(t):
                return f"{c.path}.{key}[{i}]"
    return f"{c.path}.args"


@rule(
    "RES-005",
    title="Model weights load offline from in-cluster storage",
    severity="critical",
    targets=["manifests", "plan"],
    inspects="""vLLM containers: the model (positional, `--model` or `model:` in the `--config`
    file) and `--tokenizer` are absolute paths under a mounted volume, not hub ids;
    `HF_HUB_OFFLINE=1` or `TRANSFORMERS_OFFLINE=1`; `HF_ENDPOINT` unset or internal;
    `VLLM_USE_MODELSCOPE` not true; `HF_TOKEN` present is a low note; remote load formats
    only with an internal `S3_ENDPOINT_URL`; a model written as `$VAR`/`$(VAR)` is resolved from
    the container's env, else reported as unresolved (medium). Model references that operators
    download (KServe `storageUri` and `spec.model.uri`, llm-d `modelArtifacts.uri`, KAITO
    presets, NIMService without NIMCache, NIMCache sources, Ray Serve LLM `model_source`):
    `pvc://` and local paths pass; `hf://`, hub ids, `gs://`, NGC and KAITO's public presets
    are critical; `s3://` is high (its endpoint is not in the manifests); `oci://` is judged
    like an image (`allowed_registries`); `http(s)://` by host. Plan: the vLLM environment
    sets offline mode.""",
    references=[
        "FINMA-OR §IV.C",
        "FINMA-OR §IV.D",
        'FINMA-AI "Governance"',
        "FADP 8",
        "vLLM issue #1910",
        "vLLM issue #23684",
        "vLLM PR #29706",
        "huggingface_hub",
    ],
    remediation="""Stage weights once with a controlled job, serve
    `vllm serve /models/gpt-oss-120b --served-model-name openai/gpt-oss-120b`, set
    `HF_HUB_OFFLINE=1`.""",
)
def res_005(ctx: CheckContext, r: Results) -> None:
    for c in ctx.serving:
        v = c.vllm
        assert v is not None
        s = ctx.subject(c.obj)
        r.ok(s)
        model = v.model
        if "model" in v.unresolved:
            r.fail(
                s,
                _arg_path(c, v.unresolved["model"]),
                f"container {c.name}: model {v.unresolved['model']} is unresolved (a variable "
                "the manifests do not set); set it in the container's env to a path on the model "
                "volume so that it can be checked",
                severity="medium",
            )
        elif model is None:
            if v.origin != "image":
                r.fail(
                    s,
                    f"{c.path}.args",
                    f"container {c.name}: no model argument; vLLM's default model is pulled from the hub",
                )
        elif model.startswith("s3://") or model.startswith("gs://"):
            endpoint = c.env_value("S3_ENDPOINT_URL") or ""
            if not endpoint or not is_internal_host(host_of(endpoint), ctx.policy):
                r.fail(
                    s,
                    _arg_path(c, model),
                    f"container {c.name}: model {model} loads from object storage without an internal S3_ENDPOINT_URL",
                )
        elif not model.startswith("/"):
            r.fail(
                s,
                _arg_path(c, model),
                f"container {c.name}: model {model} is a hub id; serve a local path from the model volume",
            )
        elif not _mounted(c, model):
            r.fail(
                s,
                _arg_path(c, model),
                f"container {c.name}: model path {model} is not under a mounted volume",
                severity="high",
            )
        tokenizer = v.value("tokenizer")
        if "tokenizer" in v.unresolved:
            pass  # reported with the model when unresolved too; a variable is not a hub id
        elif tokenizer and not tokenizer.startswith("/"):
            r.fail(
                s,
                _arg_path(c, tokenizer),
                f"container {c.name}: --tokenizer {tokenizer} is a hub id",
            )
        if not _offline(c):
            r.fail(
                s,
                c.env_path("HF_HUB_OFFLINE"),
                f"container {c.name}: HF_HUB_OFFLINE=1 (or TRANSFORMERS_OFFLINE=1) is not set",
            )
        hf_endpoint = c.env_value("HF_ENDPOINT")
        if hf_endpoint and not is_internal_host(host_of(hf_endpoint), ctx.policy):
            r.fail(
                s,
                c.env_path("HF_ENDPOINT"),
                f"container {c.name}: HF_ENDPOINT points at {host_of(hf_endpoint)}",
            )
        if (c.env_value("VLLM_USE_MODELSCOPE") or "").lower() in TRUTHY:
            r.fail(
                s,
                c.env_path("VLLM_USE_MODELSCOPE"),
                f"container {c.name}: VLLM_USE_MODELSCOPE switches downloads to ModelScope",
            )
        for token in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
            if token in c.env:
                r.fail(
                    s,
                    c.env_path(token),
                    f"container {c.name}: {token} is set, which suggests intended hub access",
                    severity="low",
                )
    for source in ctx.model_sources:
        s = ctx.subject(source.obj)
        r.ok(s)
        problem = _model_source_problem(ctx, source.uri)
        if problem is not None:
            message, severity = problem
            r.fail(s, source.path, f"{source.via}: {message}", severity=severity)
    ps = ctx.plan_subject
    if ps is not None:
        r.ok(ps)
        env = ctx.plan_env()
        if not any(
            env.get(n, "").lower() in TRUTHY for n in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
        ):
            r.fail(ps, "vllm.env", "the plan's vLLM environment does not set HF_HUB_OFFLINE=1")


def _telemetry_problems(env: dict[str, str | None], present: set[str]) -> list[tuple[str, str]]:
    """(variable, message) for vLLM/HF telemetry that is not disabled exactly as vLLM reads it."""
    out: list[tuple[str, str]] = []
    nus = env.get("VLLM_NO_USAGE_STATS")
    if nus != "1":
        if "VLLM_NO_USAGE_STATS" in present and nus is not None:
            out.append(
                (
                    "VLLM_NO_USAGE_STATS",
                    f'VLLM_NO_USAGE_STATS is "{nus}"; vLLM compares with the exact string "1"',
                )
            )
        else:
            out.append(
                (
                    "VLLM_NO_USAGE_STATS",
                    'VLLM_NO_USAGE_STATS="1" is not set: vLLM posts usage stats to stats.vllm.ai',
                )
            )
    vdnt, dnt = env.get("VLLM_DO_NOT_TRACK"), env.get("DO_NOT_TRACK")
    if vdnt:
        if vdnt != "1":
            out.append(
                (
                    "VLLM_DO_NOT_TRACK",
                    f'VLLM_DO_NOT_TRACK is "{vdnt}": vLLM reads VLLM_DO_NOT_TRACK before DO_NOT_TRACK and only "1" disables tracking',
                )
            )
    elif dnt != "1":
        if dnt:
            out.append(
                (
                    "DO_NOT_TRACK",
                    f'DO_NOT_TRACK is "{dnt}"; vLLM compares with the exact string "1"',
                )
            )
        else:
            out.append(
                ("DO_NOT_TRACK", 'neither DO_NOT_TRACK="1" nor VLLM_DO_NOT_TRACK="1" is set')
            )
    if "VLLM_USAGE_STATS_SERVER" in present:
        out.append(
            ("VLLM_USAGE_STATS_SERVER", "VLLM_USAGE_STATS_SERVER redirects usage stats; remove it")
        )
    hf = [
        env.get(n) or "" for n in ("HF_HUB_DISABLE_TELEMETRY", "DISABLE_TELEMETRY", "DO_NOT_TRACK")
    ]
    if not any(v.lower() in TRUTHY for v in hf):
        out.append(
            (
                "HF_HUB_DISABLE_TELEMETRY",
                "HF_HUB_DISABLE_TELEMETRY=1 (or DO_NOT_TRACK=1) is not set for huggingface_hub",
            )
        )
    return out


@rule(
    "RES-006",
    title="Usage telemetry is disabled in every component (and with the exact value `1`)",
    severity="high",
    targets=["manifests", "live", "plan"],
    inspects="""vLLM containers: `VLLM_NO_USAGE_STATS == "1"` and (`DO_NOT_TRACK == "1"` or
    `VLLM_DO_NOT_TRACK == "1"`), `VLLM_USAGE_STATS_SERVER` unset; values like `true` do not
    disable it, and a `VLLM_DO_NOT_TRACK` other than "1" masks a correct `DO_NOT_TRACK`.
    huggingface_hub: `HF_HUB_DISABLE_TELEMETRY` truthy. Ray containers:
    `RAY_USAGE_STATS_ENABLED=0` or `--disable-usage-stats`. Critical when the namespace has no
    default-deny egress (RES-004).""",
    references=["vLLM-USAGE", "vLLM-ENV", "huggingface_hub", "Ray", "BankA 47", "FINMA-OR §IV.C"],
    remediation="""Set VLLM_NO_USAGE_STATS=1, DO_NOT_TRACK=1, HF_HUB_DISABLE_TELEMETRY=1 and
    RAY_USAGE_STATS_ENABLED=0 in the chart's common env block; keep egress blocked anyway.""",
)
def res_006(ctx: CheckContext, r: Results) -> None:
    for c in ctx.containers:
        # the command, lifecycle hooks and mounted ConfigMap scripts it runs: Ray is often
        # started from a script (`ray start --head` or `ray.init()` in Python)
        text = " ".join(t for _, _, t in container_scripts(ctx, c))
        is_ray = (
            "ray" in re.split(r"[/:_.-]", parse_image(c.image).repository.lower())
            or "ray start" in text
            or "ray.init(" in text
            or (c.vllm is not None and c.vllm.value("distributed-executor-backend") == "ray")
        )
        if c.vllm is None and not is_ray:
            continue
        s = ctx.subject(c.obj)
        r.ok(s)
        severity: Severity | None = (
            None if ctx.egress_denied.get(c.pod.namespace, False) else "critical"
        )
        if c.vllm is not None:
            env = {n: v.value for n, v in c.env.items()}
            for var, message in _telemetry_problems(env, set(c.env)):
                suffix = "" if severity is None else " (and egress is not denied: RES-004)"
                r.fail(
                    s, c.env_path(var), f"container {c.name}: {message}{suffix}", severity=severity
                )
        if (
            is_ray
            and c.env_value("RAY_USAGE_STATS_ENABLED") != "0"
            and "--disable-usage-stats" not in text
        ):
            r.fail(
                s,
                c.env_path("RAY_USAGE_STATS_ENABLED"),
                f"container {c.name}: Ray usage stats are on (set RAY_USAGE_STATS_ENABLED=0)",
                severity=severity,
            )
    ps = ctx.plan_subject
    if ps is not None:
        r.ok(ps)
        plan_env: dict[str, str | None] = dict(ctx.plan_env())
        for _var, message in _telemetry_problems(plan_env, set(plan_env)):
            r.fail(ps, "vllm.env", f"plan: {message}")


TIKTOKEN_BASE, TIKTOKEN_CACHE = ENCODINGS_ENV


def _encodings_dir(model: str | None) -> str | None:
    """Where the encodings belong: `<model dir>/encodings` for a model served from a local
    directory (swissai.core.encodings: the model's sha256 manifest covers them there)."""
    if not model or not model.startswith("/"):
        return None
    return f"{model.rstrip('/')}/{ENCODINGS_SUBDIR}"


def _pinned_encoding_hashes(c: ContainerRef) -> Iterator[tuple[str, str, str, str]]:
    """(field, file name, sha256 given, sha256 tiktoken pins) for every encoding file that a
    verify container of the pod checks (REQUIRED_FILES="path=sha256;...")."""
    for index, other in enumerate(as_list(c.pod.spec.get("initContainers"))):
        for j, e in enumerate(as_list(as_dict(other).get("env"))):
            env = as_dict(e)
            if env.get("name") != "REQUIRED_FILES" or not isinstance(env.get("value"), str):
                continue
            for item in filter(None, str(env["value"]).split(";")):
                path, _, sha = item.partition("=")
                name = path.rsplit("/", 1)[-1]
                if name in TIKTOKEN_SHA256:
                    field = f"{c.pod.path}.initContainers[{index}].env[{j}]"
                    yield field, name, sha.strip().lower(), TIKTOKEN_SHA256[name]


@rule(
    "RES-007",
    title="gpt-oss runtime artefacts (harmony encodings, FlashInfer kernels) are pre-staged",
    severity="high",
    targets=["manifests", "site"],
    inspects=f"""For gpt-oss models: `{TIKTOKEN_BASE}` is an absolute local path (a URL is a
    finding), the `{ENCODINGS_SUBDIR}/` folder of the model directory when the model is served
    from a local directory (medium otherwise: the model's sha256 manifest does not cover the
    encodings elsewhere), and `{TIKTOKEN_CACHE}` is set; a verify container that pins the
    encoding files pins the sha256 tiktoken itself pins; FlashInfer kernels come from
    `FLASHINFER_CUBIN_DIR` (a local path) or the site attests that the image ships
    `flashinfer-cubin` and `flashinfer-jit-cache` (what the image holds is evidence: medium
    until attested).""",
    evidence="compliance.attestations.flashinfer_artifacts_in_image when FLASHINFER_CUBIN_DIR "
    "is not set.",
    references=[
        "vLLM issue #22525",
        "openai/harmony issues #46, #95, #101",
        "FlashInfer issues #1352, #2941",
        "vLLM PR #21893",
        "vLLM PR #22675",
        "tiktoken",
        "FINMA-OR §IV.B",
    ],
    remediation=f"""Copy {" and ".join(TIKTOKEN_SHA256)} into the `{ENCODINGS_SUBDIR}/` folder
    of the model directory (e.g. /models/gpt-oss-120b/{ENCODINGS_SUBDIR}), so the model's
    sha256 manifest covers them, and point {TIKTOKEN_BASE} and {TIKTOKEN_CACHE} at it; build
    the image with the FlashInfer artefact packages or set FLASHINFER_CUBIN_DIR.""",
    not_checked="the encoding files themselves (check reads manifests, not volumes: "
    "`swissai model verify` hashes them against tiktoken's pins).",
)
def res_007(ctx: CheckContext, r: Results) -> None:
    unstaged: list[str] = []
    plan_gpt_oss = ctx.plan is not None and "gpt-oss" in ctx.plan.model.id
    for c in ctx.serving:
        v = c.vllm
        assert v is not None
        names = " ".join(filter(None, [v.model, v.value("served-model-name"), c.obj.name]))
        if "gpt-oss" not in names.lower() and not plan_gpt_oss:
            continue
        s = ctx.subject(c.obj)
        r.ok(s)
        base = c.env_value(TIKTOKEN_BASE)
        expected = _encodings_dir(v.model)
        if not base:
            r.fail(
                s,
                c.env_path(TIKTOKEN_BASE),
                f"container {c.name}: {TIKTOKEN_BASE} is not set: harmony downloads encodings from openaipublic.blob.core.windows.net",
            )
        elif not base.startswith("/"):
            r.fail(
                s,
                c.env_path(TIKTOKEN_BASE),
                f"container {c.name}: {TIKTOKEN_BASE} is {base}, not a local path",
            )
        elif expected is not None and base.rstrip("/") != expected:
            r.fail(
                s,
                c.env_path(TIKTOKEN_BASE),
                f"container {c.name}: {TIKTOKEN_BASE} is {base}, not {expected}: outside the "
                f"model's {ENCODINGS_SUBDIR}/ folder the model's sha256 manifest does not cover "
                "the encodings",
                severity="medium",
            )
        if not c.env_value(TIKTOKEN_CACHE):
            r.fail(
                s,
                c.env_path(TIKTOKEN_CACHE),
                f"container {c.name}: {TIKTOKEN_CACHE} is not set",
                severity="medium",
            )
        for field, name, given, pinned in _pinned_encoding_hashes(c):
            if given != pinned:
                r.fail(
                    s,
                    field,
                    f"REQUIRED_FILES pins {name} to sha256 {given[:16]}..., tiktoken pins "
                    f"{pinned[:16]}...: harmony would refuse the file or load another one",
                )
        cubin = c.env_value("FLASHINFER_CUBIN_DIR")
        if cubin and not cubin.startswith("/"):
            r.fail(
                s,
                c.env_path("FLASHINFER_CUBIN_DIR"),
                f"container {c.name}: FLASHINFER_CUBIN_DIR is {cubin}, not a local path",
            )
        elif not cubin and not ctx.policy.attestations.flashinfer_artifacts_in_image:
            unstaged.append(c.obj.ref)
    if unstaged:
        r.missing_evidence(
            ctx.site_path("attestations.flashinfer_artifacts_in_image"),
            f"FlashInfer kernels for {', '.join(sorted(set(unstaged)))}: FLASHINFER_CUBIN_DIR is "
            "unset and the image is not attested to ship them (otherwise FlashInfer downloads "
            "from edge.urm.nvidia.com)",
            "FLASHINFER_CUBIN_DIR on a local path, or "
            "compliance.attestations.flashinfer_artifacts_in_image: true once the image is known "
            "to ship flashinfer-cubin and flashinfer-jit-cache",
        )


@rule(
    "RES-008",
    title="No package installs or downloads when containers start",
    severity="high",
    targets=["manifests"],
    inspects="""`command`, `args`, lifecycle hooks, init containers and mounted ConfigMap
    scripts they run, for pip/uv/conda/apt/apk installs, curl or wget to hosts outside
    `internal_domains`, git clone, `ollama pull` and hub or FlashInfer downloads; Ray
    `runtime_env` (pip, uv, conda, working_dir or py_modules from a URL) in a RayService's
    serveConfigV2 or a RayJob's runtimeEnvYAML; `PIP_INDEX_URL`, `PIP_EXTRA_INDEX_URL`, `UV_INDEX_URL`,
    `UV_EXTRA_INDEX_URL` outside `internal_domains`.""",
    references=[
        "FINMA-OR §IV.B",
        "FINMA-OR §IV.C",
        "NSA-K8s (immutable containers)",
        'FINMA-AI "Tests and ongoing monitoring"',
    ],
    remediation="Bake dependencies into a digest-pinned image built and scanned in CI.",
)
def res_008(ctx: CheckContext, r: Results) -> None:
    for c in ctx.containers:
        r.ok(ctx.subject(c.obj))
        for s, path, text in container_scripts(ctx, c):
            low = f" {text.lower()} "
            for pattern in INSTALL_PATTERNS:
                if pattern in low and pattern in URL_FETCHERS:
                    # the hosts of this text, else of the whole command (`command: [wget]`
                    # with the URL in `args`)
                    host = _external_fetch(ctx, text)
                    if host == "":
                        host = _external_fetch(ctx, command_text(c.container))
                    if host is None:
                        continue  # only in-cluster or internal hosts (a Helm test pod)
                    r.fail(
                        s,
                        path,
                        f"container {c.name}: `{pattern.strip()}` at start-up fetches from "
                        f"{host or 'a host the manifests do not show'}",
                    )
                    break
                if pattern in low:
                    r.fail(
                        s,
                        path,
                        f"container {c.name}: `{pattern.strip()}` at start-up fetches software or data",
                    )
                    break
        for name in ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "UV_INDEX_URL", "UV_EXTRA_INDEX_URL"):
            value = c.env_value(name)
            if value and not is_internal_host(host_of(value), ctx.policy):
                r.fail(
                    ctx.subject(c.obj),
                    c.env_path(name),
                    f"container {c.name}: {name} points at {host_of(value)}",
                )
    for obj in ctx.kind("RayService", "RayJob"):
        fetches = runtime_env_fetches(obj)
        if fetches:
            s = ctx.subject(obj)
            r.ok(s)
            for path, what in fetches:
                r.fail(s, path, f"Ray {what} when the application starts")


def _registry_problem(ctx: CheckContext, image: str) -> str | None:
    ref = parse_image(image)
    if ref.registry in ctx.policy.allowed_registries:
        return None
    if ref.registry in ctx.policy.denied_registries:
        return f"image {image} comes from the public registry {ref.registry}"
    return f"image {image} comes from {ref.registry}, which is not in allowed_registries"


@rule(
    "RES-009",
    title="All images come from approved internal registries",
    severity="critical",
    targets=["manifests", "live"],
    inspects="""Every container, init and ephemeral container image of every workload kind
    (normalised: `vllm/vllm-openai` is `docker.io/vllm/vllm-openai`) and the repository fields
    of NVIDIA GPU-operator `ClusterPolicy` objects use a registry in `allowed_registries`;
    denied public registries are named. Live: `status.containerStatuses[].imageID`, the
    source actually pulled.""",
    references=[
        "CIS 5.5.1",
        "KY restrict-image-registries",
        "NSA-K8s",
        "FINMA-OR §IV.C",
        "FINMA-OR §V",
        "FINMA-OS",
    ],
    remediation="""Mirror vLLM, CUDA base and GPU-operator images into the internal registry;
    rewrite references in the chart values (`image.registry`).""",
    not_checked="the host target (containerd certs.d/hosts.toml mirrors): swissai does not read node files.",
)
def res_009(ctx: CheckContext, r: Results) -> None:
    for c in ctx.containers:
        s = ctx.subject(c.obj)
        r.ok(s)
        if not c.image:
            continue
        problem = _registry_problem(ctx, c.image)
        if problem:
            r.fail(s, f"{c.path}.image", f"container {c.name}: {problem}")
    for pod in ctx.live_pods:
        for i, status in enumerate(as_list(get(pod.data, "status.containerStatuses"))):
            image_id = str(as_dict(status).get("imageID") or "")
            image_id = image_id.split("://", 1)[-1]
            if "@" not in image_id:
                continue
            problem = _registry_problem(ctx, image_id)
            s = ctx.subject(pod)
            r.ok(s)
            if problem:
                r.fail(
                    s,
                    f"status.containerStatuses[{i}].imageID",
                    f"running image pulled from outside: {problem}",
                )
    for cp in ctx.kind("ClusterPolicy"):
        if not cp.api_version.startswith("nvidia.com/"):
            continue
        s = ctx.subject(cp)
        r.ok(s)
        for key, value in as_dict(cp.data.get("spec")).items():
            repo = get(value, "repository")
            if repo:
                problem = _registry_problem(ctx, f"{repo}/x")
                if problem:
                    r.fail(
                        s,
                        f"spec.{key}.repository",
                        f"GPU operator component {key}: repository {repo} is not an allowed registry",
                    )


@rule(
    "RES-010",
    title="No external tool servers or web tools for gpt-oss",
    severity="critical",
    targets=["manifests", "plan"],
    inspects="""vLLM: no `--tool-server demo`; `--tool-server` URLs internal; no `EXA_API_KEY`;
    `VLLM_GPT_OSS_SYSTEM_TOOL_MCP_LABELS` without `web_search_preview` (and without
    `code_interpreter`/`container` unless the site approves a sandbox);
    `--allowed-media-domains` internal only.""",
    references=[
        "vLLM-SEC (Tool Server and MCP Security)",
        "BankA 47",
        "FADP 16",
        'FINMA-AI "Governance"',
    ],
    remediation="""Keep tools off, or implement tools as internal services behind the gateway
    with their own review.""",
)
def res_010(ctx: CheckContext, r: Results) -> None:
    def check_args(s: Subject, path: str, v: object, who: str) -> None:
        from swissai.core.compliance.context import VllmArgs

        assert isinstance(v, VllmArgs)
        for value in v.flags.get("tool-server", []):
            for part in (value or "").split(","):
                if part.strip() == "demo":
                    r.fail(
                        s,
                        path,
                        f"{who}: --tool-server demo enables the browser tool backed by the external Exa API",
                    )
                elif part.strip():
                    host = host_of(part)
                    if host and not is_internal_host(host, ctx.policy):
                        r.fail(s, path, f"{who}: --tool-server {part} is outside internal_domains")
        for value in v.flags.get("allowed-media-domains", []):
            for domain in (value or "").replace(",", " ").split():
                if not is_internal_host(domain, ctx.policy):
                    r.fail(s, path, f"{who}: --allowed-media-domains includes {domain}")

    for c in ctx.serving:
        assert c.vllm is not None
        s = ctx.subject(c.obj)
        r.ok(s)
        check_args(s, f"{c.path}.args", c.vllm, f"container {c.name}")
        if "EXA_API_KEY" in c.env:
            r.fail(
                s,
                c.env_path("EXA_API_KEY"),
                f"container {c.name}: EXA_API_KEY enables the external Exa search API",
            )
        labels = (c.env_value("VLLM_GPT_OSS_SYSTEM_TOOL_MCP_LABELS") or "").split(",")
        labels = [x.strip() for x in labels if x.strip()]
        if "web_search_preview" in labels:
            r.fail(
                s,
                c.env_path("VLLM_GPT_OSS_SYSTEM_TOOL_MCP_LABELS"),
                f"container {c.name}: the web_search_preview tool is enabled",
            )
        if {"code_interpreter", "container"} & set(labels) and not ctx.policy.approved_sandbox:
            r.fail(
                s,
                c.env_path("VLLM_GPT_OSS_SYSTEM_TOOL_MCP_LABELS"),
                f"container {c.name}: code execution tools are enabled without an approved sandbox",
            )
    ps, pv = ctx.plan_subject, ctx.plan_args()
    if ps is not None and pv is not None:
        r.ok(ps)
        check_args(ps, "vllm.args", pv, "plan")


SAAS_HOSTS = (
    "datadoghq.com",
    "datadoghq.eu",
    "newrelic.com",
    "splunkcloud.com",
    "grafana.net",
    "honeycomb.io",
    "sentry.io",
    "cloud.langfuse.com",
    "logz.io",
    "sumologic.com",
    "elastic-cloud.com",
    "cloud.es.io",
    "wandb.ai",
    "api.smith.langchain.com",
)
OTEL_ENV = (
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
)
_ENDPOINT_LINE = re.compile(
    r"(?im)^\s*(?:endpoint|host|hosts|url|uri)\s*[:=]?\s*[\"']?([^\s\"',]+)"
)


@rule(
    "RES-011",
    title="Observability and log exporters stay in-country",
    severity="high",
    targets=["manifests", "live"],
    inspects="""`--otlp-traces-endpoint` and `OTEL_EXPORTER_OTLP_*ENDPOINT` resolve to
    internal domains or CIDRs; no env value or collector/shipper ConfigMap (OTel Collector,
    Fluent Bit, Vector) points at a SaaS host (Datadog, New Relic, Splunk Cloud, Grafana
    Cloud, Honeycomb, Sentry, Langfuse Cloud, ...); `SENTRY_DSN`, `WANDB_API_KEY`,
    `LANGFUSE_HOST` with external hosts. Critical when the container also logs prompts
    (LOG-001) or `--collect-detailed-traces` is on.""",
    references=["DPO 4(5)", "FADP 16", "BankA 47", "FINMA-OR §IV.D"],
    remediation="""Send traces and logs to the in-country collector; declare it in
    `residency.data_flows`.""",
)
def res_011(ctx: CheckContext, r: Results) -> None:
    for c in ctx.containers:
        s = ctx.subject(c.obj)
        r.ok(s)
        severe = ctx.logs_prompts(c) or (
            c.vllm is not None and c.vllm.has("collect-detailed-traces")
        )
        severity: Severity | None = "critical" if severe else None
        targets: list[tuple[str, str, str]] = [
            (n, c.env_path(n), c.env_value(n) or "") for n in OTEL_ENV
        ]
        if c.vllm is not None:
            targets += [
                ("--otlp-traces-endpoint", _arg_path(c, "otlp-traces-endpoint"), v or "")
                for v in c.vllm.flags.get("otlp-traces-endpoint", [])
            ]
        for what, path, value in targets:
            host = host_of(value)
            if value and host and not is_internal_host(host, ctx.policy):
                r.fail(s, path, f"container {c.name}: {what} exports to {host}", severity=severity)
        for var in c.env.values():
            value = (var.value or "").lower()
            if var.name in OTEL_ENV:
                continue
            saas = next((h for h in SAAS_HOSTS if h in value), None)
            if saas:
                r.fail(
                    s,
                    var.path,
                    f"container {c.name}: {var.name} points at the SaaS host {saas}",
                    severity=severity,
                )
            elif (
                var.name in ("SENTRY_DSN", "LANGFUSE_HOST", "WANDB_BASE_URL")
                and value
                and not is_internal_host(host_of(value), ctx.policy)
            ):
                r.fail(
                    s,
                    var.path,
                    f"container {c.name}: {var.name} points at {host_of(value)}",
                    severity=severity,
                )
            elif var.name == "WANDB_API_KEY":
                r.fail(
                    s,
                    var.path,
                    f"container {c.name}: WANDB_API_KEY suggests export to Weights & Biases",
                    severity=severity,
                )
    for cm in ctx.kind("ConfigMap"):
        for key, value in as_dict(cm.data.get("data")).items():
            text = str(value)
            path = f'data["{key}"]' if "." in str(key) else f"data.{key}"
            low = text.lower()
            saas = next((h for h in SAAS_HOSTS if h in low), None)
            if saas:
                r.fail(
                    ctx.subject(cm), path, f"ConfigMap {cm.name} sends data to the SaaS host {saas}"
                )
                continue
            collector = any(
                k in (cm.name + str(key)).lower()
                for k in ("otel", "fluent", "vector", "collector", "promtail")
            )
            if not collector:
                continue
            r.ok(ctx.subject(cm))
            for match in _ENDPOINT_LINE.finditer(text):
                host = host_of(match.group(1))
                if "." in host and not is_internal_host(host, ctx.policy):
                    r.fail(
                        ctx.subject(cm),
                        path,
                        f"ConfigMap {cm.name}: exporter endpoint {host} is outside internal domains",
                    )
