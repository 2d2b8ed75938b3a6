"""Reading and writing the site profile (`swissai.yaml`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from swissai.errors import InputError
from swissai.models.site import SiteProfile


def _message(exc: ValidationError) -> str:
    err = exc.errors()[0]
    path = ".".join(str(p) for p in err["loc"])
    msg = str(err["msg"]).removeprefix("Value error, ")
    return f"{path}: {msg}" if path else msg


def load_site(path: Path) -> SiteProfile:
    """Load and validate; any problem is an InputError (exit 2) naming the key's path."""
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read site profile {path}: {exc}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InputError(f"site profile {path} is not valid YAML: {exc}") from exc
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
    from swissai.render.environment import make_environment

    template = make_environment().get_template("site/swissai.yaml.j2")
    return template.render(s=site.model_dump(mode="json"))
