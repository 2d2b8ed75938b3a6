"""Writing artifacts (`--out`): atomically, without following planted links, nothing left behind.

`write_text_atomic(path, text)`:
- the text goes to a temporary file in the target's directory (a rename is atomic only within
  one file system), named at random and created with O_CREAT|O_EXCL|O_NOFOLLOW and mode 0o600:
  a file or symlink planted under a predictable name (`.plan.yaml.tmp`) cannot redirect the
  write, and nobody reads the content before it is complete;
- it is flushed and fsync'ed, given the target's intended mode (the replaced file's mode, else
  0o644, what `open()` gives under the usual umask), then renamed over the target: a reader sees the
  old file or the new one, never half of one (rename(2) is atomic, POSIX);
- on any error, KeyboardInterrupt included, the temporary file is removed;
- a target that is a symlink or a directory is refused; every OS error is one InputError line
  naming the path (exit 2).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from pathlib import Path

from swissai.errors import InputError

DEFAULT_MODE = 0o644  # artifacts (plans, manifests, reports) are meant to be read by others
_HINT = "check the --out path"


def _refuse(path: Path, why: str) -> InputError:
    return InputError(f"cannot write {path}: {why}", hint=_HINT)


def _check_target(path: Path) -> int | None:
    """The permission bits of an existing regular file at `path`, None when there is none."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise _refuse(path, exc.strerror or str(exc)) from None
    if stat.S_ISLNK(info.st_mode):
        raise _refuse(path, "it is a symbolic link (swissai does not write through links)")
    if stat.S_ISDIR(info.st_mode):
        raise _refuse(path, "it is a directory")
    return stat.S_IMODE(info.st_mode)


def write_text_atomic(path: Path, text: str, mode: int | None = None) -> None:
    """Write `text` (UTF-8) to `path` atomically; see the module docstring. The file gets
    `mode`, else the mode of the file it replaces, else DEFAULT_MODE."""
    path = Path(path)
    existing_mode = _check_target(path)
    final_mode = mode if mode is not None else existing_mode or DEFAULT_MODE
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _refuse(path, exc.strerror or str(exc)) from None
    data = text.encode("utf-8")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    flags |= getattr(os, "O_CLOEXEC", 0)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    try:
        fd = os.open(tmp, flags, 0o600)
    except OSError as exc:
        raise _refuse(path, exc.strerror or str(exc)) from None
    try:
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fchmod(fd, final_mode)
            os.fsync(fd)
        finally:
            os.close(fd)
        _check_target(path)  # a link planted while we wrote is refused, not replaced blindly
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(exc, OSError):
            raise _refuse(path, exc.strerror or str(exc)) from None
        raise
