"""`swissai bundle create | verify | push` as operators and pipelines call them: exact exit
codes, one `error:` line naming the file, one machine document on stdout (also on exit 1)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from bundle_support import WEIGHTS, Inputs, make_inputs

from tests.swissai_inprocess import swissai


@pytest.fixture
def made(tmp_path: Path) -> tuple[Inputs, Path, str]:
    inputs = make_inputs(tmp_path / "in")
    out = tmp_path / "bundle"
    proc = swissai(
        "bundle", "create", str(inputs.plan), "--site", str(inputs.site),
        "--model-dir", str(inputs.model), "--out", str(out), "--wheels", str(inputs.wheels),
        env={"PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = dict(line.split(": ", 1) for line in proc.stdout.splitlines())
    assert lines["bundle"] == str(out)
    assert lines["images"] == "1 (0 saved as OCI archives)"
    assert lines["hashed"].endswith("GB/s")
    assert "no skopeo or crane on PATH" in proc.stderr
    digest = lines["bundle_sha256"]
    assert digest == hashlib.sha256((out / "BUNDLE.json").read_bytes()).hexdigest()
    return inputs, out, digest


def test_verify_ok_then_tampered_is_exit_1_naming_the_file(made: tuple[Inputs, Path, str]) -> None:
    inputs, out, digest = made
    ok = swissai("bundle", "verify", str(out), "--sha256", digest, "--plan", str(inputs.plan))
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith(f"{out}: verified (")
    weights = out / "model" / WEIGHTS
    with weights.open("r+b") as handle:
        handle.truncate(100)
    bad = swissai("bundle", "verify", str(out), "-o", "json")
    assert bad.returncode == 1
    doc = json.loads(bad.stdout)  # one document, also on exit 1
    assert doc["ok"] is False
    assert doc["problems"] == [
        {"path": f"model/{WEIGHTS}", "problem": f"truncated: 100 of {3 * 2**20} bytes"}
    ]
    assert f"error: {weights}: truncated: 100 of" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_verify_another_plan_and_changed_manifest_are_exit_1(
    made: tuple[Inputs, Path, str], tmp_path: Path
) -> None:
    inputs, out, _ = made
    other = tmp_path / "other.yaml"
    other.write_text(inputs.plan.read_text() + "\n# another plan\n")
    proc = swissai("bundle", "verify", str(out), "--plan", str(other))
    assert proc.returncode == 1
    assert "the bundle is for another plan (gpt-oss-120b" in proc.stderr
    proc = swissai("bundle", "verify", str(out), "--sha256", "1" * 64)
    assert proc.returncode == 1 and "BUNDLE.json: sha256" in proc.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["verify", "{tmp}/nowhere"], "is not a directory"),
        (["verify", "{out}", "--sha256", "xyz"], "--sha256 must be 64 lower-case hex digits"),
        (["verify", "{out}", "--plan", "{tmp}/missing.yaml"], "--plan {tmp}/missing.yaml not found"),
        (["push", "{out}", "--registry", "UPPER CASE", "--site-out", "{tmp}/s.yaml"], "--registry"),
        (["create", "{plan}", "--site", "{site}", "--model-dir", "{model}", "--out", "{tmp}/b2",
          "--part-size", "huge"], "--part-size: 'huge' is not a size"),
        (["create", "{plan}", "--site", "{site}", "--model-dir", "{tmp}/no-model", "--out",
          "{tmp}/b2", "--wheels", "{wheels}"], "is not a directory"),
        (["create", "{plan}", "--site", "{site}", "--model-dir", "{model}", "--out", "{out}",
          "--wheels", "{wheels}"], "is not empty"),
    ],
)  # fmt: skip
def test_bad_input_is_exit_2_with_one_line(
    made: tuple[Inputs, Path, str], tmp_path: Path, args: list[str], message: str
) -> None:
    inputs, out, _ = made
    values = {
        "tmp": str(tmp_path), "out": str(out), "plan": str(inputs.plan), "site": str(inputs.site),
        "model": str(inputs.model), "wheels": str(inputs.wheels),
    }  # fmt: skip
    argv = [a.format(**values) for a in args]
    proc = swissai("bundle", *argv)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message.format(**values) in errors[0], proc.stderr
    assert not (tmp_path / "b2").exists() and not (tmp_path / "s.yaml").exists()


def test_push_json_without_a_tool(made: tuple[Inputs, Path, str], tmp_path: Path) -> None:
    _, out, _ = made
    site_out = tmp_path / "inside.yaml"
    proc = swissai(
        "bundle", "push", str(out), "--registry", "reg.inside:5000", "--site-out", str(site_out),
        "-o", "json", env={"PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["loaded"] is False and doc["image_tool"] == "none"
    assert doc["images"][0]["to"].startswith("reg.inside:5000/ai/vllm-openai@sha256:")
    assert 'registry: "reg.inside:5000"' in site_out.read_text()


def _sparse_bundle(root: Path, files: int, size: int) -> None:
    """A bundle folder of sparse weights (no disk used) with its BUNDLE.json; enough for
    verify, which needs nothing but the folder and its manifest."""
    from swissai.models.bundle import (
        BundleCreation,
        BundleFile,
        BundleManifest,
        BundleModel,
        BundlePlan,
    )

    zero = hashlib.sha256()
    block = bytes(8 * 2**20)
    for _ in range(size // len(block)):
        zero.update(block)
    (root / "model").mkdir(parents=True)
    listed = []
    for i in range(files):
        path = root / "model" / f"model-{i:05d}.safetensors"
        with path.open("wb") as handle:
            handle.truncate(size)
        listed.append(BundleFile(path=f"model/{path.name}", bytes=size, sha256=zero.hexdigest()))
    sums = "".join(f"{zero.hexdigest()}  {f.path.removeprefix('model/')}\n" for f in listed)
    (root / "model" / "SHA256SUMS").write_text(sums)
    sums_sha = hashlib.sha256(sums.encode()).hexdigest()
    listed.append(BundleFile(path="model/SHA256SUMS", bytes=len(sums), sha256=sums_sha))
    (root / "plan.yaml").write_text("plan\n")
    plan_sha = hashlib.sha256(b"plan\n").hexdigest()
    listed.append(BundleFile(path="plan.yaml", bytes=5, sha256=plan_sha))
    manifest = BundleManifest(
        created=BundleCreation(at="2026-12-05T15:00:00+00:00", by="t@h", swissai_version="0",
                               python="3"),
        plan=BundlePlan(sha256=plan_sha, model_id="m", vllm_version="0.33.0"),
        model=BundleModel(manifest_sha256=sums_sha, revision="0" * 40, files=files,
                          bytes=files * size),
        files=listed,
    )  # fmt: skip
    (root / "BUNDLE.json").write_text(manifest.model_dump_json(indent=2))


def test_ctrl_c_during_verify_is_exit_130_and_the_next_run_resumes(tmp_path: Path) -> None:
    """The real process: SIGINT while threads hash multi-GB files stops within a chunk, exits
    130, says how far it got; the next run skips what was verified."""
    import os
    import signal
    import subprocess
    import sys
    import time

    bundle = tmp_path / "bundle"
    _sparse_bundle(bundle, files=12, size=256 * 2**20)
    env = {k: v for k, v in os.environ.items() if k != "SWISSAI_DEBUG"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "swissai", "bundle", "verify", str(bundle), "--jobs", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    assert proc.stderr is not None
    first = proc.stderr.readline()  # the first progress line: hashing has started
    assert first.startswith("sha256 bundle: "), first
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert time.monotonic() - sent < 10  # not the time of the remaining ~3 GB
    assert proc.returncode == 130, err
    assert "interrupted" in err and "run the same command again to resume" in err
    count = int(err.split("note: interrupted: ")[1].split(" ")[0])
    assert count < 14
    again = swissai("bundle", "verify", str(bundle), "-o", "json")
    assert again.returncode == 0, again.stderr
    doc = json.loads(again.stdout)
    assert doc["ok"] is True and doc["resumed"] == count and doc["checked"] == 14
