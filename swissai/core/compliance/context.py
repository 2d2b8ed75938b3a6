"""What rules see: the objects, the plan, the site policy, and helpers that every rule shares
(pod specs of every workload kind, serving containers, resolved env, parsed vLLM arguments,
image references, label selectors). Pure: no I/O, no clock (the caller passes `today`).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any
from urllib.parse import urlparse

from swissai.core.compliance.crd_views import (
    KSERVE_ISVC_LABEL,
    ModelSource,
    model_sources,
    pod_views,
    runtime_users,
    uninspected_reason,
)
from swissai.core.vllm_flag_table import TAKES_VALUE
from swissai.core.vllm_flags import FORBIDDEN_ARGS, forbidden_reason, parse_flag
from swissai.core.yaml_bounded import WAIVER_LIMITS, compose_yaml
from swissai.errors import InputError
from swissai.models.findings import (
    SEVERITY_RANK,
    CheckResult,
    Finding,
    FindingSeverity,
    RuleInfo,
    Target,
)
from swissai.models.manifest import Document, join_path
from swissai.models.plan import ServePlan
from swissai.models.policy import CompliancePolicy
from swissai.models.site import (
    EXAMPLE_DIGEST,
    EXAMPLE_MANIFEST_SHA256,
    EXAMPLE_REVISION,
    SiteProfile,
)

# kind -> paths of the pod specs it holds (pod template metadata sits beside each `spec`)
POD_SPEC_PATHS: dict[str, list[str]] = {
    "Pod": ["spec"],
    "Deployment": ["spec.template.spec"],
    "StatefulSet": ["spec.template.spec"],
    "DaemonSet": ["spec.template.spec"],
    "ReplicaSet": ["spec.template.spec"],
    "ReplicationController": ["spec.template.spec"],
    "Job": ["spec.template.spec"],
    "CronJob": ["spec.jobTemplate.spec.template.spec"],
    "LeaderWorkerSet": [
        "spec.leaderWorkerTemplate.leaderTemplate.spec",
        "spec.leaderWorkerTemplate.workerTemplate.spec",
    ],
}
SECRET_NAME = re.compile(r"(?i)(api_?key|(^|_)token($|_)|secret|passw)")
TRUTHY = {"1", "true", "yes", "on"}
# vLLM flags with nargs="+" whose values swissai reads (vllm/entrypoints/launchers/cli_args.py)
MULTI_VALUE_FLAGS = frozenset({"lora-modules", "lora-target-modules"})
_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


def get(data: Any, path: str) -> Any:
    """Value at a dotted path with [i] indexes; None when any step is missing."""
    cur = data
    for part in re.findall(r'[^.\[\]]+|\[\d+\]|\["[^"]*"\]', path):
        if part.startswith('["'):
            key: Any = part[2:-2]
        elif part.startswith("["):
            key = int(part[1:-1])
        else:
            key = part
        if isinstance(key, int):
            if not isinstance(cur, list) or key >= len(cur):
                return None
        elif not isinstance(cur, dict):
            return None
        cur = cur[key] if isinstance(key, int) else cur.get(key)
        if cur is None:
            return None
    return cur


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


# ---------------------------------------------------------------- images


@dataclass(frozen=True)
class ImageRef:
    raw: str
    registry: str
    repository: str
    tag: str | None
    digest: str | None

    @property
    def pinned(self) -> bool:
        return self.digest is not None


def parse_image(raw: str) -> ImageRef:
    """`vllm/vllm-openai:v0.10` -> docker.io/vllm/vllm-openai (container runtimes default to
    docker.io for unqualified names)."""
    ref = raw.strip()
    digest = None
    if "@" in ref:
        ref, digest = ref.split("@", 1)
    first, _, rest = ref.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        registry, path = first, rest
    else:
        registry, path = "docker.io", ref
        if "/" not in path:
            path = f"library/{path}"
    tag = None
    name, colon, maybe_tag = path.rpartition(":")
    if colon and "/" not in maybe_tag:
        path, tag = name, maybe_tag
    if registry in ("index.docker.io", "registry-1.docker.io"):
        registry = registry  # keep as written: both are denied by default
    return ImageRef(raw=raw, registry=registry.lower(), repository=path, tag=tag, digest=digest)


# The all-zero values `swissai init` writes (swissai.models.site) until the site fills in its
# own: a render from an unedited swissai.yaml carries them, and nothing real ever has them.
PLACEHOLDER_HINTS = {
    "image.digest": "the digest of the image in your registry (`crane digest` or `skopeo "
    "inspect` of your mirror), in image.digest of swissai.yaml",
    "model.revision": "the 40-hex commit of the weights you staged, in model.revision of "
    "swissai.yaml",
    "model.manifest_sha256": "the sha256 `swissai model manifest DIR` prints for the model's "
    "SHA256SUMS, in model.manifest_sha256 of swissai.yaml",
}


def placeholder_of(value: str) -> str | None:
    """Which init placeholder `value` is (image.digest, model.revision,
    model.manifest_sha256), or None. Accepts an image reference, `sha256:…` or bare hex."""
    text = value.strip().strip("'\"").lower()
    if text.endswith("@" + EXAMPLE_DIGEST) or text == EXAMPLE_DIGEST:
        return "image.digest" if "@" in text else "model.manifest_sha256"
    if text == EXAMPLE_REVISION:
        return "model.revision"
    if text == EXAMPLE_MANIFEST_SHA256:
        return "model.manifest_sha256"
    return None


def placeholder_message(what: str, where: str) -> str:
    return (
        f"{where} is the all-zero placeholder `swissai init` writes for {what}, not a real "
        f"value: put {PLACEHOLDER_HINTS[what]} (then render again)"
    )


def digest_valid(raw: str) -> bool:
    return bool(_DIGEST.search(raw.strip()))


# ---------------------------------------------------------------- hosts and networks


def ipv4_as_resolved(host: str) -> ipaddress.IPv4Address | None:
    """The IPv4 address a resolver reads in `host`, or None when it is a name. glibc's
    getaddrinfo (and so curl, Python, Go's cgo resolver) accepts every inet_aton(3) form: one
    to four parts, each decimal, octal (leading 0) or hex (0x), the last part filling the
    remaining bytes: `134744072`, `0x08080808`, `0x8.8.8.8`, `010.010.010.010` and `8.8.2056`
    are all 8.8.8.8. Such a host is an address, never an in-cluster service name."""
    parts = host.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    numbers: list[int] = []
    for part in parts:
        text = part.lower()
        if text.startswith("0x"):
            digits, base = text[2:], 16
        elif len(text) > 1 and text.startswith("0"):
            digits, base = text[1:], 8
        else:
            digits, base = text, 10
        if not digits and base == 16:
            digits = "0"  # inet_aton reads a bare `0x` as 0
        try:
            if not digits or not digits.isalnum():
                return None
            numbers.append(int(digits, base))
        except ValueError:
            return None
    *leading, last = numbers
    if any(n > 0xFF for n in leading) or last >= 1 << (8 * (4 - len(leading))):
        return None
    value = last
    for index, number in enumerate(leading):
        value |= number << (8 * (3 - index))
    return ipaddress.IPv4Address(value)


def canonical_host(host: str) -> str:
    """`host` with a numeric IPv4 form (`0x08080808`) written as the dotted quad it means."""
    address = ipv4_as_resolved(host)
    return str(address) if address is not None else host


def host_of(value: str) -> str:
    """Host of a URL or host:port string ('' when there is none); a numeric IPv4 host in any
    form the resolver accepts is returned as its dotted quad."""
    text = value.strip()
    if "://" not in text:
        text = "//" + text
    try:
        return canonical_host((urlparse(text).hostname or "").lower())
    except ValueError:
        return ""


def is_internal_host(host: str, policy: CompliancePolicy) -> bool:
    if not host:
        return True
    if host in ("localhost", "127.0.0.1", "::1"):
        return True
    address: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipv4_as_resolved(host)
    if address is None:
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            if "." not in host:
                return True  # a bare service name resolves inside the cluster
            return any(
                host == d.lstrip(".") or host.endswith("." + d.lstrip("."))
                for d in policy.internal_domains
            )
    if address.is_loopback:
        return True
    return any(address in ipaddress.ip_network(c, strict=False) for c in policy.internal_cidrs)


def cidr_inside(cidr: str, allowed: list[str]) -> bool:
    try:
        net = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return False
    for a in allowed:
        try:
            outer = ipaddress.ip_network(a, strict=False)
        except ValueError:
            continue
        if net.version == outer.version and net.subnet_of(outer):  # type: ignore[arg-type]
            return True
    return False


# ---------------------------------------------------------------- selectors


def selector_matches(selector: Any, labels: dict[str, str]) -> bool:
    """Kubernetes LabelSelector semantics; an empty selector selects everything."""
    sel = as_dict(selector)
    for key, value in as_dict(sel.get("matchLabels")).items():
        if labels.get(str(key)) != str(value):
            return False
    for expr in as_list(sel.get("matchExpressions")):
        e = as_dict(expr)
        key, op = str(e.get("key")), e.get("operator")
        values = [str(v) for v in as_list(e.get("values"))]
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def service_selects(selector: Any, labels: dict[str, str]) -> bool:
    """Service `spec.selector` is a plain map; an empty or absent one selects nothing."""
    sel = as_dict(selector)
    return bool(sel) and all(labels.get(str(k)) == str(v) for k, v in sel.items())


# ---------------------------------------------------------------- vLLM arguments


def vllm_flag(token: str) -> tuple[str, bool | None]:
    """The flag a `--` token is to vLLM (no leading dashes) and whether it takes a value (None:
    a flag this vLLM does not know). One normalisation with `render` and `serve`
    (swissai.core.vllm_flags): `_` for `-`, unique prefixes expanded as argparse does
    (`--trust-remote` is `--trust-remote-code`, `--api-ke=x` is `--api-key x`). A spelling that
    this vLLM refuses but that folds onto a forbidden flag (`--Trust-Remote-Code`, or a prefix
    a newer vLLM may expand to it) is read as that forbidden flag, as `forbidden_reason` does
    for render and serve, so the rules judge what was meant."""
    flag = parse_flag(token)
    if flag is None:
        return token.lstrip("-"), None
    if flag.known:
        return flag.name[2:], flag.takes_value
    if forbidden_reason(token) is not None:
        folded = flag.name.lower()
        for forbidden in FORBIDDEN_ARGS:
            if forbidden == folded or forbidden.startswith(folded):
                return forbidden[2:], TAKES_VALUE.get(forbidden)
    return flag.name[2:], None


@dataclass
class VllmArgs:
    """Parsed `vllm serve` arguments: flags (dashes, no leading --) -> values (None for a
    boolean), the model (positional or --model), and where each came from."""

    flags: dict[str, list[str | None]] = field(default_factory=dict)
    model: str | None = None
    # args: after `vllm serve` or for a vLLM image's entrypoint; wrapper: the args of a script
    # that runs `vllm serve "$@"`; image: a vLLM container whose arguments are not visible
    origin: str = "args"
    # arguments written as variables the manifests do not resolve: flag -> text as written
    unresolved: dict[str, str] = field(default_factory=dict)

    def has(self, flag: str) -> bool:
        return flag in self.flags

    def value(self, flag: str) -> str | None:
        values = self.flags.get(flag)
        return values[-1] if values else None

    def truthy(self, flag: str) -> bool:
        if flag not in self.flags:
            return False
        v = self.value(flag)
        return v is None or v.lower() in TRUTHY


def _tokens(command: list[Any], args: list[Any]) -> list[str]:
    # a `\` that ends a line is a shell line continuation, never an argument (`vllm serve \`
    # copied into a YAML list, or a block scalar passed to `sh -c`)
    tokens = [str(t) for t in command + args if str(t).strip() != "\\"]
    # `sh -c "script"`: split the script like a shell would (good enough for flags)
    for shell_flag in ("-c", "-lc", "-ec"):
        if (
            len(tokens) >= 2
            and tokens[0].rsplit("/", 1)[-1] in ("sh", "bash", "dash", "zsh")
            and shell_flag in tokens
        ):
            index = tokens.index(shell_flag)
            script = re.sub(r"\\\r?\n", " ", " ".join(tokens[index + 1 :]))
            try:
                return shlex.split(script, comments=True)
            except ValueError:
                return script.split()
    return tokens


def command_text(container: dict[str, Any]) -> str:
    return " ".join(
        str(t) for t in as_list(container.get("command")) + as_list(container.get("args"))
    )


def parse_vllm(
    command: list[Any], args: list[Any], implicit_serve: bool, wrapper: bool = False
) -> VllmArgs | None:
    """Find `vllm serve` (or the OpenAI api_server module) and parse what follows. With
    `implicit_serve` (a vLLM image without command), the args alone are serve arguments. With
    `wrapper` (a vLLM container whose command is a script that passes its args on, such as
    swissai's `ray_leader.sh`), the args alone are serve arguments too."""
    tokens = _tokens(command, args)
    start = None
    origin = "args"
    for i, tok in enumerate(tokens):
        if tok.rsplit("/", 1)[-1] == "vllm" and i + 1 < len(tokens) and tokens[i + 1] == "serve":
            start = i + 2
            break
        if tok in ("vllm.entrypoints.openai.api_server", "vllm.entrypoints.api_server"):
            start = i + 1
            break
    if start is None:
        if implicit_serve and not command:
            start = 0
        elif wrapper and args:
            tokens, start, origin = [str(t) for t in args], 0, "wrapper"
        else:
            return None
    parsed = VllmArgs(origin=origin)
    i = start
    while i < len(tokens):
        tok = tokens[i]
        if tok in ("&&", ";", "||", "|"):
            break
        if tok.startswith("--") and tok != "--":
            name, takes_value = vllm_flag(tok)
            _, eq, value = tok.partition("=")
            if eq:
                parsed.flags.setdefault(name, []).append(value)
            elif (
                takes_value is False
                or (takes_value is None and name.startswith("no-"))
                or i + 1 >= len(tokens)
                or tokens[i + 1].startswith("-")
            ):
                parsed.flags.setdefault(name, []).append(None)
            else:
                parsed.flags.setdefault(name, []).append(tokens[i + 1])
                i += 1
                # `--lora-modules a=/x b=/y`: vLLM reads every value up to the next flag
                # (nargs="+"; a repeated flag replaces the list): they are not the model
                while name in MULTI_VALUE_FLAGS and i + 1 < len(tokens):
                    if tokens[i + 1].startswith("-") or tokens[i + 1] in ("&&", ";", "||", "|"):
                        break
                    parsed.flags[name].append(tokens[i + 1])
                    i += 1
        elif parsed.model is None and not tok.startswith("-"):
            parsed.model = tok
        i += 1
    if parsed.model is None and parsed.value("model"):
        parsed.model = parsed.value("model")
    return parsed


# ---------------------------------------------------------------- env

# `$(VAR)` (Kubernetes expands it in command and args from the container's env) and `$VAR`,
# `${VAR}` (the shell of `sh -c` expands them)
_VARIABLE = re.compile(
    r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)|\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)"
)


