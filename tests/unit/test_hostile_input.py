"""The bounded loaders (adapters/yaml_safe) and the atomic writer (adapters/files) directly:
every limit is an InputError (exit 2) naming the input, the line and the limit; a writer
failure leaves nothing behind. The CLI side of the same defects: tests/cli/test_hostile_cli.py.
"""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path
from typing import Any

import pytest

from swissai.adapters import files
from swissai.adapters.manifests import load_manifests, parse_yaml_documents
from swissai.adapters.yaml_safe import (
    DOCUMENT_LIMITS,
    MANIFEST_LIMITS,
    LoadLimits,
    compose_yaml,
    load_data_file,
    load_json,
    read_capped,
)
from swissai.errors import EXIT_USAGE, InputError
from swissai.models.manifest import Document


def _bomb(levels: int, fanout: int = 9) -> str:
    lines = [f"l0: &l0 [{', '.join(['x'] * fanout)}]"]
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * fanout)}]")
    return "\n".join(lines) + "\n"


def _error(text: str, limits: LoadLimits = MANIFEST_LIMITS, name: str = "in.yaml") -> InputError:
    with pytest.raises(InputError) as info:
        list(compose_yaml(text, name, limits))
    assert info.value.exit_code == EXIT_USAGE
    assert "\n" not in info.value.message
    return info.value


# --- aliases ----------------------------------------------------------------------------------


def test_alias_bomb_is_refused_before_anything_walks_it() -> None:
    # l6 (line 7) alone expands to 9^7 = 4.8 million nodes
    started = time.perf_counter()
    error = _error(_bomb(8))
    assert time.perf_counter() - started < 2
    assert error.message == (
        "in.yaml:7: more than 1,000,000 YAML nodes with aliases expanded (an alias bomb?)"
    )


def test_aliases_below_the_limit_load_and_map_their_lines() -> None:
    # 9^5 = 59049 expanded leaves: well below the limit, and the line map stays small because
    # a shared node is entered once (the old walker visited it once per reference)
    ((data, line, lines),) = parse_yaml_documents(_bomb(6), "in.yaml")
    assert len(data["l5"]) == 9 and line == 1
    assert len(lines) < 100


def test_the_node_limit_counts_expansions_exactly() -> None:
    limits = LoadLimits(max_bytes=1024, max_nodes=12)
    text = "a: &a [1, 2]\nb: *a\n"  # map 1 + keys 2 + list 3 + alias 3 = 9 nodes
    assert [d for d, _ in compose_yaml(text, "x", limits)] == [{"a": [1, 2], "b": [1, 2]}]
    assert "more than 12 YAML nodes" in _error(text + "c: *a\n", limits).message


def test_recursive_alias_is_a_cycle_error() -> None:
    assert "a cycle" in _error("a: &a [1, *a]\n").message


def test_formats_without_aliases_refuse_them() -> None:
    error = _error("a: &x 1\nb: *x\n", DOCUMENT_LIMITS)
    assert error.message.startswith("in.yaml:2: alias *x")


def test_merge_keys_still_work_in_manifests() -> None:
    ((data, _),) = compose_yaml("base: &b {x: 1}\nother:\n  <<: *b\n  y: 2\n", "m", MANIFEST_LIMITS)
    assert data["other"] == {"x": 1, "y": 2}


# --- nesting, scalars, tags -------------------------------------------------------------------


def test_deep_block_nesting_is_refused_at_the_limit() -> None:
    text = "".join("  " * i + "a:\n" for i in range(150))
    # the mapping on line 100 is level 100; its key would be level 101
    assert _error(text).message == "in.yaml:100: nested more than 100 levels deep"
    ok = "".join("  " * i + "a:\n" for i in range(60))
    assert list(compose_yaml(ok, "ok", MANIFEST_LIMITS))


