"""Every rule of the registry on a failing and a passing example (tests/data/compliance/).

Each rule has examples/<RULE-ID>/pass.yaml and fail.yaml, with the site profile, plan, waivers
or live objects they need beside them (format: examples/README.md). Every rule also passes on
the compliant bundle in baseline/ with its complete site profile.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from compliance_support import (
    BASELINE,
    BASELINE_SITE,
    CASES,
    DATA,
    EXAMPLES,
    TODAY,
    check,
    check_example,
    example_files,
)

from swissai.core.compliance import CheckContext, CheckInput, WaiverEntry, rules, run_checks
from swissai.models.manifest import Document

RULE_IDS = [r.info.id for r in rules()]

# rule -> severity its failing example must raise (at least one finding of exactly this)
EXPECTED = {
    "RES-001": "critical",
    "RES-002": "critical",
    "RES-003": "critical",
    "RES-004": "critical",
    "RES-005": "critical",
    "RES-006": "critical",
    "RES-007": "high",
    "RES-008": "high",
    "RES-009": "critical",
    "RES-010": "critical",
    "RES-011": "high",
    "NET-001": "critical",
    "NET-002": "high",
    "NET-003": "high",
    "SEC-001": "high",
    "SEC-002": "critical",
    "SEC-003": "high",
    "SEC-004": "high",
    "SEC-005": "critical",
    "SEC-006": "high",
    "SEC-007": "critical",
    "LOG-001": "critical",
    "LOG-002": "high",
    "LOG-003": "high",
    "LOG-004": "medium",
    "SUP-001": "high",
    "SUP-002": "high",
    "SUP-003": "critical",
    "SUP-004": "high",
    "SUP-005": "high",
    "OPS-001": "medium",
    "OPS-002": "medium",
    "OPS-003": "medium",
    "OPS-004": "medium",
    "OPS-005": "high",
    "GOV-001": "high",
    "GOV-002": "medium",
    "GOV-003": "high",
    "GOV-004": "high",
    "GOV-005": "medium",
    "GOV-006": "medium",
    "GOV-007": "high",
    "GOV-008": "medium",
    "GOV-009": "info",
    "HRD-001": "high",
    "HRD-002": "critical",
    "HRD-003": "critical",
    "HRD-004": "high",
    "HRD-005": "high",
    "HRD-006": "medium",
    "HRD-007": "medium",
}


def test_every_catalog_rule_is_registered_once_with_metadata() -> None:
    assert len(RULE_IDS) == 51 == len(set(RULE_IDS)) == len(EXPECTED)
    for r in rules():
        info = r.info
        assert info.title and info.inspects and info.remediation and info.targets
        assert info.severity in ("critical", "high", "medium", "low", "info")


@pytest.mark.parametrize(
    "statement",
    [
        "from swissai.core.compliance import REGISTRY",
        "from swissai.core.compliance.registry import REGISTRY",
        "from swissai.core.compliance.rules_ops import ops_001",
    ],
)
def test_the_registry_is_complete_at_import_in_a_fresh_interpreter(statement: str) -> None:
    """Importing the package (or any module of it) registers every rule: no `rules()` call,
    no circular import."""
    import subprocess
    import sys

    code = (
        f"{statement}\n"
        "import swissai.core.compliance.registry as registry\n"
        "print(len(registry.REGISTRY), ' '.join(sorted(registry.REGISTRY)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    count, ids = done.stdout.split(" ", 1)
    assert int(count) == len(RULE_IDS) and ids.split() == sorted(RULE_IDS)


@pytest.mark.parametrize("rule_id", RULE_IDS)
def test_every_rule_has_a_passing_and_a_failing_example(rule_id: str) -> None:
    for case in CASES:
        assert "manifests" in example_files(rule_id, case), f"examples/{rule_id}/{case}.yaml"
    assert sorted(p.name for p in EXAMPLES.iterdir() if p.is_dir()) == sorted(RULE_IDS)


@pytest.mark.parametrize("rule_id", RULE_IDS)
def test_rule_fails_on_its_failing_example(rule_id: str) -> None:
    report = check_example(rule_id, "fail")
    severities = {f.severity for f in report.findings if f.rule_id == rule_id}
    assert EXPECTED[rule_id] in severities, (
        rule_id,
        [f.message for f in report.findings if f.rule_id == rule_id],
    )
    for f in report.findings:
        assert f.file is not None and f.line is not None and f.line >= 1


@pytest.mark.parametrize("rule_id", RULE_IDS)
def test_rule_passes_on_its_passing_example(rule_id: str) -> None:
    report = check_example(rule_id, "pass")
    assert [f.message for f in report.findings if f.rule_id == rule_id] == []
    statuses = {c.status for c in report.checks if c.rule_id == rule_id}
    assert statuses == {"passed"}, statuses


@pytest.mark.parametrize("rule_id", RULE_IDS)
def test_rule_passes_on_the_compliant_bundle(rule_id: str) -> None:
    report = check([BASELINE], BASELINE_SITE)
    problems = [f for f in report.findings if f.rule_id == rule_id and f.severity != "low"]
    assert problems == []
    statuses = {c.status for c in report.checks if c.rule_id == rule_id}
    assert "failed" not in statuses


def test_quickstart_vllm_deployment_raises_the_residency_criticals() -> None:
    report = check([DATA / "third_party" / "vllm-quickstart.yaml"], None)
    critical = {f.rule_id for f in report.findings if f.severity == "critical"}
    assert {"RES-004", "RES-005", "RES-006", "RES-009"} <= critical
    assert report.failed
    telemetry = [f for f in report.findings if f.rule_id == "RES-006"]
    assert any("stats.vllm.ai" in f.message for f in telemetry)
    hub = next(f for f in report.findings if f.rule_id == "RES-005" and "hub id" in f.message)
    assert hub.object == "Deployment/default/vllm-server"
    assert hub.field == "spec.template.spec.containers[0].args[0]"
    assert hub.file is not None and hub.file.endswith("vllm-quickstart.yaml") and hub.line == 21


def test_exact_value_one_and_masking_are_reported_specifically() -> None:
    report = check([EXAMPLES / "RES-006" / "fail.yaml"], BASELINE_SITE)
    messages = " ".join(f.message for f in report.findings if f.rule_id == "RES-006")
    assert 'VLLM_NO_USAGE_STATS is "true"' in messages
    assert "masks" in messages or "reads VLLM_DO_NOT_TRACK before DO_NOT_TRACK" in messages


def test_missing_evidence_is_medium_until_declared_and_a_site_can_raise_it(tmp_path: Path) -> None:
    report = check([BASELINE], None)
    evidence = [f for f in report.findings if f.evidence_expected]
    assert evidence and all(f.severity == "medium" for f in evidence)
    assert {"GOV-003", "GOV-007", "GOV-005"} <= {f.rule_id for f in evidence}
    assert not report.failed
    site = tmp_path / "swissai.yaml"
    site.write_text(
        "apiVersion: swissai/v1alpha1\nkind: SiteProfile\nnamespace: ai\n"
        "compliance:\n  severity_overrides: {GOV-007: high}\n",
        encoding="utf-8",
    )
    raised = check([BASELINE], site)
    assert {f.severity for f in raised.findings if f.rule_id == "GOV-007"} == {"high"}
    assert raised.failed


def test_severity_overrides_never_lower(tmp_path: Path) -> None:
    site = tmp_path / "swissai.yaml"
    site.write_text(
        "apiVersion: swissai/v1alpha1\nkind: SiteProfile\nnamespace: ai\n"
        "compliance:\n  severity_overrides: {HRD-002: low}\n",
        encoding="utf-8",
    )
    report = check([EXAMPLES / "HRD-002" / "fail.yaml"], site)
    assert "critical" in {f.severity for f in report.findings if f.rule_id == "HRD-002"}


def _waiver(data: dict[str, object], index: int = 0) -> WaiverEntry:
    return WaiverEntry(data=data, file="swissai-waivers.yaml", line=2 + index * 6, index=index)


def test_waivers_mark_findings_and_invalid_or_expired_waivers_are_findings() -> None:
    waivers = [
        _waiver(
            {
                "id": "W-1",
                "rule": "SEC-006",
                "object": "Deployment/ai/sec-006",
                "reason": "vendor model",
                "approver": "ciso@bank.internal",
                "expires": dt.date(2026, 9, 1),  # within max_waiver_days (90) of today
            }
        ),
        _waiver(
            {
                "id": "W-2",
                "rule": "SEC-006",
                "object": "Deployment/ai/other",
                "reason": "x",
                "approver": "ciso",
                "expires": dt.date(2026, 1, 1),
            },
            1,
        ),
        _waiver(
            {"id": "W-3", "rule": "SEC-006", "object": "Deployment/ai/sec-006", "reason": "x"}, 2
        ),
    ]
    report = check([DATA / "examples" / "SEC-006" / "fail.yaml"], BASELINE_SITE, waivers=waivers)
    sec = [f for f in report.findings if f.rule_id == "SEC-006"]
    assert sec and all(f.waived for f in sec)
    assert sec[0].waiver is not None and sec[0].waiver.approver == "ciso@bank.internal"
    ids = {f.rule_id: f for f in report.findings if f.rule_id.startswith("WAIVER-")}
    assert ids["WAIVER-EXPIRED"].line == 8 and "2026-01-01" in ids["WAIVER-EXPIRED"].message
    assert (
        "approver" in ids["WAIVER-INVALID"].message and "expires" in ids["WAIVER-INVALID"].message
    )
    assert report.failed  # the expired and the incomplete waiver are high findings
    assert any(c.status == "waived" for c in report.checks if c.rule_id == "SEC-006")


def test_plan_checks_use_the_plan_file_lines() -> None:
    from swissai.services.check import load_plan as _load_plan

    plan_path = DATA / "plan-logging.yaml"
    plan, doc = _load_plan(plan_path)
    ctx = CheckContext(objects=[], plan=plan, plan_doc=doc, today=TODAY)
    report = run_checks(CheckInput(ctx=ctx))
    log = [f for f in report.findings if f.rule_id == "LOG-001"]
    assert log and log[0].object == "ServePlan/gpt-oss-120b" and log[0].file == str(plan_path)
    assert log[0].line == doc.lines["vllm.args"]


# ---------------------------------------------------------------- swissai's multi-node render

REPO = Path(__file__).resolve().parents[2]
MULTI_RENDER = REPO / "tests" / "golden" / "data" / "render" / "multi"  # the golden render
RENDER_SITE = REPO / "tests" / "data" / "render" / "site.yaml"  # the site it was rendered with
LEADER = "spec.leaderWorkerTemplate.leaderTemplate.spec.containers[0]"
WORKER = "spec.leaderWorkerTemplate.workerTemplate.spec.containers[0]"


def test_leader_args_behind_the_ray_wrapper_script_are_checked() -> None:
    """The leader runs `/bin/sh /opt/swissai/ray_leader.sh` with the serve flags in `args`: a
    hub id, remote code, prompt logging and an external tool server there are findings."""
    report = check([DATA / "multi-node" / "leader-mutated.yaml"], RENDER_SITE)
    on_leader = {
        (f.rule_id, f.severity)
        for f in report.findings
        if f.field.startswith(LEADER) and not f.waived
    }
    assert {
        ("RES-005", "critical"),
        ("SEC-006", "high"),
        ("LOG-001", "critical"),
        ("RES-010", "critical"),
    } <= on_leader, on_leader
    hub = next(f for f in report.findings if f.rule_id == "RES-005" and "hub id" in f.message)
    assert "deepseek-ai/DeepSeek-R1" in hub.message
    assert report.failed


def test_wrapper_args_count_only_for_vllm_containers() -> None:
    from swissai.core.compliance.context import parse_vllm

    script = ["/bin/sh", "/opt/swissai/ray_leader.sh"]
    parsed = parse_vllm(script, ["--model", "/m", "--trust_remote_code"], False, wrapper=True)
    assert parsed is not None and parsed.origin == "wrapper"
    assert parsed.model == "/m" and parsed.truthy("trust-remote-code")
    assert parse_vllm(script, ["--model", "/m"], True, wrapper=False) is None


def test_swissai_multi_node_render_raises_no_probe_docs_or_key_false_positives() -> None:
    """Ray workers serve no HTTP (no /health, no /docs); the leader sets
    --disable-fastapi-docs in args behind the wrapper; the key comes from a Secret as vLLM
    requires (SEC-003 has nothing avoidable to report)."""
    report = check([MULTI_RENDER], RENDER_SITE)
    noisy = [
        (f.rule_id, f.field, f.message)
        for f in report.findings
        if f.rule_id in ("OPS-004", "SEC-005", "SEC-003")
    ]
    assert noisy == []
    checked = {(c.rule_id, c.status) for c in report.checks}
    assert {("OPS-004", "passed"), ("SEC-005", "passed"), ("SEC-003", "passed")} <= checked


def test_workers_still_need_a_liveness_probe_and_a_long_enough_startup_probe(
    tmp_path: Path,
) -> None:
    import yaml

    lws = MULTI_RENDER / "09-leaderworkerset-deepseek-r1.yaml"
    data = yaml.safe_load(lws.read_text(encoding="utf-8"))
    worker = data["spec"]["leaderWorkerTemplate"]["workerTemplate"]["spec"]["containers"][0]
    del worker["livenessProbe"]
    worker["startupProbe"]["failureThreshold"] = 3
    bad = tmp_path / "lws.yaml"
    bad.write_text(yaml.safe_dump(data), encoding="utf-8")
    report = check([bad], RENDER_SITE)
    ops = {f.field for f in report.findings if f.rule_id == "OPS-004"}
    assert ops == {f"{WORKER}.livenessProbe", f"{WORKER}.startupProbe"}


def test_sec_003_reports_literal_keys_but_not_secret_references(tmp_path: Path) -> None:
    manifest = tmp_path / "d.yaml"
    manifest.write_text(
        """apiVersion: apps/v1