def expand_variables(text: str, env: dict[str, EnvVar]) -> str | None:
    """`text` with its variable references replaced from the container's env; None when one
    of them has no value the manifests show (a Secret, a field ref, or not set at all)."""
    missing = False

    def value(match: re.Match[str]) -> str:
        nonlocal missing
        var = env.get(next(g for g in match.groups() if g))
        if var is None or var.value is None:
            missing = True
            return match.group(0)
        return var.value

    expanded = _VARIABLE.sub(value, text)
    return None if missing else expanded


def _resolve_variables(vllm: VllmArgs, env: dict[str, EnvVar]) -> None:
    """Model and tokenizer written as variables: resolved from env, or marked unresolved
    (kept as written in `unresolved`) so that no rule reads `$MODEL_PATH` as a hub id."""
    if vllm.model and "$" in vllm.model:
        resolved = expand_variables(vllm.model, env)
        if resolved is None:
            vllm.unresolved["model"] = vllm.model
        else:
            vllm.model = resolved
    for flag in ("tokenizer", "model"):
        values = vllm.flags.get(flag)
        if values and values[-1] and "$" in values[-1]:
            resolved = expand_variables(values[-1], env)
            if resolved is None:
                vllm.unresolved.setdefault(flag, values[-1])
            else:
                values[-1] = resolved


