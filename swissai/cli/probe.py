"""`swissai probe`: this host's GPUs through NVML, as a table or a GpuInventory snapshot."""

from __future__ import annotations

from pathlib import Path

import typer

from swissai.cli.options import OUTPUT, Output

HELP = (
    "Read this host's GPUs through NVML (name, memory, compute capability, MIG, ECC, processes, "
    "NVLink/PCIe topology). --out writes a snapshot for `swissai plan --inventory`. "
    "Exit 3 where NVML is absent."
)


def probe(
    output: Output = OUTPUT,
    out: Path | None = typer.Option(
        None, "--out", help="Write the GpuInventory snapshot here (YAML, or JSON for .json)."
    ),
    vllm_version: str | None = typer.Option(
        None, "--vllm-version", help="vLLM release whose image CUDA the driver is checked against."
    ),
) -> None:
    from swissai.cli.console import stdout_console
    from swissai.cli.output import note, to_document, write_artifact
    from swissai.services.probe import probe as read_gpus

    result = read_gpus(vllm_version)
    if out is not None:
        write_artifact(out, result.inventory)
        note(f"wrote {out}")
    if output is Output.table:
        from swissai.report.probe_table import render_probe

        render_probe(result.inventory, result.hardware, stdout_console())
    else:
        typer.echo(to_document(result.inventory, output.value), nl=False)
    for finding in result.findings:
        note(f"warning: {finding}")
