"""`swissai backup --out FILE` and `swissai restore FILE`: parse options, call
`swissai.services.backup`, print the result.

Exit codes: 0 done, 1 the backup file is tampered, truncated, incomplete or opened with the
wrong key, or objects that swissai does not own are in the way (nothing restored), 2 bad input,
3 environment (no cluster, the server's dry run refused), 5 the restore stopped after its first
write (nothing deleted; run it again), 130/143 interrupted.
"""

from __future__ import annotations

from pathlib import Path

import typer

from swissai.cli.options import CONTEXT, KUBECONFIG, NAMESPACE, OUTPUT, RECORD_FILE, SITE, Output

BACKUP_HELP = (
    "Write what is needed to rebuild the serving stack into one file: the deployment records, "
    "the objects swissai applied and owns, the site profile, plans, waivers and model manifests "
    "given (weights only by revision, sha256 and location). Encrypted at rest with --key-file "
    "(Fernet, from the cryptography package)."
)
RESTORE_HELP = (
    "Rebuild the serving stack from a swissai backup into an empty namespace or a new cluster: "
    "verifies every member's sha256 and refuses objects in the way that swissai does not own "
    "(exit 1, nothing restored), then applies the namespace, the records and the objects."
)
KEY_FILE = typer.Option(
    None, "--key-file", help="Fernet key file: encrypt (backup) or decrypt (restore)."
)


def _emit(result: object, output: Output) -> None:
    from pydantic import BaseModel

    from swissai.cli.output import to_document

    if output is not Output.table:
        assert isinstance(result, BaseModel)
        typer.echo(to_document(result, output.value), nl=False)


def backup(
    out: Path | None = typer.Option(None, "--out", help="The backup file to write."),
    site_file: Path | None = SITE,
    namespace: str | None = NAMESPACE,
    workload: str | None = typer.Option(
        None, "--workload", help="One workload (default: every workload with records)."
    ),
    plan: list[Path] = typer.Option([], "--plan", help="A plan file to include (repeatable)."),
    include: list[Path] = typer.Option(
        [], "--include", help="Another file to include: waivers, model manifest (repeatable)."
    ),
    key_file: Path | None = KEY_FILE,
    new_key: Path | None = typer.Option(
        None, "--new-key", help="Write a fresh random key to this file (mode 0600) and exit."
    ),
    context: str | None = CONTEXT,
    kubeconfig: Path | None = KUBECONFIG,
    record_file: Path = RECORD_FILE,
    output: Output = OUTPUT,
) -> None:
    from swissai.cli.console import EventPrinter, note
    from swissai.errors import InputError
    from swissai.services import backup as service
    from swissai.services.artifacts import read_site

    if new_key is not None:
        service.new_key(new_key)
        note(f"wrote a new key to {new_key}; keep it apart from the backups")
        return
    if out is None:
        raise InputError("swissai backup needs --out FILE", hint="swissai backup --out b.swb")
    site = read_site(site_file, required=namespace is None)
    if site_file is None and site is not None:
        site_file = Path("swissai.yaml")  # the --site rule: else ./swissai.yaml when present
    ns = namespace or (site.namespace if site else None)
    if ns is None:  # pragma: no cover - read_site(required=True) raised already
        raise InputError("no namespace", hint="pass --namespace or --site")
    request = service.BackupRequest(
        namespace=ns,
        workload=workload or (site.name if site else None),
        claim_name=site.storage.pvc.claim_name if site and site.storage.pvc else None,
        context=context,
        kubeconfig=kubeconfig,
        out=out,
        key_file=key_file,
        site_file=site_file,
        files=[*plan, *include],
        record_file=record_file,
    )
    with EventPrinter() as printer:
        result = service.backup(request, on_event=printer)
    _emit(result, output)


def restore(
    path: Path = typer.Argument(..., metavar="FILE", help="A `swissai backup` file."),
    key_file: Path | None = KEY_FILE,
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Check everything and say what would be restored; change nothing."
    ),
    context: str | None = CONTEXT,
    kubeconfig: Path | None = KUBECONFIG,
    output: Output = OUTPUT,
) -> None:
    from swissai.cli.console import EventPrinter
    from swissai.services import backup as service

    request = service.RestoreRequest(
        path=path, key_file=key_file, context=context, kubeconfig=kubeconfig, dry_run=dry_run
    )
    with EventPrinter() as printer:
        result = service.restore(request, on_event=printer)
    _emit(result, output)