@dataclass(frozen=True)
class EnvVar:
    name: str
    value: str | None  # None when it comes from a Secret or cannot be resolved
    source: str  # value | secret | configmap | field | unresolved
    path: str


# ---------------------------------------------------------------- workloads


@dataclass
class PodSpecRef:
    obj: Document
    path: str  # e.g. spec.template.spec
    spec: dict[str, Any]
    labels: dict[str, str]  # pod template labels (or the Pod's own)
    # containers outside `spec.containers` (KServe `spec.predictor.model`, NIMService `spec`)
    extra: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    # assembled from a custom resource whose operator writes the real pod (crd_views)
    synthetic: bool = False
    injected_mounts: tuple[str, ...] = ()  # paths the operator mounts (KServe /mnt/models)

    @property
    def namespace(self) -> str | None:
        return self.obj.namespace


@dataclass
class ContainerRef:
    pod: PodSpecRef
    path: str  # e.g. spec.template.spec.containers[0]
    container: dict[str, Any]
    init: bool
    env: dict[str, EnvVar]
    vllm: VllmArgs | None  # set for serving containers

    @property
    def obj(self) -> Document:
        return self.pod.obj

    @property
    def name(self) -> str:
        return str(self.container.get("name") or "")

    @property
    def serves_api(self) -> bool:
        """Whether this vLLM container answers the OpenAI API. Headless engines (`--headless`,
        vLLM's native multi-node workers) and LeaderWorkerSet workers that run no `vllm serve`
        (Ray workers joining the leader's cluster) do not: only the leader serves HTTP."""
        if self.vllm is None or self.vllm.has("headless"):
            return False
        return not (".workerTemplate." in self.path and self.vllm.origin == "image")

    @property
    def image(self) -> str:
        return str(self.container.get("image") or "")

    def env_value(self, name: str) -> str | None:
        var = self.env.get(name)
        return var.value if var else None

    def env_path(self, name: str) -> str:
        var = self.env.get(name)
        return var.path if var else f"{self.path}.env"


