"""GpuInventory: what `swissai probe` found on one host (ARCHITECTURE.md, 'Inventory snapshot').

`swissai probe --out inventory.yaml` writes it on the GPU server; `swissai plan --inventory` reads
it anywhere (the workstation without a GPU). Every field NVML may refuse on a device
(NVML_ERROR_NOT_SUPPORTED) is optional and `null` then: null means "NVML could not say", never
zero. Validation is strict: unknown keys and wrong types (a string where a number belongs) are
errors that name the key's path, because a silently coerced snapshot plans for the wrong machine.
"""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field, model_validator

from swissai.models.base import Frozen
from swissai.models.gpu import MAX_GPUS

INVENTORY_API_VERSION: Literal["swissai/v1alpha1"] = "swissai/v1alpha1"

# PCIe path between two GPUs as nvidia-smi topo -m labels it, from
# nvmlDeviceGetTopologyCommonAncestor: NVML_TOPOLOGY_INTERNAL (same board) -> "X"... see
# adapters/nvml.py for the mapping.
PcieLevel = Literal["internal", "PIX", "PXB", "PHB", "NODE", "SYS"]

# Bounds a snapshot must respect, so that a corrupt or hostile file is refused with the key's
# path instead of planning nonsense: 1 PiB is 3500x the largest GPU memory shipping (288 GB,
# B300 / MI355X); 1 PB/s and 100 kW are far above any device; MIG makes at most 7 instances
# (A100/H100/B200 MIG user guide); NVML indices and PIDs fit in 32 bits.
MAX_MEMORY_BYTES = 2**50
MAX_BANDWIDTH_GB_S = 1e6
MAX_POWER_WATTS = 1e5
MAX_MIG_INSTANCES = 64
MAX_PROCESSES = 65_536
# 'major.minor' as the probe writes NVML's integers (nvmlDeviceGetCudaComputeCapability).
COMPUTE_CAPABILITY_PATTERN = r"^[0-9]{1,3}\.[0-9]{1,3}$"
# A profile id names a file under profiles/gpus: no '/', no '..' (adapters/profiles.PROFILE_ID).
PROFILE_ID_PATTERN = r"^[a-z0-9](?:[a-z0-9_-]|\.[a-z0-9_-]){0,63}$"


