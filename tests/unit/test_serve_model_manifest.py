"""`swissai serve` preflight: the model directory must match its sha256 manifest (issue 7).

Uses the real manifest writer and the same verifier the pods' init container runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from swissai.adapters.model_manifest import (
    CHUNK,
    DEFAULT_MANIFEST,
    build_manifest,
    sha256_file,
    verify_dir,
)
from swissai.errors import EnvironmentProblem
from swissai.services.events import Collect, Progress
from swissai.services.serve import check_model_dir as _check_model_dir


def _model(tmp_path: Path) -> Path:
    d = tmp_path / "model"
    d.mkdir()
    (d / "config.json").write_text('{"model_type": "llama"}')
    (d / "model.safetensors").write_bytes(b"\x00" * 4096)
    return d


def _write_manifest(d: Path) -> None:
    (d / DEFAULT_MANIFEST).write_text(build_manifest(d), encoding="utf-8")


def test_verified_directory_passes_and_says_so(tmp_path: Path) -> None:
    d = _model(tmp_path)
    _write_manifest(d)
    events = Collect()
    _check_model_dir(d, sha256_file(d / DEFAULT_MANIFEST), events)
    assert f"model files match {DEFAULT_MANIFEST}" in events.messages("info")
    progress = [e for e in events.events if isinstance(e, Progress)]
    assert progress[-1].finished and progress[-1].unit == "bytes"
    assert progress[-1].completed == progress[-1].total  # every byte, the manifest included


def test_altered_weights_stop_the_start(tmp_path: Path) -> None:
    d = _model(tmp_path)
    _write_manifest(d)
    pinned = sha256_file(d / DEFAULT_MANIFEST)
    (d / "model.safetensors").write_bytes(b"\x01" * 4096)
    with pytest.raises(EnvironmentProblem, match="does not match its manifest"):
        _check_model_dir(d, pinned, lambda _: None)


def test_missing_manifest_is_refused_unless_explicitly_allowed(tmp_path: Path) -> None:
    d = _model(tmp_path)
    with pytest.raises(EnvironmentProblem, match="has no SHA256SUMS") as refused:
        _check_model_dir(d, None, lambda _: None)
    assert "--allow-unverified-model" in (refused.value.hint or "")
    events = Collect()
    _check_model_dir(d, None, events, allow_unverified=True)
    assert events.messages() == [
        f"{d} has no SHA256SUMS: serving UNVERIFIED model files (--allow-unverified-model)"
    ]
    assert events.messages("warning") == events.messages()
    with pytest.raises(EnvironmentProblem, match="missing"):
        _check_model_dir(d, "0" * 64, lambda _: None, allow_unverified=True)


def test_verify_dir_reports_progress_over_every_hashed_byte(tmp_path: Path) -> None:
    d = _model(tmp_path)
    (d / "sub").mkdir()
    (d / "sub" / "big.bin").write_bytes(b"\x07" * (CHUNK + 100))  # more than one block
    _write_manifest(d)
    pinned = sha256_file(d / DEFAULT_MANIFEST)
    done: list[int] = []
    assert verify_dir(d, DEFAULT_MANIFEST, pinned, advance=done.append) == []
    hashed = sum(p.stat().st_size for p in d.rglob("*") if p.is_file())  # manifest included
    assert sum(done) == hashed and len(done) >= 4
    # without a callback: the same verdict (backward compatible)
    (d / "sub" / "big.bin").write_bytes(b"\x08" * 10)
    assert verify_dir(d, DEFAULT_MANIFEST, pinned) == ["sha256 mismatch sub/big.bin"]


def test_a_replaced_manifest_fails_against_the_pin(tmp_path: Path) -> None:
    d = _model(tmp_path)
    _write_manifest(d)
    pinned = sha256_file(d / DEFAULT_MANIFEST)
    (d / "model.safetensors").write_bytes(b"\x02" * 4096)
    _write_manifest(d)  # an attacker rewrites the manifest to match the new weights
    with pytest.raises(EnvironmentProblem):
        _check_model_dir(d, pinned, lambda _: None)


# --- `swissai model manifest|verify` on hostile directories (issue 19) ---------------------------


def _cli(*args: str):  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from swissai.cli.main import app

    return CliRunner().invoke(app, list(args))


def _no_traceback(result) -> None:  # type: ignore[no-untyped-def]
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: (d / "dangling").symlink_to(d / "nowhere"), "dangling or looping symlink"),
        (lambda d: (d / "loop").symlink_to(d / "loop"), "dangling or looping symlink"),
        (lambda d: (d / "sub").symlink_to(d), "loops back to a parent directory"),
        (lambda d: (d / "passwd").symlink_to("/etc/passwd"), "leaves the directory"),
        (lambda d: (d / "etc").symlink_to("/etc"), "leaves the directory"),
        (lambda d: (d / "evil\nname.bin").write_bytes(b"x"), "line break"),
        (lambda d: (d / "evil\u2028name.bin").write_bytes(b"x"), "line break"),
        (lambda d: (d / "evil\u2029name.bin").write_bytes(b"x"), "line break"),
        (lambda d: (d / "evil\x85name.bin").write_bytes(b"x"), "line break"),
        (lambda d: __import__("os").mkfifo(d / "fifo"), "not a regular file"),
    ],
    ids=[
        "dangling",
        "self-loop",
        "dir-loop",
        "file-outside",
        "dir-outside",
        "newline",
        "U+2028",
        "U+2029",
        "U+0085",
        "fifo",
    ],
)
def test_manifest_refuses_hostile_trees_with_one_line(tmp_path: Path, make, message: str) -> None:  # type: ignore[no-untyped-def]
    """Each of these crashed the writer, hung it (FIFO), wrote a manifest its own verifier
    could not parse (line separators), or attested a file outside the model directory."""
    d = _model(tmp_path)
    make(d)
    result = _cli("model", "manifest", str(d))
    _no_traceback(result)
    assert result.exit_code == 2, result.stderr
    assert message in result.stderr and result.stderr.startswith("error: ")
    assert not (d / DEFAULT_MANIFEST).exists()
    assert [p.name for p in d.iterdir() if p.name.endswith(".tmp")] == []


def test_symlinks_inside_the_directory_round_trip(tmp_path: Path) -> None:
    """A file symlink and a directory symlink that stay inside are listed as the pods'
    verifier walks them (os.walk following links): what the writer writes, it verifies."""
    d = _model(tmp_path)
    (d / "shards").mkdir()
    (d / "shards" / "a.bin").write_bytes(b"a" * 100)
    (d / "alias.safetensors").symlink_to(d / "model.safetensors")
    (d / "current").symlink_to(d / "shards")
    result = _cli("model", "manifest", str(d), "-o", "json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    listed = [line.split("  ", 1)[1] for line in (d / DEFAULT_MANIFEST).read_text().splitlines()]
    assert "alias.safetensors" in listed and "current/a.bin" in listed
    assert doc["files"] == len(listed)
    verified = _cli("model", "verify", str(d), "--sha256", doc["sha256"])
    assert verified.exit_code == 0, verified.stdout + verified.stderr
    assert verified.stdout.strip() == f"{d}: verified"


def test_manifest_leaves_no_temp_file_and_lists_none(tmp_path: Path) -> None:
    """The temp file is written beside the manifest and renamed; none is left, and a second
    run lists exactly the same files."""
    d = _model(tmp_path)
    assert _cli("model", "manifest", str(d)).exit_code == 0
    first = (d / DEFAULT_MANIFEST).read_text()
    assert sorted(p.name for p in d.iterdir()) == [
        DEFAULT_MANIFEST,
        "config.json",
        "model.safetensors",
    ]
    assert _cli("model", "manifest", str(d), "--force").exit_code == 0
    assert (d / DEFAULT_MANIFEST).read_text() == first


def test_failed_manifest_write_removes_its_temp_file(tmp_path: Path) -> None:
    from swissai.adapters.model_manifest import write_manifest

    target = tmp_path / "m" / "SHA256SUMS"
    target.mkdir(parents=True)  # os.replace onto a directory fails after the temp was written
    with pytest.raises(EnvironmentProblem, match="cannot write"):
        write_manifest(target, "x\n")
    assert [p.name for p in target.parent.iterdir()] == ["SHA256SUMS"]


def test_verify_reports_a_hostile_tree_as_a_problem(tmp_path: Path) -> None:
    d = _model(tmp_path)
    _write_manifest(d)
    pinned = sha256_file(d / DEFAULT_MANIFEST)
    (d / "passwd").symlink_to("/etc/passwd")
    result = _cli("model", "verify", str(d), "--sha256", pinned)
    _no_traceback(result)
    assert result.exit_code == 1
    assert "leaves the directory" in result.stdout
    assert "unlisted file passwd" in result.stdout  # the pods' verifier fails on it too


def test_verify_rejects_a_malformed_pin(tmp_path: Path) -> None:
    d = _model(tmp_path)
    result = _cli("model", "verify", str(d), "--sha256", "abc")
    assert result.exit_code == 2
    assert "64 lower-case hex" in result.stderr


# --- gpt-oss encodings in MODEL_DIR/encodings (issue 11, core/encodings) -----------------------


def _gpt_oss(tmp_path: Path) -> Path:
    d = tmp_path / "oss"
    d.mkdir()
    (d / "config.json").write_text('{"model_type": "gpt_oss"}')
    (d / "model.safetensors").write_bytes(b"\x00" * 64)
    return d


def test_verify_of_gpt_oss_fails_on_a_fake_encodings_file(tmp_path: Path) -> None:
    """`model verify` accepted any file the manifest listed; for gpt-oss the encodings must be
    tiktoken's (a manifest written over a fake file attests the fake)."""
    d = _gpt_oss(tmp_path)
    (d / "encodings").mkdir()
    (d / "encodings" / "o200k_base.tiktoken").write_text("fake\n")
    (d / DEFAULT_MANIFEST).write_text(build_manifest(d), encoding="utf-8")
    pinned = sha256_file(d / DEFAULT_MANIFEST)
    result = _cli("model", "verify", str(d), "--sha256", pinned)
    assert result.exit_code == 1, result.stdout + result.stderr
    assert "encodings/o200k_base.tiktoken has sha256" in result.stdout
    assert "encodings/o200k_base.tiktoken" in result.stderr  # the error line names it


