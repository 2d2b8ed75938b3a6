"""Air-gap bundles: `swissai bundle create | verify | push` (issue 13).

create: everything an isolated network needs to serve a plan, in one folder (or a tar stream
cut into parts for transfer media), with BUNDLE.json listing every file's size and sha256 and
the creation record. verify: on the inside, every file hashed again (streaming, in parallel,
resumable), refusing a tampered, truncated, incomplete or foreign bundle with the file named.
push: the images into the internal registry (where skopeo or crane is present) and the site
profile rewritten to that registry.

Prints nothing: messages and progress (bytes, with the rate) go to `on_event`. Exit codes come
from the errors: 2 bad input, 1 a bundle that fails verification, 3 a tool that fails, 4 an
infeasible plan. A failed create leaves nothing at --out (it builds beside it, then renames).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from swissai.core.bundle import (
    MANIFEST_NAME,
    STATE_NAME,
    ImageTool,
    archive_name,
    compare_files,
    layout_dir,
    parse_size,
    part_name,
    push_argv,
    push_commands,
    retarget,
    rewrite_registry,
    save_argv,
    save_commands,
)
from swissai.errors import FindingsError, InputError
from swissai.models.bundle import (
    BundleCreation,
    BundleFile,
    BundleImage,
    BundleManifest,
    BundleModel,
    BundlePlan,
)
from swissai.services.events import EventSink, Progress, ignore, say, warn

PROGRESS_INTERVAL_S = 0.25
STATE_SAVE_INTERVAL_S = 5.0


def default_jobs() -> int:
    """Files hashed at once: one per core, at most 8 (beyond that the disk is the limit)."""
    return max(1, min(8, os.cpu_count() or 1))


class ByteProgress:
    """A thread-safe advance(bytes) that emits Progress events with the rate (bytes/s) in
    `detail`, at most every PROGRESS_INTERVAL_S, and a finish() for the last one."""

    def __init__(self, on_event: EventSink, task: str, description: str, total: int) -> None:
        self.on_event = on_event
        self.task = task
        self.description = description
        self.total = total
        self.done = 0
        self.started = time.monotonic()
        self._last = 0.0
        self._lock = threading.Lock()

    def rate(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.done / elapsed if elapsed > 0 else 0.0

    def _event(self, finished: bool) -> Progress:
        return Progress(
            self.task,
            self.description,
            self.done,
            self.total or None,
            "bytes",
            detail=f"{self.rate() / 1e9:.2f} GB/s",
            finished=finished,
        )

    def __call__(self, n: int) -> None:
        with self._lock:
            self.done += n
            now = time.monotonic()
            if now - self._last < PROGRESS_INTERVAL_S:
                return
            self._last = now
            event = self._event(False)
        self.on_event(event)

    def finish(self) -> None:
        self.on_event(self._event(True))


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def manifest_bytes(manifest: BundleManifest) -> bytes:
    return (json.dumps(manifest.model_dump(mode="json"), indent=2) + "\n").encode("utf-8")


# ---------------------------------------------------------------- create


@dataclass(frozen=True)
class CreateResult:
    out: Path
    manifest: BundleManifest
    manifest_sha256: str  # pin it on the inside: bundle verify --sha256
    image_tool: ImageTool
    seconds: float
    hashed_bytes: int

    @property
    def gb_per_s(self) -> float:
        return self.hashed_bytes / self.seconds / 1e9 if self.seconds > 0 else 0.0


def _check_out(out: Path) -> None:
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise InputError(f"--out {out} exists and is not a folder", hint="choose a new folder")
    if out.is_dir() and any(out.iterdir()):
        raise InputError(
            f"--out {out} is not empty; a bundle is written into a new or empty folder",
            hint="choose a new folder (an old bundle is never overwritten)",
        )


def _parse_sums(path: Path) -> dict[str, str]:
    """{relative path: sha256} of a sha256sum-format manifest."""
    sums: dict[str, str] = {}
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {path}: {exc}") from exc
    for number, line in enumerate(text.splitlines(), 1):
        digest, sep, name = line.partition("  ")
        if not sep or len(digest) != 64:
            raise InputError(f"{path}:{number}: not a sha256sum line")
        sums[name.removeprefix("*")] = digest
    return sums


def _model_sources(
    model_dir: Path, manifest_file: str, pinned: str
) -> tuple[list[tuple[str, Path]], dict[str, str], bytes]:
    """(relative name, source) of every model file, the manifest's sums, the manifest bytes;
    exit 2 when the manifest is absent, is not the pinned one, or lists other files."""
    from swissai.adapters.model_manifest import model_files

    if not model_dir.is_dir():
        raise InputError(f"--model-dir {model_dir} is not a directory")
    manifest = model_dir / manifest_file
    if not manifest.is_file():
        raise InputError(
            f"{manifest} not found: the weights go into a bundle with their sha256 manifest",
            hint=f"write it: swissai model manifest {model_dir}, then pin its sha256 in the "
            "site profile (model.manifest_sha256)",
        )
    data = manifest.read_bytes()
    have = sha256_bytes(data)
    if have != pinned:
        raise InputError(
            f"{manifest} has sha256 {have}, the site profile pins {pinned} "
            "(model.manifest_sha256): these are not the approved weights",
            hint="bundle the directory the site profile pins, or pin this manifest",
        )
    sums = _parse_sums(manifest)
    files = model_files(model_dir, manifest_file)
    names = {name for name, _ in files}
    for name in sorted(set(sums) ^ names):
        where = "is not in the manifest" if name in names else "is missing from the directory"
        raise InputError(
            f"{model_dir}: {name} {where}",
            hint="restage the model from the approved source, or write the manifest again",
        )
    return [(name, model_dir / name) for name, _ in files], sums, data


def _encodings(model_dir: Path, on_event: EventSink) -> list[str]:
    from swissai.core.encodings import ENCODINGS_SUBDIR
    from swissai.services.model import encodings_problems, is_gpt_oss_dir

    if not is_gpt_oss_dir(model_dir):
        return []
    problems = encodings_problems(model_dir)
    if problems:
        raise InputError(
            f"{model_dir}: {problems[0]}: gpt-oss cannot start offline without it",
            hint="stage it first: swissai model stage-encodings DIR, then write the manifest",
        )
    say(on_event, f"gpt-oss encodings: {ENCODINGS_SUBDIR}/ checked against tiktoken's hashes")
    return sorted(
        f"{ENCODINGS_SUBDIR}/{p.name}"
        for p in (model_dir / ENCODINGS_SUBDIR).iterdir()
        if p.is_file()
    )


def _wheels(stage: Path, wheels_dir: Path | None, on_event: EventSink) -> list[str]:
    from swissai.adapters.bundle_tools import build_wheels, swissai_source

    target = stage / "wheels"
    target.mkdir(parents=True)
    if wheels_dir is not None:
        found = sorted(wheels_dir.glob("*.whl"))  # holds swissai-*.whl: checked up front
        for wheel in found:
            shutil.copyfile(wheel, target / wheel.name)
    else:
        source = swissai_source()
        say(on_event, f"pip wheel {source}: swissai and its dependencies from the mirror")
        found = build_wheels(source, target)
        if not any(p.name.startswith("swissai-") for p in found):
            raise InputError(f"pip wheel {source} gave no swissai wheel")
    return sorted(p.name for p in target.glob("*.whl"))


def _images(
    stage: Path, references: list[str], tool: ImageTool, on_event: EventSink
) -> list[BundleImage]:
    from swissai.adapters.bundle_files import pack_layout
    from swissai.adapters.bundle_tools import run_tool

    folder = stage / "images"
    folder.mkdir(parents=True)
    (folder / "images.txt").write_text("".join(f"{r}\n" for r in references), encoding="utf-8")
    script = [
        "#!/bin/sh",
        "# Run from the bundle root on a machine that can reach the source registry.",
        "# The OCI archives keep the digests the site profile pins (--preserve-digests).",
        "set -eu",
        "mkdir -p images",
        *save_commands(references, tool if tool != "none" else "skopeo"),
        "",
    ]
    (folder / "commands.sh").write_text("\n".join(script), encoding="utf-8")
    images = []
    for ref in references:
        archive = None
        if tool != "none":
            say(on_event, f"{tool}: saving {ref}")
            run_tool(save_argv(ref, tool), stage)
            if tool == "crane":
                pack_layout(stage / layout_dir(ref), stage / archive_name(ref))
            archive = archive_name(ref)
        images.append(BundleImage(reference=ref, archive=archive))
    if tool == "none":
        warn(
            on_event,
            f"no skopeo or crane on PATH: {len(references)} image(s) listed in "
            "images/images.txt, not saved; images/commands.sh holds the exact commands",
        )
    return images


def create_bundle(
    plan_file: Path,
    site_file: Path | None,
    model_dir: Path,
    out: Path,
    *,
    wheels_dir: Path | None = None,
    part_size: str | None = None,
    jobs: int | None = None,
    image_tool: ImageTool | None = None,
    on_event: EventSink = ignore,
) -> CreateResult:
    """`swissai bundle create PLAN --site SITE --model-dir DIR --out BUNDLE`. Every input is
    checked before anything is written; the bundle is built in a hidden folder beside --out and
    renamed into place at the end, so a failure or Ctrl-C leaves no half bundle."""
    from swissai import __version__
    from swissai.adapters import bundle_tools
    from swissai.adapters.bundle_files import copy_files, hash_files, tar_parts
    from swissai.adapters.site import load_site, site_path
    from swissai.services.artifacts import read_plan
    from swissai.services.render import render_loaded

    started = time.monotonic()
    jobs = jobs or default_jobs()
    part_bytes = None
    if part_size is not None:
        try:
            part_bytes = parse_size(part_size)
        except ValueError as exc:
            raise InputError(f"--part-size: {exc}") from exc
    _check_out(out)
    if wheels_dir is not None and not any(wheels_dir.glob("swissai-*.whl")):
        raise InputError(
            f"--wheels {wheels_dir} holds no swissai-*.whl",
            hint="build them beforehand: python -m pip wheel -w DIR swissai (or the "
            "checkout's path)",
        )
    site_file = site_path(site_file, required=True)
    assert site_file is not None
    plan_data = plan_file.read_bytes() if plan_file.is_file() else b""
    plan = read_plan(plan_file, on_event=on_event)
    site = load_site(site_file)
    site_data = site_file.read_bytes()
    if site.placeholders():
        raise InputError(
            f"site profile {site_file} still has example values: {', '.join(site.placeholders())}",
            hint="a bundle pins real digests and hashes: replace them first",
        )
    if not model_dir.is_dir():
        raise InputError(f"--model-dir {model_dir} is not a directory")
    encodings = _encodings(model_dir, on_event)
    model_sources, sums, sums_data = _model_sources(
        model_dir, site.model.manifest_file, site.model.manifest_sha256
    )
    tool: ImageTool = image_tool or bundle_tools.image_tool()  # type: ignore[assignment]

    parent = out.parent if str(out.parent) else Path(".")
    parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=parent))
    parts_dir: Path | None = None
    try:
        (stage / "plan.yaml").write_bytes(plan_data)
        (stage / "swissai.yaml").write_bytes(site_data)
        rendered = render_loaded(plan, site, out=stage / "manifests", on_event=ignore)
        render_loaded(plan, site, out=stage / "chart", helm=True, on_event=ignore)
        from swissai.core.bundle import image_references

        images = _images(stage, image_references(rendered.objects), tool, on_event)
        wheels = _wheels(stage, wheels_dir, on_event)
        model_root = "model"
        (stage / model_root).mkdir()
        (stage / model_root / site.model.manifest_file).write_bytes(sums_data)
        staged = sorted(p.relative_to(stage).as_posix() for p in stage.rglob("*") if p.is_file())
        model_total = sum(src.stat().st_size for _, src in model_sources)
        staged_total = sum((stage / p).stat().st_size for p in staged)
        progress = ByteProgress(
            on_event, "bundle-create", "bundle sha256", model_total + staged_total
        )

        def manifest_of(files: list[BundleFile], parts: list[BundleFile]) -> BundleManifest:
            return BundleManifest(
                created=BundleCreation(
                    at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    by=bundle_tools.creator(),
                    swissai_version=__version__,
                    python=".".join(map(str, __import__("sys").version_info[:3])),
                    image_tool=tool,
                ),
                plan=BundlePlan(
                    sha256=sha256_bytes(plan_data),
                    model_id=plan.model.id,
                    vllm_version=plan.vllm.version,
                ),
                model=BundleModel(
                    dir=model_root,
                    manifest_file=site.model.manifest_file,
                    manifest_sha256=site.model.manifest_sha256,
                    revision=site.model.revision,
                    files=len(model_sources),
                    bytes=model_total,
                    encodings=encodings,
                ),
                images=images,
                wheels=wheels,
                files=sorted(files, key=lambda f: f.path),
                part_size_bytes=part_bytes,
                parts=parts,
            )

        def check_model(files: list[BundleFile]) -> None:
            by_path = {f.path: f.sha256 for f in files}
            for name, _ in model_sources:
                if by_path[f"{model_root}/{name}"] != sums[name]:
                    raise InputError(
                        f"{model_dir / name}: sha256 differs from {site.model.manifest_file}: "
                        "the source weights are damaged or were changed",
                        hint="restage the model from the approved source; nothing was written",
                    )

        try:
            if part_bytes is None:
                files: list[BundleFile] = []
                for path, result in hash_files(stage, staged, jobs=jobs, advance=progress):
                    if isinstance(result, OSError):
                        raise InputError(f"cannot read {stage / path}: {result.strerror}")
                    files.append(
                        BundleFile(path=path, bytes=(stage / path).stat().st_size, sha256=result)
                    )
                pairs = [(src, stage / model_root / name) for name, src in model_sources]
                copied = copy_files(pairs, jobs=jobs, advance=progress)
                files += [
                    BundleFile(
                        path=Path(f.path).relative_to(stage).as_posix(),
                        bytes=f.bytes,
                        sha256=f.sha256,
                    )
                    for f in copied
                ]
                check_model(files)
                manifest = manifest_of(files, [])
                data = manifest_bytes(manifest)
                (stage / MANIFEST_NAME).write_bytes(data)
                final = stage
            else:
                parts_dir = Path(tempfile.mkdtemp(prefix=f".{out.name}.parts-", dir=parent))
                entries = [(p, stage / p) for p in staged] + [
                    (f"{model_root}/{name}", src) for name, src in model_sources
                ]
                entries.sort()
                mtime = int(time.time())

                def inner(files: list[BundleFile]) -> tuple[str, bytes]:
                    check_model(files)
                    return MANIFEST_NAME, manifest_bytes(manifest_of(files, []))

                files, parts = tar_parts(
                    entries,
                    parts_dir,
                    part_bytes,
                    part_name,
                    trailer=inner,
                    mtime=mtime,
                    advance=progress,
                )
                manifest = manifest_of(files, parts)
                data = manifest_bytes(manifest)
                (parts_dir / MANIFEST_NAME).write_bytes(data)
                final = parts_dir
        finally:
            progress.finish()
        final.chmod(0o755)  # mkdtemp makes it 0o700; the bundle is meant to be copied and read
        if out.is_dir():
            out.rmdir()  # empty (checked above)
        os.replace(final, out)
        if final is parts_dir:
            parts_dir = None
        else:
            stage = None  # type: ignore[assignment]
    finally:
        for leftover in (stage, parts_dir):
            if leftover is not None and leftover.exists():
                shutil.rmtree(leftover, ignore_errors=True)
    seconds = time.monotonic() - started
    what = f"{len(manifest.parts)} part(s)" if manifest.parts else f"{len(manifest.files)} files"
    say(
        on_event,
        f"wrote {out}: {what}, {manifest.total_bytes / 2**30:.2f} GiB hashed at "
        f"{progress.rate() / 1e9:.2f} GB/s",
    )
    return CreateResult(out, manifest, sha256_bytes(data), tool, seconds, progress.done)


# ---------------------------------------------------------------- verify


@dataclass(frozen=True)
class Problem:
    path: str
    why: str

    def __str__(self) -> str:
        return f"{self.path}: {self.why}"


@dataclass(frozen=True)
class VerifyBundleResult:
    directory: Path
    manifest: BundleManifest | None
    manifest_sha256: str
    problems: list[Problem] = field(default_factory=list)
    checked: int = 0  # files (or parts) whose sha256 was compared
    resumed: int = 0  # of them, verified by an earlier, interrupted run (state file)
    hashed_bytes: int = 0
    seconds: float = 0.0
    state: Path | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def gb_per_s(self) -> float:
        return self.hashed_bytes / self.seconds / 1e9 if self.seconds > 0 else 0.0


def read_manifest(directory: Path) -> tuple[BundleManifest, bytes]:
    """BUNDLE.json of a bundle folder: exit 2 when the folder is not there or holds nothing;
    exit 1 (naming BUNDLE.json) when it is missing from a non-empty folder or is damaged."""
    from pydantic import ValidationError

    if not directory.is_dir():
        raise InputError(f"{directory} is not a directory", hint="pass the bundle folder")
    path = directory / MANIFEST_NAME
    if not path.is_file():
        if not any(directory.iterdir()):
            raise InputError(f"{directory} is empty: not a bundle", hint="pass the bundle folder")
        raise FindingsError(
            f"{path}: missing: incomplete bundle (BUNDLE.json is written last)",
            hint="copy the bundle again, BUNDLE.json included",
        )
    data = path.read_bytes()
    try:
        manifest = BundleManifest.model_validate_json(data)
    except (ValidationError, ValueError) as exc:
        raise FindingsError(
            f"{path}: damaged: not a swissai bundle manifest ({str(exc).splitlines()[0]})",
            hint="copy the bundle again from the source",
        ) from exc
    return manifest, data


def verify_bundle(
    directory: Path,
    *,
    sha256: str | None = None,
    plan_file: Path | None = None,
    state_file: Path | None = None,
    restart: bool = False,
    jobs: int | None = None,
    on_event: EventSink = ignore,
) -> VerifyBundleResult:
    """Hash every file (or, for a bundle in parts, every part) again and compare with
    BUNDLE.json; sizes first, so a truncated or incomplete bundle is named before any hashing.
    Files verified by an earlier run that was interrupted are skipped while their size, mtime
    and inode are unchanged (the state file); `restart` hashes everything."""
    from swissai.adapters.bundle_files import VerifyState, hash_files, list_tree

    started = time.monotonic()
    if sha256 is not None and not (
        len(sha256) == 64 and all(c in "0123456789abcdef" for c in sha256)
    ):
        raise InputError(
            "--sha256 must be 64 lower-case hex digits", hint="the value `bundle create` printed"
        )
    if plan_file is not None and not plan_file.is_file():
        raise InputError(f"--plan {plan_file} not found")
    manifest, data = read_manifest(directory)
    digest = sha256_bytes(data)
    if sha256 is not None and digest != sha256:
        raise FindingsError(
            f"{directory / MANIFEST_NAME}: sha256 {digest}, pinned {sha256}: the bundle "
            "manifest was changed or belongs to another bundle",
            hint="compare with the sha256 `bundle create` printed on the outside",
        )
    if plan_file is not None:
        have = sha256_bytes(plan_file.read_bytes())
        if have != manifest.plan.sha256:
            raise FindingsError(
                f"{directory}: the bundle is for another plan ({manifest.plan.model_id}, plan "
                f"sha256 {manifest.plan.sha256[:16]}...; {plan_file} has {have[:16]}...)",
                hint="bring the bundle created from this plan",
            )
    jobs = jobs or default_jobs()
    listed = manifest.parts or manifest.files
    state_path = state_file or directory / STATE_NAME
    ignore_names = {MANIFEST_NAME, STATE_NAME}
    with contextlib.suppress(ValueError):
        ignore_names.add(state_path.resolve().relative_to(directory.resolve()).as_posix())
    listing = list_tree(directory)
    problems = [Problem(p, why) for p, why in listing.odd]
    problems += [Problem(p, why) for p, why in compare_files(listed, listing.sizes, ignore_names)]
    if not manifest.parts:
        plan_entry = next((f for f in manifest.files if f.path == manifest.plan.file), None)
        if plan_entry is None or plan_entry.sha256 != manifest.plan.sha256:
            problems.append(Problem(manifest.plan.file, "does not match the manifest's plan"))
        sums = f"{manifest.model.dir}/{manifest.model.manifest_file}"
        sums_entry = next((f for f in manifest.files if f.path == sums), None)
        if sums_entry is None or sums_entry.sha256 != manifest.model.manifest_sha256:
            problems.append(Problem(sums, "is not the model manifest BUNDLE.json pins"))
    bad = {p.path for p in problems}
    state = VerifyState(state_path, digest, fresh=restart)
    want = {f.path: f.sha256 for f in listed}
    todo: list[str] = []
    resumed = 0
    for item in listed:
        if item.path in bad:
            continue
        if state.is_verified(item.path, directory / item.path, item.sha256):
            resumed += 1
        else:
            todo.append(item.path)
    total = sum(listing.sizes[p] for p in todo)
    what = "parts" if manifest.parts else "files"
    if resumed:
        say(
            on_event,
            f"{resumed} {what} verified by an earlier run ({state_path}); "
            f"hashing the other {len(todo)} (--restart hashes all)",
        )
    progress = ByteProgress(on_event, "bundle-verify", f"sha256 {directory.name}", total)
    last_save = time.monotonic()
    try:
        for path, result in hash_files(directory, todo, jobs=jobs, advance=progress):
            if isinstance(result, OSError):
                problems.append(Problem(path, f"cannot be read: {result.strerror}"))
            elif result != want[path]:
                problems.append(
                    Problem(path, "sha256 differs from the manifest (tampered or corrupted)")
                )
            else:
                state.mark(path, directory / path, result)
            if time.monotonic() - last_save > STATE_SAVE_INTERVAL_S:
                state.save()
                last_save = time.monotonic()
    except KeyboardInterrupt:
        state.save()
        if state.writable:
            say(
                on_event,
                f"interrupted: {len(state.done)} {what} verified so far are recorded in "
                f"{state_path}; run the same command again to resume",
                "note",
            )
        raise
    finally:
        progress.finish()
        state.save()  # also on Ctrl-C: the next run resumes here
    if not state.writable:
        warn(on_event, f"cannot write {state_path}: an interrupted verify starts again")
    problems.sort(key=lambda p: p.path)
    return VerifyBundleResult(
        directory=directory,
        manifest=manifest,
        manifest_sha256=digest,
        problems=problems,
        checked=len(listed) - len(bad),
        resumed=resumed,
        hashed_bytes=progress.done,
        seconds=time.monotonic() - started,
        state=state_path if state.writable else None,
    )


def verify_or_raise(result: VerifyBundleResult) -> None:
    if result.problems:
        first = result.problems[0]
        raise FindingsError(
            f"{result.directory / first.path}: {first.why}"
            + (f" (and {len(result.problems) - 1} more)" if len(result.problems) > 1 else ""),
            hint="do not use this bundle: copy it again from the source and verify again",
        )


# ---------------------------------------------------------------- push


@dataclass(frozen=True)
class PushResult:
    site: Path
    registry: str
    images: list[tuple[str, str]]  # (reference in the bundle, reference in the registry)
    commands: list[str]
    loaded: bool  # the images were loaded by a tool here
    image_tool: ImageTool


def push_bundle(
    directory: Path,
    registry: str,
    *,
    site_out: Path = Path("swissai.yaml"),
    force: bool = False,
    image_tool: ImageTool | None = None,
    on_event: EventSink = ignore,
) -> PushResult:
    """Load the bundle's OCI archives into `registry` (skopeo or crane, when on PATH) and write
    the bundle's site profile with its images in `registry` (same repositories and digests) to
    `site_out`. The archives are hashed against BUNDLE.json before anything is loaded; the site
    profile is written only after every image was loaded (or, without a tool, with the exact
    commands to run)."""
    from swissai.adapters import bundle_tools
    from swissai.adapters.bundle_files import sha256_file, unpack_layout
    from swissai.adapters.files import write_text_atomic
    from swissai.adapters.site import load_site, site_text

    manifest, _ = read_manifest(directory)
    if manifest.parts:
        raise InputError(
            f"{directory} is a bundle in parts: unpack it first",
            hint=f"swissai bundle verify {directory}; then cat {directory}/bundle.tar.* | "
            "tar -xf - -C DIR; then swissai bundle push DIR",
        )
    with contextlib.suppress(OSError):
        if directory.resolve() in site_out.resolve().parents:
            raise InputError(
                f"--site-out {site_out} is inside the bundle: the bundle stays as verified",
                hint="write the site profile outside the bundle folder",
            )
    if site_out.exists() and not force:
        raise InputError(f"{site_out} exists; not overwritten", hint="pass --force or --site-out")
    site = load_site(directory / manifest.site_file)
    try:
        rewritten = rewrite_registry(site, registry)
    except ValueError as exc:
        from pydantic import ValidationError

        text = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
        raise InputError(f"--registry {registry!r}: {text}") from exc
    tool: ImageTool = image_tool or bundle_tools.image_tool()  # type: ignore[assignment]
    references = [i.reference for i in manifest.images]
    commands = push_commands(references, registry, tool if tool != "none" else "skopeo")
    listed = {f.path: f.sha256 for f in manifest.files}
    archives = [i.archive for i in manifest.images if i.archive]
    loaded = False
    if tool != "none" and len(archives) == len(references):
        for archive in archives:
            if sha256_file(directory / archive) != listed.get(archive):
                raise FindingsError(
                    f"{directory / archive}: sha256 differs from the manifest; nothing loaded",
                    hint="copy the bundle again and run bundle verify",
                )
        for ref in references:
            argv = push_argv(ref, registry, tool)
            say(on_event, " ".join(argv))
            if tool == "crane":
                # crane pushes a layout folder: unpacked into a temporary folder, never into
                # the bundle (which stays as verified)
                with tempfile.TemporaryDirectory(prefix="swissai-push-") as tmp:
                    unpack_layout(directory / archive_name(ref), Path(tmp) / layout_dir(ref))
                    bundle_tools.run_tool(argv, Path(tmp))
            else:
                bundle_tools.run_tool(argv, directory)
        loaded = True
    elif references:
        why = (
            "no skopeo or crane on PATH"
            if tool == "none"
            else "the bundle holds no image archives (it was made without a container tool)"
        )
        warn(
            on_event,
            f"{why}: images not loaded; run these from {directory} before deploying:\n"
            + "\n".join(commands),
        )
    write_text_atomic(site_out, site_text(rewritten))
    say(on_event, f"wrote {site_out}: images from {registry}, digests unchanged")
    return PushResult(
        site=site_out,
        registry=registry,
        images=[(r, retarget(r, registry)) for r in references],
        commands=commands,
        loaded=loaded,
        image_tool=tool,
    )
