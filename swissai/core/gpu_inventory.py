"""From a probed GpuInventory to the Hardware the planner sizes for, and the probe's findings.

Pure functions (no I/O): `swissai probe`, `plan --inventory` and `plan` without `--gpus` all
come through here, so a snapshot read on a laptop plans exactly as the probe on the server did.

- Each GPU maps to a profile (profiles/gpus/<id>.yaml) by its NVML name and memory; a GPU no
  profile matches still plans, from NVML's memory, compute capability and memory bandwidth,
  with a warning.
- The NVLink domain is measured: GPUs joined by NVLink (directly or through NVSwitch) form
  domains; the smallest domain among the planned GPUs caps tensor parallelism that stays off
  PCIe (4x A100 PCIe in two bridged pairs -> 2, not the SXM board's 8).
- A GPU in MIG mode is planned as its largest MIG instance: a vLLM process sees one instance.
- Findings: memory held by other processes, compute capability below 8.0 (no MXFP4 in vLLM),
  unknown GPUs, MIG, uncorrected ECC errors; and a driver too old for the vLLM image's CUDA.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from swissai.core.vllm_versions import Version, format_version
from swissai.errors import InputError
from swissai.models.gpu import GIB, GpuGroup, GpuSpec, Hardware
from swissai.models.inventory import GpuInventory, InventoryGpu

# vLLM refuses to start when free memory < total x gpu_memory_utilization (its default 0.9).
VLLM_DEFAULT_UTILIZATION = 0.9
MXFP4_MIN_COMPUTE_CAPABILITY = (8, 0)  # Mxfp4Config.get_min_capability() = 80 (kernels.py)
PROFILE_MEMORY_TOLERANCE = 0.10  # a name match must also agree on memory within 10 %
FALLBACK_BANDWIDTH_GB_S = 500.0  # when NVML cannot report bus width and memory clock

# CUDA version of the official vllm/vllm-openai image, per release (docker/Dockerfile
# `ARG CUDA_VERSION`): 12.8.1 from v0.9 to v0.11.0; 12.9.1 from v0.11.1 (PyTorch 2.9 release).
# Releases after the newest documented point are assumed to keep its CUDA.
VLLM_IMAGE_CUDA: tuple[tuple[Version, str], ...] = (
    ((0, 10, 0, 0), "12.8"),
    ((0, 11, 1, 0), "12.9"),
)

# Minimum Linux driver per CUDA toolkit (CUDA release notes, table "CUDA Toolkit and
# Corresponding Driver Versions", GA releases). nvidia-container-toolkit enforces it through
# the image's NVIDIA_REQUIRE_CUDA ("unsatisfied condition: cuda>=12.9").
CUDA_MIN_DRIVER: dict[str, str] = {
    "12.0": "525.60.13",
    "12.1": "530.30.02",
    "12.2": "535.54.03",
    "12.3": "545.23.06",
    "12.4": "550.54.14",
    "12.5": "555.42.02",
    "12.6": "560.28.03",
    "12.8": "570.26",
    "12.9": "575.51.03",
    "13.0": "580.65.06",
}


# --- small helpers ---------------------------------------------------------------------------


def _version_tuple(text: str) -> tuple[int, ...]:
    """'550.90.07' -> (550, 90, 7). ASCII digits only (`\\d` also matches other scripts'
    digits) and at most 9 per part, so int() is cheap whatever a snapshot holds."""
    return tuple(int(p) for p in re.findall(r"[0-9]{1,9}", text[:64]))


def _gib(n_bytes: int | None) -> float:
    return (n_bytes or 0) / GIB


def _indices(gpus: Iterable[InventoryGpu]) -> str:
    idx = [str(g.index) for g in gpus]
    return ("GPU " if len(idx) == 1 else "GPUs ") + ", ".join(idx)


def arch_for(compute_capability: str) -> str:
    parts = _version_tuple(compute_capability)
    if len(parts) < 2:
        return "unknown"
    major, minor = parts[:2]
    if major == 7:
        return "Turing" if minor >= 5 else "Volta"
    if major == 8:
        return "Ada Lovelace" if minor >= 9 else "Ampere"
    if major == 9:
        return "Hopper"
    if major in (10, 11, 12):
        return "Blackwell"
    return "unknown"


def slug(name: str, memory_gib: float) -> str:
    """'Tesla V100-PCIE-32GB' -> 'tesla-v100-pcie-32gb'; 'NVIDIA RTX A6000' -> 'rtx-a6000-48gb'."""
    text = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    text = re.sub(r"^nvidia-", "", text)
    if not re.search(r"\d+gb", text):
        text += f"-{round(memory_gib)}gb"
    return text


# --- profile matching ------------------------------------------------------------------------


def match_profile(name: str, memory_total_bytes: int, profiles: Iterable[GpuSpec]) -> str | None:
    """The profile whose NVML names include `name` and whose memory agrees within 10 %."""
    memory = _gib(memory_total_bytes)
    best: tuple[float, str] | None = None
    for spec in profiles:
        names = {n.lower() for n in [*spec.nvml_names, spec.name]}
        if name.strip().lower() not in names or spec.memory_total_gib <= 0:
            continue
        off = abs(memory - spec.memory_total_gib) / spec.memory_total_gib
        if off <= PROFILE_MEMORY_TOLERANCE and (best is None or off < best[0]):
            best = (off, spec.id)
    return best[1] if best else None


# --- NVLink domains --------------------------------------------------------------------------


def nvlink_domains(
    inventory: GpuInventory, indices: Iterable[int] | None = None
) -> list[list[int]]:
    """Groups of GPUs joined by NVLink (connected components), among `indices` (all by default)."""
    members = sorted(indices if indices is not None else (g.index for g in inventory.gpus))
    parent = {i: i for i in members}

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for link in inventory.topology.links:
        a, b = link.gpus
        if a in parent and b in parent and link.nvlink:
            parent[find(a)] = find(b)
    domains: dict[int, list[int]] = {}
    for i in members:
        domains.setdefault(find(i), []).append(i)
    return sorted(domains.values())


def nvlink_domain_size(inventory: GpuInventory, indices: list[int]) -> int | None:
    """The smallest NVLink domain among `indices`; None when the topology does not say."""
    if len(indices) <= 1:
        return 1
    pairs = [inventory.link(a, b) for i, a in enumerate(indices) for b in indices[i + 1 :]]
    if not any(
        p is not None and (p.nvlink_links is not None or p.p2p_nvlink is not None) for p in pairs
    ):
        return None
    return min(len(d) for d in nvlink_domains(inventory, indices))


# --- specs for GPUs without a profile and for MIG instances ---------------------------------


def _bandwidth(gpu: InventoryGpu) -> float:
    return gpu.memory_bandwidth_gb_s or FALLBACK_BANDWIDTH_GB_S


def spec_from_nvml(gpu: InventoryGpu, host: str, gpus_per_node: int) -> GpuSpec:
    """A GpuSpec for a GPU no profile matches, from what NVML reported."""
    if gpu.compute_capability is None:
        raise InputError(
            f"gpus.{gpu.index}: '{gpu.name}' matches no GPU profile and NVML reported no compute "
            "capability, so it cannot be planned",
            hint="plan with --gpus COUNTxID for the nearest profile (`swissai plan --list-gpus`)",
        )
    usable = gpu.memory_total_bytes - (gpu.memory_reserved_bytes or 0)
    if usable <= 0:
        raise InputError(
            f"gpus.{gpu.index}: '{gpu.name}' has no usable memory "
            f"(memory_total_bytes {gpu.memory_total_bytes}, reserved "
            f"{gpu.memory_reserved_bytes or 0})",
            hint="probe the host again with `swissai probe --out`",
        )
    return GpuSpec(
        id=slug(gpu.name, _gib(gpu.memory_total_bytes)),
        name=gpu.name,
        nvml_names=[gpu.name],
        arch=arch_for(gpu.compute_capability),
        compute_capability=gpu.compute_capability,
        memory_marketing_gb=round(gpu.memory_total_bytes / 1e9, 1),
        memory_total_gib=round(_gib(usable), 2),
        memory_total_observed=False,
        memory_bandwidth_gb_s=_bandwidth(gpu),
        nvlink_domain_size=1,
        gpus_per_node=max(1, gpus_per_node),
        sources=[f"NVML on {host}: no swissai profile matches '{gpu.name}'"],
        notes="derived from NVML; throughput estimates are rough",
    )


def _mig_slices(profile: str | None) -> float:
    m = re.match(r"(\d+)g\.", profile or "")
    return int(m[1]) / 7 if m else 1.0


def spec_for_mig(gpu: InventoryGpu, base: GpuSpec | None, host: str) -> GpuSpec:
    """The largest MIG instance of `gpu` as a GPU of its own."""
    inst = max(gpu.mig_instances, key=lambda m: m.memory_total_bytes or 0)
    parent = base or spec_from_nvml(gpu, host, 1)
    total = inst.memory_total_bytes or 0
    if total <= 0:
        raise InputError(
            f"gpus.{gpu.index}: no MIG instance reports its memory",
            hint="probe the host again with `swissai probe --out`",
        )
    fraction = total / gpu.memory_total_bytes if gpu.memory_total_bytes else 1.0
    compute = _mig_slices(inst.profile)
    profile = inst.profile or f"{round(_gib(total))}gb"
    return parent.model_copy(
        update={
            "id": f"{parent.id}-mig-{profile}",
            "name": inst.name or f"{gpu.name} MIG {profile}",
            "nvml_names": [],
            "memory_marketing_gb": round(total / 1e9, 1),
            "memory_total_gib": round(_gib(total), 2),
            "memory_total_observed": False,
            "memory_bandwidth_gb_s": round(parent.memory_bandwidth_gb_s * fraction, 1),
            "bf16_dense_tflops": _scaled(parent.bf16_dense_tflops, compute),
            "fp8_dense_tflops": _scaled(parent.fp8_dense_tflops, compute),
            "fp4_dense_tflops": _scaled(parent.fp4_dense_tflops, compute),
            "nvlink_domain_size": 1,
            "gpus_per_node": 1,
            "interconnect_gb_s": None,
            "sources": [*parent.sources, f"MIG instance {profile} of GPU {gpu.index} on {host}"],
            "notes": f"MIG {profile}: one vLLM process per instance, no tensor parallelism "
            "across instances",
        }
    )


def _scaled(value: float | None, factor: float) -> float | None:
    return None if value is None else round(value * factor, 1)


# --- findings --------------------------------------------------------------------------------


def held_gib(gpu: InventoryGpu) -> float:
    """Memory other processes hold on the GPU; the driver's own few hundred MiB do not count."""
    used = _gib(gpu.memory_used_bytes)
    return used if gpu.processes or used >= 1.0 else 0.0


