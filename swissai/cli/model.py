"""`swissai model manifest|verify|stage-encodings`: model directories (SUP-003, RES-007).

Parses options, calls swissai.services.model, prints the result."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from swissai.cli.options import ManifestOutput, output_option

HELP = (
    "Model files: write or verify the sha256 manifest that serving pods check before vLLM "
    "starts, and stage the gpt-oss encodings."
)
MANIFEST_HELP = (
    "Write the sha256 manifest of a model directory (sha256sum format, DIR/SHA256SUMS unless "
    "--out) and print the manifest's own sha256 for the site profile's model.manifest_sha256."
)
VERIFY_HELP = (
    "Verify a model directory against its manifest, as the pods' init container does; for "
    "gpt-oss also DIR/encodings against tiktoken's pinned sha256. Exit 1 when a file is "
    "missing, unlisted or differs."
)
STAGE_HELP = (
    "Write DIR/encodings/o200k_base.tiktoken (gpt-oss) offline from the vocabulary embedded in "
    "openai_harmony, checked against tiktoken's pinned sha256. Run it with a Python that has "
    "vLLM (or openai-harmony) installed."
)

app = typer.Typer(help=HELP, no_args_is_help=True)


@app.command("manifest", help=MANIFEST_HELP)
def manifest(
    directory: Path = typer.Argument(..., metavar="DIR", help="The model directory."),
    out: Path | None = typer.Option(None, "--out", help="Manifest path (default DIR/SHA256SUMS)."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing manifest."),
    output: ManifestOutput = output_option(ManifestOutput.table),
) -> None:
    from swissai.cli.console import EventPrinter
    from swissai.services.model import write_manifest

    with EventPrinter(quiet_info=output is ManifestOutput.json) as printer:
        result = write_manifest(directory, out, force=force, on_event=printer)
    if output is ManifestOutput.json:
        doc = {
            "manifest": str(result.manifest),
            "sha256": result.sha256,
            "files": result.files,
            "bytes": result.bytes,
        }
        if result.lora_rank is not None:
            doc["lora_adapter"] = {"rank": result.lora_rank}
        typer.echo(json.dumps(doc, indent=2))
    else:
        typer.echo(f"manifest_sha256: {result.sha256}")


@app.command("verify", help=VERIFY_HELP)
def verify(
    directory: Path = typer.Argument(..., metavar="DIR", help="The model directory."),
    sha256: str = typer.Option(..., "--sha256", help="The pinned sha256 of the manifest file."),
    manifest_file: str = typer.Option("SHA256SUMS", "--manifest", help="Name inside DIR."),
) -> None:
    from swissai.cli.console import EventPrinter
    from swissai.services.model import verify_model, verify_or_raise

    with EventPrinter() as printer:
        result = verify_model(directory, sha256, manifest_file, on_event=printer)
    for problem in result.problems:
        typer.echo(problem)
    verify_or_raise(result)
    checked = f" (encodings: {', '.join(result.encodings_checked)})"
    typer.echo(f"{directory}: verified" + (checked if result.encodings_checked else ""))


@app.command("stage-encodings", help=STAGE_HELP)
def stage_encodings(
    directory: Path = typer.Argument(..., metavar="DIR", help="The gpt-oss model directory."),
) -> None:
    from swissai.cli.console import EventPrinter
    from swissai.services.model import stage_encodings as stage

    with EventPrinter(quiet_info=True) as printer:
        staged = stage(directory, on_event=printer)
    typer.echo(f"{staged.path}: sha256 {staged.sha256}")
