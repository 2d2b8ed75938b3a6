"""`swissai check` as CI calls it: exact exit codes (0 ok, 1 findings, 2 bad input, 3 cluster
unreachable), one machine document on stdout. Most tests run the app in-process (Typer's
CliRunner: the same error mapping and exit codes as the real process); a few run the real
process (`python -m swissai`) where the process itself matters: stdin piped by a shell, the
exit status CI sees, a cluster that does not answer.

The --cluster tests talk to a tiny stateful HTTP server on 127.0.0.1 (FakeKubeApi below). It
fakes only what `swissai check --cluster` reads: the JSON list endpoints of the Kubernetes API
(GET /api/v1/..., /apis/...), answering 404 for everything else, with no auth, watch, paging or
admission. The real kubernetes client talks to it through a generated kubeconfig.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.swissai_process import swissai as _swissai

REPO = Path(__file__).resolve().parents[2]


def process(*args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
    """The real `python -m swissai`."""
    return _swissai(*args, columns=120, **kw)


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str


def swissai(
    *args: str,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    stdin: str | None = None,
) -> Ran:
    """The app in-process (CliRunner), run in `cwd` (default: an empty temporary directory,
    so no ./swissai.yaml is picked up by accident)."""
    from typer.testing import CliRunner

    from swissai.cli.main import app

    previous = Path.cwd()
    os.chdir(cwd or _EMPTY_DIR)
    try:
        result = CliRunner().invoke(app, list(args), input=stdin, env=env)
    finally:
        os.chdir(previous)
    return Ran(result.exit_code, result.stdout, result.stderr)


_EMPTY_DIR = Path(tempfile.mkdtemp(prefix="swissai-check-cli-"))


DATA = REPO / "tests" / "data" / "compliance"


def test_compliant_bundle_exits_0_and_findings_exit_1() -> None:
    """The real process: the exit status and the stdout/stderr split CI sees."""
    ok = process(
        "check",
        str(DATA / "baseline" / "bundle.yaml"),
        "--site",
        str(DATA / "baseline" / "site.yaml"),
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "PASS (--fail-on high)" in ok.stdout
    bad = process("check", str(DATA / "third_party" / "vllm-quickstart.yaml"), "-o", "json")
    assert bad.returncode == 1
    report = json.loads(bad.stdout)  # stdout holds exactly one document, also on exit 1
    assert report["failed"] is True and report["summary"]["critical"] > 0
    assert bad.stderr.startswith("error: compliance findings at or above high")


def test_fail_on_none_and_medium_change_the_gate() -> None:
    bundle = str(
        DATA / "baseline" / "bundle.yaml"
    )  # with init's defaults: evidence findings (medium)
    assert swissai("check", bundle, "--fail-on", "high").returncode == 0
    assert swissai("check", bundle, "--fail-on", "medium").returncode == 1
    assert (
        swissai(
            "check", str(DATA / "third_party" / "vllm-quickstart.yaml"), "--fail-on", "none"
        ).returncode
        == 0
    )


def test_stdin_stream_sarif_and_out_file(tmp_path: Path) -> None:
    text = (DATA / "third_party" / "vllm-quickstart.yaml").read_text()
    out = tmp_path / "report.sarif"
    result = process("check", "-", "-o", "junit", "--out", str(out), stdin=text)  # a real pipe
    assert result.returncode == 1
    assert result.stdout.startswith('<?xml version="1.0"')
    sarif = json.loads(out.read_text())
    uris = {
        r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        for r in sarif["runs"][0]["results"]
    }
    assert uris == {"stdin"}


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["check"], "nothing to check"),
        (["check", "tests/data/compliance/nope.yaml"], "nope.yaml: no such file"),
        (["check", "README.md"], "README.md"),
        (
            ["check", "tests/data/compliance/baseline/bundle.yaml", "-o", "xml"],
            "'xml' is not one of",
        ),
        (
            ["check", "tests/data/compliance/baseline/bundle.yaml", "--fail-on", "severe"],
            "'severe' is not one of",
        ),
        (
            [
                "check",
                "tests/data/compliance/baseline/bundle.yaml",
                "--site",
                "tests/data/compliance/baseline/bundle.yaml",
            ],
            "site profile",
        ),
        (
            ["check", "--plan", "tests/data/compliance/baseline/bundle.yaml"],
            "is not a ServePlan",
        ),
        (
            ["check", "--namespace", "ai", "tests/data/compliance/baseline/bundle.yaml"],
            "need --cluster",
        ),
    ],
)
def test_bad_input_is_exit_2_naming_it(args: list[str], words: str) -> None:
    result = swissai(*args, cwd=REPO)
    assert result.returncode == 2, result.stderr
    assert words in result.stderr and "Traceback" not in result.stderr


def test_waivers_file_marks_findings_and_expired_entries_fail(tmp_path: Path) -> None:
    waivers = tmp_path / "swissai-waivers.yaml"
    waivers.write_text(
        yaml.safe_dump(
            [
                {
                    "id": "W-1",
                    "rule": "SEC-006",
                    "object": "Deployment/ai/sec-006",
                    "reason": "vendor model",
                    "approver": "ciso@bank.internal",
                    # within max_waiver_days (90) of today: a waiver without `created` runs
                    # from today
                    "expires": (dt.date.today() + dt.timedelta(days=30)).isoformat(),
                },
            ]
        )
    )
    site = str(DATA / "baseline" / "site.yaml")
    path = str(DATA / "examples" / "SEC-006" / "fail.yaml")
    waived = swissai(
        "check", path, "--site", site, "--waivers", str(waivers), "--fail-on", "high", "-o", "json"
    )
    findings = json.loads(waived.stdout)["findings"]
    sec = [f for f in findings if f["rule_id"] == "SEC-006"]
    assert sec and all(f["waived"] for f in sec)
    assert not any(f["rule_id"] == "SEC-006" and not f["waived"] for f in findings)
    waivers.write_text(
        "- {rule: SEC-006, object: Deployment/ai/sec-006, reason: r, approver: a, expires: 2001-01-01}\n"
    )
    expired = swissai("check", path, "--site", site, "--waivers", str(waivers), "-o", "json")
    assert expired.returncode == 1
    assert any(f["rule_id"] == "WAIVER-EXPIRED" for f in json.loads(expired.stdout)["findings"])
    waivers.write_text("rule: SEC-006\n")
    assert swissai("check", path, "--waivers", str(waivers)).returncode == 2


class FakeKubeApi:
    """Serves GET list endpoints from `objects` (kind -> items); 404 for anything else."""

    def __init__(self, objects: dict[str, list[dict[str, Any]]]) -> None:
        self.objects = objects
        self.requests: list[str] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                fake.requests.append(path)
                resource = path.rstrip("/").rsplit("/", 1)[-1]
                namespace = (
                    path.split("/namespaces/")[1].split("/")[0]
                    if "/namespaces/" in path and not path.endswith("/namespaces")
                    else None
                )
                if resource not in fake.objects:
                    self.send_response(404)
                    self.send_header("Content-Type", "application/json")
                    self.end_headers()
                    self.wfile.write(b'{"kind":"Status","code":404}')
                    return
                items = [
                    i
                    for i in fake.objects[resource]
                    if namespace is None or i["metadata"].get("namespace") == namespace
                ]
                body = json.dumps({"kind": "List", "items": items}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]

    def kubeconfig(self, path: Path, port: int | None = None) -> Path:
        path.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "current-context": "fake",
                    "clusters": [
                        {
                            "name": "fake",
                            "cluster": {"server": f"http://127.0.0.1:{port or self.port}"},
                        }
                    ],
                    "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "u"}}],
                    "users": [{"name": "u", "user": {"token": "t"}}],
                }
            )
        )
        return path


@pytest.fixture
def fake_api() -> Iterator[FakeKubeApi]:
    quickstart = yaml.safe_load(
        (DATA / "third_party" / "vllm-quickstart.yaml").read_text().split("---")[0]
    )
    quickstart["metadata"]["namespace"] = "ai"
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "vllm-server-abc",
            "namespace": "ai",
            "ownerReferences": [{"kind": "ReplicaSet", "name": "vllm-server-1"}],
        },
        "spec": {
            "nodeName": "gpu-us-1",
            "containers": quickstart["spec"]["template"]["spec"]["containers"],
        },
        "status": {
            "containerStatuses": [
                {"name": "vllm", "imageID": "docker.io/vllm/vllm-openai@sha256:" + "a" * 64}
            ]
        },
    }
    api = FakeKubeApi(
        {
            "nodes": [
                {
                    "metadata": {
                        "name": "gpu-us-1",
                        "labels": {"topology.kubernetes.io/region": "us-east-1"},
                    },
                    "status": {"allocatable": {"nvidia.com/gpu": "8"}},
                }
            ],
            "namespaces": [{"metadata": {"name": "ai", "labels": {}}}],
            "deployments": [quickstart],
            "pods": [pod],
        }
    )
    thread = threading.Thread(target=api.server.serve_forever, daemon=True)
    thread.start()
    yield api
    api.server.shutdown()


def test_cluster_reads_live_objects_read_only(fake_api: FakeKubeApi, tmp_path: Path) -> None:
    config = fake_api.kubeconfig(tmp_path / "kubeconfig")
    result = swissai(
        "check", "--cluster", "--namespace", "ai", "-o", "json", env={"KUBECONFIG": str(config)}
    )
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert report["inputs"] == ["cluster://fake"]
    findings = report["findings"]
    live = {(f["rule_id"], f["object"]) for f in findings}
    assert ("RES-009", "Pod/ai/vllm-server-abc") in live  # the image actually pulled
    assert ("RES-002", "Pod/ai/vllm-server-abc") in live  # runs on a node outside CH
    assert ("HRD-001", "Namespace/ai") in live
    assert all(f["file"].startswith("cluster://fake") for f in findings if f["source"] == "live")
    assert "/api/v1/namespaces/ai/secrets" not in fake_api.requests
    assert "/api/v1/nodes" in fake_api.requests


def test_unreachable_cluster_is_exit_3(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    api = FakeKubeApi({})
    config = api.kubeconfig(tmp_path / "kubeconfig", port=port)
    api.server.server_close()
    result = process("check", "--cluster", env={"KUBECONFIG": str(config)})
    assert result.returncode == 3, result.stderr
    assert "unreachable" in result.stderr
    missing = swissai("check", "--cluster", env={"KUBECONFIG": str(tmp_path / "none")})
    assert missing.returncode == 3 and "kubeconfig" in missing.stderr


@pytest.mark.parametrize(
    "plan_args",
    [
        [],  # the embedded default: gpt-oss-120b on one node, a Deployment
        ["--model", "deepseek-r1", "--gpus", "16xh100-80gb@2"],  # a LeaderWorkerSet on Ray
    ],
    ids=["single-node", "multi-node"],
)
def test_default_render_with_init_site_profile_passes_fail_on_high(
    tmp_path: Path, plan_args: list[str]
) -> None:
    """swissai's own render, with the site profile `swissai init` writes (its EXAMPLE values
    replaced, as the site must), passes --fail-on high (rules needing human evidence report
    medium until it is declared). In the multi-node render only the leader serves the API; Ray
    workers must not count as unauthenticated vLLM endpoints (SEC-002)."""
    assert swissai("init", "--out", str(tmp_path / "swissai.yaml")).returncode == 0
    _fill_in_placeholders(tmp_path / "swissai.yaml")
    assert swissai("plan", *plan_args, "--out", str(tmp_path / "plan.yaml")).returncode == 0
    rendered = swissai(
        "render",
        str(tmp_path / "plan.yaml"),
        "--site",
        str(tmp_path / "swissai.yaml"),
        "--out",
        str(tmp_path / "out"),
    )
    assert rendered.returncode == 0, rendered.stderr
    result = swissai(
        "check",
        str(tmp_path / "out"),
        "--site",
        str(tmp_path / "swissai.yaml"),
        "--plan",
        str(tmp_path / "plan.yaml"),
        "--fail-on",
        "high",
        "-o",
        "json",
    )
    report = json.loads(result.stdout)
    blocking = [
        (f["rule_id"], f["object"], f["message"])
        for f in report["findings"]
        if f["severity"] in ("critical", "high") and not f["waived"]
    ]
    assert result.returncode == 0 and blocking == [], blocking
    evidence = {f["rule_id"] for f in report["findings"] if f["evidence_expected"]}
    assert {"GOV-003", "GOV-005", "GOV-007"} <= evidence
    # no false positives on swissai's own render: probes and /docs on Ray workers, the
    # leader's flags behind ray_leader.sh, the Secret-backed VLLM_API_KEY vLLM requires
    noisy = [
        (f["rule_id"], f["field"], f["message"])
        for f in report["findings"]
        if f["rule_id"] in ("OPS-004", "SEC-005", "SEC-003")
    ]
    assert noisy == []


REAL_VALUES = {
    "sha256:" + "0" * 64: "sha256:" + "4" * 64,  # image.digest
    '"' + "0" * 40 + '"': '"' + "b5c939de8f754692c1647ca79fbf85e8c1e70f8a" + '"',  # revision
    '"' + "0" * 64 + '"': '"' + "5f2c3c5e" * 8 + '"',  # model.manifest_sha256
}


def _fill_in_placeholders(site: Path) -> None:
    text = site.read_text(encoding="utf-8")
    for placeholder, value in REAL_VALUES.items():
        assert placeholder in text, placeholder
        text = text.replace(placeholder, value)
    site.write_text(text, encoding="utf-8")


def test_render_from_an_unedited_init_site_fails_on_the_placeholders(tmp_path: Path) -> None:
    """The all-zero image digest, model revision and manifest sha256 `swissai init` writes are
    no pins: the site profile and the manifests rendered from it fail SUP-001 and SUP-003
    (high), each finding saying it is the init placeholder and what to put instead."""
    site = tmp_path / "swissai.yaml"
    assert swissai("init", "--out", str(site)).returncode == 0
    assert swissai("plan", "--out", str(tmp_path / "plan.yaml")).returncode == 0
    args = ["--site", str(site)]
    rendered = swissai("render", str(tmp_path / "plan.yaml"), *args, "--out", str(tmp_path / "out"))
    assert rendered.returncode == 0, rendered.stderr
    result = swissai("check", str(tmp_path / "out"), *args, "-o", "json")
    assert result.returncode == 1, result.stderr
    findings = [
        f
        for f in json.loads(result.stdout)["findings"]
        if "placeholder `swissai init` writes" in f["message"]
    ]
    assert {f["severity"] for f in findings} == {"high"}
    fields = {(f["rule_id"], f["source"], f["field"]) for f in findings}
    assert {
        ("SUP-001", "site", "image.digest"),
        ("SUP-003", "site", "model.revision"),
        ("SUP-003", "site", "model.manifest_sha256"),
        ("SUP-001", "manifests", "spec.template.spec.containers[0].image"),
        ("SUP-003", "manifests", 'spec.template.metadata.labels["swissai.io/model-revision"]'),
    } <= fields, fields
    image = next(f for f in findings if f["field"] == "image.digest")
    assert "crane digest" in image["message"] and "image.digest of swissai.yaml" in image["message"]
    revision = next(f for f in findings if f["field"] == "model.revision")
    assert "40-hex commit" in revision["message"]


def test_cluster_malformed_kubeconfig_is_exit_3_naming_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "kubeconfig"
    bad.write_text("garbage: [")
    result = swissai("check", "--cluster", env={"KUBECONFIG": str(bad)})
    assert result.returncode == 3, result.stderr
    assert f"the kubeconfig {bad} is not valid YAML" in result.stderr
    assert "Traceback" not in result.stderr


def test_cluster_kubeconfig_env_naming_missing_files_never_reads_home(
    fake_api: FakeKubeApi, tmp_path: Path
) -> None:
    home = tmp_path / "h"
    (home / ".kube").mkdir(parents=True)
    fake_api.kubeconfig(home / ".kube" / "config")
    result = swissai(
        "check", "--cluster", "--namespace", "ai", env={"HOME": str(home), "KUBECONFIG": "./typo"}
    )
    assert result.returncode == 3, result.stderr
    assert "KUBECONFIG names no existing kubeconfig file: typo" in result.stderr
    assert fake_api.requests == []


def test_cluster_uses_the_kubeconfig_proxy_url_as_deploy_does(
    fake_api: FakeKubeApi, tmp_path: Path
) -> None:
    """The cluster entry's `proxy-url` (the same loader as `swissai deploy`): the API server
    address is closed, only the proxy (the fake, answering absolute-form requests) is there."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    config = fake_api.kubeconfig(tmp_path / "kubeconfig", port=closed)
    doc = yaml.safe_load(config.read_text())
    doc["clusters"][0]["cluster"]["proxy-url"] = f"http://127.0.0.1:{fake_api.port}"
    config.write_text(yaml.safe_dump(doc))
    env = {"KUBECONFIG": str(config), "NO_PROXY": "", "no_proxy": ""}
    result = swissai("check", "--cluster", "--namespace", "ai", "-o", "json", env=env)
    assert result.returncode == 1, result.stderr
    assert json.loads(result.stdout)["inputs"] == ["cluster://fake"]
    assert f"http://127.0.0.1:{closed}/api/v1/nodes" in fake_api.requests  # via the proxy


