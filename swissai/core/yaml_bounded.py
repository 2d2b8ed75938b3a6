"""Bounded parsing of every YAML and JSON text swissai reads (pure: no file or stream I/O;
`swissai.adapters.yaml_safe` reads files and stdin with a size cap and calls this): manifests (files, folders, '-'),
plans, site profiles, waivers, inventory snapshots, config.json, the packaged profiles.

Hostile or broken input must cost bounded time and memory and end in one InputError (exit 2)
that names the file, the line where known and the limit it hit. What a plain `yaml.safe_load`
lets through, and what this module does about it:

- Size: the whole input is read first, so a file or stream is read up to `max_bytes` + 1 bytes
  and refused beyond (`/dev/zero`, a runaway `helm template`).
- Alias bombs ("billion laughs"): PyYAML's composer shares one node per anchor, so 362 bytes of
  nested aliases compose cheaply, but every walker after it (line maps, compliance rules,
  pydantic) visits the node once per reference: 9^8 = 43 million nodes. The composer here
  weighs every node by its size with aliases expanded and stops when the input's expanded size
  passes `max_nodes`; formats that never need aliases (plans, site profiles, inventories)
  refuse them outright. An alias to a node that contains it (`&a [*a]`) is refused (a cycle).
- Nesting: deeper than `max_depth` is refused before Python's recursion limit is reached in
  the composer, in pydantic or in our own walkers (libyaml itself stops at 1000 flow levels).
- Scalars whose constructor raises something other than YAMLError: an impossible date
  (`2026-02-30` resolves to `!!timestamp` and `datetime.date` raises ValueError), an explicit
  tag on a value it does not fit (`!!timestamp nope`: AttributeError; `!!bool maybe`:
  KeyError), an integer
  longer than Python's int/str conversion limit (4300 digits, `sys.get_int_max_str_digits`,
  CVE-2020-10735) or beyond 64 bits (every number swissai reads fits an int64, as in
  Kubernetes), `!!binary`/`!!set`/`!!omap`/`!!pairs` (not JSON values; nothing swissai reads
  uses them) are refused with their line.
- Duplicate keys: YAML loaders keep the last value silently (a second `namespace:` wins);
  refused with both lines. JSON (`json.loads` keeps the last too) is refused with the key.
- Encoding: input must be UTF-8; a stray byte is refused with its offset.

The composer is PyYAML's own (yaml.composer.Composer, pure Python) on top of libyaml's event
parser (yaml._yaml.CParser) where libyaml is installed: the C composer cannot be bounded, and
libyaml's events keep parsing as fast as CSafeLoader.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.resolver import Resolver

from swissai.errors import InputError

MIB = 1024 * 1024
# Every number swissai reads (Kubernetes int64 fields, byte counts, model dimensions) fits in
# 64 bits; a longer integer is an error, not a value (and keeps str(int) below Python's limit).
MAX_INT_ABS = 2**64
_MAX_INT_DIGITS = len(str(MAX_INT_ABS))  # JSON: refuse before int() converts the digits


@dataclass(frozen=True)
class LoadLimits:
    """Bounds of one input (a file or the stdin stream, all its documents together)."""

    max_bytes: int
    max_nodes: int = 1_000_000  # nodes with aliases expanded, over all documents
    max_depth: int = 100  # nested collections; CRD schemas nest about 40 deep
    aliases: bool = True  # False: formats swissai writes itself never use anchors


# Manifests: the leaderworkerset CRD in tests/data (16k lines) is 1.3 MB and 20k nodes; a large
# chart's `helm template` with its CRDs a few MB. 16 MiB and a million expanded nodes leave a
# wide margin and bound the worst case: a million composed nodes measured ~450 MiB peak and
# ~7 s on the 2-core development machine; the 362-byte alias bomb stops in 0.3 s at 40 MiB.
MANIFEST_LIMITS = LoadLimits(max_bytes=16 * MIB)
# Waivers: hand-written lists, anchors allowed (a shared approver), far smaller than manifests.
WAIVER_LIMITS = LoadLimits(max_bytes=4 * MIB, max_nodes=200_000, max_depth=64)
# Plans, site profiles, inventory snapshots, config.json, packaged profiles: written by swissai,
# `swissai init` or Hugging Face; a few KiB to a few hundred KiB. No aliases.
DOCUMENT_LIMITS = LoadLimits(max_bytes=4 * MIB, max_nodes=200_000, max_depth=64, aliases=False)


class YamlSyntaxError(InputError):
    """Not valid YAML/JSON at all (as opposed to valid but over a limit or of the wrong shape);
    `where` is `file:line`, `problem` the parser's words."""

    def __init__(
        self, where: str, syntax: str, problem: str, hint: str | None, line: int | None
    ) -> None:
        super().__init__(f"{where}: not valid {syntax} ({problem})", hint=hint)
        self.where = where
        self.line = line
        self.syntax = syntax
        self.problem = problem


