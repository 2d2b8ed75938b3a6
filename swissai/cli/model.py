"""`swissai model manifest|verify`: sha256 manifests of model directories (SUP-003)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from swissai.errors import FindingsError, InputError

HELP = (
    "Model files: write or verify the sha256 manifest that serving pods check before vLLM starts."
)
MANIFEST_HELP = (
    "Write the sha256 manifest of a model directory (sha256sum format, DIR/SHA256SUMS unless "
    "--out) and print the manifest's own sha256 for the site profile's model.manifest_sha256."
)
VERIFY_HELP = (
    "Verify a model directory against its manifest, as the pods' init container does. "
    "Exit 1 when a file is missing, unlisted or differs."
)

if TYPE_CHECKING:
    from rich.progress import Progress

app = typer.Typer(help=HELP, no_args_is_help=True)


def _progress_hasher(total: int) -> tuple[Progress, Callable[[int], None]]:
    """A transient progress bar on stderr (models are 60+ GiB) and its advance(bytes)."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    progress = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(binary_units=True),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    task = progress.add_task("sha256", total=total)

    def advance(done: int) -> None:
        progress.advance(task, done)

    return progress, advance


@app.command("manifest", help=MANIFEST_HELP)
def manifest(
    directory: Path = typer.Argument(..., metavar="DIR", help="The model directory."),
    out: Path | None = typer.Option(None, "--out", help="Manifest path (default DIR/SHA256SUMS)."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing manifest."),
    output: str = typer.Option("table", "--output", "-o", help="table or json."),
) -> None:
    import hashlib

    from swissai.adapters.model_manifest import DEFAULT_MANIFEST, build_manifest, model_files
    from swissai.cli.output import note, write_text_atomic

    if output not in ("table", "json"):
        raise InputError(f"--output {output}: use table or json")
    if not directory.is_dir():
        raise InputError(f"{directory} is not a directory", hint="pass the model directory")
    target = out or directory / DEFAULT_MANIFEST
    if target.exists() and not force:
        raise InputError(f"{target} exists; not overwritten", hint="pass --force to replace it")
    inside = target.resolve().parent == directory.resolve()
    name = target.name if inside else DEFAULT_MANIFEST
    files = model_files(directory, name)
    total = sum(size for _, size in files)
    progress, advance = _progress_hasher(total)
    with progress:
        text = build_manifest(directory, name, advance)
    write_text_atomic(target, text)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    if output == "json":
        doc = {"manifest": str(target), "sha256": digest, "files": len(files), "bytes": total}
        typer.echo(json.dumps(doc, indent=2))
    else:
        note(f"wrote {target}: {len(files)} files, {total / 2**30:.2f} GiB")
        typer.echo(f"manifest_sha256: {digest}")


@app.command("verify", help=VERIFY_HELP)
def verify(
    directory: Path = typer.Argument(..., metavar="DIR", help="The model directory."),
    sha256: str = typer.Option(..., "--sha256", help="The pinned sha256 of the manifest file."),
    manifest_file: str = typer.Option("SHA256SUMS", "--manifest", help="Name inside DIR."),
) -> None:
    from swissai.adapters.model_manifest import verify_dir

    if not directory.is_dir():
        raise InputError(f"{directory} is not a directory")
    problems = verify_dir(directory, manifest_file, sha256)
    for problem in problems:
        typer.echo(problem)
    if problems:
        raise FindingsError(f"{directory}: {len(problems)} problem(s) against the manifest")
    typer.echo(f"{directory}: verified")
