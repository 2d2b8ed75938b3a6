"""The layering rule of ARCHITECTURE.md, checked on the source (every import, lazy ones too).

* core never imports adapters, rendering, report, services or cli (and no heavy third-party module);
* models import only models, the standard library and pydantic;
* rendering and report use core and models, never adapters or cli;
* adapters never import cli.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

import swissai

PACKAGE_DIR = Path(swissai.__file__).resolve().parent
HEAVY = ("kubernetes", "jinja2", "pynvml", "httpx", "vllm", "torch", "rich", "typer")


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE_DIR.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    return _imports_of_source(
        _module_name(path), path.name == "__init__.py", path.read_text("utf-8")
    )


def _imports_of_source(module: str, is_package: bool, source: str) -> set[str]:
    """Absolute names of every module imported anywhere in the source (relative ones resolved,
    imports inside functions included)."""
    package = module if is_package else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                prefix = ".".join(base)
                target = f"{prefix}.{node.module}" if node.module else prefix
            else:
                target = node.module or ""
            names.add(target)
            # `from swissai import adapters` imports a layer by attribute
            names.update(f"{target}.{alias.name}" for alias in node.names)
    return names


def _modules(layer: str) -> list[Path]:
    return sorted((PACKAGE_DIR / layer).rglob("*.py"))


def _violations(layer: str, allowed: object) -> list[str]:
    assert callable(allowed)
    out = []
    for path in _modules(layer):
        for name in sorted(_imports(path)):
            if not allowed(name):
                out.append(f"{_module_name(path)} imports {name}")
    return out


def _in(name: str, *layers: str) -> bool:
    return any(
        name == f"swissai.{layer}" or name.startswith(f"swissai.{layer}.") for layer in layers
    )


def _top(name: str) -> str:
    return name.split(".")[0]


def test_every_layer_has_modules() -> None:
    for layer in ("core", "models", "adapters", "rendering", "report", "services", "cli"):
        assert _modules(layer), f"swissai/{layer} has no modules"


def test_core_never_imports_outer_layers_or_heavy_modules() -> None:
    def allowed(name: str) -> bool:
        if _in(name, "adapters", "rendering", "report", "services", "cli"):
            return False
        return _top(name) not in HEAVY

    assert _violations("core", allowed) == []


def test_models_import_only_models_stdlib_and_pydantic() -> None:
    def allowed(name: str) -> bool:
        if name.startswith("swissai"):
            return _in(name, "models")
        return _top(name) in sys.stdlib_module_names or _top(name) == "pydantic"

    assert _violations("models", allowed) == []


@pytest.mark.parametrize("layer", ["rendering", "report"])
def test_render_and_report_never_import_adapters_or_cli(layer: str) -> None:
    assert _violations(layer, lambda name: not _in(name, "adapters", "cli")) == []


def test_adapters_never_import_cli_or_services() -> None:
    assert _violations("adapters", lambda name: not _in(name, "cli", "services")) == []


def test_the_checker_sees_lazy_and_relative_imports() -> None:
    """The checker itself must catch an import hidden in a function or written relatively."""
    source = (
        "from __future__ import annotations\n"
        "def f() -> None:\n"
        "    from swissai.cli import main\n"
        "from ..adapters import profiles\n"
        "from .. import report\n"
        "from . import sizing\n"
    )
    names = _imports_of_source("swissai.core.probe", False, source)
    assert "swissai.cli" in names
    assert "swissai.adapters" in names
    assert "swissai.report" in names
    assert "swissai.core.sizing" in names
    assert _in("swissai.cli.main", "cli") and not _in("swissai.client", "cli")


def test_services_never_import_cli_typer_or_rich() -> None:
    """Services print nothing: they report through events (swissai.services.events)."""

    def allowed(name: str) -> bool:
        return not _in(name, "cli") and _top(name) not in ("typer", "rich", "click")

    assert _violations("services", allowed) == []


CLI_SHARED = ("swissai.cli.console", "swissai.cli.options", "swissai.cli.output")


def test_cli_modules_never_import_each_other_or_adapters() -> None:
    """A CLI module parses, calls a service and prints: it imports services, models, report
    and the shared CLI helpers, never another command's module and never an adapter."""

    def allowed(name: str) -> bool:
        if _in(name, "adapters"):
            return False
        if _in(name, "cli"):
            return name == "swissai.cli" or any(
                name == shared or name.startswith(shared + ".") for shared in CLI_SHARED
            )
        return True

    found = []
    for path in _modules("cli"):
        module = _module_name(path)
        if module in ("swissai.cli.main", "swissai.cli"):
            continue  # the app registers every command module
        for name in sorted(_imports(path)):
            if not allowed(name) and name != module:
                found.append(f"{module} imports {name}")
    assert found == []


def test_the_public_api_stays_lazy() -> None:
    """`import swissai` must not load the CLI, the services or any heavy module: the API is
    reached by attribute (`swissai.plan`), which imports swissai.api on first use."""
    import subprocess

    code = (
        "import sys, swissai\n"
        "heavy = [m for m in ('swissai.api', 'swissai.services', 'swissai.cli', 'typer', "
        "'rich', 'kubernetes', 'jinja2', 'pynvml', 'httpx', 'yaml') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
