"""A stand-in for `skopeo copy` and `crane pull|push` on a machine without them and without a
registry (the test machine and CI): installed as executables named `skopeo` and `crane` on PATH
by the bundle tests (tests/bundle_support.fake_tool_path), which pass the tool's name first.

What it does is what the tools do for the forms swissai runs, minus the network. skopeo
(containers/skopeo, docs/skopeo-copy.1.md):
- `skopeo copy [--preserve-digests] docker://REF oci-archive:PATH` writes PATH as a real OCI
  image layout in a tar file (oci-layout, index.json, blobs/sha256/<digest> for the manifest,
  the config and one layer; image-spec v1.1 image-layout.md), each blob named by its sha256;
- `skopeo copy [--preserve-digests] oci-archive:PATH docker://REF` checks PATH is such a
  layout and records the push (one JSON line per call) in $FAKE_SKOPEO_LOG.
crane (google/go-containerregistry, cmd/crane/doc/crane_pull.md, crane_push.md):
- `crane pull --format oci REF DIR` writes DIR as an OCI image layout folder;
- `crane push DIR REF` checks DIR is such a layout and records the push.
Anything else exits 2, like the tools' own usage errors.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import sys
import tarfile


def _blob(tar: tarfile.TarFile, data: bytes) -> dict[str, object]:
    digest = hashlib.sha256(data).hexdigest()
    info = tarfile.TarInfo(f"blobs/sha256/{digest}")
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))
    return {"digest": f"sha256:{digest}", "size": len(data)}


def write_layout(path: str, reference: str) -> None:
    """An OCI image layout in the tar file `path`."""
    layer_buf = io.BytesIO()
    with tarfile.open(fileobj=layer_buf, mode="w") as layer:
        content = f"image {reference}\n".encode()
        info = tarfile.TarInfo("etc/fake-image")
        info.size = len(content)
        layer.addfile(info, io.BytesIO(content))
    with tarfile.open(path, "w") as tar:
        layout = json.dumps({"imageLayoutVersion": "1.0.0"}).encode()
        info = tarfile.TarInfo("oci-layout")
        info.size = len(layout)
        tar.addfile(info, io.BytesIO(layout))
        layer_desc = _blob(tar, layer_buf.getvalue())
        config = json.dumps(
            {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}
        ).encode()
        config_desc = _blob(tar, config)
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **config_desc},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", **layer_desc}],
            }
        ).encode()
        manifest_desc = _blob(tar, manifest)
        index = json.dumps(
            {
                "schemaVersion": 2,
                "manifests": [
                    {"mediaType": "application/vnd.oci.image.manifest.v1+json", **manifest_desc}
                ],
            }
        ).encode()
        info = tarfile.TarInfo("index.json")
        info.size = len(index)
        tar.addfile(info, io.BytesIO(index))


def _log(tool: str, argv: list[str]) -> None:
    with open(os.environ["FAKE_IMAGE_TOOL_LOG"], "a", encoding="utf-8") as log:
        log.write(json.dumps({"tool": tool, "argv": argv}) + "\n")


def crane(argv: list[str]) -> int:
    if argv[:3] == ["pull", "--format", "oci"] and len(argv) == 5:
        folder = argv[4]
        os.makedirs(folder)
        archive = folder + ".tmp.tar"
        write_layout(archive, argv[3])
        with tarfile.open(archive) as tar:
            tar.extractall(folder)  # our own archive, written just above
        os.unlink(archive)
        return 0
    if argv[:1] == ["push"] and len(argv) == 3:
        names = set(os.listdir(argv[1]))
        if not {"oci-layout", "index.json", "blobs"} <= names:
            sys.stderr.write(f"crane: {argv[1]} is not an OCI layout\n")
            return 1
        _log("crane", argv)
        return 0
    sys.stderr.write(f"fake crane: unsupported arguments {argv}\n")
    return 2


def main(argv: list[str]) -> int:
    args = [a for a in argv if a != "--preserve-digests"]
    if len(args) != 3 or args[0] != "copy":
        sys.stderr.write(f"fake skopeo: unsupported arguments {argv}\n")
        return 2
    source, target = args[1], args[2]
    if source.startswith("docker://") and target.startswith("oci-archive:"):
        write_layout(target.removeprefix("oci-archive:"), source.removeprefix("docker://"))
        return 0
    if source.startswith("oci-archive:") and target.startswith("docker://"):
        with tarfile.open(source.removeprefix("oci-archive:")) as tar:
            names = tar.getnames()
        if "oci-layout" not in names or "index.json" not in names:
            sys.stderr.write("fake skopeo: not an OCI layout\n")
            return 1
        _log("skopeo", argv)
        return 0
    sys.stderr.write(f"fake skopeo: unsupported transports {source} {target}\n")
    return 2


if __name__ == "__main__":
    # run as `fake_image_tool.py TOOL ARGS...` by the wrapper named TOOL on PATH
    tool, rest = sys.argv[1], sys.argv[2:]
    sys.exit(crane(rest) if tool == "crane" else main(rest))