class _Refused(yaml.YAMLError):
    """A limit or rule of this module, raised inside the loader with the node's mark."""

    def __init__(self, message: str, mark: Any, hint: str) -> None:
        super().__init__(message)
        self.message = message
        self.mark = mark
        self.hint = hint


try:  # libyaml's event parser where PyYAML was built with it (the wheels are)
    from yaml._yaml import CParser as _EventSource
except ImportError:  # pragma: no cover - PyYAML without libyaml
    from yaml.parser import Parser
    from yaml.reader import Reader
    from yaml.scanner import Scanner

    class _EventSource(Reader, Scanner, Parser):  # type: ignore[no-redef]
        def __init__(self, stream: str) -> None:
            Reader.__init__(self, stream)
            Scanner.__init__(self)
            Parser.__init__(self)


class _BoundedLoader(_EventSource, Composer, SafeConstructor, Resolver):
    """libyaml events, PyYAML's Python composer with counting, SafeConstructor with guards."""

    # The C parser defines its own (unbounded) composer; use the Python one on its events.
    check_node = Composer.check_node
    get_node = Composer.get_node
    get_single_node = Composer.get_single_node
    compose_document = Composer.compose_document

    def __init__(self, text: str, limits: LoadLimits) -> None:
        _EventSource.__init__(self, text)
        Composer.__init__(self)
        SafeConstructor.__init__(self)
        Resolver.__init__(self)
        self.limits = limits
        self.expanded_nodes = 0  # the input's size with every alias expanded
        self.depth = 0
        self.weights: dict[int, int] = {}  # id(node) -> expanded size, this document

    def _count(self, weight: int, mark: Any) -> None:
        self.expanded_nodes += weight
        if self.expanded_nodes > self.limits.max_nodes:
            raise _Refused(
                f"more than {self.limits.max_nodes:,} YAML nodes with aliases expanded "
                "(an alias bomb?)",
                mark,
                "swissai refuses inputs this large; split the input or remove nested aliases",
            )

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        event: Any = self.peek_event()
        if isinstance(event, AliasEvent):
            if not self.limits.aliases:
                raise _Refused(
                    f"alias *{event.anchor} (YAML anchors and aliases are not accepted here)",
                    event.start_mark,
                    "write the value out; swissai writes this file without aliases",
                )
            node = Composer.compose_node(self, parent, index)
            weight = self.weights.get(id(node))
            if weight is None:
                raise _Refused(
                    f"alias *{event.anchor} refers to a node that contains it (a cycle)",
                    event.start_mark,
                    "an alias must refer to a node defined before it, outside it",
                )
            self._count(weight, event.start_mark)
            return node
        self.depth += 1
        if self.depth > self.limits.max_depth:
            raise _Refused(
                f"nested more than {self.limits.max_depth} levels deep",
                event.start_mark,
                "swissai refuses inputs nested this deep",
            )
        node = Composer.compose_node(self, parent, index)
        self.depth -= 1
        if node is None:  # pragma: no cover - the composer returns a node for every event
            return None
        weight = 1
        if isinstance(node, SequenceNode):
            weight += sum(self.weights[id(child)] for child in node.value)
        elif isinstance(node, MappingNode):
            weight += sum(self.weights[id(k)] + self.weights[id(v)] for k, v in node.value)
            _refuse_duplicate_keys(node)
        self.weights[id(node)] = weight
        self._count(1, node.start_mark)  # children were counted as they were composed
        return node

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        try:
            return SafeConstructor.construct_object(self, node, deep)
        # A scalar its tag's constructor cannot read raises whatever that constructor hits:
        # ValueError (day out of range, `!!int 1.5`, the int/str digit limit), KeyError
        # (`!!bool maybe`), AttributeError (`!!timestamp nope`: the regex did not match).
        except (ValueError, OverflowError, TypeError, KeyError, AttributeError, IndexError) as exc:
            raise ConstructorError(
                None, None, f"cannot read {node.value!r:.40}: {exc}", node.start_mark
            ) from exc

    def construct_yaml_int(self, node: ScalarNode) -> int:
        if len(node.value) > 4 * _MAX_INT_DIGITS:  # before int() converts the digits
            raise ConstructorError(None, None, "integer too long", node.start_mark)
        value = SafeConstructor.construct_yaml_int(self, node)
        if abs(value) >= MAX_INT_ABS:
            raise ConstructorError(
                None, None, "integer out of range (more than 64 bits)", node.start_mark
            )
        return value


# Its own table (add_constructor would copy SafeConstructor's too): the guarded int, and tags
# that are not JSON values refused (!!binary, !!set, !!omap, !!pairs: nothing swissai reads
# uses them, and their Python types would surprise every consumer downstream).
_BoundedLoader.yaml_constructors = {
    **SafeConstructor.yaml_constructors,
    "tag:yaml.org,2002:int": _BoundedLoader.construct_yaml_int,
    **{
        f"tag:yaml.org,2002:{tag}": SafeConstructor.construct_undefined
        for tag in ("binary", "set", "omap", "pairs")
    },
}