# ---------------------------------------------------------------- subjects and results


@dataclass(frozen=True)
class Subject:
    """What a finding is about: an object, a missing object, the plan or a declaration."""

    ref: str
    file: str | None
    doc: Document | None = None
    source: Target = "manifests"
    missing: bool = False
    namespace: str | None = None
    location: str | None = None  # in words, when no input holds the subject

    def line(self, path: str) -> int | None:
        if self.missing:
            return 1
        if self.doc is None:
            return 1 if self.file else None
        return self.doc.line_of(path) if path else self.doc.line


class Results:
    """Collects one rule's outcome: the subjects it checked and the findings it raised."""

    def __init__(self, info: RuleInfo, ctx: CheckContext) -> None:
        self.info = info
        self.ctx = ctx
        self.findings: list[Finding] = []
        self.checked: dict[str, Subject] = {}

    def ok(self, subject: Subject) -> None:
        self.checked.setdefault(subject.ref, subject)

    def fail(
        self,
        subject: Subject,
        path: str,
        message: str,
        *,
        severity: FindingSeverity | None = None,
        evidence: str | None = None,
    ) -> None:
        self.ok(subject)
        sev: FindingSeverity = severity or self.info.severity
        override = self.ctx.policy.severity_overrides.get(self.info.id)
        if override and SEVERITY_RANK[override] > SEVERITY_RANK[sev]:
            sev = override
        self.findings.append(
            Finding(
                rule_id=self.info.id,
                severity=sev,
                title=self.info.title,
                message=message,
                object=subject.ref,
                field=path,
                file=subject.file,
                line=subject.line(path),
                location=subject.location,
                source=subject.source,
                missing_object=subject.missing,
                evidence_expected=evidence,
                remediation=self.info.remediation,
            )
        )

    def missing_evidence(self, path: str, message: str, expected: str) -> None:
        """Evidence not declared yet: reported at the policy's missing_evidence_severity."""
        self.fail(
            self.ctx.site_subject,
            path,
            message,
            severity=self.ctx.policy.missing_evidence_severity,
            evidence=expected,
        )

    def check_results(self) -> list[CheckResult]:
        failed = {f.object for f in self.findings}
        return [
            CheckResult(
                rule_id=self.info.id,
                object=ref,
                status="failed" if ref in failed else "passed",
                file=s.file,
                line=s.line(""),
            )
            for ref, s in self.checked.items()
        ]


