"""Model directories: the sha256 manifest (SUP-003), its verification, the gpt-oss encodings.

The use cases behind `swissai model manifest|verify|stage-encodings` and
`swissai.api.model_manifest`. The manifest format and the walk over the directory live in
adapters/model_manifest (the writer) and templates/scripts/verify_model.py (the pods'
verifier, which `verify_dir` runs unchanged). The encodings live in one place,
MODEL_DIR/encodings, with tiktoken's pinned hashes (core/encodings).

Prints nothing: messages and sha256 progress (bytes) go to `on_event`.
"""

from __future__ import annotations

import base64
import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from swissai.errors import EnvironmentProblem, FindingsError, InputError
from swissai.services.events import EventSink, Progress, ignore, say, warn

# harmony's o200k vocabulary: the ordinary tokens are ranks 0..199,997; the special tokens are
# not part of o200k_base.tiktoken (tiktoken_ext/openai_public.py, o200k_base).
O200K_RANKS = 199_998
ENCODINGS_INSTALL_HINT = (
    "run it with the Python of a vLLM installation (vLLM depends on openai-harmony): "
    "/path/to/vllm-venv/bin/python -m swissai model stage-encodings DIR, or pip install "
    "openai-harmony; or copy o200k_base.tiktoken from a connected machine into DIR/encodings "
    "(see docs/serve.md)"
)


@dataclass(frozen=True)
class ManifestResult:
    manifest: Path
    sha256: str  # the manifest file's own sha256 (site profile model.manifest_sha256)
    files: int
    bytes: int
    lora_rank: int | None = None  # set when DIR is a LoRA adapter (adapter_config.json)


@dataclass(frozen=True)
class VerifyResult:
    directory: Path
    problems: list[str] = field(default_factory=list)
    encodings_checked: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class StagedEncodings:
    path: Path
    sha256: str


def hashing_progress(
    on_event: EventSink, task: str, description: str, total: int
) -> tuple[Callable[[int], None], Callable[[], None]]:
    """An advance(bytes) callback that emits Progress events (thread-safe: the verifier hashes
    in threads), and a finish() to close the task."""
    lock = threading.Lock()
    state = {"done": 0}

    def advance(n: int) -> None:
        with lock:
            state["done"] += n
            done = state["done"]
        on_event(Progress(task, description, done, total or None, "bytes"))

    def finish() -> None:
        on_event(Progress(task, description, state["done"], total or None, "bytes", finished=True))

    return advance, finish


def config_model_type(directory: Path) -> str | None:
    """`model_type` of DIR/config.json, read within the bounded loader's limits; None when
    there is no readable config (the preflight that needs one says so itself)."""
    from swissai.adapters.yaml_safe import DOCUMENT_LIMITS, load_data_file
    from swissai.errors import InputError

    path = directory / "config.json"
    if not path.is_file():
        return None
    try:
        config = load_data_file(path, DOCUMENT_LIMITS, what="model config")
    except InputError:
        return None
    value = config.get("model_type") if isinstance(config, dict) else None
    return value if isinstance(value, str) else None


def is_gpt_oss_dir(directory: Path) -> bool:
    """config.json says `model_type: gpt_oss` (then harmony needs the encodings)."""
    return config_model_type(directory) == "gpt_oss"


def encodings_sha256(directory: Path) -> dict[str, str | None]:
    """{file name: sha256, or None when absent} for every encoding tiktoken pins; a path that
    is not a regular file counts as absent (never read: a FIFO would block)."""
    from swissai.core.encodings import TIKTOKEN_SHA256

    found: dict[str, str | None] = {}
    for name in TIKTOKEN_SHA256:
        path = directory / name
        if not path.is_file():
            found[name] = None
            continue
        digest = hashlib.sha256()
        try:
            with path.open("rb") as handle:
                for chunk in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(chunk)
        except OSError:
            found[name] = None
            continue
        found[name] = digest.hexdigest()
    return found


