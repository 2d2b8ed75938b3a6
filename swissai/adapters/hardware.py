"""Where the GPUs of a plan come from: --gpus, --inventory, the local NVML probe, or the
embedded default (one node of 8xh100-80gb) when none of those is available."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from swissai.adapters.profiles import load_gpu
from swissai.core.hardware import hardware_from_spec
from swissai.errors import InputError
from swissai.models.gpu import Hardware

EMBEDDED_DEFAULT_GPUS = "8xh100-80gb"


def resolve_hardware(
    gpus: str | None, inventory: Path | None, *, nvml: Any | None = None
) -> tuple[Hardware, str | None]:
    """(hardware, a one-line note for stderr or None). `nvml` defaults to the real pynvml."""
    if gpus is not None and inventory is not None:
        raise InputError(
            "--gpus and --inventory both say which GPUs to plan for",
            hint="give one of them",
        )
    if gpus is not None:
        return hardware_from_spec(gpus, load_gpu), None
    if inventory is not None:
        from swissai.adapters.inventory import hardware_from_inventory_file

        return hardware_from_inventory_file(inventory), None
    from swissai.adapters.nvml import NvmlUnavailable, probe_hardware

    try:
        hardware = probe_hardware(nvml)
    except NvmlUnavailable as exc:
        if not exc.absent:
            raise  # a GPU host whose NVML fails must not be planned as 8xH100 (exit 3)
        default = hardware_from_spec(EMBEDDED_DEFAULT_GPUS, load_gpu, source="default")
        return default, (
            f"no GPU found ({exc.message}): planning for the embedded default "
            f"{EMBEDDED_DEFAULT_GPUS} (one node); use --gpus or --inventory to choose"
        )
    return hardware, f"planning for the local GPUs: {hardware.spec}"