def _memory_finding(gpu: InventoryGpu, total_gib: float) -> str | None:
    used = held_gib(gpu)
    free_gib = total_gib - used
    budget = VLLM_DEFAULT_UTILIZATION * total_gib
    if used <= 0 or free_gib >= budget:
        return None
    who = ", ".join(
        f"pid {p.pid}"
        + (f" {p.name}" if p.name else "")
        + (f" {_gib(p.memory_used_bytes):.1f} GiB" if p.memory_used_bytes is not None else "")
        for p in gpu.processes
    )
    return (
        f"GPU {gpu.index} ({gpu.name}): {used:.1f} GiB held by other processes"
        + (f" ({who})" if who else "")
        + f"; free {free_gib:.1f} GiB is below vLLM's default budget {budget:.1f} GiB "
        f"(0.9 x {total_gib:.2f} GiB), so gpu_memory_utilization must come down"
    )


def inventory_findings(
    inventory: GpuInventory, specs: dict[int, GpuSpec], profiled: set[int]
) -> list[str]:
    """Warnings about the machine that the plan repeats (driver/CUDA: `driver_finding`)."""
    out: list[str] = []
    gpus = inventory.gpus
    unknown = [g for g in gpus if g.index not in profiled]
    for name in dict.fromkeys(g.name for g in unknown):
        same = [g for g in unknown if g.name == name]
        spec = specs[same[0].index]
        out.append(
            f"{_indices(same)} ('{name}') match no swissai GPU profile: planned from NVML "
            f"({spec.memory_total_gib:.2f} GiB, compute capability {spec.compute_capability}, "
            f"~{spec.memory_bandwidth_gb_s:.0f} GB/s); figures not observed in a vLLM log"
        )
    old = [
        g
        for g in gpus
        if g.compute_capability is not None
        and _version_tuple(g.compute_capability)[:2] < MXFP4_MIN_COMPUTE_CAPABILITY
    ]
    for name in dict.fromkeys(g.name for g in old):
        same = [g for g in old if g.name == name]
        out.append(
            f"{_indices(same)} ({name}): compute capability {same[0].compute_capability} is below "
            "8.0: vLLM cannot run MXFP4 models (gpt-oss) on them"
        )
    blocked = [lk for lk in inventory.topology.links if lk.nvlink_links and lk.p2p_nvlink is False]
    if blocked:
        pairs = ", ".join(f"{a}-{b}" for a, b in (lk.gpus for lk in blocked[:4]))
        more = f" and {len(blocked) - 4} more" if len(blocked) > 4 else ""
        out.append(
            f"GPU pairs {pairs}{more} have active NVLinks but NVLink peer-to-peer is unavailable"
            + (
                " (NVSwitch: is nvidia-fabricmanager running?)"
                if any(lk.nvswitch for lk in blocked)
                else ""
            )
            + "; planned as PCIe"
        )
    for g in gpus:
        if g.mig_enabled:
            spec = specs[g.index]
            profiles = ", ".join(m.profile or "?" for m in g.mig_instances) or "none"
            out.append(
                f"GPU {g.index} is in MIG mode (instances: {profiles}): planned as one "
                f"{spec.memory_total_gib:.2f} GiB instance, TP 1; each other instance can run "
                "its own replica"
                if g.mig_instances
                else f"GPU {g.index} is in MIG mode with no MIG instance: nothing can run on it "
                "until instances are created (nvidia-smi mig -cgi ... -C)"
            )
        elif g.mig_pending:
            out.append(f"GPU {g.index}: MIG mode turns on at the next GPU reset")
        finding = None if g.mig_enabled else _memory_finding(g, specs[g.index].memory_total_gib)
        if finding:
            out.append(finding)
        if g.ecc_uncorrected_errors:
            out.append(
                f"GPU {g.index} ({g.uuid}): {g.ecc_uncorrected_errors} uncorrected ECC error(s) "
                "since the driver loaded: check the GPU (nvidia-smi -q -d ECC) before serving"
            )
    return out


