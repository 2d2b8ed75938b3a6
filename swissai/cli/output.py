"""Shared output helpers: one machine document on stdout, artifacts to files, hints to stderr."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel


def to_document(model: BaseModel, fmt: str) -> str:
    data: Any = model.model_dump(mode="json")
    if fmt == "json":
        return json.dumps(data, indent=2) + "\n"
    import yaml

    return str(yaml.safe_dump(data, sort_keys=False, width=100))


def write_text_atomic(path: Path, text: str) -> None:
    """Write atomically through adapters/files (random O_EXCL|O_NOFOLLOW temp file, fsync,
    rename; nothing left behind on error; links and directories refused). An unwritable path
    is a one-line input error (exit 2)."""
    from swissai.adapters.files import write_text_atomic as write_atomic

    write_atomic(path, text)


def write_artifact(path: Path, model: BaseModel) -> None:
    """A model as YAML (or JSON for .json), written atomically."""
    write_text_atomic(path, to_document(model, "json" if path.suffix == ".json" else "yaml"))


def note(message: str) -> None:
    sys.stderr.write(message + "\n")
