"""Load Kubernetes manifests (files, directories, `-` for a multi-document stream such as
`helm template` output) with the line of every field, and YAML files such as plans, site
profiles and waiver files with the same line map.

Unreadable or non-Kubernetes input is an InputError (exit 2) that names the file.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Literal

import yaml

from swissai.adapters.yaml_safe import (
    MANIFEST_LIMITS,
    WAIVER_LIMITS,
    LoadLimits,
    compose_yaml,
    read_capped,
    read_stdin_capped,
)
from swissai.errors import InputError
from swissai.models.manifest import Document, join_path

YAML_SUFFIXES = (".yaml", ".yml", ".json")
MANIFEST_HINT = "swissai check takes Kubernetes manifests (YAML or JSON)"
# All inputs of one `check` together (characters; = bytes for ASCII YAML): four times one
# input's limit, so memory stays bounded however many files a folder holds.
MAX_TOTAL_MANIFEST_BYTES = 4 * MANIFEST_LIMITS.max_bytes


def _record_lines(root: yaml.Node, lines: dict[str, int]) -> None:
    """Field path -> line, iteratively (no recursion limit). A node shared through aliases is
    entered once: its fields keep the lines of the anchor, and `Document.line_of` falls back
    from a path under an alias to the alias's own line."""
    stack: list[tuple[yaml.Node, str]] = [(root, "")]
    entered: set[int] = set()
    while stack:
        node, path = stack.pop()
        if id(node) in entered:
            continue
        entered.add(id(node))
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                key = key_node.value if isinstance(key_node, yaml.ScalarNode) else "?"
                child = join_path(path, str(key))
                lines[child] = key_node.start_mark.line + 1
                if not isinstance(value_node, yaml.ScalarNode):
                    stack.append((value_node, child))
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                child = join_path(path, index)
                lines[child] = item.start_mark.line + 1
                if not isinstance(item, yaml.ScalarNode):
                    stack.append((item, child))


def parse_yaml_documents(
    text: str, name: str, limits: LoadLimits = MANIFEST_LIMITS
) -> Iterator[tuple[Any, int, dict[str, int]]]:
    """Yield (data, start line, field lines) for each non-empty document of `text`, loaded
    within `limits` (adapters/yaml_safe: size, aliases, nesting, duplicate keys, scalars)."""
    for data, node in compose_yaml(text, name, limits, hint=MANIFEST_HINT):
        lines: dict[str, int] = {}
        _record_lines(node, lines)
        yield data, node.start_mark.line + 1, lines


def load_yaml_file(path: Path, limits: LoadLimits = WAIVER_LIMITS) -> Document | None:
    """One YAML mapping with field lines (plans and site profiles for `check`); None if empty.
    By default bounded like a waiver file (WAIVER_LIMITS: 4 MiB, aliases counted, not
    refused), so that a manifest passed as `--plan` by mistake is still told apart as "not a
    ServePlan"; pass DOCUMENT_LIMITS to refuse aliases as plan_file and site do."""
    text = read_capped(path, limits)
    docs = list(parse_yaml_documents(text, str(path), limits))
    if not docs:
        return None
    data, line, lines = docs[0]
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a YAML mapping at the top level")
    return Document(data=data, file=str(path), line=line, lines=lines)


def _read(path: Path, limits: LoadLimits = MANIFEST_LIMITS) -> str:
    """A manifest (or waiver) file as text, within the size limit, UTF-8."""
    if path.is_dir():
        raise InputError(f"{path}: is a directory, a file is expected here")
    try:
        return read_capped(path, limits)
    except InputError as exc:
        if not path.exists():
            raise InputError(f"{path}: no such file or directory") from None
        raise exc from None


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


def load_manifests(
    paths: Iterable[str], stdin_text: str | None = None, skipped: list[str] | None = None
) -> list[Document]:
    """All objects of all inputs, in input order. A file without any object (only `---` or
    comments, common in `helm template` output and chart folders) is skipped, with a note
    appended to `skipped`, as checkov does; inputs that together hold no object at all are an
    error: a broken render must not produce a green build. Each input is bounded by
    MANIFEST_LIMITS, and all of them together by MAX_TOTAL_MANIFEST_BYTES (a folder of many
    large files)."""
    objects: list[Document] = []
    empty: list[str] = []
    total_bytes = 0
    for name in _expand(paths):
        if name == "-":
            text = stdin_text if stdin_text is not None else read_stdin_capped(MANIFEST_LIMITS)
            source: Literal["file", "stdin"] = "stdin"
        else:
            text = _read(Path(name))
            source = "file"
        total_bytes += len(text)
        if total_bytes > MAX_TOTAL_MANIFEST_BYTES:
            raise InputError(
                f"{name}: the inputs together are larger than "
                f"{MAX_TOTAL_MANIFEST_BYTES // (1024 * 1024)} MiB, the limit for one check",
                hint="check fewer files at a time",
            )
        found = list(_objects(text, name, source))
        if not found:
            empty.append(name)
        objects.extend(found)
    if not objects and empty:
        raise InputError(f"{empty[0]}: holds no Kubernetes objects", hint="check the render")
    if skipped is not None:
        skipped.extend(f"{name}: holds no Kubernetes objects, skipped" for name in empty)
    return objects


def load_rendered(text: str, name: str) -> list[Document]:
    """The objects of a stream that swissai rendered itself (a chart with its values, a
    kustomization built): bounded like a file, named `name` in findings; none is an error."""
    if len(text) > MANIFEST_LIMITS.max_bytes:
        raise InputError(f"{name}: the rendered objects are larger than the limit for one input")
    found = list(_objects(text, name, "file"))
    if not found:
        raise InputError(f"{name}: renders no Kubernetes objects", hint="check its values")
    return found
