"""GPU spec strings COUNTxID[,COUNTxID...][@NODES] (ARCHITECTURE.md, 'GPU ids')."""

from __future__ import annotations

import pytest

from swissai.adapters.profiles import list_gpu_ids, load_gpu
from swissai.core.hardware import hardware_from_spec, parse_gpu_spec
from swissai.errors import InputError

# The ids ARCHITECTURE.md promises.
CONTRACT_GPU_IDS = [
    "a100-40gb",
    "a100-80gb",
    "h100-80gb",
    "h100-pcie-80gb",
    "h100-nvl-94gb",
    "h200-141gb",
    "gh200-96gb",
    "b200-180gb",
    "l40s-48gb",
    "l4-24gb",
    "rtx3090-24gb",
    "rtx4090-24gb",
    "rtx-pro-6000-96gb",
    "mi300x-192gb",
]


@pytest.mark.parametrize(
    ("text", "parts", "nodes"),
    [
        ("8xh100-80gb", [(8, "h100-80gb")], 1),
        ("16xh100-80gb@2", [(16, "h100-80gb")], 2),
        ("1xl40s-48gb", [(1, "l40s-48gb")], 1),
        ("4xa100-80gb,2xl4-24gb", [(4, "a100-80gb"), (2, "l4-24gb")], 1),
        ("8XH100-80GB", [(8, "h100-80gb")], 1),
        (" 2xh200-141gb@1 ", [(2, "h200-141gb")], 1),
    ],
)
def test_parse_valid_specs(text: str, parts: list[tuple[int, str]], nodes: int) -> None:
    assert parse_gpu_spec(text) == (parts, nodes)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("h100-80gb", "is not COUNTxID"),
        ("0xh100-80gb", "is not COUNTxID"),
        ("8x", "is not COUNTxID"),
        ("x8", "is not COUNTxID"),
        ("8*h100-80gb", "is not COUNTxID"),
        ("8xh100-80gb,", "is not COUNTxID"),
        ("", "is not COUNTxID"),
        ("8xh100-80gb@", "is not a node count"),
        ("8xh100-80gb@0", "is not a node count"),
        ("8xh100-80gb@two", "is not a node count"),
        ("8xh100-80gb@-1", "is not a node count"),
        ("9xh100-80gb@2", "do not split evenly over 2 nodes"),
    ],
)
def test_bad_specs_are_input_errors(text: str, fragment: str) -> None:
    with pytest.raises(InputError) as info:
        parse_gpu_spec(text)
    assert fragment in info.value.message
    assert info.value.hint


def test_hardware_from_spec_resolves_profiles() -> None:
    hw = hardware_from_spec("16xh100-80gb@2", load_gpu)
    assert hw.total_gpus == 16
    assert hw.nodes == 2
    assert hw.spec == "16xh100-80gb@2"
    assert hw.groups[0].gpu.id == "h100-80gb"
    assert hw.groups[0].gpu.memory_total_gib == pytest.approx(79.18, abs=0.1)


def test_unknown_gpu_id_lists_the_known_ones() -> None:
    with pytest.raises(InputError) as info:
        hardware_from_spec("8xh100-81gb", load_gpu)
    assert "unknown GPU id 'h100-81gb'" in info.value.message
    assert info.value.hint and "h100-80gb" in info.value.hint


def test_every_contract_gpu_id_has_a_loadable_profile() -> None:
    assert set(CONTRACT_GPU_IDS) <= set(list_gpu_ids())
    for gpu_id in list_gpu_ids():
        gpu = load_gpu(gpu_id)
        assert gpu.id == gpu_id
        assert 0 < gpu.memory_total_gib < gpu.memory_marketing_gb
        assert all(isinstance(s, str) and s for s in gpu.sources)


def test_cuda_reports_about_79_gib_for_an_80gb_h100() -> None:
    # ARCHITECTURE/issue 2: "an 80 GB H100 reports about 79.2 GiB"
    assert load_gpu("h100-80gb").memory_total_gib == pytest.approx(79.2, abs=0.1)
