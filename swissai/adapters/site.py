"""Reading and writing the site profile (`swissai.yaml`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from swissai.errors import InputError
from swissai.models.site import SiteProfile


def _message(exc: ValidationError) -> str:
    from swissai.adapters.yaml_safe import key_path, one_line

    err = exc.errors()[0]
    msg = one_line(str(err["msg"]).removeprefix("Value error, "))
    return f"{key_path(err['loc'])}: {msg}" if err["loc"] else msg


DEFAULT_SITE = Path("swissai.yaml")


def site_path(given: Path | None, *, required: bool) -> Path | None:
    """The one rule for `--site` (render, check, deploy, status, rollback, destroy): a given
    path must exist; without one, ./swissai.yaml is used when present; when it is absent a
    command that needs a site profile stops (exit 2), the others go on without one."""
    if given is not None:
        if not given.is_file():
            raise InputError(
                f"site profile {given} not found", hint="write one with `swissai init`"
            )
        return given
    if DEFAULT_SITE.is_file():
        return DEFAULT_SITE
    if required:
        raise InputError(
            f"no site profile: ./{DEFAULT_SITE} not found and --site not given",
            hint="write one with `swissai init`, or pass --site FILE",
        )
    return None


def load_site(path: Path) -> SiteProfile:
    """Load and validate; any problem is an InputError (exit 2) naming the key's path. Loaded
    within DOCUMENT_LIMITS (adapters/yaml_safe): bounded size and nesting, no aliases, no
    duplicate keys (a second `namespace:` must not silently win), UTF-8."""
    from swissai.adapters.yaml_safe import DOCUMENT_LIMITS, load_data_file

    if path.is_dir():
        raise InputError(f"cannot read site profile {path}: is a directory")
    data = load_data_file(
        path, DOCUMENT_LIMITS, what="site profile", hint="compare with a fresh `swissai init`"
    )
    if not isinstance(data, dict):
        raise InputError(f"site profile {path} must be a mapping", hint="run `swissai init`")
    try:
        return SiteProfile.model_validate(data)
    except ValidationError as exc:
        raise InputError(
            f"site profile {path}: {_message(exc)}",
            hint="compare with a fresh `swissai init --out new.yaml` and docs/render.md",
        ) from exc


def site_text(site: SiteProfile) -> str:
    """The commented swissai.yaml for `site` (what `swissai init` writes)."""
    from swissai.rendering.environment import make_environment

    template = make_environment().get_template("site/swissai.yaml.j2")
    return template.render(s=site.model_dump(mode="json"))