def image_cuda(vllm_version: Version) -> str:
    cuda = VLLM_IMAGE_CUDA[0][1]
    for since, version in VLLM_IMAGE_CUDA:
        if since <= vllm_version:
            cuda = version
    return cuda


def driver_finding(
    driver_version: str | None, cuda_driver_version: str | None, vllm_version: Version
) -> str | None:
    """A warning when the driver is older than the vLLM image's CUDA needs, else None."""
    cuda = image_cuda(vllm_version)
    needed = CUDA_MIN_DRIVER[cuda]
    if cuda_driver_version is not None:
        too_old = _version_tuple(cuda_driver_version)[:2] < _version_tuple(cuda)[:2]
    elif driver_version is not None:
        too_old = _version_tuple(driver_version) < _version_tuple(needed)
    else:
        return None
    if not too_old:
        return None
    have = f"driver {driver_version or '?'}" + (
        f" (CUDA {cuda_driver_version})" if cuda_driver_version else ""
    )
    return (
        f"{have} is too old for the vLLM {format_version(vllm_version)} image, built on CUDA "
        f"{cuda}: it needs driver >= {needed} (the container toolkit refuses to start it, "
        f"'unsatisfied condition: cuda>={cuda}'), or NVIDIA's CUDA forward-compatibility "
        "package on a data-centre GPU"
    )


