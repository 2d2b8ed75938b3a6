"""Air-gap bundles, the pure part: sizes, image lists and commands, file-list comparison, the
registry rewrite of the site profile. No I/O (adapters/bundle_files does the files and tools).

The image commands are the documented invocations of the two common tools:
- skopeo copy (containers/skopeo, docs/skopeo-copy.1.md): `oci-archive:PATH` is an OCI layout
  in a tar file; `--preserve-digests` refuses any change that would alter the manifest digest,
  so the digest pinned in the site profile stays valid in the internal registry.
- crane (google/go-containerregistry, cmd/crane/doc/crane_pull.md, crane_push.md):
  `crane pull --format oci REF DIR` writes an OCI layout folder; `crane push DIR REF` uploads
  one. swissai packs the folder into the same kind of tar skopeo's oci-archive is (the layout's
  files at the tar's root), so a bundle holds one file per image whichever tool made it.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from swissai.models.bundle import BundleFile
from swissai.models.site import SiteProfile

ImageTool = Literal["skopeo", "crane", "none"]

MANIFEST_NAME = "BUNDLE.json"
STATE_NAME = ".swissai-verify-state.json"
PART_PREFIX = "bundle.tar."
PART_DIGITS = 4
# what split(1) and dd mean by K/M/G/T: powers of 1024; KB/MB/GB/TB are powers of 1000
_UNITS = {
    "": 1,
    "b": 1,
    "k": 2**10,
    "kib": 2**10,
    "kb": 10**3,
    "m": 2**20,
    "mib": 2**20,
    "mb": 10**6,
    "g": 2**30,
    "gib": 2**30,
    "gb": 10**9,
    "t": 2**40,
    "tib": 2**40,
    "tb": 10**12,
}
_SIZE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*$")
# tar needs at least one 512-byte record and a part smaller than a few MiB only multiplies files
MIN_PART_BYTES = 1 << 20


def parse_size(text: str) -> int:
    """Bytes of '4GiB', '4G' (= GiB, as split -b), '700MB', '1048576'; ValueError otherwise."""
    match = _SIZE.match(text)
    unit = match.group(2).lower() if match else ""
    if match is None or unit not in _UNITS:
        raise ValueError(f"{text!r} is not a size (e.g. 4GiB, 700MB, 25G)")
    value = int(float(match.group(1)) * _UNITS[unit])
    if value < MIN_PART_BYTES:
        raise ValueError(f"{text!r} is below the smallest part size, 1MiB")
    return value


def part_name(index: int) -> str:
    return f"{PART_PREFIX}{index:0{PART_DIGITS}d}"


def _walk_images(node: Any, found: set[str]) -> None:
    if isinstance(node, Mapping):
        for key in ("containers", "initContainers"):
            for container in node.get(key) or ():
                if isinstance(container, Mapping) and isinstance(container.get("image"), str):
                    found.add(container["image"])
        for value in node.values():
            _walk_images(value, found)
    elif isinstance(node, list):
        for value in node:
            _walk_images(value, found)


def image_references(objects: Iterable[Mapping[str, Any]]) -> list[str]:
    """Every container image the rendered objects run (containers and init containers, in
    Deployments, LeaderWorkerSets, Jobs alike), sorted and once each."""
    found: set[str] = set()
    for obj in objects:
        _walk_images(obj, found)
    return sorted(found)


def split_reference(reference: str) -> tuple[str, str, str]:
    """(registry, repository, digest) of 'registry/repo/path@sha256:...'; ValueError when the
    reference is not pinned by digest (a tag can move: SUP-001)."""
    name, at, digest = reference.partition("@")
    registry, slash, repository = name.partition("/")
    if not at or not digest.startswith("sha256:") or not slash or not repository:
        raise ValueError(f"{reference!r} is not registry/repository@sha256:digest")
    return registry, repository, digest


def archive_name(reference: str) -> str:
    """The OCI archive of an image inside the bundle: images/<repository>@<digest>.tar with
    '/' and ':' made file-name safe."""
    _, repository, digest = split_reference(reference)
    safe = repository.replace("/", "_")
    return f"images/{safe}@{digest.replace(':', '-')}.tar"


def retarget(reference: str, registry: str) -> str:
    """The same repository and digest in another registry."""
    _, repository, digest = split_reference(reference)
    return f"{registry}/{repository}@{digest}"


def layout_dir(reference: str) -> str:
    """Where crane writes an image's OCI layout (a folder) before it is packed into the same
    tar file skopeo's oci-archive writes (a tar of the layout folder's contents)."""
    return archive_name(reference).removesuffix(".tar") + ".layout"


def push_target(reference: str, registry: str) -> str:
    """registry/repository:tag for the push; the tag comes from the digest (`swissai-` + its
    first 20 hex digits), because both tools push to a tag and the digest is preserved, so the
    site profile keeps pulling by the digest it pins."""
    _, repository, digest = split_reference(reference)
    return f"{registry}/{repository}:swissai-{digest.removeprefix('sha256:')[:20]}"


def save_argv(reference: str, tool: ImageTool) -> list[str]:
    """The command (run from the bundle root) that saves one image: skopeo writes the OCI
    archive itself; crane writes an OCI layout folder (layout_dir), packed afterwards."""
    if tool == "crane":
        return ["crane", "pull", "--format", "oci", reference, layout_dir(reference)]
    return [
        "skopeo", "copy", "--preserve-digests",
        f"docker://{reference}", f"oci-archive:{archive_name(reference)}",
    ]  # fmt: skip


def push_argv(reference: str, registry: str, tool: ImageTool) -> list[str]:
    """The command (run from the bundle root) that loads one image into `registry`; crane
    pushes the layout folder unpacked from the archive (layout_dir)."""
    if tool == "crane":
        return ["crane", "push", layout_dir(reference), push_target(reference, registry)]
    return [
        "skopeo", "copy", "--preserve-digests",
        f"oci-archive:{archive_name(reference)}", f"docker://{push_target(reference, registry)}",
    ]  # fmt: skip


def save_commands(references: Iterable[str], tool: ImageTool) -> list[str]:
    """Shell lines (run from the bundle root) that write each image's OCI archive. For
    `none`, the skopeo form."""
    lines = []
    for ref in references:
        line = shlex.join(save_argv(ref, tool))
        if tool == "crane":
            folder, archive = shlex.quote(layout_dir(ref)), shlex.quote(archive_name(ref))
            line += f" && tar -cf {archive} -C {folder} . && rm -rf {folder}"
        lines.append(line)
    return lines


def push_commands(references: Iterable[str], registry: str, tool: ImageTool) -> list[str]:
    """Shell lines (run from the bundle root) that load each OCI archive into `registry`, same
    repository and digest. For `none`, the skopeo form."""
    lines = []
    for ref in references:
        line = shlex.join(push_argv(ref, registry, tool))
        if tool == "crane":
            folder, archive = shlex.quote(layout_dir(ref)), shlex.quote(archive_name(ref))
            line = f"mkdir -p {folder} && tar -xf {archive} -C {folder} && {line}"
        lines.append(line)
    return lines


def compare_files(
    listed: Iterable[BundleFile], found: Mapping[str, int], ignore: Iterable[str] = ()
) -> list[tuple[str, str]]:
    """(path, problem) for files missing, with another size (truncated or grown), or present
    but unlisted (something was added); before any hashing, so an incomplete bundle is named
    at once."""
    problems: list[tuple[str, str]] = []
    names = set()
    skip = set(ignore)
    for item in listed:
        names.add(item.path)
        size = found.get(item.path)
        if size is None:
            problems.append((item.path, "missing (incomplete bundle)"))
        elif size < item.bytes:
            problems.append((item.path, f"truncated: {size} of {item.bytes} bytes"))
        elif size > item.bytes:
            problems.append((item.path, f"has {size} bytes, the manifest lists {item.bytes}"))
    for path in sorted(set(found) - names - skip):
        problems.append((path, "is not listed in the bundle manifest (added after creation)"))
    return problems


def rewrite_registry(site: SiteProfile, registry: str) -> SiteProfile:
    """The site profile with its images in `registry` (same repositories and digests), and
    `registry` added to compliance.allowed_registries (the operator named it as the internal
    registry; without it the profile would refuse its own image). ValueError for a bad host."""
    data = site.model_dump(mode="json")
    data["image"]["registry"] = registry
    store = data["storage"].get("object_store")
    if store is not None:
        store["fetch_image"]["registry"] = registry
    allowed = data["compliance"]["allowed_registries"]
    if registry not in allowed:
        allowed.append(registry)
    return SiteProfile.model_validate(data)
