"""The NVML adapter against the faithful pynvml fake, one fixture per real machine.

Each fixture in tests/data/nvml/ says which machine it models; the expected values below are what
`nvidia-smi` / `nvidia-smi topo -m` show on such a machine (NV18 on an HGX H100 board, NV12 inside
an NVLink-bridged A100 PCIe pair, no NVLink on L40S).
"""

from __future__ import annotations

import ctypes
from datetime import datetime, timezone
from typing import Any

import pynvml
import pytest
from fakes.fake_pynvml import FakePynvml, load_machine

from swissai.adapters.nvml import NvmlUnavailable, probe_hardware, read_inventory
from swissai.core.gpu_inventory import nvlink_domains
from swissai.errors import EXIT_ENVIRONMENT
from swissai.models.inventory import GpuInventory

NOW = datetime(2025, 6, 2, 9, 30, tzinfo=timezone.utc)
GIB = 1024**3


def probe(machine: str | dict[str, Any]) -> tuple[GpuInventory, FakePynvml]:
    data = load_machine(machine) if isinstance(machine, str) else machine
    fake = FakePynvml(data)
    return read_inventory(fake, host="test-host", now=NOW), fake


# --- the fake is faithful to pynvml -----------------------------------------------------------


def test_fake_raises_pynvmls_own_error_classes_and_types() -> None:
    fake = FakePynvml(load_machine("l40s-pcie"))
    with pytest.raises(pynvml.NVMLError_Uninitialized):
        fake.nvmlDeviceGetCount()
    fake.nvmlInit()
    handle = fake.nvmlDeviceGetHandleByIndex(0)
    assert isinstance(handle, pynvml.c_nvmlDevice_t)
    assert fake.nvmlDeviceGetHandleByIndex(0) is not handle  # a new pointer on every call
    with pytest.raises(pynvml.NVMLError_NotSupported):
        fake.nvmlDeviceGetMigMode(handle)  # L40S has no MIG
    with pytest.raises(pynvml.NVMLError_NotSupported):
        fake.nvmlDeviceGetNvLinkState(handle, 0)  # nor NVLink
    pci = fake.nvmlDeviceGetPciInfo(handle)
    assert isinstance(pci, pynvml.nvmlPciInfo_t)
    assert pci.busId == "00000000:4A:00.0"  # _PrintableStructure decodes c_char arrays
    memory = fake.nvmlDeviceGetMemoryInfo(handle, version=pynvml.nvmlMemory_v2)
    assert isinstance(memory, pynvml.c_nvmlMemory_v2_t)
    v1 = fake.nvmlDeviceGetMemoryInfo(handle)
    assert v1.used == memory.used + memory.reserved  # v1 counts reserved memory as used
    with pytest.raises(pynvml.NVMLError_InvalidArgument):
        fake.nvmlDeviceGetName(ctypes.cast(ctypes.c_void_p(0x9999), pynvml.c_nvmlDevice_t))
    fake.nvmlShutdown()
    assert not fake.initialized


def test_library_missing_is_the_real_error() -> None:
    fake = FakePynvml.library_missing()
    with pytest.raises(pynvml.NVMLError_LibraryNotFound):
        fake.nvmlInit()


# --- per machine ----------------------------------------------------------------------------


def test_dgx_h100_eight_gpus_on_nvswitch() -> None:
    inv, fake = probe("dgx-h100")
    assert [g.profile_id for g in inv.gpus] == ["h100-80gb"] * 8
    first = inv.gpus[0]
    assert first.name == "NVIDIA H100 80GB HBM3"
    assert first.uuid == "GPU-5b8f6d2e-1c3a-4f0b-9e7d-2a6c8b1d4e01"
    assert first.pci_bus_id == "00000000:18:00.0"
    assert first.memory_total_bytes == 85520809984
    assert first.memory_reserved_bytes == 567279616
    assert first.memory_used_bytes == 0
    assert first.memory_free_bytes == 85520809984 - 567279616
    assert first.compute_capability == "9.0"
    assert first.memory_bandwidth_gb_s == pytest.approx(3352.3, abs=0.1)
    assert first.power_limit_watts == 700.0
    assert (first.ecc_enabled, first.ecc_uncorrected_errors) == (True, 0)
    assert (first.mig_enabled, first.mig_pending, first.persistence_mode) == (False, False, True)
    assert inv.driver_version == "575.57.08"
    assert inv.cuda_driver_version == "12.9"
    assert inv.host == "test-host" and inv.probed_at == "2025-06-02T09:30:00+00:00"
    # topology: NV18 everywhere, through NVSwitch; PCIe NODE inside a socket, SYS across
    matrix = inv.topology.matrix
    assert all(matrix[i][j] == ("X" if i == j else "NV18") for i in range(8) for j in range(8))
    link = inv.link(0, 5)
    assert link is not None
    assert (link.pcie, link.nvlink_links, link.nvswitch, link.p2p_nvlink) == ("SYS", 18, True, True)
    assert inv.link(0, 1) is not None and inv.link(0, 1).pcie == "NODE"  # type: ignore[union-attr]
    assert nvlink_domains(inv) == [list(range(8))]
    # NVML was shut down again, and nothing was called before nvmlInit
    assert fake.calls[0] == "nvmlInit" and fake.calls[-1] == "nvmlShutdown"
    assert not fake.initialized


