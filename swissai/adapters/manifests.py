"""Load Kubernetes manifests (files, directories, `-` for a multi-document stream such as
`helm template` output) with the line of every field, and YAML files such as plans, site
profiles and waiver files with the same line map.

Unreadable or non-Kubernetes input is an InputError (exit 2) that names the file.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Literal

import yaml

from swissai.errors import InputError
from swissai.models.manifest import Document, join_path

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
YAML_SUFFIXES = (".yaml", ".yml", ".json")


def _record_lines(node: yaml.Node, path: str, lines: dict[str, int]) -> None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.value)
            child = join_path(path, str(key))
            lines[child] = key_node.start_mark.line + 1
            if not isinstance(value_node, yaml.ScalarNode):
                _record_lines(value_node, child, lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            child = join_path(path, index)
            lines[child] = item.start_mark.line + 1
            if not isinstance(item, yaml.ScalarNode):
                _record_lines(item, child, lines)


def _reject_duplicate_keys(node: yaml.Node, name: str) -> None:
    """A mapping that repeats a key: YAML loaders silently keep the last value, so two files
    concatenated without `---` would read as one object (the first one lost). Refused."""
    stack = [node]
    visited: set[int] = set()  # aliases share nodes: visit each once
    while stack:
        current = stack.pop()
        if id(current) in visited:
            continue
        visited.add(id(current))
        if isinstance(current, yaml.MappingNode):
            seen: dict[tuple[str, str], int] = {}
            for key_node, value_node in current.value:
                if isinstance(key_node, yaml.ScalarNode) and key_node.value != "<<":
                    key = (key_node.tag, key_node.value)
                    line = key_node.start_mark.line + 1
                    if key in seen:
                        raise InputError(
                            f"{name}:{line}: duplicate key {key_node.value!r} "
                            f"(first at line {seen[key]})",
                            hint="separate concatenated files with `---`; a key may appear "
                            "once per mapping",
                        )
                    seen[key] = line
                stack.append(value_node)
        elif isinstance(current, yaml.SequenceNode):
            stack.extend(current.value)


def parse_yaml_documents(text: str, name: str) -> Iterator[tuple[Any, int, dict[str, int]]]:
    """Yield (data, start line, field lines) for each non-empty document of `text`."""
    loader = _Loader(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            _reject_duplicate_keys(node, name)
            data = loader.construct_document(node)
            if data is None:
                continue
            lines: dict[str, int] = {}
            _record_lines(node, "", lines)
            yield data, node.start_mark.line + 1, lines
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{name}:{mark.line + 1}" if mark is not None else name
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InputError(
            f"{where}: not valid YAML ({problem})",
            hint="swissai check takes Kubernetes manifests (YAML or JSON)",
        ) from exc
    finally:
        loader.dispose()


def load_yaml_file(path: Path) -> Document | None:
    """One YAML mapping with field lines (plans, site profiles, waivers); None if empty."""
    text = _read(path)
    docs = list(parse_yaml_documents(text, str(path)))
    if not docs:
        return None
    data, line, lines = docs[0]
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a YAML mapping at the top level")
    return Document(data=data, file=str(path), line=line, lines=lines)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise InputError(f"{path}: no such file or directory") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read ({exc})") from exc


def _objects(text: str, name: str, source: Literal["file", "stdin"]) -> Iterator[Document]:
    for data, line, lines in parse_yaml_documents(text, name):
        if not isinstance(data, dict):
            raise InputError(
                f"{name}:{line}: not a Kubernetes object (a YAML {type(data).__name__})",
                hint="each document must be a mapping with apiVersion and kind",
            )
        kind = data.get("kind")
        if kind in ("ServePlan", "SiteProfile"):
            option = "--plan" if kind == "ServePlan" else "--site"
            raise InputError(
                f"{name}:{line}: a {kind} is not a manifest", hint=f"pass it with {option}"
            )
        if not isinstance(kind, str) or not isinstance(data.get("apiVersion"), str):
            raise InputError(
                f"{name}:{line}: not a Kubernetes object (no apiVersion/kind)",
                hint="swissai check takes Kubernetes manifests; plans go to --plan",
            )
        if kind.endswith("List") and isinstance(data.get("items"), list):
            for index, item in enumerate(data["items"]):
                prefix = f"items[{index}]"
                if not isinstance(item, dict) or not isinstance(item.get("kind"), str):
                    raise InputError(
                        f"{name}:{lines.get(prefix, line)}: list item is not an object"
                    )
                sub = {
                    k[len(prefix) + 1 :]: v
                    for k, v in lines.items()
                    if k.startswith(prefix + ".") or k.startswith(prefix + "[")
                }
                yield Document(
                    data=item, file=name, line=lines.get(prefix, line), lines=sub, source=source
                )
            continue
        yield Document.model_construct(data=data, file=name, line=line, lines=lines, source=source)


def _expand(paths: Iterable[str]) -> Iterator[str]:
    for raw in paths:
        if raw == "-":
            yield raw
            continue
        path = Path(raw)
        if path.is_dir():
            found = sorted(
                p
                for p in path.rglob("*")
                if p.is_file()
                and p.suffix in YAML_SUFFIXES
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
            if not found:
                raise InputError(f"{raw}: directory holds no .yaml, .yml or .json files")
            yield from (str(p) for p in found)
        elif path.exists():
            yield raw
        else:
            raise InputError(f"{raw}: no such file or directory")


def load_manifests(paths: Iterable[str], stdin_text: str | None = None) -> list[Document]:
    """All objects of all inputs, in input order. An input without any object is an error:
    a broken render must not produce a green build."""
    objects: list[Document] = []
    for name in _expand(paths):
        if name == "-":
            text = stdin_text if stdin_text is not None else sys.stdin.read()
            found = list(_objects(text, "-", "stdin"))
        else:
            found = list(_objects(_read(Path(name)), name, "file"))
        if not found:
            raise InputError(f"{name}: holds no Kubernetes objects", hint="check the render")
        objects.extend(found)
    return objects