# ---------------------------------------------------------------- the context


@dataclass
class CheckContext:
    objects: list[Document]
    policy: CompliancePolicy = field(default_factory=CompliancePolicy)
    plan: ServePlan | None = None
    plan_doc: Document | None = None
    site: SiteProfile | None = None  # the profile given with --site (None: init's defaults)
    site_doc: Document | None = None
    live: bool = False
    cluster: str | None = None
    today: dt.date = dt.date(2000, 1, 1)

    # ------------------------------------------------------------ objects

    @cached_property
    def by_kind(self) -> dict[str, list[Document]]:
        out: dict[str, list[Document]] = {}
        for obj in self.objects:
            out.setdefault(obj.kind, []).append(obj)
        return out

    def kind(self, *kinds: str) -> list[Document]:
        return [o for k in kinds for o in self.by_kind.get(k, [])]

    def subject(self, obj: Document) -> Subject:
        source: Target = "live" if obj.source == "cluster" else "manifests"
        file = obj.file if obj.source != "cluster" else self.cluster_uri(obj)
        return Subject(
            ref=obj.ref,
            file=file,
            doc=obj if obj.source != "cluster" else None,
            source=source,
            namespace=obj.namespace,
        )

    def cluster_uri(self, obj: Document) -> str:
        ns = f"namespaces/{obj.namespace}/" if obj.namespace else ""
        return f"cluster://{self.cluster or 'current'}/{ns}{obj.kind}/{obj.name}"

    def missing(self, ref: str, near: Document | None) -> Subject:
        """An absent object; located at line 1 of the input that should have held it."""
        if near is not None and near.source != "cluster":
            file: str | None = near.file
            source: Target = "manifests"
        elif near is not None:
            file, source = f"cluster://{self.cluster or 'current'}", "live"
        else:
            file, source = self.fallback_file, "manifests"
        return Subject(
            ref=ref,
            file=file,
            source=source,
            missing=True,
            namespace=near.namespace if near else None,
        )

    @property
    def fallback_file(self) -> str:
        for obj in self.objects:
            if obj.source != "cluster" and obj.file:
                return obj.file
        if self.plan_doc is not None and self.plan_doc.file:
            return self.plan_doc.file
        if self.site_doc is not None and self.site_doc.file:
            return self.site_doc.file
        return f"cluster://{self.cluster or 'current'}" if self.live else "swissai.yaml"

    @cached_property
    def site_subject(self) -> Subject:
        """Declarations in the site profile (`compliance:`); defaults when no --site."""
        if self.site_doc is not None:
            return Subject(
                ref="SiteProfile/compliance",
                file=self.site_doc.file,
                doc=self.site_doc,
                source="site",
            )
        # no --site: the defaults of `swissai init` are in no input; SARIF still needs a
        # physical location, so the file is the first input (line 1) and the words say where
        return Subject(
            ref="SiteProfile/compliance",
            file=self.fallback_file,
            source="site",
            missing=True,
            location="(default site profile)",
        )

    @cached_property
    def plan_subject(self) -> Subject | None:
        if self.plan is None:
            return None
        return Subject(
            ref=f"ServePlan/{self.plan.model.id}",
            file=self.plan_doc.file if self.plan_doc else None,
            doc=self.plan_doc,
            source="plan",
        )

    def site_path(self, path: str) -> str:
        """Field path of a policy key inside the site profile."""
        if self.site_doc is not None and "compliance" in self.site_doc.data:
            return join_path("compliance", path) if "." not in path else f"compliance.{path}"
        return path

    # ------------------------------------------------------------ workloads

    @cached_property
    def pod_specs(self) -> list[PodSpecRef]:
        """Pod specs of every workload. Live Pods owned by a controller are skipped (their
        controller is checked); they still count for live-only checks via `live_pods`."""
        out: list[PodSpecRef] = []
        users = runtime_users(self.objects) if "ServingRuntime" in self.by_kind else {}
        for obj in self.objects:
            paths = POD_SPEC_PATHS.get(obj.kind)
            if not paths:
                for view in pod_views(obj):
                    labels = dict(
                        as_dict(get(obj.data, view.labels_path)) if view.labels_path else obj.labels
                    )
                    labels.update(view.implied_labels)
                    if obj.kind == "ServingRuntime" and users.get((obj.namespace, obj.name)):
                        # the runtime runs as the predictor of the InferenceService naming it
                        labels[KSERVE_ISVC_LABEL] = users[(obj.namespace, obj.name)][0]
                        labels["component"] = "predictor"
                    out.append(
                        PodSpecRef(
                            obj,
                            view.path,
                            view.spec,
                            {str(k): str(v) for k, v in labels.items()},
                            view.extra,
                            view.synthetic,
                            view.injected_mounts,
                        )
                    )
                continue
            if (
                obj.kind == "Pod"
                and obj.source == "cluster"
                and obj.metadata.get("ownerReferences")
            ):
                continue
            if obj.kind in ("ReplicaSet", "Job") and obj.metadata.get("ownerReferences"):
                continue
            for path in paths:
                spec = get(obj.data, path)
                if not isinstance(spec, dict):
                    continue
                meta_path = (
                    path.rsplit(".", 1)[0] + ".metadata.labels"
                    if path != "spec"
                    else "metadata.labels"
                )
                labels = as_dict(get(obj.data, meta_path))
                out.append(PodSpecRef(obj, path, spec, {str(k): str(v) for k, v in labels.items()}))
        return out

    @cached_property
    def hardening_pods(self) -> list[PodSpecRef]:
        """Pod specs as written: not those assembled from an operator's resource (NIMService),
        whose pod the operator writes with defaults the manifest does not show."""
        return [p for p in self.pod_specs if not p.synthetic]

    @cached_property
    def model_sources(self) -> list[ModelSource]:
        """Model references that operators download for their resources (KServe storageUri,
        KAITO presets, NIMCache sources, llm-d modelArtifacts)."""
        return [m for obj in self.objects for m in model_sources(obj)]

    @cached_property
    def uninspected(self) -> list[tuple[Document, str, str]]:
        """Objects of kinds swissai does not read that carry a pod template, container or
        model reference: (object, field path, what)."""
        out = []
        for obj in self.objects:
            found = uninspected_reason(obj, set(POD_SPEC_PATHS))
            if found is not None:
                out.append((obj, *found))
        return out

    @cached_property
    def live_pods(self) -> list[Document]:
        return [o for o in self.kind("Pod") if o.source == "cluster"]

    @cached_property
    def configmaps(self) -> dict[tuple[str | None, str], Document]:
        return {(o.namespace, o.name): o for o in self.kind("ConfigMap")}

    def _resolve_env(
        self, pod: PodSpecRef, container: dict[str, Any], cpath: str
    ) -> dict[str, EnvVar]:
        env: dict[str, EnvVar] = {}
        for index, src in enumerate(as_list(container.get("envFrom"))):
            s = as_dict(src)
            path = f"{cpath}.envFrom[{index}]"
            prefix = str(s.get("prefix") or "")
            cm_ref = as_dict(s.get("configMapRef"))
            if cm_ref:
                cm = self.configmaps.get((pod.namespace, str(cm_ref.get("name"))))
                if cm is not None:
                    for key, value in as_dict(cm.data.get("data")).items():
                        env[prefix + str(key)] = EnvVar(
                            prefix + str(key), str(value), "configmap", path
                        )
        for index, item in enumerate(as_list(container.get("env"))):
            e = as_dict(item)
            name = str(e.get("name") or "")
            path = f"{cpath}.env[{index}]"
            if "value" in e:
                value = e.get("value")
                env[name] = EnvVar(name, "" if value is None else str(value), "value", path)
                continue
            value_from = as_dict(e.get("valueFrom"))
            if "secretKeyRef" in value_from:
                env[name] = EnvVar(name, None, "secret", path)
            elif "configMapKeyRef" in value_from:
                ref = as_dict(value_from.get("configMapKeyRef"))
                cm = self.configmaps.get((pod.namespace, str(ref.get("name"))))
                data = as_dict(cm.data.get("data")) if cm else {}
                key = str(ref.get("key"))
                env[name] = EnvVar(
                    name,
                    str(data[key]) if key in data else None,
                    "configmap" if key in data else "unresolved",
                    path,
                )
            elif value_from:
                env[name] = EnvVar(name, None, "field", path)
            else:
                env[name] = EnvVar(name, "", "value", path)
        return env

    def _config_file_args(self, pod: PodSpecRef, container: dict[str, Any], vllm: VllmArgs) -> None:
        """Merge keys of the YAML file given to `--config` when it is a mounted ConfigMap."""
        config_path = vllm.value("config")
        if not config_path:
            return
        volumes = {
            str(as_dict(v).get("name")): as_dict(v) for v in as_list(pod.spec.get("volumes"))
        }
        for mount in as_list(container.get("volumeMounts")):
            m = as_dict(mount)
            mount_path = str(m.get("mountPath") or "")
            volume = volumes.get(str(m.get("name")), {})
            cm_name = as_dict(volume.get("configMap")).get("name")
            if not cm_name or (
                not config_path.startswith(mount_path.rstrip("/") + "/")
                and config_path != mount_path
            ):
                continue
            key = str(m.get("subPath") or config_path[len(mount_path.rstrip("/")) + 1 :])
            cm = self.configmaps.get((pod.namespace, str(cm_name)))
            text = as_dict(cm.data.get("data")).get(key) if cm else None
            if not isinstance(text, str):
                continue
            try:  # bounded: a ConfigMap is as hostile as any manifest (alias bombs, nesting)
                docs = compose_yaml(text, f"ConfigMap {cm_name} {key}", WAIVER_LIMITS)
                loaded = next(docs, (None, None))[0]
            except InputError:
                continue
            for k, v in as_dict(loaded).items():
                # vLLM turns each key into `--key` and parses it like a command-line flag
                flag, _ = vllm_flag("--" + str(k))
                if flag == "model" and vllm.model is None:
                    vllm.model = str(v)
                if v is True:
                    vllm.flags.setdefault(flag, []).append(None)
                elif v is not False and v is not None:
                    vllm.flags.setdefault(flag, []).append(str(v))

    @cached_property
    def containers(self) -> list[ContainerRef]:
        out: list[ContainerRef] = []
        for pod in self.pod_specs:
            component_swissai = (
                pod.labels.get("app.kubernetes.io/component") == "inference"
                and pod.labels.get("app.kubernetes.io/managed-by") == "swissai"
            )
            # swissai's multi-node leader runs `/bin/sh ray_leader.sh` with the serve args
            wrapper_leader = pod.labels.get("swissai.io/role") == "leader"
            listed = [
                (f"{pod.path}.{key}[{index}]", as_dict(c), init)
                for key, init in (
                    ("initContainers", True),
                    ("containers", False),
                    ("ephemeralContainers", True),
                )
                for index, c in enumerate(as_list(pod.spec.get(key)))
            ] + [(path, c, False) for path, c in pod.extra]
            for cpath, container, init in listed:
                image = str(container.get("image") or "")
                vllm_image = "vllm" in parse_image(image).repository.lower() if image else False
                vllm = None
                if not init:
                    args = as_list(container.get("args"))
                    vllm = parse_vllm(
                        as_list(container.get("command")),
                        args,
                        implicit_serve=vllm_image or component_swissai,
                        wrapper=(vllm_image or component_swissai)
                        and (wrapper_leader or any(str(a).startswith("--") for a in args)),
                    )
                    if vllm is None and (vllm_image or component_swissai):
                        vllm = VllmArgs(origin="image")
                ref = ContainerRef(
                    pod, cpath, container, init, self._resolve_env(pod, container, cpath), vllm
                )
                if vllm is not None:
                    self._config_file_args(pod, container, vllm)
                    _resolve_variables(vllm, ref.env)
                out.append(ref)
        return out

    @cached_property
    def serving(self) -> list[ContainerRef]:
        """vLLM containers (catalog §0.2)."""
        return [c for c in self.containers if c.vllm is not None]

    @cached_property
    def serving_pods(self) -> list[PodSpecRef]:
        seen: list[PodSpecRef] = []
        for c in self.serving:
            if not any(p is c.pod for p in seen):
                seen.append(c.pod)
        return seen

    @cached_property
    def namespaces(self) -> list[str | None]:
        """Namespaces of the serving workloads (None: not set in the manifests)."""
        out: list[str | None] = []
        for pod in self.serving_pods:
            if pod.namespace not in out:
                out.append(pod.namespace)
        return out

    def in_namespace(self, kind: str, namespace: str | None) -> list[Document]:
        return [o for o in self.kind(kind) if o.namespace == namespace]

    def first_in_namespace(self, namespace: str | None) -> Document | None:
        return self._first_serving.get(namespace)

    @cached_property
    def _first_serving(self) -> dict[str | None, Document]:
        # one pass, not one per namespace: inputs with many namespaces stay linear
        out: dict[str | None, Document] = {}
        for pod in self.serving_pods:
            out.setdefault(pod.namespace, pod.obj)
        return out

    @cached_property
    def _by_namespace(self) -> dict[str | None, list[Document]]:
        out: dict[str | None, list[Document]] = {}
        for obj in self.objects:
            out.setdefault(obj.namespace, []).append(obj)
        return out

    def objects_in(self, namespace: str | None) -> list[Document]:
        """Every object of `namespace`, in input order."""
        return self._by_namespace.get(namespace, [])

    # ------------------------------------------------------------ shared verdicts

    @cached_property
    def egress_denied(self) -> dict[str | None, bool]:
        """Per serving namespace: a default-deny egress NetworkPolicy exists (RES-004 core)."""
        out: dict[str | None, bool] = {}
        for ns in self.namespaces:
            out[ns] = any(
                not as_dict(get(p.data, "spec.podSelector"))
                and "Egress" in [str(t) for t in as_list(get(p.data, "spec.policyTypes"))]
                and not any(not as_dict(r) for r in as_list(get(p.data, "spec.egress")))
                for p in self.in_namespace("NetworkPolicy", ns)
            )
        return out

    def logs_prompts(self, c: ContainerRef) -> bool:
        """LOG-001 core: this container writes prompts or completions to its log."""
        v = c.vllm
        if v is None:
            return False
        return (
            v.truthy("enable-log-requests")
            or v.truthy("enable-log-outputs")
            or (c.env_value("VLLM_LOGGING_LEVEL") or "").upper() == "DEBUG"
            or (c.env_value("VLLM_DEBUG_LOG_API_SERVER_RESPONSE") or "").lower() in TRUTHY
        )

    def plan_env(self) -> dict[str, str]:
        return dict(self.plan.vllm.env) if self.plan else {}

    def plan_args(self) -> VllmArgs | None:
        if self.plan is None:
            return None
        return parse_vllm(["vllm", "serve"], list(self.plan.vllm.args), implicit_serve=True)

    def evidence_date_ok(self, date: dt.date | None, max_days: int) -> bool:
        return date is not None and (self.today - date).days <= max_days