def test_deep_flow_nesting_is_refused() -> None:
    assert _error("[" * 5000 + "]" * 5000).message.startswith("in.yaml:")


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("a: 2026-02-30\n", "in.yaml:1: not valid YAML (cannot read '2026-02-30'"),
        ("a: 2026-13-01 10:00:00\n", "in.yaml:1: not valid YAML"),
        ("a: " + "1" * 5000 + "\n", "integer too long"),
        ("a: 0x" + "f" * 200 + "\n", "integer too long"),
        ("a: 18446744073709551616\n", "integer out of range"),
        ("a: !!binary aGVsbG8=\n", "could not determine a constructor"),
        ("a: !!set {x, y}\n", "could not determine a constructor"),
        ("a: !!python/object/apply:os.system [ls]\n", "could not determine a constructor"),
        ("a: \x00\n", "not valid YAML"),
        (
            "a: !!timestamp nope\n",
            "in.yaml:1: not valid YAML (cannot read 'nope'",
        ),  # was AttributeError
        ("a: !!bool maybe\n", "in.yaml:1: not valid YAML (cannot read 'maybe'"),  # was KeyError
        ("a: !!float abc\n", "in.yaml:1: not valid YAML"),
        ("a: [1, 2\n", "not valid YAML"),
    ],
)
def test_scalars_and_tags_that_raised_or_surprised(text: str, words: str) -> None:
    assert words in _error(text).message


def test_64_bit_integers_and_valid_dates_load() -> None:
    ((data, _),) = compose_yaml("a: 9223372036854775807\nb: 2026-02-28\n", "x", DOCUMENT_LIMITS)
    assert data["a"] == 2**63 - 1 and str(data["b"]) == "2026-02-28"


def test_duplicate_keys_name_both_lines_in_every_limit_set() -> None:
    for limits in (MANIFEST_LIMITS, DOCUMENT_LIMITS):
        error = _error("namespace: a\nother: 1\nnamespace: b\n", limits)
        assert error.message == "in.yaml:3: duplicate key 'namespace' (first at line 1)"


# --- JSON -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('{"a": 1, "a": 2}', "duplicate key 'a'"),
        ("[" * 100_000 + "]" * 100_000, "nested more than 64 levels deep"),
        ("[" * 65 + "]" * 65, "nested more than 64 levels deep"),
        ('{"a": ' + "1" * 5000 + "}", "out of range"),
        ("{not json", "j.json:1: not valid JSON"),
    ],
)
def test_json_limits(text: str, words: str) -> None:
    with pytest.raises(InputError) as info:
        load_json(text, "j.json", DOCUMENT_LIMITS)
    assert words in info.value.message


def test_json_node_limit() -> None:
    limits = LoadLimits(max_bytes=1024, max_nodes=5)
    assert load_json("[1, 2, 3, 4]", "j", limits) == [1, 2, 3, 4]
    with pytest.raises(InputError, match="more than 5 JSON values"):
        load_json("[1, 2, 3, 4, 5]", "j", limits)


# --- files and streams ------------------------------------------------------------------------