def test_concatenated_files_on_stdin_are_exit_2_not_one_object() -> None:
    """`cat out/*.yaml | swissai check -` without `---` between the files."""
    bundle = DATA / "baseline" / "bundle.yaml"
    docs = [d for d in bundle.read_text().split("\n---\n") if "kind:" in d]
    text = "\n".join(d.strip() for d in docs[:2]) + "\n"
    result = swissai("check", "-", stdin=text)
    assert result.returncode == 2, result.stdout + result.stderr
    first = result.stderr.splitlines()[0]
    assert first.startswith("error: -:") and "duplicate key 'apiVersion'" in first
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_yaml_output_is_the_json_report_as_one_yaml_document(tmp_path: Path) -> None:
    bad = str(DATA / "third_party" / "vllm-quickstart.yaml")
    as_yaml = swissai("check", bad, "-o", "yaml", "--out", str(tmp_path / "r.yaml"))
    as_json = swissai("check", bad, "-o", "json")
    assert as_yaml.returncode == 1 == as_json.returncode, as_yaml.stderr
    report = yaml.safe_load(as_yaml.stdout)
    assert report["kind"] == "ComplianceReport"
    assert report["findings"] == json.loads(as_json.stdout)["findings"]
    assert yaml.safe_load((tmp_path / "r.yaml").read_text()) == report


