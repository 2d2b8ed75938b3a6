"""Fail unless the venv holds exactly the versions constraints/lowest.txt names, and each equals
the `>=` bound of pyproject.toml's runtime dependencies (so `make test-lowest` proves them)."""

from __future__ import annotations

import re
import sys
from importlib.metadata import version
from pathlib import Path


def _norm(text: str) -> tuple[int, ...]:
    parts = [int(p) for p in text.split(".")]
    while parts and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


pins = {}
for line in Path(sys.argv[1]).read_text().splitlines():
    line = line.split("#", 1)[0].strip()
    if line:
        name, _, pinned = line.partition("==")
        pins[name.lower()] = pinned
pyproject = Path("pyproject.toml").read_text()
block = pyproject[pyproject.index("dependencies = [") :]
block = block[: block.index("\n]")]
bounds = {m.group(1).lower(): m.group(2) for m in re.finditer(r'"([\w.-]+)>=([0-9.]+)"', block)}
problems = []
for name, pinned in pins.items():
    installed = version(name)
    if installed != pinned:
        problems.append(f"{name}: {installed} installed, {pinned} pinned")
    if name not in bounds or _norm(bounds[name]) != _norm(pinned):
        problems.append(f"{name}: pyproject.toml says >={bounds.get(name)}, lowest.txt {pinned}")
problems += [f"{n}: a >= bound in pyproject.toml with no pin" for n in sorted(set(bounds) - set(pins))]
if problems:
    sys.exit("lowest versions wrong:\n  " + "\n  ".join(problems))
print("lowest versions installed: " + ", ".join(f"{n}=={v}" for n, v in sorted(pins.items())))
