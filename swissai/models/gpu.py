"""GPU profiles (profiles/gpus/<id>.yaml) and the hardware a plan runs on."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from swissai.models.base import Frozen

GIB = 1024**3
# Bounds of one plan's hardware: the largest single vLLM deployments run on a few hundred GPUs
# (wide expert parallelism for DeepSeek-V3 over 12-18 nodes of 8), so 4096 GPUs on 512 nodes
# of 8 is generous; beyond it the layout search (divisors of the node count) is pointless work.
MAX_GPUS = 4096
MAX_NODES = 512


class GpuSpec(Frozen):
    """One GPU model as the planner sees it. Figures cite their sources in the profile file."""

    id: str = Field(description="profile id, lower-case with memory in the name, e.g. h100-80gb")
    name: str = Field(description="product name as NVML reports it, e.g. 'NVIDIA H100 80GB HBM3'")
    nvml_names: list[str] = Field(default_factory=list, description="NVML names that map here")
    vendor: Literal["nvidia", "amd"] = "nvidia"
    arch: str = Field(description="architecture, e.g. Hopper")
    compute_capability: str = Field(
        description="CUDA compute capability 'major.minor' (gfx for AMD)"
    )
    memory_marketing_gb: float = Field(description="datasheet memory in GB (10^9 bytes)")
    memory_total_gib: float = Field(
        description="total device memory as CUDA reports it (torch.cuda.mem_get_info), GiB; "
        "vLLM's budget is this times gpu_memory_utilization"
    )
    memory_total_observed: bool = Field(
        description="true when memory_total_gib was read in a real log, false when estimated"
    )
    memory_bandwidth_gb_s: float
    bf16_dense_tflops: float | None = None
    fp8_dense_tflops: float | None = None
    fp4_dense_tflops: float | None = None
    nvlink_domain_size: int = Field(
        ge=1,
        description="GPUs joined by NVLink/NVSwitch (or Infinity Fabric) in one node; 1 = PCIe",
    )
    gpus_per_node: int = Field(ge=1, description="GPUs in the usual server of this kind")
    interconnect_gb_s: float | None = Field(None, description="GPU-GPU bandwidth inside a node")
    sources: list[str] = Field(default_factory=list)
    notes: str = ""

    @property
    def sm(self) -> int:
        """Compute capability as an integer (9.0 -> 90); 0 for non-CUDA devices."""
        if self.vendor != "nvidia":
            return 0
        major, minor = self.compute_capability.split(".")
        return int(major) * 10 + int(minor)


class GpuGroup(Frozen):
    """COUNT GPUs of one profile."""

    gpu: GpuSpec
    count: int = Field(ge=1, le=MAX_GPUS)


class Hardware(Frozen):
    """What the plan may use: GPU groups over NODES nodes (from --gpus, --inventory or a probe)."""

    groups: list[GpuGroup]
    nodes: int = Field(ge=1, le=MAX_NODES)
    source: Literal["spec", "inventory", "probe", "default"] = "spec"
    spec: str = Field(description="the COUNTxID[,COUNTxID][@NODES] string this came from")
    nvlink_domain_size: int | None = Field(
        None, description="measured NVLink domain size (inventory); None = the profile's value"
    )
    memory_used_gib_max: float = Field(
        0.0, description="largest memory already used on one GPU by other processes (inventory)"
    )
    warnings: list[str] = Field(
        default_factory=list,
        description="findings of the probe or inventory that the plan repeats as warnings",
    )
    driver_version: str | None = Field(None, description="NVIDIA driver (probe/inventory)")
    cuda_driver_version: str | None = Field(
        None, description="newest CUDA the driver supports, 'major.minor' (probe/inventory)"
    )

    @property
    def total_gpus(self) -> int:
        return sum(g.count for g in self.groups)
