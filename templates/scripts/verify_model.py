"""Verify a model directory against its sha256 manifest before vLLM starts (swissai, SUP-003).

Runs as the init container of every serving pod, with the Python of the vLLM image and the
standard library only. The manifest is the file `swissai model manifest DIR` writes, in the
format of `sha256sum` ("<64 hex>  <relative path>" per line, sorted). The pod fails to start when:
the manifest's own sha256 differs from the one pinned in the site profile; a listed file is missing
or differs; a file is present that the manifest does not list; a required file (the gpt-oss
tiktoken encodings) is absent or has another hash than the one tiktoken pins.

Environment: MODEL_DIR, MANIFEST_FILE (relative to MODEL_DIR), MANIFEST_SHA256,
REQUIRED_FILES ("path=sha256;path=sha256", optional), VERIFY_THREADS (optional),
ADAPTERS ("dir|manifest file|manifest sha256;..." optional): LoRA adapter directories, each
verified against its own manifest by the same rules.
"""

from __future__ import annotations

import hashlib
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

CHUNK = 8 * 1024 * 1024
EXCLUDED_DIRS = {".git", ".cache"}


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while True:
            block = handle.read(CHUNK)
            if not block:
                return digest.hexdigest()
            digest.update(block)


def parse_manifest(text: str) -> dict[str, str]:
    entries: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        digest, sep, name = line.partition("  ")
        if not sep or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise ValueError(f"manifest line {number} is not '<sha256>  <path>'")
        if name.startswith("/") or ".." in name.split("/") or name in entries:
            raise ValueError(f"manifest line {number}: bad or repeated path {name!r}")
        entries[name] = digest
    return entries


def present_files(root: Path, manifest_name: str) -> set[str]:
    found = set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        here = Path(dirpath)
        if here == root:
            dirnames[:] = [d for d in dirnames if d not in EXCLUDED_DIRS]
        for name in filenames:
            relative = (here / name).relative_to(root).as_posix()
            if relative != manifest_name:
                found.add(relative)
    return found


def verify(
    root: Path, manifest_name: str, manifest_sha256: str, required: dict[str, str]
) -> list[str]:
    problems: list[str] = []
    manifest_path = root / manifest_name
    if not manifest_path.is_file():
        return [f"manifest {manifest_path} is missing"]
    actual = sha256_file(manifest_path)
    if actual != manifest_sha256:
        return [f"manifest sha256 is {actual}, the site profile pins {manifest_sha256}"]
    try:
        entries = parse_manifest(manifest_path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        return [str(exc)]
    for name, digest in sorted(required.items()):
        if entries.get(name) != digest:
            problems.append(f"required file {name} is not in the manifest with sha256 {digest}")
    present = present_files(root, manifest_name)
    for name in sorted(present - set(entries)):
        problems.append(f"unlisted file {name}")
    for name in sorted(set(entries) - present):
        problems.append(f"missing file {name}")
    to_hash = sorted(set(entries) & present)
    threads = int(os.environ.get("VERIFY_THREADS", "4"))
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        for name, digest in zip(
            to_hash, pool.map(lambda n: sha256_file(root / n), to_hash), strict=True
        ):
            if digest != entries[name]:
                problems.append(f"sha256 mismatch {name}")
    return problems


def main() -> int:
    root = Path(os.environ["MODEL_DIR"])
    required = {}
    for item in filter(None, os.environ.get("REQUIRED_FILES", "").split(";")):
        name, _, digest = item.partition("=")
        required[name] = digest
    checks = [(root, os.environ["MANIFEST_FILE"], os.environ["MANIFEST_SHA256"], required)]
    for item in filter(None, os.environ.get("ADAPTERS", "").split(";")):
        directory, _, rest = item.partition("|")
        manifest, _, digest = rest.partition("|")
        checks.append((Path(directory), manifest, digest, {}))
    failed = 0
    for directory, manifest, digest, needed in checks:
        problems = verify(directory, manifest, digest, needed)
        for problem in problems:
            sys.stderr.write(f"verify-model: {directory}: {problem}\n")
        if problems:
            sys.stderr.write(f"verify-model: {directory} FAILED ({len(problems)} problem(s))\n")
            failed += 1
        else:
            sys.stdout.write(f"verify-model: {directory} OK\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