kind: Deployment
metadata: {name: d, namespace: ai}
spec:
  template:
    spec:
      containers:
      - name: vllm
        image: registry.bank.internal/vllm/vllm-openai:v1
        command: [vllm, serve]
        args: [/models/m]
        env:
        - {name: VLLM_API_KEY, value: sk-literal}
        - name: HF_TOKEN
          valueFrom: {secretKeyRef: {name: s, key: k}}
""",
        encoding="utf-8",
    )
    report = check([manifest], BASELINE_SITE)
    sec = [(f.severity, f.field) for f in report.findings if f.rule_id == "SEC-003"]
    assert sec == [("high", "spec.template.spec.containers[0].env[0]")]
    baseline = check([BASELINE], BASELINE_SITE)
    assert [f for f in baseline.findings if f.rule_id == "SEC-003"] == []
    info = next(r.info for r in rules() if r.info.id == "SEC-003")
    assert "no key-file option" in info.inspects and "prefer a mounted file" not in info.inspects


def test_namespace_findings_point_at_the_namespace_and_defaults_say_so() -> None:
    report = check([MULTI_RENDER], None)
    quota = next(f for f in report.findings if f.rule_id == "OPS-003")
    assert quota.object == "Namespace/llm-prod"
    assert quota.file is not None and quota.file.endswith("01-namespace-llm-prod.yaml")
    assert quota.line == 1 and quota.location is None
    site_findings = [f for f in report.findings if f.object == "SiteProfile/compliance"]
    assert site_findings
    for f in site_findings:
        # no --site: no input holds the defaults; SARIF still gets line 1 of the first input
        assert f.location == "(default site profile)"
        assert f.file is not None and f.file.endswith("01-namespace-llm-prod.yaml")
        assert f.line == 1
    with_site = check([MULTI_RENDER], RENDER_SITE)
    assert all(
        f.location is None and f.file == str(RENDER_SITE)
        for f in with_site.findings
        if f.object == "SiteProfile/compliance"
    )


def _sec_006_waiver(**changes: object) -> WaiverEntry:
    data: dict[str, object] = {
        "id": "W-1",
        "rule": "SEC-006",
        "object": "Deployment/ai/sec-006",
        "reason": "vendor model",
        "approver": "ciso@bank.internal",
        "expires": dt.date(2026, 8, 1),
    }
    data.update(changes)
    return _waiver({k: v for k, v in data.items() if v is not None})


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"expires": dt.date(2036, 1, 1)}, "days from today > max_waiver_days 90"),
        (
            {"created": "2026-06-01", "expires": "2027-06-01"},
            "days from created 2026-06-01 > max_waiver_days 90",
        ),
        ({"created": "last spring"}, "created 'last spring' is not a date"),
        (
            {"created": dt.date(2035, 1, 1), "expires": dt.date(2035, 2, 1)},
            "days from today",
        ),
    ],
    ids=["no-created", "created-string", "created-not-a-date", "created-in-the-future"],
)
def test_waivers_cannot_outlast_max_waiver_days(changes: dict[str, object], words: str) -> None:
    report = check(
        [DATA / "examples" / "SEC-006" / "fail.yaml"],
        BASELINE_SITE,
        waivers=[_sec_006_waiver(**changes)],
    )
    invalid = [f.message for f in report.findings if f.rule_id == "WAIVER-INVALID"]
    assert len(invalid) == 1 and words in invalid[0], invalid
    assert not any(f.waived for f in report.findings if f.rule_id == "SEC-006")


def test_created_string_within_the_limit_waives() -> None:
    waiver = _sec_006_waiver(created="2026-06-15", expires="2026-09-01")
    report = check([DATA / "examples" / "SEC-006" / "fail.yaml"], BASELINE_SITE, waivers=[waiver])
    sec = [f for f in report.findings if f.rule_id == "SEC-006"]
    assert sec and all(f.waived for f in sec)
    assert not any(f.rule_id.startswith("WAIVER-") for f in report.findings)


def test_critical_findings_are_never_waived_for_every_object() -> None:
    star = _waiver(
        {
            "id": "W-ALL",
            "rule": "RES-004",
            "object": "*",
            "reason": "lab",
            "approver": "ciso",
            "expires": dt.date(2026, 8, 1),
        }
    )
    report = check([EXAMPLES / "RES-004" / "fail.yaml"], BASELINE_SITE, waivers=[star])
    invalid = [f.message for f in report.findings if f.rule_id == "WAIVER-INVALID"]
    assert invalid and "RES-004 is critical" in invalid[0]
    assert not any(f.waived for f in report.findings if f.rule_id == "RES-004")
    # a high rule may be waived with a pattern, but its findings escalated to critical stay
    dev = _waiver(
        {
            "id": "W-DEV",
            "rule": "SEC-005",
            "object": "*/*/*",
            "reason": "lab",
            "approver": "ciso",
            "expires": dt.date(2026, 8, 1),
        }
    )
    report = check([EXAMPLES / "SEC-005" / "fail.yaml"], BASELINE_SITE, waivers=[dev])
    sec = [f for f in report.findings if f.rule_id == "SEC-005"]
    assert any(f.severity == "critical" and not f.waived for f in sec)
    assert all(f.waived for f in sec if f.severity != "critical")


# ---------------------------------------------------------------- vLLM flags as vLLM reads them


def _serving(tmp_path: Path, args: list[str], name: str = "d") -> Path:
    import yaml

    manifest = tmp_path / f"{name}.yaml"
    manifest.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": name, "namespace": "ai"},
                "spec": {
                    "template": {
                        "spec": {
                            "containers": [
                                {
                                    "name": "vllm",
                                    "image": "registry.bank.internal/vllm/vllm-openai:v1",
                                    "command": ["vllm", "serve"],
                                    "args": args,
                                }
                            ]
                        }
                    }
                },
            }
        ),
        encoding="utf-8",
    )
    return manifest


@pytest.mark.parametrize(
    ("args", "rule_id"),
    [
        (["/models/m", "--trust-remote"], "SEC-006"),
        (["/models/m", "--trust_remote_co"], "SEC-006"),
        (["/models/m", "--Trust-Remote-Code"], "SEC-006"),
        (["/models/m", "--enable-log-req"], "LOG-001"),
        (["/models/m", "--enable-log-out"], "LOG-001"),
        (["/models/m", "--Enable-Log-Requests"], "LOG-001"),
        (["/models/m", "--api-ke=sk-literal"], "SEC-003"),
        (["/models/m", "--api_k", "sk-literal"], "SEC-003"),
        (["/models/m", "--tool-serv", "demo"], "RES-010"),
    ],
)
def test_forbidden_flags_are_seen_abbreviated_or_recased(
    tmp_path: Path, args: list[str], rule_id: str
) -> None:
    """vLLM expands a unique prefix (argparse allow_abbrev) and replaces `_` by `-`: the rules
    see the flag vLLM sees, and a re-cased spelling of a forbidden flag is read as it."""
    report = check([_serving(tmp_path, args)], BASELINE_SITE)
    assert rule_id in {f.rule_id for f in report.findings}, [
        (f.rule_id, f.message) for f in report.findings
    ]


def test_value_flags_take_their_value_and_the_model_stays_positional() -> None:
    from swissai.core.compliance.context import parse_vllm

    parsed = parse_vllm(
        ["vllm", "serve"],
        ["--served-model", "gpt", "--enforce-eager", "/models/m", "--max-model-len", "4096"],
        False,
    )
    assert parsed is not None
    assert parsed.value("served-model-name") == "gpt"
    assert parsed.has("enforce-eager") and parsed.value("enforce-eager") is None
    assert parsed.model == "/models/m" and parsed.value("max-model-len") == "4096"
    # a flag newer than the table is kept verbatim, and its value with it
    future = parse_vllm(["vllm", "serve"], ["/m", "--brand-new-flag", "x"], False)
    assert future is not None and future.value("brand-new-flag") == "x"


# ---------------------------------------------------------------- hosts as the resolver reads them

NUMERIC_HOSTS = ["134744072", "0x08080808", "0x8.8.8.8", "010.010.010.010", "8.8.2056"]


@pytest.mark.parametrize("host", [*NUMERIC_HOSTS, "8.8.8.8", "10.1.2.3", "0x7f.1", "0"])
def test_numeric_hosts_read_as_inet_aton_reads_them(host: str) -> None:
    import ipaddress
    import socket

    from swissai.core.compliance.context import ipv4_as_resolved

    expected = ipaddress.IPv4Address(socket.inet_aton(host))  # the C library's reading
    assert ipv4_as_resolved(host) == expected


@pytest.mark.parametrize("host", ["vllm", "gpt-oss.ai.svc", "08", "1.2.3.4.5", "256.1.1.1", "1_0"])
def test_names_and_invalid_numbers_are_not_addresses(host: str) -> None:
    from swissai.core.compliance.context import ipv4_as_resolved

    assert ipv4_as_resolved(host) is None


@pytest.mark.parametrize("host", NUMERIC_HOSTS)
def test_numeric_hosts_are_external_addresses_not_service_names(tmp_path: Path, host: str) -> None:
    import yaml

    manifest = _serving(tmp_path, ["/models/m"])
    data = yaml.safe_load(manifest.read_text(encoding="utf-8"))
    data["spec"]["template"]["spec"]["containers"][0]["env"] = [
        {"name": "OTEL_EXPORTER_OTLP_ENDPOINT", "value": f"http://{host}:4317"},
        {"name": "HF_ENDPOINT", "value": f"http://{host}"},
    ]
    manifest.write_text(yaml.safe_dump(data), encoding="utf-8")
    report = check([manifest], BASELINE_SITE)
    res_001 = [f.message for f in report.findings if f.rule_id == "RES-001"]
    assert any("sends data to 8.8.8.8" in m for m in res_001), res_001
    res_005 = [f.message for f in report.findings if f.rule_id == "RES-005"]
    assert any("HF_ENDPOINT points at 8.8.8.8" in m for m in res_005), res_005


# ---------------------------------------------------------------- RES-007 and the encodings


def _gpt_oss(tmp_path: Path, env: list[dict[str, str]], required_files: str | None = None) -> Path:
    import yaml

    manifest = _serving(tmp_path, ["/models/gpt-oss-120b"], name="gpt-oss-120b")
    data = yaml.safe_load(manifest.read_text(encoding="utf-8"))
    pod = data["spec"]["template"]["spec"]
    pod["containers"][0]["env"] = env
    if required_files is not None:
        pod["initContainers"] = [
            {
                "name": "verify-model",
                "image": "registry.bank.internal/vllm/vllm-openai@sha256:" + "4" * 64,
                "command": ["python3", "/opt/swissai/verify_model.py"],
                "env": [{"name": "REQUIRED_FILES", "value": required_files}],
            }
        ]
    manifest.write_text(yaml.safe_dump(data), encoding="utf-8")
    return manifest


def _res_007(report: object) -> list[tuple[str, str]]:
    from swissai.models.findings import Report

    assert isinstance(report, Report)
    return [
        (f.severity, f.message)
        for f in report.findings
        if f.rule_id == "RES-007" and f.evidence_expected is None
    ]


def test_res_007_wants_the_encodings_in_the_model_directory(tmp_path: Path) -> None:
    from swissai.core.encodings import ENCODINGS_SUBDIR

    def env(base: str) -> list[dict[str, str]]:
        return [
            {"name": "TIKTOKEN_ENCODINGS_BASE", "value": base},
            {"name": "TIKTOKEN_RS_CACHE_DIR", "value": base},
        ]

    inside = f"/models/gpt-oss-120b/{ENCODINGS_SUBDIR}"
    assert _res_007(check([_gpt_oss(tmp_path, env(inside))], BASELINE_SITE)) == []
    elsewhere = _res_007(check([_gpt_oss(tmp_path, env("/models/gpt-oss-120b/tiktoken"))], None))
    assert [s for s, _ in elsewhere] == ["medium"]
    assert f"not {inside}" in elsewhere[0][1]
    info = next(r.info for r in rules() if r.info.id == "RES-007")
    assert f"`{ENCODINGS_SUBDIR}/` folder of the model directory" in info.remediation


def test_res_007_checks_encoding_hashes_against_tiktokens_pins(tmp_path: Path) -> None:
    from swissai.core.encodings import ENCODINGS_SUBDIR, TIKTOKEN_SHA256

    base = f"/models/gpt-oss-120b/{ENCODINGS_SUBDIR}"
    env = [
        {"name": "TIKTOKEN_ENCODINGS_BASE", "value": base},
        {"name": "TIKTOKEN_RS_CACHE_DIR", "value": base},
    ]
    pinned = ";".join(f"{ENCODINGS_SUBDIR}/{n}={h}" for n, h in TIKTOKEN_SHA256.items())
    assert _res_007(check([_gpt_oss(tmp_path, env, pinned)], BASELINE_SITE)) == []
    wrong = pinned.replace(TIKTOKEN_SHA256["o200k_base.tiktoken"], "ab" * 32)
    found = _res_007(check([_gpt_oss(tmp_path, env, wrong)], BASELINE_SITE))
    assert len(found) == 1 and found[0][0] == "high"
    assert "o200k_base.tiktoken to sha256 abababababababab" in found[0][1]
    assert TIKTOKEN_SHA256["o200k_base.tiktoken"][:16] in found[0][1]


# ---------------------------------------------------------------- availability (OPS-001, OPS-002)


def _plan_with(**availability: object) -> tuple[object, object]:
    from swissai.models.plan import PlanAvailability
    from swissai.services.check import load_plan

    plan, doc = load_plan(DATA / "plan-logging.yaml")
    intent = {
        "replicas": 2,
        "min_available": 1,
        "max_unavailable": 1,
        "max_surge": 0,
        "spread": "preferred",
        "update_outage": False,
        "reason": "two replicas on one node of 16 GPUs",
    }
    intent.update(availability)
    return plan.model_copy(update={"availability": PlanAvailability(**intent)}), doc


def _workload(
    tmp_path: Path,
    *,
    replicas: int = 2,
    spread: str = "preferred",
    rolling: dict[str, object] | None = None,
    pdb: dict[str, object] | None = None,
) -> Path:
    import yaml

    labels = {"app": "llm"}
    spec: dict[str, object] = {
        "containers": [
            {
                "name": "vllm",
                "image": "registry.bank.internal/vllm/vllm-openai@sha256:" + "4" * 64,
                "command": ["vllm", "serve"],
                "args": ["/models/m"],
            }
        ]
    }
    term = {"labelSelector": {"matchLabels": labels}, "topologyKey": "kubernetes.io/hostname"}
    if spread == "required":
        spec["affinity"] = {
            "podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}
        }
    elif spread == "preferred":
        spec["affinity"] = {
            "podAntiAffinity": {
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {"weight": 100, "podAffinityTerm": term}
                ]
            }
        }
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "llm", "namespace": "ai"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": rolling or {"maxUnavailable": 1, "maxSurge": 0},
            },
            "template": {"metadata": {"labels": labels}, "spec": spec},
        },
    }
    docs: list[dict[str, object]] = [deployment]
    if pdb is not None:
        docs.append(
            {
                "apiVersion": "policy/v1",
                "kind": "PodDisruptionBudget",
                "metadata": {"name": "llm", "namespace": "ai"},
                "spec": {"selector": {"matchLabels": labels}, **pdb},
            }
        )
    manifest = tmp_path / "workload.yaml"
    manifest.write_text(yaml.safe_dump_all(docs), encoding="utf-8")
    return manifest


def _ops(report: object, *rule_ids: str) -> list[tuple[str, str, str]]:
    from swissai.models.findings import Report

    assert isinstance(report, Report)
    return [
        (f.rule_id, f.object, f.message)
        for f in report.findings
        if f.rule_id in rule_ids and f.source == "manifests"
    ]


def test_manifests_that_render_the_plans_availability_pass(tmp_path: Path) -> None:
    plan, doc = _plan_with()
    manifest = _workload(tmp_path, pdb={"minAvailable": 1})
    report = check([manifest], BASELINE_SITE, plan=plan, plan_doc=doc)  # type: ignore[arg-type]
    assert _ops(report, "OPS-001", "OPS-002") == []


def test_manifests_that_differ_from_the_plans_availability_fail_naming_it(tmp_path: Path) -> None:
    plan, doc = _plan_with(spread="required")
    manifest = _workload(
        tmp_path, replicas=3, rolling={"maxUnavailable": 1, "maxSurge": 1}, pdb={"minAvailable": 2}
    )
    report = check([manifest], BASELINE_SITE, plan=plan, plan_doc=doc)  # type: ignore[arg-type]
    messages = "\n".join(m for _, _, m in _ops(report, "OPS-001", "OPS-002"))
    assert "3 replica(s), the plan intends 2 (availability.replicas)" in messages
    assert "maxSurge 1, the plan intends 0" in messages
    assert "keeps 2 replica(s) available, the plan intends minAvailable 1" in messages
    assert "one replica per node is preferred here, the plan intends required" in messages


def test_a_required_spread_where_the_plan_prefers_one_is_the_pending_defect(
    tmp_path: Path,
) -> None:
    plan, doc = _plan_with(spread="preferred")
    manifest = _workload(tmp_path, spread="required", pdb={"minAvailable": 1})
    report = check([manifest], BASELINE_SITE, plan=plan, plan_doc=doc)  # type: ignore[arg-type]
    ops_002 = [m for _, _, m in _ops(report, "OPS-002")]
    assert len(ops_002) == 1 and "required here, the plan intends preferred" in ops_002[0]
    assert "Pending" in ops_002[0]


def test_an_accepted_update_outage_is_still_reported_saying_the_plan_accepted_it(
    tmp_path: Path,
) -> None:
    reason = "one replica fills the node's 8 GPUs; no spare GPUs for a second"
    plan, doc = _plan_with(
        replicas=1,
        min_available=0,
        max_unavailable=1,
        max_surge=0,
        spread="none",
        update_outage=True,
        reason=reason,
    )
    manifest = _workload(tmp_path, replicas=1, spread="none")  # no PDB: the plan keeps none
    report = check([manifest], BASELINE_SITE, plan=plan, plan_doc=doc)  # type: ignore[arg-type]
    ops_001 = [m for _, _, m in _ops(report, "OPS-001")]
    assert len(ops_001) == 1, ops_001
    assert "1 replica(s) < min_replicas 2" in ops_001[0]
    assert f"the plan accepts it (availability.update_outage: {reason})" in ops_001[0]
    assert _ops(report, "OPS-002") == []
    # without the plan: today's findings, the missing PDB included, no word of acceptance
    bare = [m for _, _, m in _ops(check([manifest], BASELINE_SITE), "OPS-001")]
    assert any("no PodDisruptionBudget" in m for m in bare)
    assert not any("accepts" in m for m in bare)


def test_two_replicas_with_a_preferred_spread_are_not_broken_on_one_node(tmp_path: Path) -> None:
    """Manifests alone, and live: two replicas that share a node under a *preferred*
    anti-affinity are what the scheduler could do, not a defect; a required rule that leaves a
    replica Pending is."""
    manifest = _workload(tmp_path, pdb={"maxUnavailable": 1})
    assert _ops(check([manifest], BASELINE_SITE), "OPS-001", "OPS-002") == []

    def pod(name: str, spread: str, phase: str, node: str | None) -> Document:
        import yaml

        data = yaml.safe_load(_workload(tmp_path, spread=spread).read_text(encoding="utf-8"))
        spec = data["spec"]["template"]["spec"] | ({"nodeName": node} if node else {})
        return Document(
            data={
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": name,
                    "namespace": "ai",
                    "ownerReferences": [{"kind": "ReplicaSet", "name": "llm-1"}],
                },
                "spec": spec,
                "status": {"phase": phase},
            },
            source="cluster",
        )

    shared = [
        pod("llm-a", "preferred", "Running", "gpu-1"),
        pod("llm-b", "preferred", "Running", "gpu-1"),
    ]
    live = check([], BASELINE_SITE, live=shared)
    assert [f for f in live.findings if f.rule_id == "OPS-002"] == []
    pending = [
        pod("llm-a", "required", "Running", "gpu-1"),
        pod("llm-b", "required", "Pending", None),
    ]
    stuck = [
        f.message for f in check([], BASELINE_SITE, live=pending).findings if f.rule_id == "OPS-002"
    ]
    assert len(stuck) == 1 and "llm-b of ai/llm-1 is Pending" in stuck[0]
    unspread = [pod("llm-a", "none", "Running", "gpu-1"), pod("llm-b", "none", "Running", "gpu-1")]
    shares = [
        f.message
        for f in check([], BASELINE_SITE, live=unspread).findings
        if f.rule_id == "OPS-002"
    ]
    assert any("share a node" in m for m in shares)