def encodings_problems(model_dir: Path) -> list[str]:
    """Problems of MODEL_DIR/encodings against tiktoken's hashes (core/encodings)."""
    from swissai.core.encodings import ENCODINGS_SUBDIR, encoding_problems

    return encoding_problems(encodings_sha256(model_dir / ENCODINGS_SUBDIR))


def _directory(directory: Path) -> Path:
    if not directory.is_dir():
        raise InputError(f"{directory} is not a directory", hint="pass the model directory")
    return directory


def write_manifest(
    directory: Path,
    out: Path | None = None,
    *,
    force: bool = False,
    on_event: EventSink = ignore,
) -> ManifestResult:
    """Write DIR/SHA256SUMS (or `out`); exit 2 on a hostile tree (a symlink out of the
    directory, a dangling or looping one, a FIFO, a name that cannot be one manifest line), on
    a gpt-oss directory whose encodings are not tiktoken's, or on an existing manifest without
    `force`."""
    from swissai.adapters.model_manifest import (
        DEFAULT_MANIFEST,
        build_manifest,
        model_files,
    )
    from swissai.adapters.model_manifest import (
        write_manifest as write_file,
    )
    from swissai.core.encodings import ENCODINGS_SUBDIR

    directory = _directory(directory)
    target = out or directory / DEFAULT_MANIFEST
    if target.exists() and not force:
        raise InputError(f"{target} exists; not overwritten", hint="pass --force to replace it")
    inside = target.resolve().parent == directory.resolve()
    name = target.name if inside else DEFAULT_MANIFEST
    if is_gpt_oss_dir(directory):
        problems = encodings_problems(directory)
        fake = [p for p in problems if "missing" not in p]
        if fake:
            raise InputError(
                f"{directory}: {fake[0]}: the manifest would attest a wrong encodings file",
                hint="stage the published file: swissai model stage-encodings DIR",
            )
        if problems:
            warn(
                on_event,
                f"{directory} is gpt-oss and has no {ENCODINGS_SUBDIR}/o200k_base.tiktoken: "
                "stage it first (swissai model stage-encodings DIR), then write the manifest",
            )
    lora_rank = _lora_rank(directory)
    files = model_files(directory, name)
    total = sum(size for _, size in files)
    done = {"bytes": 0}

    def advance(n: int) -> None:
        done["bytes"] += n
        on_event(Progress("sha256-manifest", "sha256", done["bytes"], total or None, "bytes"))

    try:
        text = build_manifest(directory, name, advance)
    finally:
        on_event(
            Progress(
                "sha256-manifest", "sha256", done["bytes"], total or None, "bytes", finished=True
            )
        )
    write_file(target, text)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    say(on_event, f"wrote {target}: {len(files)} files, {total / 2**30:.2f} GiB")
    if lora_rank is not None:
        say(
            on_event,
            f"{directory} is a LoRA adapter (rank {lora_rank}): pin it in the site profile as "
            f"lora.adapters: [{{name: NAME, path: <its folder on the model volume>, "
            f"manifest_file: {name}, manifest_sha256: {digest}}}]",
        )
    return ManifestResult(target, digest, len(files), total, lora_rank)


def _lora_rank(directory: Path) -> int | None:
    """The rank of a LoRA adapter directory (adapter_config.json), None for a model; a broken
    adapter (no weights, not LORA, no rank) is exit 2 before anything is hashed."""
    from swissai.adapters.lora_files import ADAPTER_CONFIG, read_adapter
    from swissai.core.lora import LoraAdapter

    if not (directory / ADAPTER_CONFIG).is_file():
        return None
    return read_adapter(LoraAdapter(name=directory.name, path=str(directory))).rank