# --- hardware --------------------------------------------------------------------------------


def hardware_from_inventory(
    inventory: GpuInventory,
    lookup: Callable[[str], GpuSpec],
    source: str = "inventory",
) -> Hardware:
    """The Hardware to plan for on the probed host (one node)."""
    specs: dict[int, GpuSpec] = {}
    profiled: set[int] = set()
    host = inventory.host
    count = len(inventory.gpus)
    for pos, gpu in enumerate(inventory.gpus):
        base: GpuSpec | None = None
        if gpu.profile_id is not None:
            try:
                base = lookup(gpu.profile_id)
            except InputError as exc:
                raise InputError(f"gpus.{pos}.profile_id: {exc.message}", hint=exc.hint) from exc
            profiled.add(gpu.index)
        if gpu.mig_enabled and gpu.mig_instances:
            specs[gpu.index] = spec_for_mig(gpu, base, host)
        elif gpu.mig_enabled:
            continue  # MIG on, no instance: nothing can run here
        else:
            specs[gpu.index] = base or spec_from_nvml(gpu, host, count)
    if not specs:
        raise InputError(
            f"no GPU of {host} can run vLLM: every GPU is in MIG mode without instances",
            hint="create MIG instances, or turn MIG off (nvidia-smi -mig 0)",
        )
    by_id: dict[str, list[int]] = {}
    for index, spec in specs.items():
        by_id.setdefault(spec.id, []).append(index)
    spec_of = {spec.id: spec for spec in specs.values()}
    groups = [GpuGroup(gpu=spec_of[i], count=len(idx)) for i, idx in sorted(by_id.items())]
    # The group the planner plans on (planner.make_plan picks it by the same key).
    planned = max(groups, key=lambda g: (g.count * g.gpu.memory_total_gib, g.count))
    members = by_id[planned.gpu.id]
    mig = any(inventory.gpu(i).mig_enabled for i in members)
    domain = 1 if mig else nvlink_domain_size(inventory, members)
    used_max = 0.0
    for i in members:
        gpu = inventory.gpu(i)
        if gpu.mig_enabled:
            inst = max(gpu.mig_instances, key=lambda m: m.memory_total_bytes or 0)
            used_max = max(used_max, _gib(inst.memory_used_bytes))
        else:
            used_max = max(used_max, held_gib(gpu))
    spec_text = ",".join(f"{g.count}x{g.gpu.id}" for g in groups)
    return Hardware(
        groups=groups,
        nodes=1,
        source="probe" if source == "probe" else "inventory",
        spec=spec_text,
        nvlink_domain_size=domain,
        memory_used_gib_max=round(used_max, 3),
        warnings=inventory_findings(inventory, specs, profiled),
        driver_version=inventory.driver_version,
        cuda_driver_version=inventory.cuda_driver_version,
    )
