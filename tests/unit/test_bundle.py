"""Air-gap bundles (issue 13): the pure part (core/bundle) and the use cases (services/bundle)
on real files: real tar streams cut into parts and unpacked with the system's tar, real sha256
over every file, the model manifest checked with the system's `sha256sum -c`."""

from __future__ import annotations

import hashlib
import json
import shlex
import subprocess
import tarfile
from pathlib import Path

import pytest
from bundle_support import WEIGHTS, Inputs, make_inputs

from swissai.core.bundle import (
    archive_name,
    compare_files,
    image_references,
    parse_size,
    push_commands,
    rewrite_registry,
    save_commands,
)
from swissai.errors import FindingsError, InfeasiblePlan, InputError
from swissai.models.bundle import BundleFile, BundleManifest
from swissai.services.bundle import create_bundle, push_bundle, verify_bundle
from swissai.services.events import Collect, Progress

DIGEST = "sha256:" + "ab" * 32
REF = f"registry.bank.internal/ai/vllm-openai@{DIGEST}"


# -- core -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("4GiB", 4 * 2**30),
        ("4G", 4 * 2**30),
        ("700MB", 700 * 10**6),
        ("1048576", 2**20),
        ("1.5GiB", 3 * 2**29),
        ("25 g", 25 * 2**30),
    ],
)
def test_parse_size_reads_split_units(text: str, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "4 parsecs", "-1G", "10", "1KiB", "G"])
def test_parse_size_refuses_nonsense_and_tiny_parts(text: str) -> None:
    with pytest.raises(ValueError):
        parse_size(text)


def test_image_references_finds_containers_and_init_containers_once() -> None:
    objects = [
        {
            "kind": "Deployment",
            "spec": {
                "template": {
                    "spec": {"initContainers": [{"image": REF}], "containers": [{"image": REF}]}
                }
            },
        },
        {
            "kind": "LeaderWorkerSet",
            "spec": {
                "leaderWorkerTemplate": {
                    "workerTemplate": {
                        "spec": {"containers": [{"image": "r.internal/rclone/rclone@" + DIGEST}]}
                    }
                }
            },
        },
        {"kind": "Service", "spec": {"ports": []}},
    ]
    assert image_references(objects) == ["r.internal/rclone/rclone@" + DIGEST, REF]


def test_image_commands_keep_the_digest() -> None:
    assert archive_name(REF) == f"images/ai_vllm-openai@sha256-{'ab' * 32}.tar"
    (save,) = save_commands([REF], "skopeo")
    assert save.startswith(f"skopeo copy --preserve-digests docker://{REF} oci-archive:images/")
    (pull,) = save_commands([REF], "crane")
    assert pull.startswith(f"crane pull --format oci {shlex.quote(REF)} images/")
    (push,) = push_commands([REF], "reg.inside:5000", "skopeo")
    assert "docker://reg.inside:5000/ai/vllm-openai:swissai-abab" in push
    (crane_save,) = save_commands([REF], "crane")
    layout = f"images/ai_vllm-openai@sha256-{'ab' * 32}.layout"
    assert crane_save.endswith(
        f"{layout} && tar -cf {layout[:-7]}.tar -C {layout} . && rm -rf {layout}"
    )
    (crane_push,) = push_commands([REF], "reg.inside:5000", "crane")
    assert crane_push.startswith(
        f"mkdir -p {layout} && tar -xf {layout[:-7]}.tar -C {layout} && crane push {layout} reg.inside:5000/ai/vllm-openai:swissai-abab"
    )
    with pytest.raises(ValueError, match="not registry/repository@sha256"):
        archive_name("registry.bank.internal/ai/vllm-openai:latest")


def test_compare_files_names_missing_truncated_grown_and_added() -> None:
    listed = [BundleFile(path=p, bytes=10, sha256="0" * 64) for p in ("a", "b", "c", "d")]
    found = {"a": 10, "b": 4, "c": 11, "e": 1, "BUNDLE.json": 5}
    assert compare_files(listed, found, ignore={"BUNDLE.json"}) == [
        ("b", "truncated: 4 of 10 bytes"),
        ("c", "has 11 bytes, the manifest lists 10"),
        ("d", "missing (incomplete bundle)"),
        ("e", "is not listed in the bundle manifest (added after creation)"),
    ]


