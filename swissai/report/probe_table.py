"""Human-readable probe: one row per GPU, the topology matrix, MIG instances and processes.

Fields NVML does not support on a GPU are None in the inventory and `n/a` here.
"""

from __future__ import annotations

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from swissai.core.gpu_inventory import nvlink_domains
from swissai.models.gpu import GIB, Hardware
from swissai.models.inventory import GpuInventory, InventoryGpu

NA = "n/a"


def _gib(n_bytes: int | None) -> str:
    return NA if n_bytes is None else f"{n_bytes / GIB:.1f}"


def _flag(value: bool | None) -> str:
    return NA if value is None else ("on" if value else "off")


def _memory(gpu: InventoryGpu) -> str:
    return f"{_gib(gpu.memory_used_bytes)} / {_gib(gpu.memory_total_bytes)}"


def _ecc(gpu: InventoryGpu) -> str:
    text = _flag(gpu.ecc_enabled)
    if gpu.ecc_uncorrected_errors:
        text += f", {gpu.ecc_uncorrected_errors} err"
    return text


def _mig(gpu: InventoryGpu) -> str:
    text = _flag(gpu.mig_enabled)
    if gpu.mig_enabled:
        text += f" ({len(gpu.mig_instances)})"
    if gpu.mig_pending is not None and gpu.mig_pending != gpu.mig_enabled:
        text += " -> " + _flag(gpu.mig_pending)
    return text


def gpu_table(inventory: GpuInventory) -> Table:
    table = Table(title="GPUs", title_justify="left", header_style="bold", pad_edge=False)
    for column in (
        "#",
        "name",
        "profile",
        "used/total GiB",
        "CC",
        "MIG",
        "ECC",
        "W",
        "pers.",
        "procs",
    ):
        table.add_column(
            column,
            justify="right" if column in ("#", "W", "procs") else "left",
            no_wrap=column != "name",
        )
    for gpu in inventory.gpus:
        table.add_row(
            str(gpu.index),
            gpu.name.removeprefix("NVIDIA "),
            gpu.profile_id or Text("none", style="yellow"),
            _memory(gpu),
            gpu.compute_capability or NA,
            _mig(gpu),
            _ecc(gpu),
            NA if gpu.power_limit_watts is None else f"{gpu.power_limit_watts:.0f}",
            _flag(gpu.persistence_mode),
            str(len(gpu.processes)),
        )
    return table


def topology_table(inventory: GpuInventory) -> Table:
    table = Table(title="topology", title_justify="left", header_style="bold", pad_edge=False)
    table.add_column("")
    for gpu in inventory.gpus:
        table.add_column(f"GPU{gpu.index}", justify="center")
    for gpu, row in zip(inventory.gpus, inventory.topology.matrix, strict=False):
        cells = [
            Text(
                label, style="green" if label.startswith("NV") else ("dim" if label == "X" else "")
            )
            for label in row
        ]
        table.add_row(f"GPU{gpu.index}", *cells)
    return table


def _details(inventory: GpuInventory) -> list[Text]:
    lines: list[Text] = []
    for gpu in inventory.gpus:
        for inst in gpu.mig_instances:
            lines.append(
                Text(
                    f"  GPU{gpu.index} MIG {inst.index}: {inst.profile or NA} "
                    f"{_gib(inst.memory_used_bytes)} / {_gib(inst.memory_total_bytes)} GiB "
                    f"(GI {inst.gpu_instance_id if inst.gpu_instance_id is not None else NA}) "
                    f"{inst.uuid or NA}"
                )
            )
    for gpu in inventory.gpus:
        for proc in gpu.processes:
            used = NA if proc.memory_used_bytes is None else f"{_gib(proc.memory_used_bytes)} GiB"
            mig = f" on MIG GI {proc.gpu_instance_id}" if proc.gpu_instance_id is not None else ""
            lines.append(Text(f"  GPU{gpu.index} pid {proc.pid} {proc.name or NA}: {used}{mig}"))
    return lines


def render_probe(inventory: GpuInventory, hardware: Hardware | None, console: Console) -> None:
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    head.add_row("host", inventory.host)
    head.add_row(
        "driver",
        f"{inventory.driver_version or NA} (CUDA {inventory.cuda_driver_version or NA}, "
        f"NVML {inventory.nvml_version or NA})",
    )
    domains = nvlink_domains(inventory)
    linked = [d for d in domains if len(d) > 1]
    head.add_row(
        "NVLink",
        " ".join("[" + ",".join(map(str, d)) + "]" for d in linked) if linked else "none",
    )
    if hardware is not None:
        domain = hardware.nvlink_domain_size
        head.add_row(
            "plans for",
            f"{hardware.spec}"
            + (f"; TP up to {domain} stays on NVLink" if domain and domain > 1 else "")
            + (
                " (no NVLink: TP > 1 runs over PCIe)"
                if domain == 1 and hardware.total_gpus > 1
                else ""
            ),
        )
    items: list[Table | Text] = [head, Text(""), gpu_table(inventory)]
    if len(inventory.gpus) > 1 and inventory.topology.matrix:
        items += [Text(""), topology_table(inventory)]
        items.append(
            Text(
                "NV#: GPUs joined by # NVLinks (directly or through NVSwitch); PIX, PXB, PHB, "
                "NODE, SYS: PCIe path as `nvidia-smi topo -m` names it; ?: NVML did not say",
                style="dim",
            )
        )
    details = _details(inventory)
    if details:
        items += [Text("MIG instances and processes:", style="bold"), *details]
    items.append(Text(f"{NA}: NVML does not support the field on this GPU", style="dim"))
    if console.is_terminal:
        console.print(Panel(Group(*items), title="swissai probe", expand=False))
    else:  # a CI log or a file: no frame around the tables
        console.print("swissai probe")
        console.print(Group(*items))