# ---------------------------------------------------------------- shared selections


def serving_services(ctx: CheckContext) -> list[Document]:
    out = []
    for svc in ctx.kind("Service"):
        selector = get(svc.data, "spec.selector")
        if any(
            pod.namespace == svc.namespace and service_selects(selector, pod.labels)
            for pod in ctx.serving_pods
        ):
            out.append(svc)
    return out


def serving_workloads(ctx: CheckContext) -> list[PodSpecRef]:
    seen: set[str] = set()
    out = []
    for pod in ctx.serving_pods:
        if pod.obj.ref not in seen:
            seen.add(pod.obj.ref)
            out.append(pod)
    return out


def mount_for(c: ContainerRef, path: str) -> tuple[int, dict[str, object]] | None:
    """The volume mount (index, mount) that holds `path`: the longest mountPath above it."""
    best: tuple[int, dict[str, object]] | None = None
    for i, m in enumerate(as_list(c.container.get("volumeMounts"))):
        mount = as_dict(m)
        mp = str(mount.get("mountPath") or "").rstrip("/")
        if (
            mp
            and (path == mp or path.startswith(mp + "/"))
            and (best is None or len(mp) > len(str(best[1].get("mountPath"))))
        ):
            best = (i, mount)
    return best


def container_scripts(ctx: CheckContext, c: ContainerRef) -> Iterator[tuple[Subject, str, str]]:
    """Texts a container runs, with where they are: command, args, lifecycle exec hooks and
    the mounted ConfigMap scripts its command names."""
    s = ctx.subject(c.obj)
    cmd = c.container
    for key in ("command", "args"):
        for i, t in enumerate(as_list(cmd.get(key))):
            yield s, f"{c.path}.{key}[{i}]", str(t)
    for hook in ("postStart", "preStop"):
        for i, t in enumerate(as_list(get(cmd, f"lifecycle.{hook}.exec.command"))):
            yield s, f"{c.path}.lifecycle.{hook}.exec.command[{i}]", str(t)
    volumes = {str(as_dict(v).get("name")): as_dict(v) for v in as_list(c.pod.spec.get("volumes"))}
    text = command_text(cmd)
    for m in as_list(cmd.get("volumeMounts")):
        mount = as_dict(m)
        cm_name = as_dict(volumes.get(str(mount.get("name")), {}).get("configMap")).get("name")
        mount_path = str(mount.get("mountPath") or "")
        if cm_name and mount_path and mount_path in text:
            cm = ctx.configmaps.get((c.pod.namespace, str(cm_name)))
            if cm is not None:
                for key, value in as_dict(cm.data.get("data")).items():
                    yield (
                        ctx.subject(cm),
                        f'data["{key}"]' if "." in str(key) else f"data.{key}",
                        str(value),
                    )
