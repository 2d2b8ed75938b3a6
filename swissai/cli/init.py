"""`swissai init`: write a commented site profile (`swissai.yaml`), non-interactively."""

from __future__ import annotations

from pathlib import Path

import typer

from swissai.errors import InputError

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
    from pydantic import ValidationError

    from swissai.adapters.site import _message, site_text
    from swissai.cli.output import note, write_text_atomic
    from swissai.models.site import SiteProfile

    data: dict[str, object] = {}
    if namespace is not None:
        data["namespace"] = namespace
    if registry is not None:
        data["image"] = {"registry": registry}
        data["compliance"] = {"allowed_registries": [registry]}
    governance = {k: v for k, v in (("owner", owner), ("inventory_id", inventory_id)) if v}
    if governance:
        data["governance"] = governance
    if openshift:
        data["security"] = {"openshift": True}
        data["dns"] = {
            "peers": {
                "namespace_labels": {"kubernetes.io/metadata.name": "openshift-dns"},
                "pod_labels": {"dns.operator.openshift.io/daemonset-dns": "default"},
            },
            "ports": [5353],
        }
    try:
        site = SiteProfile.model_validate(data)
    except ValidationError as exc:
        raise InputError(f"init: {_message(exc)}") from exc
    if out.exists() and not force:
        raise InputError(f"{out} exists; not overwritten", hint="pass --force to replace it")
    write_text_atomic(out, site_text(site))
    note(
        f"wrote {out}; replace the EXAMPLE values ({', '.join(site.placeholders())}) before production"
    )
