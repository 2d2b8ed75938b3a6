"""--vllm-version: parsing, the supported range 0.10.0-0.33.x, and the behaviour each maps to.

The change points are those documented in the memory-model research note (read from the
published wheels): CUDA-graph deduction from 0.20, the "GPU KV cache size" line redefined in
0.21, the >= 160 GiB batch-default tier in 0.28, in-flight tokens in the sliding window in 0.33.
"""

from __future__ import annotations

import pytest

from swissai.core.vllm_versions import (
    BEHAVIOURS,
    DEFAULT_VLLM_VERSION,
    behaviour_for,
    format_version,
    parse_version,
)
from swissai.errors import InputError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0.11.0", (0, 11, 0, 0)),
        ("0.10.1.1", (0, 10, 1, 1)),
        ("v0.33.0", (0, 33, 0, 0)),
        ("0.11.0+cpu", (0, 11, 0, 0)),
        ("0.10.2.post1", (0, 10, 2, 0)),
        (" 0.12.0 ", (0, 12, 0, 0)),
    ],
)
def test_parse_version(text: str, expected: tuple[int, int, int, int]) -> None:
    assert parse_version(text) == expected


@pytest.mark.parametrize("text", ["", "0.11", "latest", "0.x.0", "eleven", "1..2"])
def test_unparseable_version_is_an_input_error(text: str) -> None:
    with pytest.raises(InputError) as info:
        parse_version(text)
    assert "is not a version like" in info.value.message
    assert info.value.hint


def test_format_version_drops_a_zero_fourth_part() -> None:
    assert format_version((0, 11, 0, 0)) == "0.11.0"
    assert format_version((0, 10, 1, 1)) == "0.10.1.1"


@pytest.mark.parametrize("text", ["0.10.0", "0.10.1.1", "0.15.3", "0.33.0", "0.33.9"])
def test_every_release_in_range_is_accepted(text: str) -> None:
    version, behaviour = behaviour_for(text)
    assert version == parse_version(text)
    assert behaviour.since <= version


@pytest.mark.parametrize("text", ["0.9.2", "0.6.0", "0.34.0", "1.0.0", "0.99.1"])
def test_out_of_range_is_an_input_error(text: str) -> None:
    with pytest.raises(InputError) as info:
        behaviour_for(text)
    assert "outside the modelled range 0.10.0 to 0.33.x" in info.value.message
    assert info.value.hint and DEFAULT_VLLM_VERSION in info.value.hint


def test_default_version_is_in_range() -> None:
    behaviour_for(DEFAULT_VLLM_VERSION)


def test_versions_map_to_the_nearest_documented_behaviour_at_or_below() -> None:
    documented = [b.since for b in BEHAVIOURS]
    assert documented == sorted(documented)
    for text in ("0.10.0", "0.11.0", "0.16.5", "0.19.1", "0.20.0", "0.24.0", "0.27.1", "0.32.0"):
        version, behaviour = behaviour_for(text)
        at_or_below = [since for since in documented if since <= version]
        assert behaviour.since == max(at_or_below)


@pytest.mark.parametrize(
    ("text", "deducted"),
    [("0.10.1.1", False), ("0.11.0", False), ("0.19.0", False), ("0.20.0", True), ("0.33.0", True)],
)
def test_cuda_graph_deduction_starts_in_0_20(text: str, deducted: bool) -> None:
    assert behaviour_for(text)[1].cudagraphs_deducted is deducted


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("0.10.1.1", "blocks_per_group"),
        ("0.20.2", "blocks_per_group"),
        ("0.21.0", "concurrency_times_len"),
        ("0.33.0", "concurrency_times_len"),
    ],
)
def test_kv_tokens_line_meaning(text: str, line: str) -> None:
    assert behaviour_for(text)[1].kv_tokens_line == line


def test_batch_tier_and_in_flight_tokens_change_points() -> None:
    assert not behaviour_for("0.27.0")[1].has_160gib_batch_tier
    assert behaviour_for("0.28.0")[1].has_160gib_batch_tier
    assert not behaviour_for("0.32.1")[1].sliding_window_uses_in_flight_tokens
    assert behaviour_for("0.33.0")[1].sliding_window_uses_in_flight_tokens