def _sarif_uris(result: subprocess.CompletedProcess[str]) -> set[str]:
    sarif = json.loads(result.stdout)
    return {
        r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        for r in sarif["runs"][0]["results"]
    }


def test_sarif_paths_are_relative_to_the_current_directory_or_sarif_root(tmp_path: Path) -> None:
    """GitHub code scanning maps repository-relative URIs, not file:///runner/work/...."""
    repo = tmp_path / "repo"
    (repo / "deploy").mkdir(parents=True)
    manifest = repo / "deploy" / "vllm.yaml"
    manifest.write_text((DATA / "third_party" / "vllm-quickstart.yaml").read_text())
    absolute = swissai("check", str(manifest), "-o", "sarif", cwd=repo)
    assert absolute.returncode == 1
    assert _sarif_uris(absolute) == {"deploy/vllm.yaml"}
    relative = swissai("check", "./vllm.yaml", "-o", "sarif", cwd=repo / "deploy")
    assert _sarif_uris(relative) == {"vllm.yaml"}
    rooted = swissai(
        "check", "vllm.yaml", "-o", "sarif", "--sarif-root", str(repo), cwd=repo / "deploy"
    )
    assert _sarif_uris(rooted) == {"deploy/vllm.yaml"}
    outside = swissai("check", str(manifest), "-o", "sarif", cwd=REPO)
    assert _sarif_uris(outside) == {manifest.as_uri()}  # outside the root: absolute


