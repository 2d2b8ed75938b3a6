"""BundleManifest (`BUNDLE.json`): what an air-gap bundle holds, file by file.

Written by `swissai bundle create` as the last file of the bundle, read by `bundle verify` and
`bundle push` on the inside. Every file of the bundle is listed with its size and sha256; a
bundle split for transfer media (`--part-size`) also lists its parts. The operator pins the
sha256 of BUNDLE.json itself (printed by `create`) over a second channel, so a manifest rewritten
together with the files is caught too (`verify --sha256`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from swissai.models.base import Frozen


class BundleFile(Frozen):
    """One file of the bundle: path relative to the bundle root (POSIX), size, sha256."""

    path: str
    bytes: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class BundleCreation(Frozen):
    """Who made the bundle, when, with what (the creation record)."""

    at: str = Field(description="UTC time, ISO 8601")
    by: str = Field(description="user@host that ran `bundle create`")
    swissai_version: str
    python: str
    image_tool: Literal["skopeo", "crane", "none"] = "none"


class BundlePlan(Frozen):
    file: str = "plan.yaml"
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    model_id: str
    vllm_version: str


class BundleModel(Frozen):
    """The model weights: where they are in the bundle and the SUP-003 manifest that pins them."""

    dir: str = "model"
    manifest_file: str = "SHA256SUMS"
    manifest_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    revision: str
    files: int = Field(ge=0)
    bytes: int = Field(ge=0)
    encodings: list[str] = Field(default_factory=list, description="gpt-oss encodings, bundled")


class BundleImage(Frozen):
    """A container image by digest; `archive` is its OCI archive in the bundle, or None when no
    container tool was present (then `images/commands.sh` says how to make it)."""

    reference: str
    archive: str | None = None


class BundleManifest(Frozen):
    apiVersion: Literal["swissai/v1alpha1"] = "swissai/v1alpha1"
    kind: Literal["Bundle"] = "Bundle"
    created: BundleCreation
    plan: BundlePlan
    site_file: str = "swissai.yaml"
    model: BundleModel
    images: list[BundleImage] = Field(default_factory=list)
    wheels: list[str] = Field(default_factory=list, description="files under wheels/")
    files: list[BundleFile] = Field(default_factory=list)
    part_size_bytes: int | None = Field(None, ge=1)
    parts: list[BundleFile] = Field(
        default_factory=list, description="parts of the bundle's tar stream, in order"
    )

    @property
    def total_bytes(self) -> int:
        return sum(f.bytes for f in self.files)
