"""`swissai bundle create | verify | push`: air-gap bundles (issue 13).

Parses options, calls swissai.services.bundle, prints the result."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from swissai.cli.options import SITE, Output, output_option

HELP = (
    "Air-gap bundles: collect everything an isolated network needs to serve a plan (images by "
    "digest, weights with their sha256 manifest, encodings, manifests and Helm chart, plan, "
    "site profile, swissai's wheels), verify it on the inside, push it to the internal registry."
)
CREATE_HELP = (
    "Write a bundle into a new folder: plan, site profile, rendered manifests and Helm chart, "
    "the model directory with its sha256 manifest (which must be the one the site profile "
    "pins), the gpt-oss encodings, swissai's wheel and its dependency wheels, the image "
    "references by digest (OCI archives when skopeo or crane is on PATH; else the exact "
    "commands in images/commands.sh), and BUNDLE.json with every file's size and sha256. "
    "Prints BUNDLE.json's own sha256: pin it on the inside (bundle verify --sha256)."
)
VERIFY_HELP = (
    "Hash every file of a bundle (or every part) again, in parallel, and compare with "
    "BUNDLE.json. Exit 1 naming the file when it is tampered, truncated, missing or added, "
    "when BUNDLE.json differs from --sha256, or when the bundle is for another --plan. An "
    "interrupted run resumes where it stopped (--restart hashes everything)."
)
PUSH_HELP = (
    "Load the bundle's images into the internal registry (skopeo or crane, when on PATH; "
    "otherwise print the exact commands) and write the bundle's site profile with its images "
    "in that registry, digests unchanged."
)

app = typer.Typer(help=HELP, no_args_is_help=True)

JOBS = typer.Option(
    None, "--jobs", "-j", min=1, max=64, help="Files hashed at once (default: cores, at most 8)."
)


def _emit(doc: dict[str, Any], output: Output) -> None:
    if output is Output.json:
        typer.echo(json.dumps(doc, indent=2))
    else:
        import yaml

        typer.echo(yaml.safe_dump(doc, sort_keys=False), nl=False)


@app.command("create", help=CREATE_HELP)
def create(
    plan_file: Path = typer.Argument(..., metavar="PLAN", help="A `swissai plan --out` file."),
    site_file: Path | None = SITE,
    model_dir: Path = typer.Option(
        ..., "--model-dir", help="The model directory, with its SHA256SUMS manifest."
    ),
    out: Path = typer.Option(..., "--out", help="A new (or empty) folder for the bundle."),
    part_size: str | None = typer.Option(
        None,
        "--part-size",
        help="Write the bundle as a tar stream cut into parts of this size for transfer "
        "media (e.g. 4GiB, 25G, 700MB): bundle.tar.0000, ... and BUNDLE.json.",
    ),
    wheels: Path | None = typer.Option(
        None,
        "--wheels",
        help="Take swissai's wheel and its dependency wheels from this folder (offline) "
        "instead of running pip wheel against the package mirror.",
    ),
    jobs: int | None = JOBS,
    output: Output = output_option(Output.table),
) -> None:
    from swissai.cli.console import EventPrinter
    from swissai.services.bundle import create_bundle

    with EventPrinter(quiet_info=output is not Output.table) as printer:
        result = create_bundle(
            plan_file,
            site_file,
            model_dir,
            out,
            wheels_dir=wheels,
            part_size=part_size,
            jobs=jobs,
            on_event=printer,
        )
    manifest = result.manifest
    if output is Output.table:
        typer.echo(f"bundle: {result.out}")
        typer.echo(f"files: {len(manifest.files)} ({manifest.total_bytes / 2**30:.2f} GiB)")
        if manifest.parts:
            typer.echo(f"parts: {len(manifest.parts)} of at most {manifest.part_size_bytes} bytes")
        saved = sum(1 for i in manifest.images if i.archive)
        typer.echo(f"images: {len(manifest.images)} ({saved} saved as OCI archives)")
        typer.echo(f"wheels: {len(manifest.wheels)}")
        typer.echo(f"hashed: {result.gb_per_s:.2f} GB/s")
        typer.echo(f"bundle_sha256: {result.manifest_sha256}")
    else:
        _emit(
            {
                "bundle": str(result.out),
                "bundle_sha256": result.manifest_sha256,
                "files": len(manifest.files),
                "bytes": manifest.total_bytes,
                "parts": [p.model_dump() for p in manifest.parts],
                "images": [i.model_dump() for i in manifest.images],
                "wheels": manifest.wheels,
                "image_tool": result.image_tool,
                "seconds": round(result.seconds, 3),
                "gb_per_s": round(result.gb_per_s, 3),
            },
            output,
        )


@app.command("verify", help=VERIFY_HELP)
def verify(
    directory: Path = typer.Argument(..., metavar="BUNDLE", help="The bundle folder."),
    sha256: str | None = typer.Option(
        None, "--sha256", help="The pinned sha256 of BUNDLE.json (printed by bundle create)."
    ),
    plan_file: Path | None = typer.Option(
        None, "--plan", help="Refuse a bundle made from another plan than this file."
    ),
    state: Path | None = typer.Option(
        None,
        "--state",
        help="Where to record progress for resuming (default BUNDLE/.swissai-verify-state.json).",
    ),
    restart: bool = typer.Option(False, "--restart", help="Ignore earlier progress; hash all."),
    jobs: int | None = JOBS,
    output: Output = output_option(Output.table),
) -> None:
    from swissai.cli.console import EventPrinter
    from swissai.services.bundle import verify_bundle, verify_or_raise

    with EventPrinter(quiet_info=output is not Output.table) as printer:
        result = verify_bundle(
            directory,
            sha256=sha256,
            plan_file=plan_file,
            state_file=state,
            restart=restart,
            jobs=jobs,
            on_event=printer,
        )
    if output is Output.table:
        for problem in result.problems:
            typer.echo(str(problem))
    else:
        _emit(
            {
                "bundle": str(result.directory),
                "bundle_sha256": result.manifest_sha256,
                "ok": result.ok,
                "problems": [{"path": p.path, "problem": p.why} for p in result.problems],
                "checked": result.checked,
                "resumed": result.resumed,
                "hashed_bytes": result.hashed_bytes,
                "seconds": round(result.seconds, 3),
                "gb_per_s": round(result.gb_per_s, 3),
            },
            output,
        )
    verify_or_raise(result)
    if output is Output.table:
        typer.echo(
            f"{directory}: verified ({result.checked} checked, {result.resumed} from an earlier "
            f"run; {result.hashed_bytes / 2**30:.2f} GiB at {result.gb_per_s:.2f} GB/s)"
        )


@app.command("push", help=PUSH_HELP)
def push(
    directory: Path = typer.Argument(..., metavar="BUNDLE", help="The verified bundle folder."),
    registry: str = typer.Option(
        ..., "--registry", help="The internal registry host[:port] to load the images into."
    ),
    site_out: Path = typer.Option(
        Path("swissai.yaml"), "--site-out", help="Where to write the rewritten site profile."
    ),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing --site-out."),
    output: Output = output_option(Output.table),
) -> None:
    from swissai.cli.console import EventPrinter
    from swissai.services.bundle import push_bundle

    with EventPrinter(quiet_info=output is not Output.table) as printer:
        result = push_bundle(directory, registry, site_out=site_out, force=force, on_event=printer)
    if output is Output.table:
        for old, new in result.images:
            typer.echo(f"{old} -> {new}")
        state = "loaded" if result.loaded else "NOT loaded (run the commands above)"
        typer.echo(f"images: {state}; site profile: {result.site}")
    else:
        _emit(
            {
                "site": str(result.site),
                "registry": result.registry,
                "images": [{"from": a, "to": b} for a, b in result.images],
                "loaded": result.loaded,
                "image_tool": result.image_tool,
                "commands": result.commands,
            },
            output,
        )
