"""Writing files atomically (the hardened version lands with the hostile-input work)."""

from __future__ import annotations

from pathlib import Path

from swissai.errors import InputError


def write_text_atomic(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        raise InputError(
            f"cannot write {path}: {exc.strerror}", hint="check the --out path"
        ) from exc
