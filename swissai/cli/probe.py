"""`swissai probe`: this host's GPUs through NVML, as a table or a GpuInventory snapshot."""

from __future__ import annotations

from pathlib import Path

import typer

from swissai.errors import InputError

HELP = (
    "Read this host's GPUs through NVML (name, memory, compute capability, MIG, ECC, processes, "
    "NVLink/PCIe topology). --out writes a snapshot for `swissai plan --inventory`. "
    "Exit 3 where NVML is absent."
)


def probe(
    output: str = typer.Option("table", "--output", "-o", help="table, json or yaml."),
    out: Path | None = typer.Option(
        None, "--out", help="Write the GpuInventory snapshot here (YAML, or JSON for .json)."
    ),
    vllm_version: str | None = typer.Option(
        None, "--vllm-version", help="vLLM release whose image CUDA the driver is checked against."
    ),
) -> None:
    from swissai.cli.output import note, to_document, write_artifact

    # Inputs first: a bad flag is exit 2 before NVML is touched.
    if output not in ("table", "json", "yaml"):
        raise InputError(f"--output {output}: use table, json or yaml")
    from swissai.core.vllm_versions import DEFAULT_VLLM_VERSION, behaviour_for

    version, _ = behaviour_for(vllm_version or DEFAULT_VLLM_VERSION)

    from swissai.adapters.nvml import read_inventory
    from swissai.adapters.profiles import load_gpu
    from swissai.core.gpu_inventory import driver_finding, hardware_from_inventory

    inventory = read_inventory()
    findings: list[str] = []
    hardware = None
    try:
        hardware = hardware_from_inventory(inventory, load_gpu, source="probe")
        findings += hardware.warnings
    except InputError as exc:  # e.g. every GPU in MIG mode without instances
        findings.append(exc.message)
    driver = driver_finding(inventory.driver_version, inventory.cuda_driver_version, version)
    if driver:
        findings.append(driver)
    if out is not None:
        write_artifact(out, inventory)
        note(f"wrote {out}")
    if output == "table":
        from rich.console import Console

        from swissai.report.probe_table import render_probe

        render_probe(inventory, hardware, Console(width=100))
    else:
        typer.echo(to_document(inventory, output), nl=False)
    for finding in findings:
        note(f"warning: {finding}")