def test_rewrite_registry_keeps_repository_and_digest_and_allows_the_registry() -> None:
    from render_support import site

    before = site()
    after = rewrite_registry(before, "reg.inside.bank:5000")
    assert after.image.reference == before.image.reference.replace(
        "registry.bank.internal", "reg.inside.bank:5000"
    )
    assert "reg.inside.bank:5000" in after.compliance.allowed_registries
    with pytest.raises(ValueError):
        rewrite_registry(before, "Bad Registry!")


# -- create and verify ----------------------------------------------------------------------


@pytest.fixture
def inputs(tmp_path: Path) -> Inputs:
    return make_inputs(tmp_path / "in")


def _create(inputs: Inputs, out: Path, **kwargs: object) -> tuple[object, Collect]:
    events = Collect()
    result = create_bundle(
        inputs.plan,
        inputs.site,
        inputs.model,
        out,
        wheels_dir=inputs.wheels,
        image_tool="none",
        on_event=events,
        **kwargs,  # type: ignore[arg-type]
    )
    return result, events


def test_create_writes_every_part_and_a_manifest_that_hashes_them(
    inputs: Inputs, tmp_path: Path
) -> None:
    out = tmp_path / "bundle"
    result, events = _create(inputs, out)
    data = (out / "BUNDLE.json").read_bytes()
    assert result.manifest_sha256 == hashlib.sha256(data).hexdigest()  # type: ignore[attr-defined]
    manifest = BundleManifest.model_validate_json(data)
    paths = {f.path for f in manifest.files}
    assert {
        "plan.yaml",
        "swissai.yaml",
        "model/SHA256SUMS",
        f"model/{WEIGHTS}",
        "images/images.txt",
        "images/commands.sh",
        "chart/Chart.yaml",
        "wheels/swissai-0.1.0-py3-none-any.whl",
    } <= paths
    assert any(p.startswith("manifests/") and "deployment" in p for p in paths)
    on_disk = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert on_disk == paths | {"BUNDLE.json"}
    for item in manifest.files:  # every size and sha256 is the file's
        body = (out / item.path).read_bytes()
        assert (len(body), hashlib.sha256(body).hexdigest()) == (item.bytes, item.sha256)
    assert (out / "plan.yaml").read_bytes() == inputs.plan.read_bytes()
    assert manifest.plan.sha256 == hashlib.sha256(inputs.plan.read_bytes()).hexdigest()
    assert (
        manifest.model.manifest_sha256
        == hashlib.sha256((inputs.model / "SHA256SUMS").read_bytes()).hexdigest()
    )
    assert [i.reference for i in manifest.images] == [
        (out / "images/images.txt").read_text().strip()
    ]
    assert "@sha256:" in manifest.images[0].reference and manifest.images[0].archive is None
    assert "skopeo copy --preserve-digests docker://" in (out / "images/commands.sh").read_text()
    assert manifest.created.by and manifest.created.at.endswith("+00:00")
    assert any("no skopeo or crane" in m for m in events.messages("warning"))
    rates = [e.detail for e in events.events if isinstance(e, Progress)]
    assert rates and all(r.endswith("GB/s") for r in rates)
    # the weights are the approved ones: the system's sha256sum agrees with the model manifest
    check = subprocess.run(
        ["sha256sum", "-c", "SHA256SUMS"], cwd=out / "model", capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert not list(tmp_path.glob(".bundle.*"))  # no staging folder left behind


def test_verify_accepts_an_intact_bundle_and_pins(inputs: Inputs, tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    created, _ = _create(inputs, out)
    result = verify_bundle(
        out,
        sha256=created.manifest_sha256,
        plan_file=inputs.plan,  # type: ignore[attr-defined]
        restart=True,
    )
    assert result.ok, result.problems
    assert result.checked == len(result.manifest.files)  # type: ignore[union-attr]
    assert result.hashed_bytes == result.manifest.total_bytes  # type: ignore[union-attr]


def _damage(out: Path, how: str) -> str:
    weights = out / "model" / WEIGHTS
    if how == "tampered":
        body = bytearray(weights.read_bytes())
        body[1000] ^= 0xFF
        weights.write_bytes(bytes(body))
        return "sha256 differs"
    if how == "truncated":
        with weights.open("r+b") as handle:
            handle.truncate(1000)
        return "truncated: 1000 of"
    if how == "missing":
        weights.unlink()
        return "missing (incomplete bundle)"
    if how == "added":
        (out / "model" / "extra.bin").write_bytes(b"x")
        return "not listed"
    if how == "symlink":
        weights.unlink()
        weights.symlink_to("/etc/hostname")
        return "not a regular file"
    raise AssertionError(how)


@pytest.mark.parametrize("how", ["tampered", "truncated", "missing", "added", "symlink"])
def test_verify_refuses_a_damaged_bundle_naming_the_file(
    inputs: Inputs, tmp_path: Path, how: str
) -> None:
    out = tmp_path / "bundle"
    _create(inputs, out)
    why = _damage(out, how)
    result = verify_bundle(out, restart=True)
    assert not result.ok
    assert any(why in p.why and p.path.startswith("model/") for p in result.problems), (
        result.problems
    )


def test_verify_refuses_a_changed_manifest_another_plan_and_bad_input(
    inputs: Inputs, tmp_path: Path
) -> None:
    out = tmp_path / "bundle"
    _create(inputs, out)
    with pytest.raises(FindingsError, match=r"BUNDLE.json: sha256 .* pinned"):
        verify_bundle(out, sha256="0" * 64)
    other = tmp_path / "other-plan.yaml"
    other.write_text(
        inputs.plan.read_text().replace(
            "gpu_memory_utilization: 0.9", "gpu_memory_utilization: 0.85"
        )
        + "\n# changed\n"
    )
    with pytest.raises(FindingsError, match="for another plan"):
        verify_bundle(out, plan_file=other)
    with pytest.raises(InputError, match="64 lower-case hex"):
        verify_bundle(out, sha256="abc")
    with pytest.raises(InputError, match="is not a directory"):
        verify_bundle(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="empty: not a bundle"):
        verify_bundle(tmp_path / "empty")
    (out / "BUNDLE.json").write_text("{not json")
    with pytest.raises(FindingsError, match=r"BUNDLE.json: damaged"):
        verify_bundle(out)
    (out / "BUNDLE.json").unlink()
    with pytest.raises(FindingsError, match=r"BUNDLE.json: missing: incomplete"):
        verify_bundle(out)


def test_verify_resumes_after_an_interruption_and_rehashes_a_changed_file(
    inputs: Inputs, tmp_path: Path
) -> None:
    out = tmp_path / "bundle"
    _create(inputs, out)
    notes = Collect()

    def interrupt(event: object) -> None:
        # Ctrl-C once a few files are hashed (one at a time: jobs=1)
        notes(event)
        if isinstance(event, Progress) and not event.finished and event.completed > 2**20:
            raise KeyboardInterrupt

    import swissai.services.bundle as service

    service.PROGRESS_INTERVAL_S, before = 0.0, service.PROGRESS_INTERVAL_S
    try:
        with pytest.raises(KeyboardInterrupt):
            verify_bundle(out, jobs=1, on_event=interrupt, restart=True)
    finally:
        service.PROGRESS_INTERVAL_S = before
    state = json.loads((out / ".swissai-verify-state.json").read_text())
    (note,) = notes.messages("note")
    assert note.startswith(f"interrupted: {len(state['verified'])} files verified so far")
    assert (
        0
        < len(state["verified"])
        < len(BundleManifest.model_validate_json((out / "BUNDLE.json").read_bytes()).files)
    )
    resumed = verify_bundle(out)
    assert resumed.ok and resumed.resumed == len(state["verified"])
    assert resumed.hashed_bytes < resumed.manifest.total_bytes  # type: ignore[union-attr]
    # a file changed after it was verified is hashed again (its mtime changed), and caught
    verified_file = next(iter(state["verified"]))
    target = out / verified_file
    body = bytearray(target.read_bytes())
    body[0] ^= 0x01
    target.write_bytes(bytes(body))
    again = verify_bundle(out)
    assert [p.path for p in again.problems] == [verified_file]
    # a state file for another bundle manifest is ignored
    (out / ".swissai-verify-state.json").write_text('{"manifest_sha256": "x", "verified": {}}')
    assert verify_bundle(out).resumed == 0


def test_parts_are_a_real_tar_stream_that_verifies_and_unpacks(
    inputs: Inputs, tmp_path: Path
) -> None:
    out = tmp_path / "parts"
    created, _ = _create(inputs, out, part_size="1MiB")
    manifest = created.manifest  # type: ignore[attr-defined]
    assert len(manifest.parts) >= 4 and manifest.part_size_bytes == 2**20
    assert all(p.bytes == 2**20 for p in manifest.parts[:-1])
    assert sorted(p.name for p in out.iterdir()) == ["BUNDLE.json"] + [
        p.path for p in manifest.parts
    ]
    assert verify_bundle(out, sha256=created.manifest_sha256, restart=True).ok  # type: ignore[attr-defined]
    # the system's tar unpacks the concatenated parts; the tree inside verifies on its own
    tree = tmp_path / "unpacked"
    tree.mkdir()
    stream = b"".join((out / p.path).read_bytes() for p in manifest.parts)
    subprocess.run(["tar", "-xf", "-", "-C", str(tree)], input=stream, check=True)
    assert (tree / "model" / WEIGHTS).read_bytes() == (inputs.model / WEIGHTS).read_bytes()
    inner = verify_bundle(tree)
    assert inner.ok and inner.checked == len(manifest.files)
    with tarfile.open(fileobj=__import__("io").BytesIO(stream)) as tar:
        owners = {(m.uid, m.gid) for m in tar.getmembers()}
    assert owners == {(0, 0)}
    # a lost or damaged part is named
    last = out / manifest.parts[-1].path
    last.unlink()
    problems = verify_bundle(out, restart=True).problems
    assert [(p.path, p.why) for p in problems] == [(last.name, "missing (incomplete bundle)")]
    first = out / manifest.parts[0].path
    with first.open("r+b") as handle:
        handle.seek(5000)
        handle.write(b"\0\1\2")
    names = [p.path for p in verify_bundle(out, restart=True).problems]
    assert names == [first.name, last.name]


def test_create_refuses_bad_input_and_leaves_nothing(inputs: Inputs, tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    with pytest.raises(InputError, match="--part-size"):
        _create(inputs, out, part_size="lots")
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "old").write_text("x")
    with pytest.raises(InputError, match="is not empty"):
        _create(inputs, busy)
    # the weights changed after the manifest was written: not the approved weights
    weights = inputs.model / WEIGHTS
    body = bytearray(weights.read_bytes())
    body[7] ^= 0xFF
    weights.write_bytes(bytes(body))
    with pytest.raises(InputError, match=f"{WEIGHTS}: sha256 differs from SHA256SUMS"):
        _create(inputs, out)
    with pytest.raises(InputError, match=f"{WEIGHTS}: sha256 differs"):
        _create(inputs, out, part_size="1MiB")
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["busy", "in"]
    # a manifest other than the pinned one, and a file the manifest does not list
    (inputs.model / "SHA256SUMS").write_text((inputs.model / "SHA256SUMS").read_text() + "")
    (inputs.model / "stray.bin").write_bytes(b"?")
    with pytest.raises(InputError, match=r"stray.bin is not in the manifest"):
        _create(inputs, out)
    (inputs.model / "SHA256SUMS").write_text("0" * 64 + "  config.json\n")
    with pytest.raises(InputError, match="site profile pins"):
        _create(inputs, out)
    (inputs.model / "SHA256SUMS").unlink()
    with pytest.raises(InputError, match="SHA256SUMS not found"):
        _create(inputs, out)
    with pytest.raises(InputError, match="no swissai-"):
        create_bundle(inputs.plan, inputs.site, inputs.model, out, wheels_dir=tmp_path / "busy")
    assert not out.exists()


def test_create_refuses_an_infeasible_plan_and_example_values(
    inputs: Inputs, tmp_path: Path
) -> None:
    import yaml

    data = yaml.safe_load(inputs.plan.read_text())
    data["feasible"] = False
    infeasible = tmp_path / "infeasible.yaml"
    infeasible.write_text(yaml.safe_dump(data))
    with pytest.raises(InfeasiblePlan):
        create_bundle(
            infeasible,
            inputs.site,
            inputs.model,
            tmp_path / "b",
            wheels_dir=inputs.wheels,
            image_tool="none",
        )
    from render_support import site

    from swissai.adapters.site import load_site, site_text
    from swissai.models.site import EXAMPLE_DIGEST

    pinned = load_site(inputs.site).model.manifest_sha256
    example = tmp_path / "example.yaml"
    example.write_text(
        site_text(site(image={"digest": EXAMPLE_DIGEST}, model={"manifest_sha256": pinned}))
    )
    with pytest.raises(InputError, match=r"example values: image.digest"):
        create_bundle(
            inputs.plan,
            example,
            inputs.model,
            tmp_path / "b",
            wheels_dir=inputs.wheels,
            image_tool="none",
        )
    assert not (tmp_path / "b").exists()


def test_gpt_oss_weights_need_tiktokens_encodings(inputs: Inputs, tmp_path: Path) -> None:
    (inputs.model / "config.json").write_text('{"model_type": "gpt_oss"}\n')
    (inputs.model / "encodings").mkdir()
    (inputs.model / "encodings" / "o200k_base.tiktoken").write_text("not the published file\n")
    with pytest.raises(InputError, match=r"o200k_base.tiktoken has sha256"):
        create_bundle(
            inputs.plan,
            inputs.site,
            inputs.model,
            tmp_path / "b",
            wheels_dir=inputs.wheels,
            image_tool="none",
        )


# -- push -----------------------------------------------------------------------------------


def test_push_without_a_tool_rewrites_the_site_profile_and_lists_the_commands(
    inputs: Inputs, tmp_path: Path
) -> None:
    from swissai.adapters.site import load_site

    out = tmp_path / "bundle"
    _create(inputs, out)
    site_out = tmp_path / "inside.yaml"
    events = Collect()
    result = push_bundle(
        out, "reg.inside.bank:5000", site_out=site_out, image_tool="none", on_event=events
    )
    assert not result.loaded
    pushed, original = load_site(site_out), load_site(out / "swissai.yaml")
    assert pushed.image.registry == "reg.inside.bank:5000"
    assert pushed.image.digest == original.image.digest
    assert pushed.image.repository == original.image.repository
    assert pushed.model == original.model and pushed.namespace == original.namespace
    assert result.commands[0].startswith("skopeo copy --preserve-digests oci-archive:images/")
    assert any(result.commands[0] in m for m in events.messages("warning"))
    assert verify_bundle(out, restart=True).ok  # push changes nothing inside the bundle
    with pytest.raises(InputError, match="exists; not overwritten"):
        push_bundle(out, "reg.inside.bank", site_out=site_out, image_tool="none")
    with pytest.raises(InputError, match="--registry 'Bad Host!'"):
        push_bundle(out, "Bad Host!", site_out=tmp_path / "x.yaml", image_tool="none")
    assert not (tmp_path / "x.yaml").exists()


@pytest.mark.parametrize("tool", ["skopeo", "crane"])
def test_with_a_tool_create_saves_oci_archives_and_push_loads_them(
    inputs: Inputs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tool: str
) -> None:
    """The tool is the stand-in of tests/fakes/fake_image_tool.py (no skopeo, crane or
    registry here): it writes a real OCI image layout and records pushes."""
    from bundle_support import fake_tool_path

    log = tmp_path / "tool.log"
    monkeypatch.setenv("PATH", fake_tool_path(tmp_path, tool))
    monkeypatch.setenv("FAKE_IMAGE_TOOL_LOG", str(log))
    out = tmp_path / "bundle"
    result = create_bundle(
        inputs.plan, inputs.site, inputs.model, out, wheels_dir=inputs.wheels,
        image_tool="crane" if tool == "crane" else None,  # skopeo: found on PATH
    )  # fmt: skip
    manifest = result.manifest
    assert result.image_tool == tool == manifest.created.image_tool
    (image,) = manifest.images
    assert image.archive == archive_name(image.reference)
    assert image.archive in {f.path for f in manifest.files}
    assert not list((out / "images").glob("*.layout"))  # crane's folder was packed
    with tarfile.open(out / image.archive) as tar:
        assert {"oci-layout", "index.json"} <= set(tar.getnames())
        index = json.load(tar.extractfile("index.json"))  # type: ignore[arg-type]
        digest = index["manifests"][0]["digest"].removeprefix("sha256:")
        blob = tar.extractfile(f"blobs/sha256/{digest}").read()  # type: ignore[union-attr]
        assert hashlib.sha256(blob).hexdigest() == digest
    assert verify_bundle(out, restart=True).ok
    pushed = push_bundle(
        out, "reg.inside.bank:5000", site_out=tmp_path / "inside.yaml",
        image_tool="crane" if tool == "crane" else None,
    )  # fmt: skip
    assert pushed.loaded
    (call,) = [json.loads(line) for line in log.read_text().splitlines()]
    assert call["tool"] == tool
    assert call["argv"][-1].endswith(
        "reg.inside.bank:5000/ai/vllm-openai:swissai-3f1d6e2b9a8c7d6e5f4a"
    )
    assert verify_bundle(out, restart=True).ok  # pushing left the bundle as it was
    # a tampered archive is refused before anything is loaded or written
    archive = out / image.archive
    archive.write_bytes(archive.read_bytes() + b"\0")
    with pytest.raises(FindingsError, match="sha256 differs from the manifest; nothing loaded"):
        push_bundle(
            out,
            "reg.inside.bank:5000",
            site_out=tmp_path / "again.yaml",
            image_tool="crane" if tool == "crane" else None,
        )
    assert not (tmp_path / "again.yaml").exists()
    assert len(log.read_text().splitlines()) == 1


def test_push_never_writes_into_the_bundle(inputs: Inputs, tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    _create(inputs, out)
    with pytest.raises(InputError, match="is inside the bundle"):
        push_bundle(out, "reg.inside", site_out=out / "swissai.yaml", force=True, image_tool="none")
    assert verify_bundle(out, restart=True).ok


def test_ctrl_c_during_create_leaves_nothing(inputs: Inputs, tmp_path: Path) -> None:
    def interrupt(event: object) -> None:
        if isinstance(event, Progress) and not event.finished and event.completed > 0:
            raise KeyboardInterrupt

    import swissai.services.bundle as service

    service.PROGRESS_INTERVAL_S, before = 0.0, service.PROGRESS_INTERVAL_S
    try:
        for part_size in (None, "1MiB"):
            with pytest.raises(KeyboardInterrupt):
                create_bundle(
                    inputs.plan, inputs.site, inputs.model, tmp_path / "bundle",
                    wheels_dir=inputs.wheels, image_tool="none", part_size=part_size,
                    on_event=interrupt,
                )  # fmt: skip
    finally:
        service.PROGRESS_INTERVAL_S = before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]


def test_abandoned_hashing_stops_running_files_and_skips_queued_ones(tmp_path: Path) -> None:
    """Ctrl-C must not wait for whole multi-GB files: after the first result the consumer
    leaves; the file being hashed stops at its next chunk and the queued one never starts."""
    from swissai.adapters.bundle_files import hash_files

    size = 256 * 2**20
    for name in ("a", "b", "c"):
        with open(tmp_path / name, "wb") as handle:
            handle.truncate(size)  # sparse: no disk used
    done = {"bytes": 0}

    def advance(n: int) -> None:
        done["bytes"] += n

    results = hash_files(tmp_path, ["a", "b", "c"], jobs=1, advance=advance)
    first = next(results)
    assert first[0] == "a"
    results.close()
    assert size <= done["bytes"] < 2 * size


def test_verify_cross_checks_the_plan_and_model_manifest_entries(
    inputs: Inputs, tmp_path: Path
) -> None:
    """BUNDLE.json's plan and model sections must agree with the files it lists (a manifest
    edited by hand, without --sha256, is still caught)."""
    out = tmp_path / "bundle"
    _create(inputs, out)
    data = json.loads((out / "BUNDLE.json").read_text())
    data["model"]["manifest_sha256"] = "1" * 64
    data["plan"]["sha256"] = "2" * 64
    (out / "BUNDLE.json").write_text(json.dumps(data))
    problems = {(p.path, p.why) for p in verify_bundle(out, restart=True).problems}
    assert problems == {
        ("plan.yaml", "does not match the manifest's plan"),
        ("model/SHA256SUMS", "is not the model manifest BUNDLE.json pins"),
    }
