"""`swissai check` on what `helm template` and chart folders produce (issue 18), as CI runs
it: the real `python -m swissai` process, its exit status and its JSON report. A file with no
objects (only `---` or comments) is skipped with a note, as checkov does; a stream on stdin
(`-`) is read like a file.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.swissai_process import swissai

DATA = Path(__file__).resolve().parents[1] / "data" / "compliance" / "crd"
# what `helm template` prints for a template that renders nothing, and a NOTES-like file
EMPTY_RENDER = "---\n# Source: llm/templates/hpa.yaml\n---\n"


def test_an_empty_file_in_a_folder_is_skipped_with_a_note(tmp_path: Path) -> None:
    (tmp_path / "hpa.yaml").write_text(EMPTY_RENDER, encoding="utf-8")
    (tmp_path / "kserve.yaml").write_text(
        (DATA / "kserve.yaml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    done = swissai("check", str(tmp_path), "-o", "json", cwd=tmp_path)
    assert done.returncode == 1, done.stderr  # findings, not exit 2 for bad input
    report = json.loads(done.stdout)
    assert f"{tmp_path / 'hpa.yaml'}: holds no Kubernetes objects, skipped" in report["notes"]
    assert any(
        f["rule_id"] == "RES-005" and f["field"] == "spec.predictor.model.storageUri"
        for f in report["findings"]
    )


def test_inputs_without_any_object_are_still_exit_2(tmp_path: Path) -> None:
    """A broken render must not produce a green build: nothing at all to check is bad input."""
    (tmp_path / "hpa.yaml").write_text(EMPTY_RENDER, encoding="utf-8")
    done = swissai("check", str(tmp_path), cwd=tmp_path)
    assert done.returncode == 2
    assert "holds no Kubernetes objects" in done.stderr


def test_helm_template_output_on_stdin(tmp_path: Path) -> None:
    stream = (
        EMPTY_RENDER
        + "# Source: llm/templates/runtime.yaml\n"
        + (DATA / "kserve.yaml").read_text(encoding="utf-8")
        + "\n---\n# Source: llm/templates/empty.yaml\n"
    )
    done = swissai("check", "-", "-o", "json", stdin=stream, cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    assert report["inputs"] == ["-"]
    hub = next(
        f
        for f in report["findings"]
        if f["rule_id"] == "RES-005" and f["object"] == "InferenceService/ai/llama"
    )
    assert hub["file"] == "-" and hub["field"] == "spec.predictor.model.storageUri"
    assert hub["line"] == 36  # the storageUri line in the stream