@pytest.mark.parametrize(
    ("expires", "words"),
    [
        ("2026-01-01T00:00:00", "expires 2026-01-01 00:00:00 is a timestamp"),
        ("2026-08-01 10:00:00", "is a timestamp; write the day it expires"),
        ("20260101", "expires 20260101 (int) is not a date"),
        ("[2026, 1, 1]", "expires [2026, 1, 1] (list) is not a date"),
        ("true", "expires True (bool) is not a date"),
        ("'next spring'", "expires 'next spring' is not a date"),
    ],
)
def test_waiver_expiry_that_is_no_date_is_a_waiver_finding_not_a_traceback(
    tmp_path: Path, expires: str, words: str
) -> None:
    waivers = tmp_path / "swissai-waivers.yaml"
    waivers.write_text(
        "waivers:\n"
        f"- {{rule: SEC-006, object: Deployment/ai/sec-006, reason: r, approver: a, "
        f"expires: {expires}}}\n",
        encoding="utf-8",
    )
    result = swissai(
        "check",
        str(DATA / "examples" / "SEC-006" / "fail.yaml"),
        "--site",
        str(DATA / "baseline" / "site.yaml"),
        "--waivers",
        str(waivers),
        "-o",
        "json",
    )
    assert result.returncode == 1, result.stderr
    invalid = [
        f["message"]
        for f in json.loads(result.stdout)["findings"]
        if f["rule_id"] == "WAIVER-INVALID"
    ]
    assert len(invalid) == 1 and words in invalid[0], invalid