def test_a100_pcie_box_has_two_nvlink_pairs() -> None:
    inv, _ = probe("a100-pcie-nvlink-pairs")
    assert {g.profile_id for g in inv.gpus} == {"a100-80gb"}
    assert inv.topology.matrix == [
        ["X", "NV12", "SYS", "SYS"],
        ["NV12", "X", "SYS", "SYS"],
        ["SYS", "SYS", "X", "NV12"],
        ["SYS", "SYS", "NV12", "X"],
    ]
    pair = inv.link(2, 3)
    across = inv.link(1, 2)
    assert pair is not None and across is not None
    assert (pair.nvlink_links, pair.nvswitch, pair.p2p_nvlink) == (12, False, True)
    assert (across.nvlink_links, across.p2p_nvlink, across.pcie) == (0, False, "SYS")
    assert nvlink_domains(inv) == [[0, 1], [2, 3]]


def test_l40s_without_nvlink_or_mig_reads_none_not_a_crash() -> None:
    inv, _ = probe("l40s-pcie")
    assert [g.profile_id for g in inv.gpus] == ["l40s-48gb", "l40s-48gb"]
    gpu = inv.gpus[0]
    assert (gpu.mig_enabled, gpu.mig_pending, gpu.mig_instances) == (None, None, [])
    assert gpu.memory_bandwidth_gb_s == pytest.approx(864.1, abs=0.1)  # 384 bit x 9001 MHz x 2
    link = inv.link(0, 1)
    assert link is not None
    assert (link.nvlink_links, link.p2p_nvlink, link.pcie) == (0, False, "SYS")
    assert inv.topology.matrix == [["X", "SYS"], ["SYS", "X"]]
    assert nvlink_domains(inv) == [[0], [1]]


def test_h100_in_mig_mode_lists_instances_and_their_memory() -> None:
    inv, _ = probe("h100-pcie-mig")
    (gpu,) = inv.gpus
    assert gpu.profile_id == "h100-pcie-80gb"
    assert (gpu.mig_enabled, gpu.mig_pending) == (True, True)
    assert [m.profile for m in gpu.mig_instances] == ["3g.40gb", "2g.20gb", "1g.10gb", "1g.10gb"]
    big = gpu.mig_instances[0]
    assert big.memory_total_bytes == 42144366592
    assert big.uuid == "MIG-0e4b8c2f-7a1d-5e93-b6f0-2c8d4a1e9b30"
    assert (big.gpu_instance_id, big.compute_instance_id) == (2, 0)
    (proc,) = gpu.processes
    # NVML cannot attribute memory to a process on a MIG parent: None, not 2**64 - 1
    assert (proc.pid, proc.name, proc.memory_used_bytes) == (48213, "python3", None)
    assert proc.gpu_instance_id == 9
    assert gpu.persistence_mode is False
    assert inv.topology.matrix == [["X"]] and inv.topology.links == []


def test_mixed_machine_keeps_unknown_gpus_with_profile_null() -> None:
    inv, _ = probe("mixed-a100-v100")
    assert [g.profile_id for g in inv.gpus] == ["a100-40gb", "a100-40gb", None, None]
    v100 = inv.gpus[3]
    assert v100.name == "Tesla V100-PCIE-32GB"
    assert v100.compute_capability == "7.0"
    assert v100.ecc_uncorrected_errors == 2
    assert v100.mig_enabled is None  # V100 has no MIG: NotSupported
    assert v100.memory_bandwidth_gb_s == pytest.approx(898.0, abs=0.1)
    assert inv.topology.matrix[0] == ["X", "PIX", "SYS", "SYS"]
    assert nvlink_domains(inv) == [[0], [1], [2], [3]]


# --- NotSupported and other refusals ----------------------------------------------------------


