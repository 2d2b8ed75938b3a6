"""Reading and writing swissai's own documents (plans, inventories, reports) for the CLI and the
Python API: one place that turns a model into YAML/JSON and writes it atomically."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from swissai.models.plan import ServePlan
from swissai.models.site import SiteProfile
from swissai.services.events import EventSink, ignore, warn


def to_document(model: BaseModel, fmt: str) -> str:
    """One JSON or YAML document of a model (keys in field order)."""
    data: Any = model.model_dump(mode="json")
    if fmt == "json":
        return json.dumps(data, indent=2) + "\n"
    import yaml

    return str(yaml.safe_dump(data, sort_keys=False, width=100))


def write_text(path: Path, text: str) -> None:
    """Atomic write (temp file + rename); an unwritable path is exit 2."""
    from swissai.adapters.files import write_text_atomic

    write_text_atomic(path, text)


def write_document(path: Path, model: BaseModel) -> None:
    """A model as YAML (or JSON for a .json path), written atomically."""
    write_text(path, to_document(model, "json" if path.suffix == ".json" else "yaml"))


def read_plan(path: Path, *, on_event: EventSink = ignore) -> ServePlan:
    """A `swissai plan --out` file; keys from a newer swissai are dropped with a warning, other
    apiVersions and broken files are exit 2 (swissai.adapters.plan_file)."""
    from swissai.adapters.plan_file import load_plan

    plan, warnings = load_plan(Path(path))
    for text in warnings:
        warn(on_event, text)
    return plan


def read_site(given: Path | None, *, required: bool) -> SiteProfile | None:
    """The site profile by the one --site rule (adapters.site.site_path): `given`, else
    ./swissai.yaml when present; None when absent and not `required` (else exit 2)."""
    from swissai.adapters.site import load_site, site_path

    found = site_path(given, required=required)
    return load_site(found) if found is not None else None
