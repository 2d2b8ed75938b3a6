"""Files of air-gap bundles: streaming sha256 in parallel, copying while hashing, tar streams
split into parts, the resumable-verification state. The only bundle code that touches files.

Hashing reads CHUNK bytes at a time (never a whole file in memory) and runs one file per
thread: CPython's hashlib releases the GIL while it hashes a buffer larger than 2047 bytes
(Modules/_hashopenssl.c, HASHLIB_GIL_MINSIZE), so threads hash on several cores at once.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import stat
import tarfile
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from swissai.errors import InputError
from swissai.models.bundle import BundleFile

CHUNK = 8 * 1024 * 1024
Advance = Callable[[int], None]


def _no_progress(n: int) -> None:
    """Progress sink that drops the count."""


class Stopped(Exception):
    """A worker thread was told to stop (the caller was interrupted)."""


def sha256_file(
    path: Path,
    advance: Advance = _no_progress,
    chunk: int = CHUNK,
    stop: threading.Event | None = None,
) -> str:
    """sha256 of a file, read in `chunk`-sized pieces; `advance(bytes)` after each; raises
    Stopped between pieces once `stop` is set (Ctrl-C must not wait for a 5 GB file)."""
    digest = hashlib.sha256()
    with open(path, "rb", buffering=0) as handle:
        buffer = bytearray(chunk)
        view = memoryview(buffer)
        while n := handle.readinto(buffer):
            if stop is not None and stop.is_set():
                raise Stopped
            digest.update(view[:n])
            advance(n)
    return digest.hexdigest()


def hash_files(
    root: Path,
    paths: Iterable[str],
    *,
    jobs: int,
    advance: Advance = _no_progress,
) -> Iterator[tuple[str, str | OSError]]:
    """(path, sha256) for each relative path under `root`, hashed `jobs` files at a time;
    yields in completion order; an unreadable file yields its OSError instead of a hash."""

    stop = threading.Event()

    def one(relative: str) -> str | OSError:
        try:
            return sha256_file(root / relative, advance, stop=stop)
        except OSError as exc:
            return exc

    with ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="sha256") as pool:
        futures: dict[Future[str | OSError], str] = {pool.submit(one, p): p for p in paths}
        try:
            for future in as_completed(futures):
                yield futures[future], future.result()
        finally:
            # interrupted or abandoned: queued files never start, running ones stop at their
            # next chunk, so leaving the pool does not wait for whole files
            stop.set()
            for future in futures:
                future.cancel()


def copy_hashed(
    source: Path,
    target: Path,
    advance: Advance = _no_progress,
    stop: threading.Event | None = None,
) -> BundleFile:
    """Copy `source` to `target` (created exclusively, mode 0o644), hashing what is read in
    the same pass; returns the target's path (as given), size and sha256. Raises Stopped
    between chunks once `stop` is set."""
    digest = hashlib.sha256()
    size = 0
    target.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(target, flags, 0o644)
    with open(source, "rb", buffering=0) as src, os.fdopen(fd, "wb", buffering=0) as dst:
        buffer = bytearray(CHUNK)
        view = memoryview(buffer)
        while n := src.readinto(buffer):
            if stop is not None and stop.is_set():
                raise Stopped
            digest.update(view[:n])
            written = 0
            while written < n:
                written += dst.write(view[written:n]) or 0
            size += n
            advance(n)
    return BundleFile(path=target.as_posix(), bytes=size, sha256=digest.hexdigest())


def copy_files(
    pairs: list[tuple[Path, Path]], *, jobs: int, advance: Advance = _no_progress
) -> list[BundleFile]:
    """copy_hashed for each (source, target), `jobs` at a time; results in the given order."""
    stop = threading.Event()
    with ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="copy") as pool:
        futures = [pool.submit(copy_hashed, src, dst, advance, stop) for src, dst in pairs]
        try:
            return [future.result() for future in futures]
        finally:
            stop.set()  # a no-op after success; on failure the other copies stop early
            for future in futures:
                future.cancel()


@dataclass(frozen=True)
class TreeListing:
    sizes: dict[str, int]  # relative POSIX path -> bytes, regular files only
    odd: list[tuple[str, str]]  # (relative path, why it cannot be part of a bundle)


def list_tree(root: Path) -> TreeListing:
    """Every regular file under `root` (relative path -> size), without following links; a
    symlink, FIFO or device is listed in `odd` (a bundle holds plain files only: a link could
    point the verifier at a file outside the bundle)."""
    sizes: dict[str, int] = {}
    odd: list[tuple[str, str]] = []

    def on_error(exc: OSError) -> None:
        raise InputError(f"cannot read {exc.filename}: {exc.strerror}")

    for dirpath, dirnames, filenames in os.walk(root, onerror=on_error):
        here = Path(dirpath)
        for name in sorted(dirnames):
            path = here / name
            if path.is_symlink():
                odd.append((path.relative_to(root).as_posix(), "is a symbolic link"))
        for name in filenames:
            path = here / name
            relative = path.relative_to(root).as_posix()
            info = path.lstat()
            if stat.S_ISREG(info.st_mode):
                sizes[relative] = info.st_size
            else:
                odd.append((relative, "is not a regular file (link, FIFO or device)"))
    return TreeListing(sizes, odd)


def file_stamp(path: Path) -> tuple[int, int, int]:
    """(size, mtime_ns, inode): what must be unchanged for a verified file to stay verified."""
    info = path.stat()
    return info.st_size, info.st_mtime_ns, info.st_ino


class VerifyState:
    """The resumable-verification record: {path: [size, mtime_ns, inode, sha256]} of files
    already hashed and found right, for one bundle manifest (its sha256). A file whose size,
    mtime or inode changed since is hashed again. Saved atomically; an unwritable location
    only costs resumability (`writable` is False then)."""

    def __init__(self, path: Path, manifest_sha256: str, *, fresh: bool) -> None:
        self.path = path
        self.manifest_sha256 = manifest_sha256
        self.done: dict[str, list[Any]] = {}
        self.writable = True
        if fresh:
            return
        with contextlib.suppress(OSError, ValueError):
            data = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(data, dict) and data.get("manifest_sha256") == manifest_sha256:
                done = data.get("verified")
                if isinstance(done, dict):
                    self.done = done

    def is_verified(self, relative: str, file: Path, sha256: str) -> bool:
        entry = self.done.get(relative)
        if not isinstance(entry, list) or len(entry) != 4 or entry[3] != sha256:
            return False
        try:
            return list(file_stamp(file)) == entry[:3]
        except OSError:
            return False

    def mark(self, relative: str, file: Path, sha256: str) -> None:
        with contextlib.suppress(OSError):
            self.done[relative] = [*file_stamp(file), sha256]

    def save(self) -> None:
        if not self.writable:
            return
        from swissai.adapters.files import write_text_atomic

        text = json.dumps({"manifest_sha256": self.manifest_sha256, "verified": self.done})
        try:
            write_text_atomic(self.path, text)
        except InputError:
            self.writable = False

    def remove(self) -> None:
        with contextlib.suppress(OSError):
            self.path.unlink()


class SplitWriter(io.RawIOBase):
    """A write-only stream cut into files of `part_size` bytes (bundle.tar.0000, ...), each
    hashed while written; `parts` lists them (path relative to `directory`, size, sha256)."""

    def __init__(self, directory: Path, part_size: int, name: Callable[[int], str]) -> None:
        super().__init__()
        self.directory = directory
        self.part_size = part_size
        self.name = name
        self.parts: list[BundleFile] = []
        self._handle: IO[bytes] | None = None
        self._digest = hashlib.sha256()
        self._size = 0

    def writable(self) -> bool:
        return True

    def _open(self) -> IO[bytes]:
        if self._handle is None:
            path = self.directory / self.name(len(self.parts))
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
            self._handle = os.fdopen(os.open(path, flags, 0o644), "wb")
            self._digest = hashlib.sha256()
            self._size = 0
        return self._handle

    def _close_part(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
            name = self.name(len(self.parts))
            self.parts.append(
                BundleFile(path=name, bytes=self._size, sha256=self._digest.hexdigest())
            )

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        total = len(view)
        while view:
            handle = self._open()
            room = self.part_size - self._size
            piece = view[:room]
            handle.write(piece)
            self._digest.update(piece)
            self._size += len(piece)
            view = view[len(piece) :]
            if self._size >= self.part_size:
                self._close_part()
        return total

    def close(self) -> None:
        if not self.closed:
            self._close_part()
        super().close()


class _HashingReader(io.RawIOBase):
    """Reads a file for tarfile while hashing it (one read pass for tar and manifest)."""

    def __init__(self, handle: IO[bytes], advance: Advance) -> None:
        super().__init__()
        self.handle = handle
        self.digest = hashlib.sha256()
        self.size = 0
        self.advance = advance

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self.handle.read(size)
        self.digest.update(data)
        self.size += len(data)
        self.advance(len(data))
        return data


def tar_parts(
    entries: list[tuple[str, Path]],
    directory: Path,
    part_size: int,
    name: Callable[[int], str],
    *,
    trailer: Callable[[list[BundleFile]], tuple[str, bytes]],
    mtime: int,
    advance: Advance = _no_progress,
) -> tuple[list[BundleFile], list[BundleFile]]:
    """Write a POSIX (pax) tar stream of `entries` (name in the tar, source file) cut into
    parts in `directory`; each file is hashed as it is read. `trailer(files)` gives the last
    member (the bundle manifest, which needs the hashes). Returns (files, parts).

    Ownership is 0/0 and modes 0o644/0o755, so the tar says nothing about the creating
    machine; `cat bundle.tar.* | tar -xf -` unpacks it with any tar."""
    writer = SplitWriter(directory, part_size, name)
    files: list[BundleFile] = []
    dirs: set[str] = set()
    with tarfile.open(fileobj=writer, mode="w|", format=tarfile.PAX_FORMAT) as tar:

        def add_dirs(member: str) -> None:
            parts = member.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                sub = "/".join(parts[:i])
                if sub not in dirs:
                    dirs.add(sub)
                    info = tarfile.TarInfo(sub)
                    info.type = tarfile.DIRTYPE
                    info.mode = 0o755
                    info.mtime = mtime
                    tar.addfile(info)

        for member, source in entries:
            add_dirs(member)
            with open(source, "rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                info = tarfile.TarInfo(member)
                info.size = size
                info.mode = 0o644
                info.mtime = mtime
                reader = _HashingReader(handle, advance)
                tar.addfile(info, reader)
                if reader.size != size:
                    raise InputError(f"{source} changed size while it was being bundled")
            files.append(BundleFile(path=member, bytes=size, sha256=reader.digest.hexdigest()))
        trailer_name, data = trailer(files)
        info = tarfile.TarInfo(trailer_name)
        info.size = len(data)
        info.mode = 0o644
        info.mtime = mtime
        tar.addfile(info, io.BytesIO(data))
    writer.close()
    return files, writer.parts


def pack_layout(folder: Path, archive: Path) -> None:
    """Pack an OCI layout folder into `archive` the way skopeo's oci-archive is laid out: the
    layout's files (oci-layout, index.json, blobs/...) at the root of a tar; then remove the
    folder."""
    import shutil

    with tarfile.open(archive, "w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(folder.rglob("*")):
            tar.add(path, arcname=path.relative_to(folder).as_posix(), recursive=False)
    shutil.rmtree(folder)


def unpack_layout(archive: Path, folder: Path) -> None:
    """Unpack an OCI archive into `folder`, refusing any member that is not a plain file or
    folder inside it (an archive from a bundle is checked against BUNDLE.json first, but a tar
    is never trusted to stay inside its target)."""
    folder.mkdir(parents=True, exist_ok=True)
    root = folder.resolve()
    with tarfile.open(archive) as tar:
        members = tar.getmembers()
        for member in members:
            target = (folder / member.name).resolve()
            if not (member.isfile() or member.isdir()) or (
                target != root and root not in target.parents
            ):
                raise InputError(f"{archive}: member {member.name!r} is not a plain file inside it")
        for member in members:
            target = folder / member.name
            if member.isdir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            source = tar.extractfile(member)
            assert source is not None
            with source, open(target, "wb") as handle:
                while block := source.read(CHUNK):
                    handle.write(block)
