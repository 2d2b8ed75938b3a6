"""`swissai report`: the audit pack, rendered in a real headless Chromium (Debian's `chromium`,
installed by `make browser`, which `make test` runs).

Real parts only: the plan, site profile, rendered manifests and findings come from the real
`swissai plan/init/render/check` commands; the waiver goes through `check --waivers`; the
deployment record is a real DeployRecord line as `swissai deploy --record-file` writes it.
Chromium loads the file with every background fetch off (`--dump-dom` for the content the
browser parsed, `--screenshot` for the pixels), and the PNG is decoded here with zlib.

Without chromium the browser tests are skipped, unless SWISSAI_REQUIRE_BROWSER=1 (set by
`make test`), where a missing browser is an error.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html.parser
import json
import os
import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from swissai.models.deploy import DeployRecord
from tests.swissai_inprocess import swissai

BROWSER_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
SECTIONS = [
    "what-runs-where",
    "data-flow",
    "findings",
    "waivers",
    "history",
    "sizing",
    "controls",
    "inputs",
]


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("SWISSAI_REQUIRE_BROWSER") == "1":
            pytest.fail("chromium is missing: run `make browser` (apt-get install chromium)")
        pytest.skip("chromium not installed (make browser)")
    return found


def run_chromium(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    profile = tmp / f"profile-{len(list(tmp.glob('profile-*')))}"
    return subprocess.run(
        [chromium(), *BROWSER_FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """(width, height, rows of RGB(A) bytes) of an 8-bit RGB/RGBA PNG (what Chromium writes)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height, channels = 8, b"", 0, 0, 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and color in (2, 6), (depth, color)
            channels = 3 if color == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    rows: list[bytes] = []
    prev = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for x in range(stride):
            left = line[x - channels] if x >= channels else 0
            up, corner = prev[x], prev[x - channels] if x >= channels else 0
            if kind == 1:
                line[x] = (line[x] + left) & 0xFF
            elif kind == 2:
                line[x] = (line[x] + up) & 0xFF
            elif kind == 3:
                line[x] = (line[x] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                pred = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                line[x] = (line[x] + pred) & 0xFF
        rows.append(bytes(line))
        prev = line
    return width, height, rows


class Text(html.parser.HTMLParser):
    """Visible text by section id, and every tag seen (what the browser's DOM holds)."""

    def __init__(self) -> None:
        super().__init__()
        self.section: str | None = None
        self.text: dict[str, list[str]] = {}
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs += attrs
        if tag == "section":
            self.section = dict(attrs).get("id")

    def handle_data(self, data: str) -> None:
        if self.section:
            self.text.setdefault(self.section, []).append(data)

    def of(self, section: str) -> str:
        return " ".join(" ".join(self.text.get(section, [])).split())


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A plan with a LoRA adapter, a site profile, findings with one waiver, a record."""
    d = tmp_path_factory.mktemp("audit")
    adapter = d / "legal-de"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 8}))
    (adapter / "adapter_model.safetensors").write_bytes(b"{}")
    res = swissai("init", "--out", str(d / "site.yaml"))
    assert res.returncode == 0, res.stderr
    site = (d / "site.yaml").read_text()
    site = site.replace('"lora_approved": false', '"lora_approved": true')
    assert '"lora_approved": true' in site
    manifest = "ab" * 32
    site += f"lora:\n  adapters:\n  - name: legal-de\n    path: adapters/legal-de\n    manifest_sha256: '{manifest}'\n"
    (d / "site.yaml").write_text(site)
    res = swissai(
        "plan", "--gpus", "8xh100-80gb", "--lora", f"legal-de={adapter}",
        "--out", str(d / "plan.yaml"),
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    res = swissai(
        "render", str(d / "plan.yaml"), "--site", str(d / "site.yaml"), "--out", str(d / "k8s")
    )
    assert res.returncode == 0, res.stderr
    expires = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    (d / "waivers.yaml").write_text(
        "- rule: SUP-001\n  object: Deployment/swissai-llm/*\n  reason: digest pinned at release\n"
        f"  approver: ciso@bank.internal\n  expires: {expires}\n"
    )
    res = swissai(
        "check", str(d / "k8s"), "--plan", str(d / "plan.yaml"), "--site", str(d / "site.yaml"),
        "--waivers", str(d / "waivers.yaml"), "-o", "json",
    )  # fmt: skip
    assert res.returncode in (0, 1), res.stderr
    (d / "check.json").write_text(res.stdout)
    record = DeployRecord(
        id="20261201T100000Z-abc123",
        outcome="succeeded",
        namespace="swissai-llm",
        workload="gpt-oss-120b",
        context="prod",
        server="https://10.0.0.1:6443",
        deployed_by="ops-deployer",
        local_user="alice",
        started_at="2026-12-01T10:00:00Z",
        finished_at="2026-12-01T10:12:00Z",
        revision="abc123abc123",
        plan_hash="f" * 12,
        model_id="gpt-oss-120b",
        model_revision="0" * 40,
        vllm_version="0.33.0",
        images=["registry.bank.internal/vllm/vllm-openai@sha256:" + "1" * 64],
        objects=["Deployment/swissai-llm/gpt-oss-120b"],
        replicas=2,
        replicas_ready=2,
    )
    (d / "records.jsonl").write_text(record.model_dump_json() + "\n")
    accuracy = {
        "kind": "PlannerAccuracy",
        "asserted_rows": 10,
        "verdicts_agree": 10,
        "quantities": {
            "weights": {"n": 8, "median_abs_rel_err": 0.0009, "max_abs_rel_err": 0.0045}
        },
    }
    (d / "accuracy.json").write_text(json.dumps(accuracy))
    return {"dir": d, "waiver_expires": Path(expires)}


def write_report(inputs: dict[str, Path], out: Path, *extra: str) -> str:
    d = inputs["dir"]
    res = swissai(
        "report", "--plan", str(d / "plan.yaml"), "--site", str(d / "site.yaml"),
        "--findings", str(d / "check.json"), "--records", str(d / "records.jsonl"),
        "--accuracy", str(d / "accuracy.json"), "--out", str(out), "-o", "json", *extra,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    return res.stdout


def test_same_inputs_same_bytes_and_no_fetch(inputs: dict[str, Path], tmp_path: Path) -> None:
    first = json.loads(write_report(inputs, tmp_path / "a.html"))
    second = json.loads(write_report(inputs, tmp_path / "b.html"))
    a, b = (tmp_path / "a.html").read_bytes(), (tmp_path / "b.html").read_bytes()
    assert a == b and first["sha256"] == second["sha256"] == hashlib.sha256(a).hexdigest()
    assert first["sections"] == SECTIONS
    text = a.decode()
    # nothing a browser could fetch: no script, no src/href, no url() but the SVG marker
    assert "<script" not in text and " src=" not in text and " href=" not in text
    assert re.findall(r"url\(([^)]*)\)", text) == ["#arrow"] * text.count("marker-end")
    assert "default-src 'none'" in text


def test_browser_shows_every_section_with_its_evidence(
    inputs: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "report.html"
    write_report(inputs, out)
    dumped = run_chromium(tmp_path, "--dump-dom", out.as_uri())
    assert dumped.returncode == 0, dumped.stderr[-2000:]
    dom = Text()
    dom.feed(dumped.stdout)
    assert list(dom.text) == SECTIONS  # the browser parsed all eight sections, in order
    where = dom.of("what-runs-where")
    assert "gpt-oss-120b" in where and "registry.bank.internal/vllm/vllm-openai@sha256:" in where
    assert "8 x h100-80gb on 1 node(s)" in where and "ch-zh1" in where
    assert "legal-de" in where and "ab" * 32 in where and "disabled" in where
    assert "svg" in dom.tags and "no egress" in dom.of("data-flow")
    findings = dom.of("findings")
    assert "SUP-001" in findings and "waived" in findings
    waivers = dom.of("waivers")
    assert "ciso@bank.internal" in waivers and str(inputs["waiver_expires"]) in waivers
    history = dom.of("history")
    assert "20261201T100000Z-abc123" in history and "ops-deployer" in history and "2/2" in history
    sizing = dom.of("sizing")
    assert "LoRA slots (1 x rank 8)" in sizing and "0.09%" in sizing and "KV cache" in sizing
    controls = dom.of("controls")
    assert "SEC-007" in controls and "FINMA" in controls
    # the rendered adapter is verified before start: the control passed on real manifests
    assert "SEC-007 LoRA adapters are local, verified, and loaded at start only high passed" in (
        controls
    )


def test_screenshot_is_a_rendered_page(inputs: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    write_report(inputs, out)
    shot = tmp_path / "shot.png"
    res = run_chromium(
        tmp_path,
        f"--screenshot={shot}",
        "--window-size=1200,1600",
        "--hide-scrollbars",
        out.as_uri(),
    )
    assert res.returncode == 0 and shot.is_file(), res.stderr[-2000:]
    width, height, rows = png_pixels(shot.read_bytes())
    assert (width, height) == (1200, 1600)
    step = len(rows[0]) // width
    pixels = [row[x : x + 3] for row in rows[::4] for x in range(0, len(row), step * 4)]
    non_white = sum(1 for p in pixels if min(p) < 235)
    assert non_white / len(pixels) > 0.05  # text, tables, the picture: not a blank page
    # the heading rule and section titles are the report's red (#c8102e): CSS was applied
    red = sum(1 for p in pixels if p[0] > 170 and p[1] < 60 and p[2] < 80)
    assert red > 20
    # the data-flow picture's boxes are filled (#fdecea, #e8f0fe): SVG was drawn
    assert any(p == b"\xfd\xec\xea" for p in pixels) or any(p == b"\xe8\xf0\xfe" for p in pixels)


def test_pdf_where_chromium_is_installed(inputs: dict[str, Path], tmp_path: Path) -> None:
    chromium()
    pdf = tmp_path / "report.pdf"
    result = json.loads(write_report(inputs, tmp_path / "report.html", "--pdf", str(pdf)))
    assert result["pdf"] == str(pdf)
    data = pdf.read_bytes()
    assert data[:5] == b"%PDF-" and len(data) > 10_000 and data.count(b"/Type /Page") >= 2


def test_bad_findings_file_is_exit_2_and_nothing_written(
    inputs: dict[str, Path], tmp_path: Path
) -> None:
    d = inputs["dir"]
    (tmp_path / "bad.json").write_text('{"kind": "ComplianceReport"}')
    out = tmp_path / "r.html"
    res = swissai(
        "report", "--plan", str(d / "plan.yaml"), "--site", str(d / "site.yaml"),
        "--findings", str(tmp_path / "bad.json"), "--out", str(out),
    )  # fmt: skip
    assert res.returncode == 2 and "not a swissai check report" in res.stderr
    assert not out.exists()
