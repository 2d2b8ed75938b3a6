"""Writing `render --out DIR` safely: only what swissai wrote is ever replaced or removed.

swissai keeps an index in the folder (`.swissai-index.json`: each file it wrote with its sha256).
A render then
- writes its files atomically (a temp file in the same folder, created exclusively with a random
  name and O_NOFOLLOW, then renamed over the target; removed on error);
- removes the files of the previous render that it no longer renders;
- refuses (InputError, exit 2) before writing or removing anything when it would overwrite or
  remove a file it did not write, or one changed since it wrote it (a hand edit is never lost);
  a file with exactly the content it would write is adopted (an older swissai wrote it).

Writes go through the one atomic writer, `swissai.adapters.files.write_text_atomic`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from swissai.adapters.files import write_text_atomic as write_atomic
from swissai.errors import InputError

INDEX_NAME = ".swissai-index.json"
INDEX_KIND = "RenderIndex"
INDEX_API_VERSION = "swissai/v1alpha1"


@dataclass(frozen=True)
class WriteReport:
    """What a tracked write did, paths relative to the folder."""

    out: Path
    written: tuple[str, ...]
    unchanged: tuple[str, ...]
    removed: tuple[str, ...]


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _refuse(out: Path, problem: str, hint: str) -> InputError:
    return InputError(f"render --out {out}: {problem}; nothing written", hint=hint)


def _safe_name(out: Path, name: str) -> str:
    """A relative path inside the folder; anything else in an index is refused (a crafted index
    must not make swissai delete outside --out)."""
    path = PurePosixPath(name)
    if not name or path.is_absolute() or ".." in path.parts or name != str(path):
        raise _refuse(
            out,
            f"{INDEX_NAME} lists {name!r}, not a file inside the folder",
            f"remove {out / INDEX_NAME} and the files it lists, or choose another --out",
        )
    return name


def read_index(out: Path) -> dict[str, str]:
    """{relative path: sha256} of the files swissai wrote into `out` ({} without an index)."""
    index = out / INDEX_NAME
    if not index.exists() and not index.is_symlink():
        return {}
    hint = f"remove {index} (and the files it lists) or choose another --out"
    if index.is_symlink() or not index.is_file():
        raise _refuse(out, f"{INDEX_NAME} is not a regular file", hint)
    try:
        data = json.loads(index.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise _refuse(out, f"{INDEX_NAME} cannot be read ({exc})", hint) from exc
    files = data.get("files") if isinstance(data, dict) else None
    if (
        not isinstance(data, dict)
        or data.get("kind") != INDEX_KIND
        or not isinstance(files, dict)
        or not all(isinstance(k, str) and isinstance(v, str) for k, v in files.items())
    ):
        raise _refuse(out, f"{INDEX_NAME} is not a swissai render index", hint)
    return {_safe_name(out, name): digest for name, digest in files.items()}


def _current_sha(path: Path) -> str | None:
    """sha256 of a regular file; None when absent; "" for a link, folder or device."""
    if path.is_symlink():
        return ""
    if not path.exists():
        return None
    if not path.is_file():
        return ""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_tracked(out: Path, files: dict[str, str]) -> WriteReport:
    """Write `files` (relative path -> text) into `out`, remove what the previous render wrote
    and this one does not, and record the result in the index. Checks everything first."""
    if out.exists() and not out.is_dir():
        raise _refuse(out, "exists and is not a folder", "choose a folder for --out")
    index = read_index(out) if out.is_dir() else {}
    hint = "move your files out of the folder, or choose another --out"
    writes: list[str] = []
    unchanged: list[str] = []
    for name in files:
        _safe_name(out, name)
        want = sha256_text(files[name])
        have = _current_sha(out / name)
        if have is None:
            writes.append(name)
        elif have == want:
            unchanged.append(name)  # same content: nothing lost, adopted into the index
        elif have == "":
            raise _refuse(out, f"{name} is a link or not a regular file", hint)
        elif name not in index:
            raise _refuse(out, f"{name} was not written by swissai and would be overwritten", hint)
        elif index[name] != have:
            raise _refuse(out, f"{name} was changed since swissai wrote it", hint)
        else:
            writes.append(name)
    removals: list[str] = []
    for name in sorted(set(index) - set(files)):
        have = _current_sha(out / name)
        if have is None:
            continue
        if have != index[name]:
            raise _refuse(
                out,
                f"{name} (written by an earlier render, no longer rendered) was changed since",
                hint,
            )
        removals.append(name)

    written: list[str] = []
    removed: list[str] = []

    def record(strict: bool) -> None:
        recorded = {n: d for n, d in index.items() if n not in removed}
        recorded.update({n: sha256_text(files[n]) for n in (*written, *unchanged)})
        _write_index(out, recorded, strict=strict)

    try:
        out.mkdir(parents=True, exist_ok=True)
        for name in writes:
            target = out / name
            target.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(target, files[name])
            written.append(name)
        for name in removals:
            (out / name).unlink()
            removed.append(name)
            _prune_empty_parents(out, out / name)
        record(strict=True)
    except OSError as exc:
        if out.is_dir():
            record(strict=False)  # what is on disk now: a rerun then knows its files
        raise InputError(
            f"cannot write {out}: {exc.strerror or exc}",
            hint="check the --out path and its permissions; rerun to finish",
        ) from exc
    return WriteReport(out, tuple(written), tuple(unchanged), tuple(removed))


def _write_index(out: Path, recorded: dict[str, str], *, strict: bool) -> None:
    document = {"apiVersion": INDEX_API_VERSION, "kind": INDEX_KIND, "files": recorded}
    try:
        write_atomic(out / INDEX_NAME, json.dumps(document, indent=2, sort_keys=True) + "\n")
    except OSError:
        if strict:
            raise
        # after another failure, that one is reported; a stale index only makes the next
        # render refuse the files it cannot vouch for (the safe side)


def _prune_empty_parents(out: Path, path: Path) -> None:
    """Remove folders under `out` that removing `path` left empty (a chart's templates/)."""
    parent = path.parent
    while parent != out and out in parent.parents:
        try:
            parent.rmdir()
        except OSError:
            return
        parent = parent.parent
