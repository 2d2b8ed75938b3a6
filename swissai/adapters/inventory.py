"""Reading a `swissai probe --out` snapshot (kind: GpuInventory) for `swissai plan --inventory`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from swissai.adapters.yaml_safe import (
    DOCUMENT_LIMITS,
    YamlSyntaxError,
    key_path,
    load_data_file,
    one_line,
    short_repr,
)
from swissai.errors import InputError
from swissai.models.gpu import Hardware
from swissai.models.inventory import INVENTORY_API_VERSION, GpuInventory

SNAPSHOT_HINT = "create one with `swissai probe --out inventory.yaml` on the GPU server"


def _error_path(loc: tuple[int | str, ...]) -> str:
    return key_path(loc)


def parse_inventory(data: Any, origin: str) -> GpuInventory:
    """Validate a loaded document; every problem is exit 2 and names the key's path."""
    if not isinstance(data, dict):
        raise InputError(f"{origin} is not a GpuInventory snapshot (not a mapping)", SNAPSHOT_HINT)
    if data.get("kind") != "GpuInventory":
        raise InputError(
            f"{origin}: kind is {short_repr(data.get('kind'))}, not GpuInventory",
            hint=SNAPSHOT_HINT,
        )
    if data.get("apiVersion") != INVENTORY_API_VERSION:
        raise InputError(
            f"{origin}: apiVersion {short_repr(data.get('apiVersion'))} is not {INVENTORY_API_VERSION}",
            hint="this swissai reads swissai/v1alpha1 snapshots; probe again with this version",
        )
    try:
        return GpuInventory.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        first = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise InputError(
            f"{origin}: {_error_path(first['loc'])}: {one_line(first['msg'])}{more}",
            hint=SNAPSHOT_HINT,
        ) from exc


def read_inventory_file(path: Path) -> GpuInventory:
    """A `swissai probe --out` snapshot, loaded within DOCUMENT_LIMITS (adapters/yaml_safe:
    bounded size and nesting, no aliases, no duplicate keys, UTF-8)."""
    if path.is_dir():
        raise InputError(f"cannot read inventory {path}: is a directory", hint=SNAPSHOT_HINT)
    try:
        data = load_data_file(path, DOCUMENT_LIMITS, what="inventory", hint=SNAPSHOT_HINT)
    except YamlSyntaxError as exc:
        raise InputError(
            f"inventory {path} is not valid {exc.syntax.lower()}: "
            + (f"line {exc.line}: " if exc.line else "")
            + exc.problem,
            hint=SNAPSHOT_HINT,
        ) from None
    return parse_inventory(data, str(path))


def hardware_from_inventory_file(path: Path) -> Hardware:
    from swissai.adapters.profiles import load_gpu
    from swissai.core.gpu_inventory import hardware_from_inventory

    try:
        return hardware_from_inventory(read_inventory_file(path), load_gpu)
    except InputError as exc:
        if str(path) in exc.message:  # already names the file
            raise
        raise InputError(f"{path}: {exc.message}", hint=exc.hint) from exc
