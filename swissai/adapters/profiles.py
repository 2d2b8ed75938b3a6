"""Loading GPU profiles, the model catalog and model config.json files from disk."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from swissai.core.model_config import parse_model_config
from swissai.errors import InputError
from swissai.models.gpu import GpuSpec
from swissai.models.model import ModelSpec
from swissai.resources import profiles_dir


def _validation_message(exc: ValidationError) -> str:
    err = exc.errors()[0]
    path = ".".join(str(p) for p in err["loc"]) or "(top level)"
    return f"{path}: {err['msg']}"


def list_gpu_ids() -> list[str]:
    return sorted(p.stem for p in (profiles_dir() / "gpus").glob("*.yaml"))


def load_gpu(gpu_id: str) -> GpuSpec:
    path = profiles_dir() / "gpus" / f"{gpu_id}.yaml"
    if not path.is_file():
        raise InputError(
            f"unknown GPU id '{gpu_id}'",
            hint="known ids: " + ", ".join(list_gpu_ids()),
        )
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    try:
        return GpuSpec.model_validate(data)
    except ValidationError as exc:
        raise InputError(f"GPU profile {path.name}: {_validation_message(exc)}") from exc


def list_model_ids() -> list[str]:
    return sorted(p.stem for p in (profiles_dir() / "models").glob("*.yaml"))


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {path}: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{path} is not valid JSON (line {exc.lineno}: {exc.msg})",
            hint="--model takes a catalog id, a model directory or a config.json",
        ) from exc
    if not isinstance(data, dict):
        raise InputError(f"{path} must hold a JSON object")
    return data


def load_model(ref: str) -> ModelSpec:
    """A catalog id, a directory holding config.json, or the path of a config.json."""
    entry_path = profiles_dir() / "models" / f"{ref}.yaml"
    if entry_path.is_file():
        entry = yaml.safe_load(entry_path.read_text(encoding="utf-8"))
        config = _read_json(entry_path.parent / entry["config"])
        config.update(entry.get("config_overrides") or {})
        return parse_model_config(config, model_id=ref, source="catalog", hf_repo=entry["hf_repo"])
    path = Path(ref).expanduser()
    if path.is_dir():
        path = path / "config.json"
    if path.is_file():
        config = _read_json(path)
        name = path.parent.name if path.name == "config.json" else path.stem
        return parse_model_config(config, model_id=name, source=str(path.resolve()))
    raise InputError(
        f"unknown model '{ref}': not a catalog id, model directory or config.json",
        hint="catalog ids: " + ", ".join(list_model_ids()),
    )
