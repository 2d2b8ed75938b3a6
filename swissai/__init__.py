"""swissai: plan, render, check, deploy and verify on-premises vLLM serving.

The Python API (`swissai.plan(...)`, `swissai.render(...)`, ...) lives in `swissai.api` and is
imported on first use, so `import swissai` and `swissai --help` stay fast.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name.startswith("_") or name == "api":
        raise AttributeError(name)
    import importlib

    api = importlib.import_module("swissai.api")
    if name in api.__all__:
        return getattr(api, name)
    raise AttributeError(f"module 'swissai' has no attribute {name!r}")


def __dir__() -> list[str]:
    import importlib

    api = importlib.import_module("swissai.api")

    return sorted([*globals(), *api.__all__])