def _refuse_duplicate_keys(node: MappingNode) -> None:
    seen: dict[tuple[str, str], int] = {}
    for key_node, _ in node.value:
        if not isinstance(key_node, ScalarNode) or key_node.value == "<<":  # merge keys repeat
            continue
        key = (key_node.tag, key_node.value)
        line = key_node.start_mark.line + 1
        if key in seen:
            raise _Refused(
                f"duplicate key {key_node.value!r} (first at line {seen[key]})",
                key_node.start_mark,
                "separate concatenated files with `---`; a key may appear once per mapping",
            )
        seen[key] = line


_PLAIN_KEY = re.compile(r"[A-Za-z0-9_-]+", re.ASCII)
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")


def key_path(loc: Iterable[int | str]) -> str:
    """A validation error's location as `gpus.0.profile_id`; a key that is not plain (a
    newline, a dot, nothing at all) is quoted, so the path stays one readable line."""
    parts = [str(p) if isinstance(p, int) or _PLAIN_KEY.fullmatch(p) else repr(p) for p in loc]
    return ".".join(parts) or "(top level)"


def short_repr(value: Any, limit: int = 40) -> str:
    """repr() of a value from the input, one line and at most `limit` characters."""
    text = repr(value) if not isinstance(value, int) or abs(value) < 10**30 else "<huge integer>"
    return one_line(text if len(text) <= limit else text[: limit - 3] + "...")


def one_line(text: str) -> str:
    """`text` with control characters escaped: a message that quotes a value from the input
    (a key, a string) stays the one `error:` line the CLI contract promises."""
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)


def _where(name: str, mark: Any) -> str:
    return f"{name}:{mark.line + 1}" if mark is not None else name


def compose_yaml(
    text: str, name: str, limits: LoadLimits, hint: str | None = None
) -> Iterator[tuple[Any, Node]]:
    """(data, node) for each non-empty document of `text`, within `limits`.

    Every problem is an InputError naming `name` and the line; `hint` is given with syntax
    errors (what the file should be)."""
    name = one_line(name)
    loader = _BoundedLoader(text, limits)
    try:
        while loader.check_node():
            loader.weights = {}
            node = loader.get_node()
            if node is None:
                continue
            data = loader.construct_document(node)
            if data is None:
                continue
            yield data, node
    except _Refused as exc:
        raise InputError(f"{_where(name, exc.mark)}: {exc.message}", hint=exc.hint) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        line = mark.line + 1 if mark is not None else None
        raise YamlSyntaxError(_where(name, mark), "YAML", str(problem), hint, line) from None
    except RecursionError:  # defence in depth: max_depth keeps far below the limit
        raise InputError(
            f"{name}: nested too deep", hint="swissai refuses inputs nested this deep"
        ) from None
    finally:
        loader.dispose()


def _json_depth_and_size(data: Any) -> tuple[int, int]:
    """(deepest nesting, number of values), without recursion."""
    deepest = nodes = 0
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        nodes += 1
        deepest = max(deepest, depth)
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)
    return deepest, nodes


def _json_int(text: str) -> int:
    if len(text.lstrip("-")) > _MAX_INT_DIGITS or abs(int(text)) >= MAX_INT_ABS:
        raise ValueError(f"integer {text[:24]}{'...' if len(text) > 24 else ''} out of range")
    return int(text)


def _json_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def load_json(text: str, name: str, limits: LoadLimits, hint: str | None = None) -> Any:
    """One JSON document within `limits` (JSON has no aliases: bytes bound the size)."""
    name = one_line(name)
    try:
        data = json.loads(text, parse_int=_json_int, object_pairs_hook=_json_object)
    except json.JSONDecodeError as exc:
        raise YamlSyntaxError(f"{name}:{exc.lineno}", "JSON", exc.msg, hint, exc.lineno) from None
    except ValueError as exc:  # our hooks: duplicate key, integer out of range
        raise InputError(f"{name}: {exc}", hint=hint) from None
    except RecursionError:  # the json scanner recurses once per level
        raise InputError(
            f"{name}: nested more than {limits.max_depth} levels deep",
            hint="swissai refuses inputs nested this deep",
        ) from None
    depth, nodes = _json_depth_and_size(data)
    if depth > limits.max_depth:
        raise InputError(
            f"{name}: nested more than {limits.max_depth} levels deep",
            hint="swissai refuses inputs nested this deep",
        )
    if nodes > limits.max_nodes:
        raise InputError(
            f"{name}: more than {limits.max_nodes:,} JSON values",
            hint="swissai refuses inputs this large",
        )
    return data


def decode_utf8(raw: bytes, name: str, limits: LoadLimits) -> str:
    """Bytes read with `read_capped` -> text; over the size limit or not UTF-8 is exit 2."""
    name = one_line(name)
    if len(raw) > limits.max_bytes:
        raise InputError(
            f"{name}: larger than {limits.max_bytes // MIB} MiB, the limit for this input",
            hint="swissai refuses inputs this large",
        )
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{name}: not UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start})",
            hint="save the file as UTF-8",
        ) from None
