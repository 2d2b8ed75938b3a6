"""Where the GPUs of a plan come from: --gpus, --inventory, the local NVML probe, or the
embedded default (one node of 8xh100-80gb) when none of those is available."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from swissai.adapters.profiles import load_gpu
from swissai.core.hardware import hardware_from_spec
from swissai.errors import InputError
from swissai.models.gpu import GpuSpec, Hardware

EMBEDDED_DEFAULT_GPUS = "8xh100-80gb"


def resolve_hardware(
    gpus: str | None,
    inventory: Path | None,
    *,
    nvml: Any | None = None,
    gpu_profile: Path | None = None,
) -> tuple[Hardware, str | None]:
    """(hardware, a one-line note for stderr or None). `nvml` defaults to the real pynvml.
    `gpu_profile`: a user-supplied profile file whose id --gpus may name; without --gpus, one
    node of it (gpus_per_node GPUs) is planned."""
    if gpu_profile is not None:
        from swissai.adapters.profiles import load_gpu_profile_file

        if inventory is not None:
            raise InputError(
                "--gpu-profile and --inventory both say which GPUs to plan for",
                hint="give --gpus COUNTxID with --gpu-profile, or --inventory alone",
            )
        custom = load_gpu_profile_file(gpu_profile)

        def lookup(gpu_id: str) -> GpuSpec:
            return custom if gpu_id == custom.id else load_gpu(gpu_id)

        if gpus is None:
            spec = f"{custom.gpus_per_node}x{custom.id}"
            return hardware_from_spec(spec, lookup), (
                f"planning for one node of the profile {custom.id}: {spec} (--gpus to choose)"
            )
        return hardware_from_spec(gpus, lookup), None
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
