"""Reading ServePlan files (`swissai plan --out`), the one way every command does it.

The contract (ARCHITECTURE.md): stable keys, additions allowed, a versioned apiVersion. So a
plan written by a newer swissai of the same apiVersion may carry keys this one does not know:
they are dropped with a warning, not refused. A different apiVersion is refused (no older
version exists to migrate from yet). Wrong types and missing keys are exit 2 with the key's path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from swissai.errors import InputError
from swissai.models.plan import API_VERSION, ServePlan

HINT = "write it with `swissai plan --out`"


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model inside an annotation like `PlanLayout`, `list[LayoutOption]`."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _nested_model(arg)
        if found is not None:
            return found
    return None


def drop_unknown_keys(model: type[BaseModel], data: Any, path: str = "") -> list[str]:
    """Remove, in place, keys `model` does not define (recursively); return their paths."""
    dropped: list[str] = []
    if not isinstance(data, dict):
        return dropped
    fields = model.model_fields
    for key in list(data):
        where = f"{path}.{key}" if path else str(key)
        if key not in fields:
            dropped.append(where)
            del data[key]
            continue
        inner = _nested_model(fields[key].annotation)
        if inner is None:
            continue
        value = data[key]
        if isinstance(value, list):
            for i, item in enumerate(value):
                dropped += drop_unknown_keys(inner, item, f"{where}.{i}")
        else:
            dropped += drop_unknown_keys(inner, value, where)
    return dropped


def plan_from_mapping(data: Any, source: str) -> tuple[ServePlan, list[str]]:
    """Validate a parsed plan; (plan, warnings about keys this swissai does not know)."""
    if not isinstance(data, dict) or data.get("kind") != "ServePlan":
        raise InputError(f"{source} is not a ServePlan (kind: ServePlan expected)", hint=HINT)
    if data.get("apiVersion") != API_VERSION:
        from swissai.adapters.yaml_safe import short_repr

        raise InputError(
            f"{source}: apiVersion {short_repr(data.get('apiVersion'))} is not {API_VERSION}",
            hint="re-create the plan with this swissai: `swissai plan --out`",
        )
    dropped = drop_unknown_keys(ServePlan, data)
    try:
        plan = ServePlan.model_validate(data)
    except ValidationError as exc:
        from swissai.adapters.yaml_safe import key_path, one_line

        err = exc.errors()[0]
        where = key_path(err["loc"])
        raise InputError(f"{source}: {where}: {one_line(err['msg'])}", hint=HINT) from exc
    warnings = (
        [f"{source}: ignoring {', '.join(dropped)} (written by a newer swissai?)"]
        if dropped
        else []
    )
    return plan, warnings


def load_plan(path: Path) -> tuple[ServePlan, list[str]]:
    """A `swissai plan --out` file (YAML, or JSON for .json) -> (plan, warnings). Loaded within
    DOCUMENT_LIMITS (adapters/yaml_safe): bounded size and nesting, no aliases, no duplicate
    keys; every problem is exit 2 naming the file."""
    from swissai.adapters.yaml_safe import DOCUMENT_LIMITS, load_data_file

    if path.is_dir():
        raise InputError(f"cannot read plan {path}: is a directory", hint=HINT)
    data = load_data_file(path, DOCUMENT_LIMITS, what="plan", hint=HINT)
    return plan_from_mapping(data, str(path))
