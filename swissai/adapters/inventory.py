"""Reading a `swissai probe --out` inventory snapshot (kind: GpuInventory)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import yaml

from swissai.adapters.profiles import load_gpu
from swissai.errors import InputError
from swissai.models.gpu import GIB, GpuGroup, Hardware


def hardware_from_inventory_file(path: Path) -> Hardware:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"cannot read inventory {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise InputError(f"inventory {path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict) or data.get("kind") != "GpuInventory":
        raise InputError(
            f"{path} is not a GpuInventory snapshot",
            hint="create one with `swissai probe --out inventory.yaml` on the GPU server",
        )
    gpus = data.get("gpus")
    if not isinstance(gpus, list) or not gpus:
        raise InputError(f"{path}: gpus must be a non-empty list")
    ids: Counter[str] = Counter()
    used_max = 0.0
    for i, gpu in enumerate(gpus):
        profile = gpu.get("profile_id") if isinstance(gpu, dict) else None
        if not isinstance(profile, str):
            raise InputError(f"{path}: gpus.{i}.profile_id must name a GPU profile")
        ids[profile] += 1
        used = gpu.get("memory_used_bytes", 0) or 0
        used_max = max(used_max, float(used) / GIB)
    groups = [GpuGroup(gpu=load_gpu(g), count=c) for g, c in sorted(ids.items())]
    spec = ",".join(f"{c}x{g}" for g, c in sorted(ids.items()))
    return Hardware(
        groups=groups, nodes=1, source="inventory", spec=spec, memory_used_gib_max=used_max
    )