def test_every_optional_field_not_supported_becomes_none() -> None:
    machine = load_machine("l40s-pcie")
    refused = {
        name: "NOT_SUPPORTED"
        for name in (
            "nvmlDeviceGetCudaComputeCapability",
            "nvmlDeviceGetEccMode",
            "nvmlDeviceGetEnforcedPowerLimit",
            "nvmlDeviceGetPersistenceMode",
            "nvmlDeviceGetMemoryBusWidth",
            "nvmlDeviceGetPciInfo",
            "nvmlDeviceGetTopologyCommonAncestor",
            "nvmlDeviceGetP2PStatus",
        )
    }
    refused["nvmlDeviceGetComputeRunningProcesses"] = "NO_PERMISSION"  # inside a container
    machine["gpus"][0]["nvml_errors"] = refused
    machine["gpus"][0]["processes"] = [{"pid": 1, "name": "x", "used_bytes": 5}]
    inv, fake = probe(machine)
    gpu = inv.gpus[0]
    assert gpu.compute_capability is None
    assert (gpu.ecc_enabled, gpu.ecc_uncorrected_errors) == (None, None)
    assert (gpu.power_limit_watts, gpu.persistence_mode) == (None, None)
    assert (gpu.memory_bandwidth_gb_s, gpu.pci_bus_id) == (None, None)
    assert gpu.processes == []
    assert inv.gpus[1].compute_capability == "8.9"  # the other GPU answered
    link = inv.link(0, 1)
    assert link is not None and (link.pcie, link.p2p_nvlink) == (None, None)
    assert inv.topology.matrix[0][1] == "?"
    assert not fake.initialized


def test_old_driver_without_memory_v2_falls_back_to_v1() -> None:
    machine = load_machine("l40s-pcie")
    machine["memory_v2"] = False
    inv, _ = probe(machine)
    gpu = inv.gpus[0]
    assert gpu.memory_reserved_bytes is None
    assert gpu.memory_used_bytes == 590348288  # v1 used includes the reserved memory


def test_ecc_off_has_no_error_counter() -> None:
    machine = load_machine("l40s-pcie")
    machine["gpus"][1]["ecc_mode"] = [0, 0]
    inv, _ = probe(machine)
    assert (inv.gpus[1].ecc_enabled, inv.gpus[1].ecc_uncorrected_errors) == (False, None)


def test_nvswitch_without_fabric_manager_is_not_nvlink() -> None:
    machine = load_machine("dgx-h100")
    machine["fabric_manager"] = False
    inv, _ = probe(machine)
    link = inv.link(0, 1)
    assert link is not None and link.nvlink_links == 18 and link.p2p_nvlink is False
    assert nvlink_domains(inv) == [[i] for i in range(8)]


# --- no NVML ----------------------------------------------------------------------------------


def test_no_driver_is_an_environment_problem_with_a_hint() -> None:
    fake = FakePynvml.library_missing()
    with pytest.raises(NvmlUnavailable) as info:
        read_inventory(fake)
    assert info.value.exit_code == EXIT_ENVIRONMENT == 3
    assert info.value.message == "NVML is not available: NVML Shared Library Not Found"
    assert info.value.hint is not None
    assert info.value.hint.startswith("no NVIDIA driver here (libnvidia-ml.so.1 not found)")
    assert "--gpus" in info.value.hint and "--inventory" in info.value.hint
    assert fake.calls == ["nvmlInit"]


def test_driver_not_loaded_says_so() -> None:
    with pytest.raises(NvmlUnavailable) as info:
        read_inventory(FakePynvml.driver_not_loaded())
    assert info.value.message == "NVML is not available: Driver Not Loaded"
    assert info.value.hint is not None and "kernel module is not loaded" in info.value.hint


def test_no_gpu_and_a_lost_gpu_still_shut_nvml_down() -> None:
    empty = FakePynvml({"gpus": [], "pcie_topology": []})
    with pytest.raises(NvmlUnavailable, match="NVML reports no GPU"):
        read_inventory(empty)
    assert not empty.initialized
    machine = load_machine("dgx-h100")
    machine["gpus"][4]["nvml_errors"] = {"nvmlDeviceGetName": "GPU_IS_LOST"}
    lost = FakePynvml(machine)
    with pytest.raises(NvmlUnavailable, match="NVML failed while probing: GPU is lost"):
        read_inventory(lost)
    assert lost.calls[-1] == "nvmlShutdown" and not lost.initialized


def test_probe_hardware_is_the_planners_view() -> None:
    hardware = probe_hardware(FakePynvml(load_machine("a100-pcie-nvlink-pairs")))
    assert hardware.source == "probe"
    assert hardware.spec == "4xa100-80gb"
    assert hardware.nvlink_domain_size == 2
    assert hardware.driver_version == "570.124.06"
    assert hardware.cuda_driver_version == "12.8"
