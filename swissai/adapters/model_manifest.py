"""sha256 manifests of model directories (SUP-003).

The format is the one `sha256sum` reads and writes ("<64 hex>  <relative path>", one line per
file, sorted), so `sha256sum -c` can check it too. The verification logic is the script the
serving pods' init container runs (templates/scripts/verify_model.py); `verify_dir` loads that
same file, so the pod and `swissai` can never disagree about what "verified" means.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from swissai.errors import InputError

DEFAULT_MANIFEST = "SHA256SUMS"
EXCLUDED_DIRS = (".git", ".cache")
CHUNK = 8 * 1024 * 1024


# Characters that end a line for str.splitlines(), which the pods' verifier parses the manifest
# with (templates/scripts/verify_model.py, parse_manifest): a name holding one cannot round-trip.
LINE_BREAKS = frozenset("\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")


def name_problem(relative: str) -> str | None:
    """Why a relative path cannot be one manifest line, or None."""
    if any(c in LINE_BREAKS for c in relative):
        return "its name holds a line break (newline, U+0085, U+2028 or U+2029)"
    if "\\" in relative:
        return "its name holds a backslash (sha256sum would escape it)"
    try:
        relative.encode("utf-8")
    except UnicodeEncodeError:
        return "its name is not valid UTF-8"
    return None


def _inside(path: str, root: str) -> bool:
    return os.path.commonpath([path, root]) == root


def walk_model_dir(root: Path, manifest_name: str = DEFAULT_MANIFEST) -> list[tuple[str, int]]:
    """(relative path, size) of every file the manifest covers, sorted by path; the same files
    the pods' verifier walks (os.walk following links, `.git`/`.cache` skipped at the top).

    Refused with exit 2, naming the path: a symlink that leaves the directory (it would attest
    a file outside the model), a dangling or looping symlink, a symlinked directory that loops
    back, anything that is not a regular file (a FIFO would block the hash), and a name that
    cannot be one manifest line. Unreadable directories are refused too, never skipped."""
    root_real = os.path.realpath(root)
    found: list[tuple[str, int]] = []

    def refuse(relative: str, why: str) -> InputError:
        return InputError(
            f"{root}: {relative!r} {why}; the manifest cannot attest it",
            hint="copy the model into a plain directory (cp -rL), rename or remove the file",
        )

    def on_error(exc: OSError) -> None:
        raise InputError(f"cannot read {exc.filename}: {exc.strerror}") from exc

    for dirpath, dirnames, filenames in os.walk(root, followlinks=True, onerror=on_error):
        here = Path(dirpath)
        here_real = os.path.realpath(here)
        if here == root:
            dirnames[:] = [d for d in dirnames if d not in EXCLUDED_DIRS]
        dirnames.sort()
        for name in dirnames:
            path = here / name
            relative = path.relative_to(root).as_posix()
            problem = name_problem(relative)
            if problem is not None:
                raise refuse(relative, problem)
            if path.is_symlink():
                target = os.path.realpath(path)
                if not _inside(target, root_real):
                    raise refuse(relative, f"is a symlink that leaves the directory ({target})")
                if _inside(here_real, target):
                    raise refuse(relative, "is a symlink that loops back to a parent directory")
        for name in filenames:
            path = here / name
            relative = path.relative_to(root).as_posix()
            if relative == manifest_name:
                continue
            problem = name_problem(relative)
            if problem is not None:
                raise refuse(relative, problem)
            if path.is_symlink():
                try:
                    target = os.path.realpath(path, strict=True)
                except OSError:
                    raise refuse(relative, "is a dangling or looping symlink") from None
                if not _inside(target, root_real):
                    raise refuse(relative, f"is a symlink that leaves the directory ({target})")
            try:
                info = path.stat()
            except OSError as exc:
                raise refuse(relative, f"cannot be read ({exc.strerror})") from exc
            if not stat.S_ISREG(info.st_mode):
                raise refuse(relative, "is not a regular file")
            found.append((relative, info.st_size))
    return sorted(found)


def model_files(root: Path, manifest_name: str = DEFAULT_MANIFEST) -> list[tuple[str, int]]:
    """(relative path, size) of every file the manifest covers (walk_model_dir)."""
    return walk_model_dir(root, manifest_name)


def sha256_file(path: Path, advance: Callable[[int], None] | None = None) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(CHUNK):
            digest.update(block)
            if advance is not None:
                advance(len(block))
    return digest.hexdigest()


def build_manifest(
    root: Path,
    manifest_name: str = DEFAULT_MANIFEST,
    advance: Callable[[int], None] | None = None,
) -> str:
    """The manifest text for `root`; `advance(bytes)` reports progress."""
    if not root.is_dir():
        raise InputError(f"{root} is not a directory", hint="pass the model directory")
    lines = [
        f"{sha256_file(root / name, advance)}  {name}\n"
        for name, _ in model_files(root, manifest_name)
    ]
    if not lines:
        raise InputError(f"{root} holds no files to list")
    return "".join(lines)


def write_manifest(path: Path, text: str) -> None:
    """Write the manifest atomically: a temp file beside it, renamed over it; the temp file
    never outlives a failure (an interrupted write would otherwise leave it in the model
    directory, where the next manifest would list it). Exit 3 naming the path on a failure."""
    from swissai.errors import EnvironmentProblem

    tmp_name: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        os.replace(tmp_name, path)
        tmp_name = None
    except OSError as exc:
        raise EnvironmentProblem(
            f"cannot write {path}: {exc.strerror or exc}", hint="check the --out path"
        ) from exc
    finally:
        if tmp_name is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp_name)


def _verifier() -> ModuleType:
    from swissai.resources import templates_dir

    path = templates_dir() / "scripts" / "verify_model.py"
    spec = importlib.util.spec_from_file_location("swissai_verify_model", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def verify_dir(
    root: Path,
    manifest_name: str,
    manifest_sha256: str,
    required: dict[str, str] | None = None,
    advance: Callable[[int], None] | None = None,
) -> list[str]:
    """Problems found (empty = verified), exactly as the pods' init container reports them.

    `advance(bytes)` reports progress (called from the verifier's hashing threads): the
    verifier's own sha256_file is swapped, in this freshly loaded copy only, for the same
    computation with progress."""
    verifier = _verifier()
    if advance is not None:
        verifier.__dict__["sha256_file"] = lambda path: sha256_file(Path(path), advance)
    problems: list[str] = verifier.verify(root, manifest_name, manifest_sha256, required or {})
    return problems