def test_impossible_waiver_date_is_one_error_line_naming_it(tmp_path: Path) -> None:
    """PyYAML raises on `2026-02-30` while loading; that is exit 2 with the line, not a crash."""
    waivers = tmp_path / "swissai-waivers.yaml"
    waivers.write_text(
        "# approved in CHG-7\n"
        "- rule: SEC-006\n  object: Deployment/ai/sec-006\n  reason: r\n  approver: a\n"
        "  expires: 2026-02-30\n",
        encoding="utf-8",
    )
    result = swissai(
        "check", str(DATA / "examples" / "SEC-006" / "fail.yaml"), "--waivers", str(waivers)
    )
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.splitlines()
    # the shared bounded loader (adapters/yaml_safe) reads the file and names file, line, value
    assert lines[0].startswith(f"error: {waivers}:6: ")
    assert "2026-02-30" in lines[0] and "day is out of range for month" in lines[0]
    assert lines[1].startswith("hint: ") and len(lines) == 2


def test_site_profile_in_the_current_directory_is_used_without_site(tmp_path: Path) -> None:
    """One rule for --site with render and deploy: ./swissai.yaml when present."""
    (tmp_path / "swissai.yaml").write_text(
        (DATA / "baseline" / "site.yaml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    bundle = str(DATA / "baseline" / "bundle.yaml")
    picked = swissai("check", bundle, "-o", "json", cwd=tmp_path)
    assert picked.returncode == 0, picked.stderr
    report = json.loads(picked.stdout)
    assert "swissai.yaml" in report["inputs"]
    assert not any(f["evidence_expected"] for f in report["findings"])  # evidence declared
    assert "site profile: ./swissai.yaml" in picked.stderr
    # without ./swissai.yaml: init's defaults, evidence still expected (medium)
    bare = swissai("check", bundle, "-o", "json", cwd=tmp_path / "..")
    assert any(f["evidence_expected"] for f in json.loads(bare.stdout)["findings"])
    missing = swissai("check", bundle, "--site", "nope.yaml", cwd=tmp_path)
    assert missing.returncode == 2 and "site profile nope.yaml not found" in missing.stderr


@pytest.mark.parametrize("where", ["manifest", "site", "stdin"])
def test_impossible_dates_in_any_input_are_one_error_line(tmp_path: Path, where: str) -> None:
    manifest = tmp_path / "cm.yaml"
    manifest.write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, namespace: ai}\n"
        + ("data: {when: 2026-02-30}\n" if where != "site" else "data: {}\n"),
        encoding="utf-8",
    )
    site = tmp_path / "swissai.yaml"
    site.write_text(
        "apiVersion: swissai/v1alpha1\nkind: SiteProfile\nnamespace: ai\n"
        "compliance:\n  evaluation: {ref: E, sha256: ee, date: 2026-02-30}\n",
        encoding="utf-8",
    )
    if where == "stdin":
        result = swissai("check", "-", stdin=manifest.read_text(encoding="utf-8"))
        name, line = "-", 4
    elif where == "site":
        result = swissai("check", str(manifest), "--site", str(site))
        name, line = str(site), 5
    else:
        result = swissai("check", str(manifest))
        name, line = str(manifest), 4
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 2 and lines[1].startswith("hint: ")
    # one bounded loader reads every input (adapters/yaml_safe): file, line and value named
    assert lines[0].startswith("error: ") and f"{name}:{line}: " in lines[0]
    assert "2026-02-30" in lines[0] and "day is out of range for month" in lines[0]


