"""The init use case: write a commented site profile (`swissai.yaml`), non-interactively.

Builds the profile from the given options (validated by the SiteProfile model: a bad value is
exit 2 naming its key), refuses to replace an existing file without `force`, writes atomically.
Prints nothing; the result says where it wrote and which EXAMPLE values remain.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from swissai.models.site import SiteProfile


@dataclass(frozen=True)
class InitResult:
    path: Path
    site: SiteProfile
    placeholders: tuple[str, ...]  # keys still holding EXAMPLE values


def site_profile(
    *,
    namespace: str | None = None,
    registry: str | None = None,
    owner: str | None = None,
    inventory_id: str | None = None,
    openshift: bool = False,
) -> SiteProfile:
    """The site profile for these options (defaults elsewhere); InputError naming the key."""
    from pydantic import ValidationError

    from swissai.errors import InputError

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
        return SiteProfile.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"])
        message = str(err["msg"]).removeprefix("Value error, ")
        raise InputError(
            f"init: {key}: {message}" if key else f"init: {message}",
            hint="see `swissai init --help` and docs/render.md",
        ) from exc


def write_site_profile(path: Path, site: SiteProfile, *, force: bool = False) -> InitResult:
    """Write the commented profile to `path`; exit 2 when it exists and `force` is not set."""
    from swissai.adapters.files import write_text_atomic as write_atomic
    from swissai.adapters.site import site_text
    from swissai.errors import InputError

    if (path.exists() or path.is_symlink()) and not force:
        raise InputError(f"{path} exists; not overwritten", hint="pass --force to replace it")
    text = site_text(site)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, text)
    except OSError as exc:
        raise InputError(
            f"cannot write {path}: {exc.strerror or exc}", hint="check the --out path"
        ) from exc
    return InitResult(path=path, site=site, placeholders=tuple(site.placeholders()))