def test_size_limit_reads_at_most_one_byte_more(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text("a: " + "x" * 100 + "\n")
    limits = LoadLimits(max_bytes=50)
    with pytest.raises(InputError, match=r"big\.yaml: larger than 0 MiB"):
        read_capped(path, limits)
    # a device that never ends is refused after max_bytes + 1 bytes, not read forever
    with pytest.raises(InputError, match="/dev/zero: larger than"):
        read_capped(Path("/dev/zero"), LoadLimits(max_bytes=1024 * 1024))


def test_non_utf8_names_the_offset(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_bytes(b"a: \xe4\n")
    with pytest.raises(InputError) as info:
        load_data_file(path, DOCUMENT_LIMITS, what="plan")
    assert info.value.message == f"plan {path}: not UTF-8 (byte 0xe4 at offset 3)"


def test_data_files_hold_one_document(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text("a: 1\n---\nb: 2\n")
    with pytest.raises(InputError, match=r"plan .*x\.yaml:3: a second YAML document"):
        load_data_file(path, DOCUMENT_LIMITS, what="plan")


def test_a_directory_given_as_a_manifest_file_is_read_as_a_folder(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n")
    objects: list[Document] = load_manifests([str(tmp_path)])
    assert [o.name for o in objects] == ["a"]


# --- the atomic writer ------------------------------------------------------------------------


def test_writes_atomically_with_mode_644_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "plan.yaml"
    files.write_text_atomic(target, "kind: ServePlan\n")
    assert target.read_text() == "kind: ServePlan\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert os.listdir(target.parent) == ["plan.yaml"]


def test_replacing_keeps_the_mode_of_the_replaced_file(tmp_path: Path) -> None:
    target = tmp_path / "report.json"
    target.write_text("old")
    target.chmod(0o600)
    files.write_text_atomic(target, "new")
    assert target.read_text() == "new" and stat.S_IMODE(target.stat().st_mode) == 0o600


@pytest.mark.parametrize("failure", [KeyboardInterrupt, OSError(28, "No space left on device")])
def test_temp_file_is_removed_on_any_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failure: Any
) -> None:
    target = tmp_path / "plan.yaml"
    target.write_text("old\n")

    def failing_fsync(fd: int) -> None:
        raise failure

    monkeypatch.setattr(files.os, "fsync", failing_fsync)
    expected: Any = KeyboardInterrupt if failure is KeyboardInterrupt else InputError
    with pytest.raises(expected) as info:
        files.write_text_atomic(target, "new\n")
    assert os.listdir(tmp_path) == ["plan.yaml"]
    assert target.read_text() == "old\n"
    if expected is InputError:
        assert info.value.message == f"cannot write {target}: No space left on device"


def test_temp_names_are_random_and_created_exclusively(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[tuple[str, int, int]] = []
    real_open = os.open

    def spy(path: Any, flags: int, mode: int = 0o777) -> int:
        opened.append((str(path), flags, mode))
        return real_open(path, flags, mode)

    monkeypatch.setattr(files.os, "open", spy)
    files.write_text_atomic(tmp_path / "a.yaml", "1")
    files.write_text_atomic(tmp_path / "a.yaml", "2")
    (first, flags, mode), (second, _, _) = opened
    assert first != second and Path(first).parent == tmp_path
    assert flags & os.O_EXCL and flags & os.O_CREAT and flags & os.O_NOFOLLOW
    assert mode == 0o600


def test_links_and_directories_are_refused(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("keep")
    link = tmp_path / "link.yaml"
    link.symlink_to(victim)
    with pytest.raises(InputError, match="symbolic link"):
        files.write_text_atomic(link, "x")
    with pytest.raises(InputError, match="is a directory"):
        files.write_text_atomic(tmp_path, "x")
    assert victim.read_text() == "keep"
    assert sorted(os.listdir(tmp_path)) == ["link.yaml", "victim"]


# --- one line, whatever the input quotes --------------------------------------------------------


def test_messages_quoting_odd_keys_stay_one_line(tmp_path: Path) -> None:
    from swissai.adapters.site import load_site

    site = tmp_path / "site.yaml"
    site.write_text('namespace: ai\n"a\\nb": 1\n')
    with pytest.raises(InputError) as info:
        load_site(site)
    assert info.value.message == f"site profile {site}: 'a\\nb': Extra inputs are not permitted"


def test_gpu_spec_messages_escape_control_characters() -> None:
    from swissai.core.hardware import parse_gpu_spec

    for spec in ("\n", "@\n", "8xh100-80gb@\x00", "\u2028"):
        with pytest.raises(InputError) as info:
            parse_gpu_spec(spec)
        assert "\n" not in info.value.message and "\u2028" not in info.value.message


def test_all_manifest_inputs_together_are_bounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from swissai.adapters import manifests

    one = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n# " + "x" * 400 + "\n"
    for i in range(3):
        (tmp_path / f"{i}.yaml").write_text(one)
    assert len(load_manifests([str(tmp_path)])) == 3
    monkeypatch.setattr(manifests, "MAX_TOTAL_MANIFEST_BYTES", 2 * len(one))
    with pytest.raises(InputError, match=r"2\.yaml: the inputs together are larger than"):
        load_manifests([str(tmp_path)])


def test_plans_can_be_line_mapped_without_aliases(tmp_path: Path) -> None:
    from swissai.adapters.manifests import load_yaml_file

    path = tmp_path / "plan.yaml"
    path.write_text("kind: ServePlan\nlayout: &l {tp: 1}\nother: *l\n")
    doc = load_yaml_file(path)
    assert doc is not None and doc.data["other"] == {"tp": 1}
    with pytest.raises(InputError, match="alias"):
        load_yaml_file(path, DOCUMENT_LIMITS)
