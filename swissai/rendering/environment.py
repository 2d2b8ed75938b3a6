"""The Jinja environment of swissai: StrictUndefined, and every value through one JSON filter.

Templates write structure; values only ever enter through `| j` (JSON, which is YAML flow
syntax), so a quote or a newline in a value can never become YAML structure. `finalize` enforces
it: an expression that was not passed through `j` raises instead of being pasted into the text.
jinja2 is imported here only, inside functions: `swissai --help` must not import it.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from swissai.errors import SwissaiError

if TYPE_CHECKING:
    from jinja2 import Environment


class RenderError(SwissaiError):
    """A template or a value could not be rendered safely (a bug, or input that slipped through)."""


def to_json(value: Any) -> Any:
    from jinja2 import Undefined
    from markupsafe import Markup

    if isinstance(value, Undefined):
        value._fail_with_undefined_error()  # StrictUndefined: names the missing variable

    return Markup(json.dumps(value, ensure_ascii=False, sort_keys=False))


def _finalize(value: Any) -> Any:
    # Markup is what `j` and the templates' own macros produce (autoescape marks template text);
    # a plain value from the context is str, int, dict... and is refused.
    from markupsafe import Markup

    if isinstance(value, Markup):
        return value
    raise RenderError(
        f"template pasted a value without the j filter: {str(value)[:60]!r}",
        hint="write {{ value | j }} in the template",
    )


def make_environment() -> Environment:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    from swissai.resources import templates_dir

    env = Environment(
        loader=FileSystemLoader(str(templates_dir())),
        undefined=StrictUndefined,
        autoescape=True,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=_finalize,
    )
    env.filters["j"] = to_json
    return env
