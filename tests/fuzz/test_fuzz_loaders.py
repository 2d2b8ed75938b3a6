"""Fuzz tier (marker `fuzz`): hostile and broken files through every loader swissai has.

Property, for every generated input: the loader returns, or raises a SwissaiError whose message
is one line and whose exit code is 2 (bad input); never another exception, never a hang (each
example has a deadline), never unbounded memory (tracemalloc peak per example is bounded).

Inputs: random bytes and text; structured hostile YAML (nested anchors and aliases, aliases to
themselves, deep flow and block nesting, huge and odd integers, impossible dates, tags PyYAML
knows and tags it must refuse, duplicate keys, invalid UTF-8 spliced into valid documents);
valid plans, site profiles, inventory snapshots and config.json files with one value replaced
by a hostile one, written as YAML, as JSON, or spliced into the YAML text unquoted (so that the
resolver sees `2026-02-30` or `0x...` as YAML would).

Reproducible: `derandomize=True` (the examples derive from each test's source, the same on
every run and in CI) and `database=None` (nothing written to .hypothesis). Bounded: small
`max_examples` and a generous per-example deadline for a shared 2-core machine; the whole tier
runs in well under a minute. Run it alone with `pytest -m fuzz`.
"""

from __future__ import annotations

import json
import tracemalloc
from collections.abc import Callable
from copy import deepcopy
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from swissai.adapters.inventory import hardware_from_inventory_file
from swissai.adapters.manifests import load_manifests, load_yaml_file
from swissai.adapters.plan_file import load_plan
from swissai.adapters.profiles import load_model
from swissai.adapters.site import load_site
from swissai.errors import EXIT_USAGE, SwissaiError

pytestmark = pytest.mark.fuzz

REPO = Path(__file__).resolve().parents[2]
PLAN = json.loads((REPO / "tests/golden/data/plan-embedded-default.json").read_text())
SITE = yaml.safe_load((REPO / "tests/data/compliance/baseline/site.yaml").read_text())
CONFIG = json.loads((REPO / "profiles/models/configs/gpt-oss-20b.json").read_text())
INVENTORY: dict[str, Any] = {
    "apiVersion": "swissai/v1alpha1",
    "kind": "GpuInventory",
    "host": "gpu-01",
    "driver_version": "580.65.06",
    "cuda_driver_version": "13.0",
    "gpus": [
        {
            "index": i,
            "name": "NVIDIA H100 80GB HBM3",
            "uuid": f"GPU-{i}",
            "profile_id": "h100-80gb" if i else None,
            "memory_total_bytes": 85520809984,
            "memory_used_bytes": 0,
            "memory_bandwidth_gb_s": 3350.0,
            "compute_capability": "9.0",
            "mig_enabled": False,
        }
        for i in range(2)
    ],
    "topology": {
        "matrix": [["X", "NV18"], ["NV18", "X"]],
        "links": [{"gpus": [0, 1], "nvlink_links": 18, "nvswitch": True, "p2p_nvlink": True}],
    },
}

