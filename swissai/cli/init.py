"""`swissai init`: write a commented site profile (`swissai.yaml`), non-interactively."""

from __future__ import annotations

from pathlib import Path

import typer

HELP = (
    "Write a commented site profile (./swissai.yaml unless --out): registry and image digest, "
    "namespace, Swiss regions, GPU nodes, model storage, TLS, exposure, monitoring, governance. "
    "Refuses to overwrite an existing file without --force."
)


def init(
    out: Path = typer.Option(Path("swissai.yaml"), "--out", help="Where to write the profile."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing file."),
    namespace: str | None = typer.Option(None, "--namespace", help="Namespace of the workload."),
    registry: str | None = typer.Option(
        None, "--registry", help="Internal registry host (also the allowed registry)."
    ),
    owner: str | None = typer.Option(None, "--owner", help="Accountable owner (GOV-003)."),
    inventory_id: str | None = typer.Option(
        None, "--inventory-id", help="AI application inventory id (GOV-001)."
    ),
    openshift: bool = typer.Option(
        False,
        "--openshift",
        help="OpenShift: restricted-v2 SCC assigns the UID; DNS in openshift-dns.",
    ),
) -> None:
    from swissai.cli.console import note
    from swissai.services.init import site_profile, write_site_profile

    site = site_profile(
        namespace=namespace,
        registry=registry,
        owner=owner,
        inventory_id=inventory_id,
        openshift=openshift,
    )
    result = write_site_profile(out, site, force=force)
    note(
        f"wrote {result.path}; replace the EXAMPLE values ({', '.join(result.placeholders)}) "
        "before production"
    )
