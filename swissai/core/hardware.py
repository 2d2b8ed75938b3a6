"""GPU spec strings: COUNTxID[,COUNTxID...][@NODES] (ARCHITECTURE.md, 'GPU ids')."""

from __future__ import annotations

import re
from collections.abc import Callable

from swissai.errors import InputError
from swissai.models.gpu import GpuGroup, GpuSpec, Hardware

_PART = re.compile(r"^(\d+)x([a-z0-9][a-z0-9.-]*)$")


def parse_gpu_spec(text: str) -> tuple[list[tuple[int, str]], int]:
    """'16xh100-80gb@2' -> ([(16, 'h100-80gb')], 2)."""
    spec = text.strip().lower()
    nodes = 1
    if "@" in spec:
        spec, _, node_text = spec.partition("@")
        if not node_text.isdigit() or int(node_text) < 1:
            raise InputError(
                f"--gpus {text}: '@{node_text}' is not a node count",
                hint="write e.g. 16xh100-80gb@2 for two nodes of eight",
            )
        nodes = int(node_text)
    parts: list[tuple[int, str]] = []
    for raw in spec.split(","):
        m = _PART.match(raw.strip())
        if not m or int(m[1]) < 1:
            raise InputError(
                f"--gpus {text}: '{raw}' is not COUNTxID",
                hint="write e.g. 8xh100-80gb; `swissai plan --list-gpus` shows the ids",
            )
        parts.append((int(m[1]), m[2]))
    total = sum(c for c, _ in parts)
    if total % nodes:
        raise InputError(
            f"--gpus {text}: {total} GPUs do not split evenly over {nodes} nodes",
            hint="give a GPU count that is a multiple of the node count",
        )
    return parts, nodes


def hardware_from_spec(
    text: str, lookup: Callable[[str], GpuSpec], source: str = "spec"
) -> Hardware:
    parts, nodes = parse_gpu_spec(text)
    groups = [GpuGroup(gpu=lookup(gpu_id), count=count) for count, gpu_id in parts]
    canonical = ",".join(f"{c}x{g}" for c, g in parts) + (f"@{nodes}" if nodes > 1 else "")
    return Hardware(groups=groups, nodes=nodes, source=source, spec=canonical)
