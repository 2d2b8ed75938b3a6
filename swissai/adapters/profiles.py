"""Loading GPU profiles, the model catalog and model config.json files from disk.

Ids that name files (`--gpus 8xID`, an inventory's `profile_id`, a catalog `--model ID`) are
checked against a strict pattern before any path is built from them: `../` or an absolute path
in an id must not read a file outside profiles/ (Path('/p') / '/etc/x.yaml' is '/etc/x.yaml').
Every file is read through adapters/yaml_safe (bounded size, nesting, no aliases, UTF-8).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from swissai.adapters.yaml_safe import (
    DOCUMENT_LIMITS,
    key_path,
    load_data_file,
    load_json,
    one_line,
    read_capped,
)
from swissai.core.model_config import parse_model_config
from swissai.errors import InputError
from swissai.models.gpu import GpuSpec
from swissai.models.model import ModelSpec
from swissai.resources import profiles_dir

# Profile and catalog ids as ARCHITECTURE.md spells them (`h100-80gb`, `llama-3.3-70b-instruct`):
# lower-case ASCII letters and digits, '-', '_' and single '.' between them (no '..'), no '/'.
PROFILE_ID = re.compile(r"[a-z0-9](?:[a-z0-9_-]|\.[a-z0-9_-]){0,63}", re.ASCII)
MODEL_HINT = "--model takes a catalog id, a model directory or a config.json"


def is_profile_id(text: str) -> bool:
    """Whether `text` may name a file under profiles/ (no '/', no '..', ASCII only)."""
    return PROFILE_ID.fullmatch(text) is not None


def _validation_message(exc: ValidationError) -> str:
    err = exc.errors()[0]
    return f"{key_path(err['loc'])}: {one_line(err['msg'])}"


def list_gpu_ids() -> list[str]:
    return sorted(p.stem for p in (profiles_dir() / "gpus").glob("*.yaml"))


def load_gpu(gpu_id: str) -> GpuSpec:
    known = "known ids: " + ", ".join(list_gpu_ids())
    if not is_profile_id(gpu_id):
        raise InputError(f"unknown GPU id {gpu_id[:80]!r}: not a GPU id", hint=known)
    path = profiles_dir() / "gpus" / f"{gpu_id}.yaml"
    if not path.is_file():
        raise InputError(f"unknown GPU id '{gpu_id}'", hint=known)
    data = load_data_file(path, DOCUMENT_LIMITS, what="GPU profile")
    try:
        return GpuSpec.model_validate(data)
    except ValidationError as exc:
        raise InputError(f"GPU profile {path.name}: {_validation_message(exc)}") from exc


def load_gpu_profile_file(path: Path) -> GpuSpec:
    """A user-supplied GPU profile (`--gpu-profile FILE`), validated like the shipped ones and
    for sanity (core/hardware.validate_gpu_profile); its id must not shadow a shipped id."""
    from swissai.core.hardware import validate_gpu_profile

    shown = one_line(str(path))
    if not path.is_file():
        raise InputError(
            f"--gpu-profile {shown}: no such file", hint="give a YAML file like profiles/gpus/*"
        )
    data = load_data_file(path, DOCUMENT_LIMITS, what="GPU profile")
    if not isinstance(data, dict):
        raise InputError(f"GPU profile {shown} must be a mapping of the profile fields")
    try:
        gpu = GpuSpec.model_validate(data)
    except ValidationError as exc:
        raise InputError(f"GPU profile {shown}: {_validation_message(exc)}") from exc
    if not is_profile_id(gpu.id):
        raise InputError(
            f"GPU profile {shown}: id {gpu.id[:80]!r} is not a GPU id",
            hint="lower-case letters, digits and '-', e.g. my-gpu-48gb",
        )
    if gpu.id in list_gpu_ids():
        raise InputError(
            f"GPU profile {shown}: id '{gpu.id}' is a shipped profile",
            hint="give your profile its own id (the shipped one is used without --gpu-profile)",
        )
    return validate_gpu_profile(gpu, shown)


def list_model_ids() -> list[str]:
    return sorted(p.stem for p in (profiles_dir() / "models").glob("*.yaml"))


def _read_json(path: Path) -> dict[str, Any]:
    text = read_capped(path, DOCUMENT_LIMITS)
    data = load_json(text, str(path), DOCUMENT_LIMITS, hint=MODEL_HINT)
    if not isinstance(data, dict):
        raise InputError(f"{path} must hold a JSON object", hint=MODEL_HINT)
    return data


def _catalog_entry(ref: str) -> Path | None:
    if not is_profile_id(ref):
        return None  # a path (or nonsense): never joined to the catalog folder
    entry_path = profiles_dir() / "models" / f"{ref}.yaml"
    return entry_path if entry_path.is_file() else None


def load_model(ref: str) -> ModelSpec:
    """A catalog id, a directory holding config.json, or the path of a config.json."""
    entry_path = _catalog_entry(ref)
    if entry_path is not None:
        entry = load_data_file(entry_path, DOCUMENT_LIMITS, what="catalog entry")
        config = _read_json(entry_path.parent / entry["config"])
        config.update(entry.get("config_overrides") or {})
        try:
            return parse_model_config(
                config, model_id=ref, source="catalog", hf_repo=entry["hf_repo"]
            )
        except InputError as exc:
            raise InputError(f"catalog entry {ref}: {exc.message}", hint=exc.hint) from exc
    path = Path(ref).expanduser()
    if path.is_dir():
        path = path / "config.json"
    if path.is_file():
        config = _read_json(path)
        name = path.parent.name if path.name == "config.json" else path.stem
        try:
            return parse_model_config(config, model_id=name, source=str(path.resolve()))
        except InputError as exc:
            raise InputError(f"{path}: {exc.message}", hint=exc.hint) from exc
    shown = ref if len(ref) <= 80 else ref[:77] + "..."
    raise InputError(
        f"unknown model {shown!r}: not a catalog id, model directory or config.json",
        hint="catalog ids: " + ", ".join(list_model_ids()),
    )