def verify_model(
    directory: Path,
    manifest_sha256: str,
    manifest_name: str = "SHA256SUMS",
    *,
    on_event: EventSink = ignore,
) -> VerifyResult:
    """Verify DIR against its manifest as the pods' init container does; for a gpt-oss
    directory also MODEL_DIR/encodings against tiktoken's hashes (a fake file is a problem)."""
    from swissai.adapters.model_manifest import model_files, verify_dir

    directory = _directory(directory)
    if not (len(manifest_sha256) == 64 and all(c in "0123456789abcdef" for c in manifest_sha256)):
        raise InputError(
            "--sha256 must be 64 lower-case hex digits", hint="the value `model manifest` printed"
        )
    problems: list[str] = []
    try:
        total = sum(size for _, size in model_files(directory, manifest_name))
    except InputError as exc:
        # a hostile tree (a symlink out of the directory, a FIFO): named here; the verifier
        # below fails on it as well
        problems.append(exc.message)
        total = 0
    manifest = directory / manifest_name
    if manifest.is_file():
        total += manifest.stat().st_size  # the verifier hashes the manifest first
    # the verifier hashes in threads: hashing_progress counts under a lock
    advance, finish = hashing_progress(on_event, "sha256-verify", f"sha256 {directory.name}", total)
    try:
        problems += verify_dir(directory, manifest_name, manifest_sha256, advance=advance)
    finally:
        finish()
    checked: list[str] = []
    if is_gpt_oss_dir(directory):
        found = encodings_problems(directory)
        problems += found
        if not found:
            checked = ["o200k_base.tiktoken"]
    return VerifyResult(directory, problems, checked)


def verify_or_raise(result: VerifyResult) -> None:
    if result.problems:
        raise FindingsError(
            f"{result.directory}: {len(result.problems)} problem(s): {result.problems[0]}",
            hint="restage the model from the approved source",
        )


def stage_encodings(model_dir: Path, on_event: EventSink = ignore) -> StagedEncodings:
    """Write MODEL_DIR/encodings/o200k_base.tiktoken offline from the o200k vocabulary embedded
    in openai_harmony (the `openai-harmony` wheel, a vLLM dependency), in tiktoken's format
    ("base64(token) rank" per line), after checking it has tiktoken's pinned sha256.

    Exit 2 when MODEL_DIR is not a directory; exit 3 when openai_harmony is not importable
    (naming what to install or copy) or gives another vocabulary."""
    from swissai.adapters.model_manifest import write_manifest as write_file
    from swissai.core.encodings import ENCODINGS_SUBDIR, TIKTOKEN_SHA256

    model_dir = _directory(model_dir)
    try:
        from openai_harmony import (  # type: ignore[import-not-found, unused-ignore]
            HarmonyEncodingName,
            load_harmony_encoding,
        )
    except ImportError as exc:
        raise EnvironmentProblem(
            "openai_harmony is not importable in this Python: it holds the o200k vocabulary",
            hint=ENCODINGS_INSTALL_HINT,
        ) from exc
    name = "o200k_base.tiktoken"
    want = TIKTOKEN_SHA256[name]
    encoding = load_harmony_encoding(HarmonyEncodingName.HARMONY_GPT_OSS)
    lines = []
    for rank in range(O200K_RANKS):
        token = bytes(encoding._inner.decode_bytes([rank]))
        lines.append(base64.b64encode(token).decode("ascii") + f" {rank}\n")
    data = "".join(lines)
    digest = hashlib.sha256(data.encode("ascii")).hexdigest()
    if digest != want:
        raise EnvironmentProblem(
            f"the vocabulary of this openai_harmony gives sha256 {digest[:16]}..., tiktoken "
            f"pins {want[:16]}...",
            hint="copy o200k_base.tiktoken from a connected machine instead (docs/serve.md)",
        )
    path = model_dir / ENCODINGS_SUBDIR / name
    write_file(path, data)
    say(on_event, f"wrote {path}: sha256 {digest} (tiktoken's pin)")
    if (model_dir / "SHA256SUMS").exists():
        warn(
            on_event,
            f"{model_dir}/SHA256SUMS predates the encodings: write it again "
            "(swissai model manifest DIR --force) and pin the new sha256",
        )
    return StagedEncodings(path, digest)
