"""Shared output helpers: one machine document on stdout, artifacts to files, hints to stderr."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from swissai.errors import InputError


def to_document(model: BaseModel, fmt: str) -> str:
    data: Any = model.model_dump(mode="json")
    if fmt == "json":
        return json.dumps(data, indent=2) + "\n"
    import yaml

    return str(yaml.safe_dump(data, sort_keys=False, width=100))


def write_text_atomic(path: Path, text: str) -> None:
    """Write atomically (temp file + rename): an interrupted write never leaves half a file.
    An unwritable path is a one-line input error (exit 2)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        raise InputError(
            f"cannot write {path}: {exc.strerror}", hint="check the --out path"
        ) from exc


def write_artifact(path: Path, model: BaseModel) -> None:
    """A model as YAML (or JSON for .json), written atomically."""
    write_text_atomic(path, to_document(model, "json" if path.suffix == ".json" else "yaml"))


def note(message: str) -> None:
    sys.stderr.write(message + "\n")


def emit_list(items: list[str], fmt: str) -> None:
    """A list of ids on stdout: one per line, or one JSON/YAML document."""
    if fmt == "json":
        sys.stdout.write(json.dumps(items) + "\n")
    elif fmt == "yaml":
        import yaml

        sys.stdout.write(str(yaml.safe_dump(items)))
    else:
        sys.stdout.write("".join(f"{item}\n" for item in items))
