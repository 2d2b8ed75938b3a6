"""sha256 manifests of model directories (SUP-003).

The format is the one `sha256sum` reads and writes ("<64 hex>  <relative path>", one line per
file, sorted), so `sha256sum -c` can check it too. The verification logic is the script the
serving pods' init container runs (templates/scripts/verify_model.py); `verify_dir` loads that
same file, so the pod and `swissai` can never disagree about what "verified" means.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from swissai.errors import InputError

DEFAULT_MANIFEST = "SHA256SUMS"
EXCLUDED_DIRS = (".git", ".cache")
CHUNK = 8 * 1024 * 1024


def model_files(root: Path, manifest_name: str = DEFAULT_MANIFEST) -> list[tuple[str, int]]:
    """(relative path, size) of every file the manifest covers, sorted by path."""
    found: list[tuple[str, int]] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        here = Path(dirpath)
        if here == root:
            dirnames[:] = [d for d in dirnames if d not in EXCLUDED_DIRS]
        dirnames.sort()
        for name in filenames:
            path = here / name
            relative = path.relative_to(root).as_posix()
            if relative == manifest_name:
                continue
            if any(c in relative for c in "\n\r\\"):
                raise InputError(
                    f"{relative!r}: a file name with a newline or backslash cannot be listed",
                    hint="rename the file",
                )
            found.append((relative, path.stat().st_size))
    return sorted(found)


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