FUZZ = settings(
    max_examples=60,
    deadline=5000,  # ms per example: a hang or a quadratic walk fails, a busy machine does not
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
PEAK_BYTES = 200 * 1024 * 1024  # per example; the inputs are a few KiB


def outcome(load: Callable[[], Any]) -> Any:
    """Run a loader under the property: a result, or a one-line exit-2 SwissaiError."""
    tracemalloc.start()
    try:
        return load()
    except SwissaiError as exc:
        assert exc.exit_code == EXIT_USAGE, exc.message
        assert exc.message and "\n" not in exc.message, exc.message
        assert exc.hint is None or "\n" not in exc.hint, exc.hint
        return exc
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert peak < PEAK_BYTES, f"peak {peak / 2**20:.0f} MiB"


# --- hostile YAML text ------------------------------------------------------------------------

ODD_SCALARS = st.sampled_from(
    [
        "2026-02-30",
        "2026-13-01 25:61:61",
        "1" * 5000,
        "-" + "9" * 30,
        "0x" + "f" * 300,
        "0b" + "1" * 100,
        "0o777777777777777777777777",
        "1:2:3:4:5:6:7:8:9",  # YAML 1.1 sexagesimal
        "1e99999",
        ".nan",
        "-.inf",
        "~",
        "yes",
        "!!binary aGVsbG8=",
        "!!set {a, b}",
        "!!omap [a: 1]",
        "!!python/object/apply:os.system [id]",
        "!!float abc",
        "!!int 1.5",
        "!!timestamp nope",
        "!custom x",
        "'unterminated",
        '"\\uD800"',
        "&dup 1",
        "*undefined",
        "? [a, b]\n  : c",
        "{a: 1, a: 2}",
        "[" * 200 + "]" * 200,
        "|\n  block\n\ttab",
        "\t1",
        "\x00",
        "\ufeff1",
        "<<: *undefined",
        "<<: [1, 2]",
    ]
)


@st.composite
def hostile_yaml(draw: st.DrawFn) -> str:
    """A document mixing nested aliases (possibly a bomb, possibly a cycle), nesting, odd
    scalars and repeated keys, in random order."""
    lines: list[str] = []
    for i in range(draw(st.integers(0, 7))):
        fanout = draw(st.integers(1, 12))
        if i == 0:
            items = ["x"] * fanout
        else:
            targets = st.integers(0, i if draw(st.booleans()) else i - 1)  # i: a cycle
            items = [f"*a{draw(targets)}" for _ in range(fanout)]
        lines.append(f"k{i}: &a{i} [{', '.join(items)}]")
    depth = draw(st.integers(0, 150))
    if draw(st.booleans()):
        lines.append("deep: " + "[" * depth + "]" * depth)
    else:
        lines.append(
            "deep:\n"
            + "".join("  " * (d + 1) + "n:\n" for d in range(depth))
            + "  " * (depth + 1)
            + "1"
        )
    for scalar in draw(st.lists(ODD_SCALARS, max_size=4)):
        lines.append(f"s{len(lines)}: {scalar}")
    if lines and draw(st.booleans()):
        lines.append(draw(st.sampled_from(lines)))  # a repeated key
    order = draw(st.permutations(range(len(lines))))
    return "\n".join(lines[i] for i in order) + "\n"


def _loaders(path: Path) -> list[Callable[[], Any]]:
    return [
        lambda: load_manifests([str(path)]),
        lambda: load_yaml_file(path),
        lambda: load_plan(path),
        lambda: load_site(path),
        lambda: hardware_from_inventory_file(path),
    ]


@FUZZ
@given(text=hostile_yaml())
def test_structured_hostile_yaml_through_every_loader(tmp_path: Path, text: str) -> None:
    path = tmp_path / "in.yaml"
    path.write_text(text, encoding="utf-8")
    for load in _loaders(path):
        outcome(load)


@FUZZ
@given(data=st.binary(max_size=400) | st.text(max_size=200).map(lambda t: t.encode("utf-8")))
def test_random_bytes_through_every_loader(tmp_path: Path, data: bytes) -> None:
    for suffix in (".yaml", ".json"):
        path = tmp_path / f"in{suffix}"
        path.write_bytes(data)
        for load in _loaders(path):
            outcome(load)
    config = tmp_path / "config.json"
    config.write_bytes(data)
    outcome(lambda: load_model(str(config)))


@FUZZ
@given(
    text=hostile_yaml(),
    at=st.integers(0, 10_000),
    junk=st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x00", b"\xfe\xff"]),
)
def test_invalid_utf8_spliced_into_yaml(tmp_path: Path, text: str, at: int, junk: bytes) -> None:
    raw = text.encode("utf-8")
    at %= len(raw) + 1
    path = tmp_path / "in.yaml"
    path.write_bytes(raw[:at] + junk + raw[at:])
    for load in _loaders(path):
        outcome(load)


# --- valid documents with one hostile value ---------------------------------------------------

HOSTILE_LEAVES = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, -1, 2**63, 10**9, 10**15]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["../../etc/passwd", "/etc/passwd", "８", "٨", "9.0.0.0", "a\nb"]),
    st.none(),
    st.booleans(),
)
ODD_KEYS = st.sampled_from(["a\nb", "x.y", "", "../..", "<<", "\u2028", "apiVersion"]) | st.text(
    max_size=6
)
HOSTILE_VALUES = st.recursive(
    HOSTILE_LEAVES,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(ODD_KEYS, inner, max_size=3),
    max_leaves=6,
)


