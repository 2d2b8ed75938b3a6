"""NVML adapter (nvidia-ml-py, imported lazily). Minimal: detect local GPUs for `plan`."""

from __future__ import annotations

from collections import Counter
from typing import Any

from swissai.errors import EnvironmentProblem
from swissai.models.gpu import GIB, GpuGroup, Hardware


class NvmlUnavailable(EnvironmentProblem):
    """NVML cannot be used here (no library, no driver, no GPU)."""


def _nvml() -> Any:
    try:
        import pynvml
    except ImportError as exc:  # pragma: no cover - nvidia-ml-py is a dependency
        raise NvmlUnavailable("nvidia-ml-py is not installed") from exc
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as exc:
        raise NvmlUnavailable(f"NVML: {exc}", hint="install the NVIDIA driver") from exc
    return pynvml


def probe_hardware() -> Hardware:
    from swissai.adapters.profiles import list_gpu_ids, load_gpu

    nvml = _nvml()
    try:
        count = nvml.nvmlDeviceGetCount()
        if count == 0:
            raise NvmlUnavailable("NVML reports no GPU")
        by_name: dict[str, str] = {}
        for gpu_id in list_gpu_ids():
            for name in load_gpu(gpu_id).nvml_names:
                by_name[name.lower()] = gpu_id
        ids: Counter[str] = Counter()
        used_max = 0.0
        for index in range(count):
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            name = nvml.nvmlDeviceGetName(handle)
            name = name.decode() if isinstance(name, bytes) else str(name)
            profile_id = by_name.get(name.lower())
            if profile_id is None:
                raise NvmlUnavailable(f"GPU '{name}' has no swissai profile", hint="use --gpus")
            ids[profile_id] += 1
            used_max = max(used_max, nvml.nvmlDeviceGetMemoryInfo(handle).used / GIB)
    finally:
        nvml.nvmlShutdown()
    groups = [GpuGroup(gpu=load_gpu(g), count=c) for g, c in sorted(ids.items())]
    spec = ",".join(f"{c}x{g}" for g, c in sorted(ids.items()))
    return Hardware(groups=groups, nodes=1, source="probe", spec=spec, memory_used_gib_max=used_max)