def test_the_check_service_prints_nothing_and_reports_through_events(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from swissai.services.check import CheckRequest, render_report, run_check
    from swissai.services.events import Collect

    (tmp_path / "swissai.yaml").write_text(
        (DATA / "baseline" / "site.yaml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    events = Collect()
    previous = Path.cwd()
    os.chdir(tmp_path)
    try:
        outcome = run_check(
            CheckRequest(
                paths=["-"],
                stdin_text=(DATA / "third_party" / "vllm-quickstart.yaml").read_text(),
                fail_on="critical",
                today=dt.date(2026, 7, 1),
            ),
            events,
        )
    finally:
        os.chdir(previous)
    assert capsys.readouterr() == ("", "")
    assert events.messages("note") == ["site profile: ./swissai.yaml (--site not given)"]
    assert outcome.site == Path("swissai.yaml") and outcome.fail_on == "critical"
    assert outcome.failed and outcome.gate_error() is not None
    assert outcome.gate_error().exit_code == 1  # type: ignore[union-attr]
    assert json.loads(render_report(outcome.report, "sarif"))["version"] == "2.1.0"


def test_table_on_a_pipe_has_no_box_characters() -> None:
    result = swissai("check", str(DATA / "third_party" / "vllm-quickstart.yaml"))
    assert result.returncode == 1 and "CRITICAL (" in result.stdout
    assert not set("┏┃━│─╇┡└┘") & set(result.stdout)
