"""Reading YAML and JSON inputs (files, standard input) with a size cap, parsed by the bounded
parser of `swissai.core.yaml_bounded` (aliases, nesting, node count, duplicate keys, dates,
huge integers, UTF-8: see that module). Every loader of swissai reads through here."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from swissai.core.yaml_bounded import (
    DOCUMENT_LIMITS,
    MANIFEST_LIMITS,
    MIB,
    WAIVER_LIMITS,
    LoadLimits,
    YamlSyntaxError,
    compose_yaml,
    decode_utf8,
    key_path,
    load_json,
    one_line,
    short_repr,
)
from swissai.errors import InputError

__all__ = [
    "DOCUMENT_LIMITS",
    "MANIFEST_LIMITS",
    "MIB",
    "WAIVER_LIMITS",
    "LoadLimits",
    "YamlSyntaxError",
    "compose_yaml",
    "decode_utf8",
    "key_path",
    "load_data_file",
    "load_json",
    "one_line",
    "read_capped",
    "read_stdin_capped",
    "short_repr",
]


def read_capped(path: Path, limits: LoadLimits, what: str = "") -> str:
    """The text of `path`, at most `limits.max_bytes` (one more byte is read to detect more)."""
    label = one_line(f"{what} {path}" if what else str(path))
    try:
        with path.open("rb") as stream:
            raw = stream.read(limits.max_bytes + 1)
    except FileNotFoundError:
        raise InputError(f"cannot read {label}: no such file or directory") from None
    except OSError as exc:
        raise InputError(f"cannot read {label}: {exc.strerror or exc}") from None
    return decode_utf8(raw, label, limits)


def read_stdin_capped(limits: LoadLimits, name: str = "-") -> str:
    """Standard input as text, bounded like a file (read as bytes: a non-UTF-8 stream is exit
    2, not a UnicodeDecodeError from the text wrapper)."""
    buffer = getattr(sys.stdin, "buffer", None)
    if buffer is None:  # a text-only stream (tests that replace sys.stdin with StringIO)
        text = sys.stdin.read(limits.max_bytes + 1)
        return decode_utf8(text.encode("utf-8", "surrogateescape"), name, limits)
    try:
        raw = buffer.read(limits.max_bytes + 1)
    except OSError as exc:
        raise InputError(f"cannot read standard input: {exc.strerror or exc}") from None
    return decode_utf8(raw, name, limits)


def load_data_file(
    path: Path, limits: LoadLimits, *, what: str = "", hint: str | None = None
) -> Any:
    """One document of a file: JSON for `.json`, YAML otherwise; None for an empty YAML file.
    A YAML file with more than one document is refused (the others would be ignored).
    Messages start with `{what} {path}`, e.g. `site profile swissai.yaml:3: ...`."""
    label = one_line(f"{what} {path}" if what else str(path))
    text = read_capped(path, limits, what)
    if path.suffix.lower() == ".json":
        return load_json(text, label, limits, hint)
    docs = compose_yaml(text, label, limits, hint)
    first = next(docs, None)
    second = next(docs, None)
    if second is not None:
        raise InputError(
            f"{label}:{second[1].start_mark.line + 1}: a second YAML document "
            "(one is expected here)",
            hint="remove the `---` and what follows, or split the file",
        )
    return None if first is None else first[0]
