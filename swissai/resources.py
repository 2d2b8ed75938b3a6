"""The one place that finds packaged `profiles/` and `templates/`.

In a wheel they ship as swissai/_data/{profiles,templates} (pyproject force-include); in a
source checkout or editable install they sit at the repository root next to the package.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


@cache
def data_dir(name: str) -> Path:
    for candidate in (_PACKAGE / "_data" / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"swissai data folder '{name}' is missing from the installation")


def profiles_dir() -> Path:
    return data_dir("profiles")


def templates_dir() -> Path:
    return data_dir("templates")
