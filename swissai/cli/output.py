"""Shared output helpers of the CLI: one machine document on stdout, artifacts to files (through
the services), hints and notes to stderr."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pydantic import BaseModel


def to_document(model: BaseModel, fmt: str) -> str:
    from swissai.services.artifacts import to_document as document

    return document(model, fmt)


def write_text_atomic(path: Path, text: str) -> None:
    """Atomic write; an unwritable path is a one-line input error (exit 2)."""
    from swissai.services.artifacts import write_text

    write_text(path, text)


def write_artifact(path: Path, model: BaseModel) -> None:
    """A model as YAML (or JSON for .json), written atomically."""
    from swissai.services.artifacts import write_document

    write_document(path, model)


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