def _paths(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = [prefix] if prefix else []
    if isinstance(data, dict):
        for key, value in data.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            out += _paths(value, (*prefix, index))
    return out


def _at(data: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        data = data[step]
    return data


def _replace(data: Any, path: tuple[Any, ...], value: Any) -> Any:
    copy = deepcopy(data)
    target = copy
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return copy


def _write(tmp_path: Path, data: Any, form: str, raw: str) -> Path:
    """The document as YAML, as JSON, or as YAML whose first scalar line equal to
    'HOSTILE' is replaced by `raw`, unquoted, so the YAML resolver reads it."""
    if form == "json":
        path = tmp_path / "doc.json"
        path.write_text(json.dumps(data, allow_nan=True, default=str))
        return path
    path = tmp_path / "doc.yaml"
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    if form == "raw":
        text = text.replace("HOSTILE", raw.replace("\n", " "), 1)
    path.write_text(text, encoding="utf-8")
    return path


def _mutated(base: Any) -> st.SearchStrategy[tuple[Any, str, str]]:
    paths = _paths(base)

    @st.composite
    def build(draw: st.DrawFn) -> tuple[Any, str, str]:
        form = draw(st.sampled_from(["yaml", "json", "raw"]))
        path = draw(st.sampled_from(paths))
        value = "HOSTILE" if form == "raw" else draw(HOSTILE_VALUES)
        if draw(st.booleans()):  # replace a value
            return _replace(base, path, value), form, draw(ODD_SCALARS)
        # or add a key (unknown, odd, or one that exists: a duplicate in the raw form)
        mappings = [p for p in [(), *paths] if isinstance(_at(base, p), dict)]
        where = draw(st.sampled_from(mappings))
        return _replace(base, (*where, draw(ODD_KEYS)), value), form, draw(ODD_SCALARS)

    return build()


@FUZZ
@given(case=_mutated(PLAN))
def test_mutated_plans(tmp_path: Path, case: tuple[Any, str, str]) -> None:
    data, form, raw = case
    outcome(lambda: load_plan(_write(tmp_path, data, form, raw)))


@FUZZ
@given(case=_mutated(SITE))
def test_mutated_site_profiles(tmp_path: Path, case: tuple[Any, str, str]) -> None:
    data, form, raw = case
    outcome(lambda: load_site(_write(tmp_path, data, form, raw)))


@FUZZ
@given(case=_mutated(INVENTORY))
def test_mutated_inventories_plan_or_refuse(tmp_path: Path, case: tuple[Any, str, str]) -> None:
    """A snapshot that loads must also plan (or be infeasible): the planner sees only what
    the loader let through."""
    from dataclasses import replace

    from swissai.core.planner import PlanRequest, make_plan

    data, form, raw = case
    hardware = outcome(lambda: hardware_from_inventory_file(_write(tmp_path, data, form, raw)))
    if isinstance(hardware, SwissaiError):
        return
    request = PlanRequest(model=load_model("gpt-oss-20b"), hardware=None)
    outcome(lambda: make_plan(replace(request, hardware=hardware)))


@FUZZ
@given(case=_mutated(CONFIG))
def test_mutated_model_configs_load_bounded_or_refuse(
    tmp_path: Path, case: tuple[Any, str, str]
) -> None:
    """A config.json that loads describes a model within physical bounds, and plans."""
    from swissai.adapters.profiles import load_gpu
    from swissai.core.hardware import hardware_from_spec
    from swissai.core.planner import PlanRequest, make_plan

    data, form, raw = case
    if form != "json":  # config.json is JSON: the YAML forms are the plan/site tests' business
        form = "json"
    path = _write(tmp_path, data, form, raw).rename(tmp_path / "config.json")
    model = outcome(lambda: load_model(str(path)))
    if isinstance(model, SwissaiError):
        return
    assert 1 <= model.num_layers <= 4096 and model.params_total >= 1
    hardware = hardware_from_spec("8xh100-80gb", load_gpu)
    outcome(lambda: make_plan(PlanRequest(model=model, hardware=hardware)))
