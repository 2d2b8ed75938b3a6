"""The backup file: a gzip'd tar of named members, optionally encrypted at rest.

Encryption is Fernet from the `cryptography` package (AES-128-CBC with HMAC-SHA256 over the
whole token, a random IV per file: https://cryptography.io/en/latest/fernet/), never a home-made
construction. A backup holds no weights (only their sha256 and location) and no Secret data, so
it is small and encrypted in one piece. The key file holds one urlsafe-base64 Fernet key
(`swissai backup --new-key FILE` writes one, mode 0600). Fernet authenticates before it
decrypts: a wrong key or any changed byte is refused, never half-read.
"""

from __future__ import annotations

import io
import os
import tarfile
import tempfile
from pathlib import Path

from swissai.errors import EnvironmentProblem, FindingsError, InputError

MAGIC = b"swissai-backup-fernet-v1\n"  # an encrypted backup starts with this line
MAX_BACKUP_BYTES = 1 << 30  # 1 GiB: a backup without weights is far smaller; a bigger file is wrong
MAX_MEMBER_BYTES = 256 << 20


def _fernet(key_file: Path) -> object:
    try:
        from cryptography.fernet import Fernet
    except ImportError as exc:
        raise EnvironmentProblem(
            "an encrypted backup needs the `cryptography` package",
            hint="pip install 'swissai[backup]'",
        ) from exc
    try:
        key = key_file.read_bytes().strip()
    except OSError as exc:
        raise InputError(f"--key-file {key_file}: {exc.strerror or exc}") from exc
    try:
        return Fernet(key)
    except (ValueError, TypeError) as exc:
        raise InputError(
            f"--key-file {key_file} does not hold a Fernet key (32 bytes, urlsafe base64)",
            hint="write one with swissai backup --new-key FILE",
        ) from exc


def check_key(key_file: Path) -> None:
    """Exit 2 (3 without `cryptography`) before anything else is done."""
    _fernet(key_file)


def new_key(path: Path) -> None:
    """A fresh random Fernet key in `path` (mode 0600); an existing file is never overwritten."""
    try:
        from cryptography.fernet import Fernet
    except ImportError as exc:
        raise EnvironmentProblem(
            "writing a key needs the `cryptography` package", hint="pip install 'swissai[backup]'"
        ) from exc
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise InputError(f"--new-key {path} exists; it is never overwritten") from exc
    except OSError as exc:
        raise InputError(f"--new-key {path}: {exc.strerror or exc}") from exc
    with os.fdopen(fd, "wb") as handle:
        handle.write(Fernet.generate_key() + b"\n")


def pack(members: dict[str, bytes]) -> bytes:
    """A gzip'd tar of the members, in the given order, with fixed owner and time fields (the
    content alone decides the bytes of the tar)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o600
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def write_backup(path: Path, members: dict[str, bytes], key_file: Path | None) -> bytes:
    """Pack, encrypt when a key is given, and write atomically (mode 0600: it names the
    cluster's objects). Returns the bytes written."""
    data = pack(members)
    if key_file is not None:
        fernet = _fernet(key_file)
        data = MAGIC + fernet.encrypt(data)  # type: ignore[attr-defined]
    target = path.expanduser()
    parent = target.parent if str(target.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=parent)
    except OSError as exc:
        raise InputError(f"--out {path}: {exc.strerror or exc}; nothing was written") from exc
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, target)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise InputError(f"--out {path}: {exc.strerror or exc}; nothing was written") from exc
    return data


def read_backup(path: Path, key_file: Path | None) -> dict[str, bytes]:
    """The members of a backup file. Exit 2 for a missing or unreadable file or a missing key;
    exit 1 (naming the cause) for a wrong key, a tampered or truncated file."""
    try:
        size = path.stat().st_size
        if size > MAX_BACKUP_BYTES:
            raise InputError(f"{path}: {size} bytes; a swissai backup is under 1 GiB")
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(
            f"{path}: {exc.strerror or exc}", hint="pass a swissai backup file"
        ) from exc
    if data.startswith(MAGIC):
        if key_file is None:
            raise InputError(f"{path} is encrypted", hint="pass its key with --key-file FILE")
        from cryptography.fernet import InvalidToken

        fernet = _fernet(key_file)
        try:
            data = fernet.decrypt(data[len(MAGIC) :])  # type: ignore[attr-defined]
        except InvalidToken as exc:
            raise FindingsError(
                f"{path}: the key does not open it, or the file was changed or truncated",
                hint="use the key file the backup was written with",
            ) from exc
    elif key_file is not None:
        raise FindingsError(
            f"{path} is not encrypted, but --key-file was given",
            hint="an unencrypted backup needs no key; was the file replaced?",
        )
    members: dict[str, bytes] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            for info in tar:
                name = info.name
                if not info.isfile() or name.startswith("/") or ".." in name.split("/"):
                    raise FindingsError(f"{path}: member {name!r} is not a plain relative file")
                if info.size > MAX_MEMBER_BYTES:
                    raise FindingsError(f"{path}: member {name} is {info.size} bytes")
                handle = tar.extractfile(info)
                if handle is None:  # pragma: no cover - isfile() above
                    raise FindingsError(f"{path}: member {name} cannot be read")
                members[name] = handle.read()
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise FindingsError(
            f"{path}: not a readable swissai backup (truncated or damaged: {exc})"
        ) from exc
    return members
