"""`render --out`: only files swissai wrote are replaced or removed; writes are atomic."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from swissai.adapters.tracked_files import INDEX_NAME, read_index, sha256_text, write_tracked
from swissai.errors import InputError


def _tree(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): p.read_text(encoding="utf-8")
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_first_write_records_every_file_with_its_sha256(tmp_path: Path) -> None:
    out = tmp_path / "deploy"
    report = write_tracked(out, {"01-a.yaml": "a\n", "sub/02-b.yaml": "b\n"})
    assert report.written == ("01-a.yaml", "sub/02-b.yaml") and report.removed == ()
    assert read_index(out) == {"01-a.yaml": sha256_text("a\n"), "sub/02-b.yaml": sha256_text("b\n")}
    assert (out / "sub" / "02-b.yaml").read_text(encoding="utf-8") == "b\n"
    assert not [p for p in out.rglob("*.tmp")]


def test_a_rerun_replaces_its_files_and_removes_only_what_it_wrote(tmp_path: Path) -> None:
    out = tmp_path / "deploy"
    write_tracked(out, {"01-a.yaml": "a\n", "02-b.yaml": "b\n", "templates/x.yaml": "x\n"})
    (out / "99-mine.yaml").write_text("kind: Mine\n", encoding="utf-8")
    (out / "README.md").write_text("mine\n", encoding="utf-8")
    report = write_tracked(out, {"01-a.yaml": "A\n"})
    assert report.written == ("01-a.yaml",)
    assert report.removed == ("02-b.yaml", "templates/x.yaml")
    assert not (out / "templates").exists()  # left empty by the removal
    assert (out / "99-mine.yaml").read_text(encoding="utf-8") == "kind: Mine\n"
    assert (out / "README.md").exists()
    assert read_index(out) == {"01-a.yaml": sha256_text("A\n")}


def test_a_file_it_did_not_write_is_never_overwritten(tmp_path: Path) -> None:
    out = tmp_path / "deploy"
    out.mkdir()
    (out / "01-a.yaml").write_text("hand written\n", encoding="utf-8")
    before = _tree(out)
    with pytest.raises(InputError, match=r"01-a\.yaml was not written by swissai") as info:
        write_tracked(out, {"01-a.yaml": "a\n", "02-b.yaml": "b\n"})
    assert info.value.exit_code == 2 and "nothing written" in info.value.message
    assert _tree(out) == before  # 02-b.yaml not written either


def test_a_file_changed_since_it_was_written_is_neither_overwritten_nor_removed(
    tmp_path: Path,
) -> None:
    out = tmp_path / "deploy"
    write_tracked(out, {"01-a.yaml": "a\n", "02-b.yaml": "b\n"})
    (out / "02-b.yaml").write_text("b, edited by hand\n", encoding="utf-8")
    before = _tree(out)
    with pytest.raises(InputError, match=r"02-b\.yaml .*changed since"):
        write_tracked(out, {"01-a.yaml": "A\n"})  # would remove 02-b.yaml
    with pytest.raises(InputError, match=r"02-b\.yaml was changed since"):
        write_tracked(out, {"01-a.yaml": "A\n", "02-b.yaml": "B\n"})  # would overwrite it
    assert _tree(out) == before


def test_identical_content_is_adopted(tmp_path: Path) -> None:
    """A folder an older swissai wrote (no index): the same content is not a loss."""
    out = tmp_path / "deploy"
    out.mkdir()
    (out / "01-a.yaml").write_text("a\n", encoding="utf-8")
    report = write_tracked(out, {"01-a.yaml": "a\n"})
    assert report.unchanged == ("01-a.yaml",) and report.written == ()
    assert read_index(out) == {"01-a.yaml": sha256_text("a\n")}


def test_a_crafted_index_cannot_delete_outside_the_folder(tmp_path: Path) -> None:
    out = tmp_path / "deploy"
    out.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("keep\n", encoding="utf-8")
    index = {"kind": "RenderIndex", "files": {"../victim.txt": sha256_text("keep\n")}}
    (out / INDEX_NAME).write_text(json.dumps(index), encoding="utf-8")
    with pytest.raises(InputError, match="not a file inside the folder"):
        write_tracked(out, {"01-a.yaml": "a\n"})
    assert victim.exists() and not (out / "01-a.yaml").exists()


def test_a_link_in_place_of_a_file_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "deploy"
    out.mkdir()
    target = tmp_path / "elsewhere.yaml"
    target.write_text("precious\n", encoding="utf-8")
    os.symlink(target, out / "01-a.yaml")
    with pytest.raises(InputError, match="link or not a regular file"):
        write_tracked(out, {"01-a.yaml": "a\n"})
    assert target.read_text(encoding="utf-8") == "precious\n"


def test_a_foreign_index_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "deploy"
    out.mkdir()
    (out / INDEX_NAME).write_text('{"files": []}', encoding="utf-8")
    with pytest.raises(InputError, match="not a swissai render index"):
        write_tracked(out, {"01-a.yaml": "a\n"})


def test_out_that_is_a_file_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "deploy"
    out.write_text("x", encoding="utf-8")
    with pytest.raises(InputError, match="not a folder"):
        write_tracked(out, {"01-a.yaml": "a\n"})


def test_a_failed_write_leaves_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """os.replace fails (a full disk, a read-only mount): the temp file goes, the target
    keeps its old content, and the index still matches what is on disk."""
    from swissai.adapters import files

    out = tmp_path / "deploy"
    write_tracked(out, {"01-a.yaml": "a\n"})

    def refuse(*_: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files.os, "replace", refuse)
    with pytest.raises(InputError, match="No space left"):
        write_tracked(out, {"01-a.yaml": "A\n"})
    monkeypatch.undo()
    assert (out / "01-a.yaml").read_text(encoding="utf-8") == "a\n"
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]
    assert read_index(out) == {"01-a.yaml": sha256_text("a\n")}
