"""Where the GPUs of a plan come from: --gpus, --inventory, the local NVML probe, or the
embedded default (one node of 8xh100-80gb) when none of those is available."""

from __future__ import annotations

from pathlib import Path

from swissai.adapters.profiles import load_gpu
from swissai.core.hardware import hardware_from_spec
from swissai.models.gpu import Hardware

EMBEDDED_DEFAULT_GPUS = "8xh100-80gb"


def resolve_hardware(gpus: str | None, inventory: Path | None) -> tuple[Hardware, str | None]:
    """(hardware, a one-line note for stderr or None)."""
    if gpus is not None:
        return hardware_from_spec(gpus, load_gpu), None
    if inventory is not None:
        from swissai.adapters.inventory import hardware_from_inventory_file

        return hardware_from_inventory_file(inventory), None
    from swissai.adapters.nvml import NvmlUnavailable, probe_hardware

    try:
        hardware = probe_hardware()
    except NvmlUnavailable as exc:
        default = hardware_from_spec(EMBEDDED_DEFAULT_GPUS, load_gpu, source="default")
        return default, (
            f"no GPU found ({exc.message}): planning for the embedded default "
            f"{EMBEDDED_DEFAULT_GPUS} (one node); use --gpus or --inventory to choose"
        )
    return hardware, f"planning for the local GPUs: {hardware.spec}"
