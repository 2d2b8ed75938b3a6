"""Reading a LoRA adapter directory (PEFT layout: adapter_config.json + adapter_model.safetensors
or adapter_model.bin), bounded like every other input. Nothing is downloaded: a path that is not
a local directory is exit 2, hub ids included (vLLM would fetch those from the Internet)."""

from __future__ import annotations

from pathlib import Path

from swissai.adapters.yaml_safe import DOCUMENT_LIMITS, load_data_file
from swissai.core.lora import LoraAdapter
from swissai.errors import InputError

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")


def read_adapter(adapter: LoraAdapter) -> LoraAdapter:
    """`adapter` with its path made absolute and its rank read from adapter_config.json."""
    root = Path(adapter.path).expanduser()
    if not root.is_dir():
        looks_like_hub = "/" in adapter.path and not adapter.path.startswith((".", "/", "~"))
        raise InputError(
            f"LoRA adapter {adapter.name}={adapter.path}: not a directory"
            + (" (hub ids are not downloaded)" if looks_like_hub else ""),
            hint="give the local directory holding adapter_config.json and the weights",
        )
    config_path = root / ADAPTER_CONFIG
    if not config_path.is_file():
        raise InputError(
            f"LoRA adapter {adapter.name}: {config_path} is missing",
            hint="a PEFT LoRA adapter directory has adapter_config.json next to its weights",
        )
    config = load_data_file(config_path, DOCUMENT_LIMITS, what="adapter config")
    if not isinstance(config, dict):
        raise InputError(f"adapter config {config_path}: not a JSON object")
    if str(config.get("peft_type", "LORA")).upper() != "LORA":
        raise InputError(
            f"adapter {adapter.name}: peft_type {config.get('peft_type')!r} is not LORA",
            hint="vLLM serves LoRA adapters only",
        )
    rank = config.get("r")
    if not isinstance(rank, int) or isinstance(rank, bool) or not 1 <= rank <= 4096:
        raise InputError(f"adapter config {config_path}: 'r' must be a positive integer")
    if not any((root / name).is_file() for name in ADAPTER_WEIGHTS):
        raise InputError(
            f"LoRA adapter {adapter.name}: no {' or '.join(ADAPTER_WEIGHTS)} in {root}",
            hint="copy the adapter's weights next to adapter_config.json",
        )
    targets = config.get("target_modules")
    modules: tuple[str, ...] = ()
    if isinstance(targets, list) and targets and all(isinstance(t, str) for t in targets):
        # a list of module names; a string ("all-linear", a regex) leaves vLLM's default
        modules = tuple(sorted({t.rsplit(".", 1)[-1] for t in targets}))
    return LoraAdapter(
        name=adapter.name, path=str(root.resolve()), rank=rank, target_modules=modules
    )