def test_verify_of_gpt_oss_without_encodings_fails(tmp_path: Path) -> None:
    d = _gpt_oss(tmp_path)
    _write_manifest(d)
    result = _cli("model", "verify", str(d), "--sha256", sha256_file(d / DEFAULT_MANIFEST))
    assert result.exit_code == 1
    assert "encodings/o200k_base.tiktoken is missing" in result.stdout


def test_manifest_of_gpt_oss_refuses_a_fake_encodings_file(tmp_path: Path) -> None:
    d = _gpt_oss(tmp_path)
    (d / "encodings").mkdir()
    (d / "encodings" / "o200k_base.tiktoken").write_text("fake\n")
    result = _cli("model", "manifest", str(d))
    assert result.exit_code == 2
    assert "encodings/o200k_base.tiktoken has sha256" in result.stderr
    assert not (d / DEFAULT_MANIFEST).exists()


def test_manifest_of_gpt_oss_without_encodings_warns(tmp_path: Path) -> None:
    d = _gpt_oss(tmp_path)
    result = _cli("model", "manifest", str(d))
    assert result.exit_code == 0
    assert "warning: " in result.stderr and "stage-encodings" in result.stderr


def test_stage_encodings_without_openai_harmony_is_exit_3_naming_what_to_do(
    tmp_path: Path,
) -> None:
    """This venv has no openai_harmony (vLLM's dependency); the real staging runs under
    .venv-vllm in tests/integration (conftest's gpt_oss_encodings)."""
    try:
        import openai_harmony  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("openai_harmony is installed here")
    d = _gpt_oss(tmp_path)
    result = _cli("model", "stage-encodings", str(d))
    assert result.exit_code == 3
    assert "openai_harmony is not importable" in result.stderr
    assert "pip install openai-harmony" in result.stderr
    assert not (d / "encodings").exists()


def test_stage_encodings_needs_a_directory(tmp_path: Path) -> None:
    result = _cli("model", "stage-encodings", str(tmp_path / "nope"))
    assert result.exit_code == 2


def test_verify_service_reports_every_hashed_byte(tmp_path: Path) -> None:
    """Progress in bytes, counted under a lock (the verifier hashes in threads); the last
    event is finished and covers the manifest and every file."""
    from swissai.services.model import verify_model

    d = _model(tmp_path)
    (d / "big.bin").write_bytes(b"\x03" * (3 * CHUNK + 5))
    _write_manifest(d)
    events = Collect()
    result = verify_model(d, sha256_file(d / DEFAULT_MANIFEST), on_event=events)
    assert result.ok
    progress = [e for e in events.events if isinstance(e, Progress)]
    hashed = sum(p.stat().st_size for p in d.iterdir())
    assert progress[-1].finished and progress[-1].completed == progress[-1].total == hashed
