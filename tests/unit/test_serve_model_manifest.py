"""`swissai serve` preflight: the model directory must match its sha256 manifest (issue 7).

Uses the real manifest writer and the same verifier the pods' init container runs."""

from __future__ import annotations

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