class Strict(Frozen):
    """Frozen, no unknown keys, and no type coercion ("80" is not 80)."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class GpuProcess(Strict):
    """A process that holds memory on the GPU (nvmlDeviceGetComputeRunningProcesses)."""

    pid: int = Field(ge=0, le=2**32)
    name: str | None = Field(
        None, description="nvmlSystemGetProcessName; null when NVML may not see it (containers)"
    )
    memory_used_bytes: int | None = Field(
        None,
        ge=0,
        le=MAX_MEMORY_BYTES,
        description="usedGpuMemory; null when NVML cannot attribute it (MIG, WDDM)",
    )
    gpu_instance_id: int | None = Field(None, description="MIG GPU instance, null outside MIG")
    compute_instance_id: int | None = None


class MigInstance(Strict):
    """One MIG device (nvmlDeviceGetMigDeviceHandleByIndex) of a GPU in MIG mode."""

    index: int = Field(ge=0, le=MAX_MIG_INSTANCES)
    uuid: str | None = None
    name: str | None = Field(None, description="e.g. 'NVIDIA H100 80GB HBM3 MIG 3g.40gb'")
    profile: str | None = Field(None, description="the MIG profile from the name, e.g. 3g.40gb")
    gpu_instance_id: int | None = None
    compute_instance_id: int | None = None
    memory_total_bytes: int | None = Field(None, ge=0, le=MAX_MEMORY_BYTES)
    memory_used_bytes: int | None = Field(None, ge=0, le=MAX_MEMORY_BYTES)
    memory_free_bytes: int | None = Field(None, ge=0, le=MAX_MEMORY_BYTES)


class InventoryGpu(Strict):
    """One physical GPU as NVML reports it."""

    index: int = Field(ge=0, le=MAX_GPUS, description="NVML index (nvmlDeviceGetHandleByIndex)")
    name: str = Field(description="nvmlDeviceGetName, e.g. 'NVIDIA H100 80GB HBM3'")
    uuid: str = Field(description="nvmlDeviceGetUUID, 'GPU-...'")
    pci_bus_id: str | None = Field(None, description="'00000000:18:00.0' (nvmlDeviceGetPciInfo)")
    profile_id: str | None = Field(
        pattern=PROFILE_ID_PATTERN,
        description="swissai GPU profile (profiles/gpus/<id>.yaml) or null when none matches",
    )
    memory_total_bytes: int = Field(ge=0, le=MAX_MEMORY_BYTES)
    memory_used_bytes: int | None = Field(
        None,
        ge=0,
        le=MAX_MEMORY_BYTES,
        description="allocated memory (nvmlDeviceGetMemoryInfo v2: without reserved)",
    )
    memory_free_bytes: int | None = Field(None, ge=0, le=MAX_MEMORY_BYTES)
    memory_reserved_bytes: int | None = Field(
        None,
        ge=0,
        le=MAX_MEMORY_BYTES,
        description="reserved by driver and firmware (v2 only; null with v1)",
    )
    memory_bandwidth_gb_s: float | None = Field(
        None,
        ge=0,
        le=MAX_BANDWIDTH_GB_S,
        allow_inf_nan=False,
        description="bus width x max memory clock x 2 (NVML); null when NVML cannot say",
    )
    compute_capability: str | None = Field(
        None, pattern=COMPUTE_CAPABILITY_PATTERN, description="'major.minor', e.g. '9.0'"
    )
    mig_enabled: bool | None = Field(None, description="current MIG mode; null: no MIG support")
    mig_pending: bool | None = Field(None, description="MIG mode after the next GPU reset")
    mig_instances: list[MigInstance] = Field(default_factory=list, max_length=MAX_MIG_INSTANCES)
    ecc_enabled: bool | None = None
    ecc_uncorrected_errors: int | None = Field(
        None, ge=0, le=2**64, description="volatile uncorrected ECC errors since the driver loaded"
    )
    power_limit_watts: float | None = Field(None, ge=0, le=MAX_POWER_WATTS, allow_inf_nan=False)
    persistence_mode: bool | None = None
    processes: list[GpuProcess] = Field(default_factory=list, max_length=MAX_PROCESSES)


class GpuLink(Strict):
    """How two GPUs reach each other."""

    gpus: list[int] = Field(
        min_length=2, max_length=2, description="the two NVML indices, lower first"
    )
    pcie: PcieLevel | None = Field(
        None, description="PCIe common ancestor (nvmlDeviceGetTopologyCommonAncestor)"
    )
    nvlink_links: int | None = Field(
        None, ge=0, description="active NVLinks between them (directly or through NVSwitch)"
    )
    nvswitch: bool = Field(False, description="the NVLinks go through NVSwitch")
    p2p_nvlink: bool | None = Field(
        None, description="nvmlDeviceGetP2PStatus(NVML_P2P_CAPS_INDEX_NVLINK) == OK"
    )

    @property
    def nvlink(self) -> bool:
        """Usable NVLink: NCCL needs NVLink peer-to-peer, so P2P status decides when known."""
        if self.p2p_nvlink is not None:
            return self.p2p_nvlink
        return bool(self.nvlink_links)


class Topology(Strict):
    """The GPU-to-GPU matrix as `nvidia-smi topo -m` prints it, and the pairs behind it."""

    matrix: list[list[str]] = Field(
        default_factory=list,
        description="row i, column j: 'X' on the diagonal, 'NV<links>' over NVLink, else the "
        "PCIe level (PIX, PXB, PHB, NODE, SYS), '?' when NVML could not say",
    )
    links: list[GpuLink] = Field(default_factory=list)


class GpuInventory(Strict):
    apiVersion: Literal["swissai/v1alpha1"] = INVENTORY_API_VERSION
    kind: Literal["GpuInventory"] = "GpuInventory"
    host: str = Field(description="host name the probe ran on")
    probed_at: str | None = Field(None, description="UTC time of the probe, ISO 8601")
    driver_version: str | None = Field(None, description="nvmlSystemGetDriverVersion, '550.90.07'")
    cuda_driver_version: str | None = Field(
        None, description="newest CUDA the driver supports, 'major.minor' (e.g. '12.4')"
    )
    nvml_version: str | None = None
    gpus: list[InventoryGpu] = Field(min_length=1, max_length=MAX_GPUS)
    topology: Topology = Field(default_factory=Topology)

    @model_validator(mode="after")
    def _consistent(self) -> GpuInventory:
        indices = [g.index for g in self.gpus]
        if len(set(indices)) != len(indices):
            raise ValueError("gpus: two GPUs share one index")
        n = len(self.gpus)
        matrix = self.topology.matrix
        if matrix and (len(matrix) != n or any(len(row) != n for row in matrix)):
            raise ValueError(f"topology.matrix must be {n} x {n}, one row and column per GPU")
        known = set(indices)
        for i, link in enumerate(self.topology.links):
            a, b = link.gpus
            if a not in known or b not in known or a == b:
                raise ValueError(f"topology.links.{i}.gpus: {a}, {b} are not two GPUs of gpus")
        return self

    def gpu(self, index: int) -> InventoryGpu:
        return next(g for g in self.gpus if g.index == index)

    def link(self, a: int, b: int) -> GpuLink | None:
        pair = [min(a, b), max(a, b)]
        return next((lk for lk in self.topology.links if lk.gpus == pair), None)
