"""NVML adapter: the one narrow interface to this host's NVIDIA GPUs.

`read_inventory(nvml)` is the interface. `nvml` is the pynvml module (nvidia-ml-py), imported
lazily when not given; tests pass a fake with the same functions, error classes and return types
(tests/fakes/fake_pynvml.py). Everything NVML may refuse on a device (NVMLError_NotSupported,
and NoPermission / FunctionNotFound on old drivers or in containers) becomes None, never a
crash. NVML missing altogether (no driver, as on a laptop or CI) is `NvmlUnavailable`, an
environment problem (exit 3).

Functions called, all of pynvml (nvml.h): nvmlInit, nvmlShutdown, nvmlSystemGetDriverVersion,
nvmlSystemGetCudaDriverVersion, nvmlSystemGetNVMLVersion, nvmlSystemGetProcessName,
nvmlDeviceGetCount, nvmlDeviceGetHandleByIndex, nvmlDeviceGetName, nvmlDeviceGetUUID,
nvmlDeviceGetPciInfo, nvmlDeviceGetMemoryInfo (v2, falling back to v1),
nvmlDeviceGetCudaComputeCapability, nvmlDeviceGetMemoryBusWidth, nvmlDeviceGetMaxClockInfo,
nvmlDeviceGetMigMode, nvmlDeviceGetMaxMigDeviceCount, nvmlDeviceGetMigDeviceHandleByIndex,
nvmlDeviceGetGpuInstanceId, nvmlDeviceGetComputeInstanceId, nvmlDeviceGetEccMode,
nvmlDeviceGetTotalEccErrors, nvmlDeviceGetEnforcedPowerLimit, nvmlDeviceGetPersistenceMode,
nvmlDeviceGetComputeRunningProcesses, nvmlDeviceGetTopologyCommonAncestor,
nvmlDeviceGetNvLinkState, nvmlDeviceGetNvLinkRemotePciInfo, nvmlDeviceGetNvLinkRemoteDeviceType,
nvmlDeviceGetP2PStatus.
"""

from __future__ import annotations

import contextlib
import re
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from swissai.errors import EnvironmentProblem
from swissai.models.gpu import GpuSpec, Hardware
from swissai.models.inventory import (
    GpuInventory,
    GpuLink,
    GpuProcess,
    InventoryGpu,
    MigInstance,
    PcieLevel,
    Topology,
)

NO_NVML_HINT = (
    "run `swissai probe` on the GPU server (NVIDIA driver installed), or plan here with "
    "--gpus COUNTxID or --inventory FILE"
)


class NvmlUnavailable(EnvironmentProblem):
    """NVML cannot be used here. `absent` is true when this host simply has no NVIDIA stack
    (no library, no driver loaded, no GPU): only then may `plan` fall back to the embedded
    default; any other NVML failure on a GPU host (no permission, a probe error) is exit 3."""

    def __init__(self, message: str, hint: str | None = None, *, absent: bool = False) -> None:
        super().__init__(message, hint)
        self.absent = absent


def load_pynvml() -> Any:
    """The real pynvml module (nvidia-ml-py), imported only when a probe needs it."""
    try:
        import pynvml
    except ImportError as exc:  # pragma: no cover - nvidia-ml-py is a dependency
        raise NvmlUnavailable(
            "nvidia-ml-py (pynvml) is not installed", hint="pip install nvidia-ml-py", absent=True
        ) from exc
    return pynvml


def _init_hint(nvml: Any, exc: Exception) -> str:
    if isinstance(exc, nvml.NVMLError_LibraryNotFound):
        return "no NVIDIA driver here (libnvidia-ml.so.1 not found); " + NO_NVML_HINT
    if isinstance(exc, nvml.NVMLError_DriverNotLoaded):
        return "the NVIDIA kernel module is not loaded (nvidia-smi fails too); " + NO_NVML_HINT
    if isinstance(exc, nvml.NVMLError_NoPermission):
        return "NVML needs access to /dev/nvidia*; run as a user in the video group"
    return NO_NVML_HINT


@dataclass
class _Reader:
    """One probe: NVML calls with NotSupported -> None, for one initialised session."""

    nvml: Any

    @property
    def soft_errors(self) -> tuple[type[Exception], ...]:
        n = self.nvml
        return (
            n.NVMLError_NotSupported,
            n.NVMLError_NoPermission,
            n.NVMLError_FunctionNotFound,
            n.NVMLError_NotFound,
        )

    def opt(self, fn: Callable[..., Any], *args: Any) -> Any:
        """fn(*args), or None where NVML cannot say on this device."""
        try:
            return fn(*args)
        except self.soft_errors:
            return None

    # --- per device ---------------------------------------------------------------------

    def memory(self, handle: Any) -> tuple[int, int | None, int | None, int | None]:
        """(total, used, free, reserved) bytes; v2 separates the driver's reserved memory."""
        n = self.nvml
        version = getattr(n, "nvmlMemory_v2", None)
        if version is not None:
            fallback: tuple[type[Exception], ...] = (
                *self.soft_errors,
                _version_mismatch(n),
                TypeError,  # a pynvml older than the version= argument
            )
            try:
                m = n.nvmlDeviceGetMemoryInfo(handle, version=version)
                return int(m.total), int(m.used), int(m.free), int(m.reserved)
            except fallback:
                pass
        m = n.nvmlDeviceGetMemoryInfo(handle)
        return int(m.total), int(m.used), int(m.free), None

    def bandwidth_gb_s(self, handle: Any) -> float | None:
        width = self.opt(self.nvml.nvmlDeviceGetMemoryBusWidth, handle)
        clock = self.opt(self.nvml.nvmlDeviceGetMaxClockInfo, handle, self.nvml.NVML_CLOCK_MEM)
        if not width or not clock:
            return None
        # bits x MHz x 2 transfers per clock / 8 bits per byte / 1000 -> GB/s
        return round(float(width) * float(clock) * 2 / 8 / 1000, 1)

    def mig(self, handle: Any) -> tuple[bool | None, bool | None, list[MigInstance]]:
        n = self.nvml
        mode = self.opt(n.nvmlDeviceGetMigMode, handle)
        if mode is None:
            return None, None, []
        current = mode[0] == n.NVML_DEVICE_MIG_ENABLE
        pending = mode[1] == n.NVML_DEVICE_MIG_ENABLE
        instances: list[MigInstance] = []
        if current:
            for i in range(self.opt(n.nvmlDeviceGetMaxMigDeviceCount, handle) or 0):
                mig = self.opt(n.nvmlDeviceGetMigDeviceHandleByIndex, handle, i)
                if mig is None:
                    continue  # an empty slot: NVML_ERROR_NOT_FOUND
                name = self.opt(n.nvmlDeviceGetName, mig)
                m = re.search(r"\d+g\.\d+gb", name or "")
                try:
                    total, used, free, _ = self.memory(mig)
                    mem: tuple[int | None, int | None, int | None] = (total, used, free)
                except self.soft_errors:
                    mem = (None, None, None)
                instances.append(
                    MigInstance(
                        index=i,
                        uuid=self.opt(n.nvmlDeviceGetUUID, mig),
                        name=name,
                        profile=m[0] if m else None,
                        gpu_instance_id=self.opt(n.nvmlDeviceGetGpuInstanceId, mig),
                        compute_instance_id=self.opt(n.nvmlDeviceGetComputeInstanceId, mig),
                        memory_total_bytes=mem[0],
                        memory_used_bytes=mem[1],
                        memory_free_bytes=mem[2],
                    )
                )
        return current, pending, instances

    def processes(self, handle: Any) -> list[GpuProcess]:
        n = self.nvml
        out = []
        for p in self.opt(n.nvmlDeviceGetComputeRunningProcesses, handle) or []:
            used = p.usedGpuMemory
            out.append(
                GpuProcess(
                    pid=int(p.pid),
                    name=self.opt(n.nvmlSystemGetProcessName, p.pid),
                    memory_used_bytes=None if used is None else int(used),
                    gpu_instance_id=_mig_id(getattr(p, "gpuInstanceId", None)),
                    compute_instance_id=_mig_id(getattr(p, "computeInstanceId", None)),
                )
            )
        return out

    def gpu(
        self, index: int, handle: Any, profile: Callable[[str, int], str | None]
    ) -> InventoryGpu:
        n = self.nvml
        name = n.nvmlDeviceGetName(handle)
        total, used, free, reserved = self.memory(handle)
        cc = self.opt(n.nvmlDeviceGetCudaComputeCapability, handle)
        mig_on, mig_pending, instances = self.mig(handle)
        ecc = self.opt(n.nvmlDeviceGetEccMode, handle)
        ecc_on = None if ecc is None else ecc[0] == n.NVML_FEATURE_ENABLED
        errors = (
            self.opt(
                n.nvmlDeviceGetTotalEccErrors,
                handle,
                n.NVML_MEMORY_ERROR_TYPE_UNCORRECTED,
                n.NVML_VOLATILE_ECC,
            )
            if ecc_on
            else None
        )
        power_mw = self.opt(n.nvmlDeviceGetEnforcedPowerLimit, handle)
        persistence = self.opt(n.nvmlDeviceGetPersistenceMode, handle)
        pci = self.opt(n.nvmlDeviceGetPciInfo, handle)
        return InventoryGpu(
            index=index,
            name=name,
            uuid=n.nvmlDeviceGetUUID(handle),
            pci_bus_id=None if pci is None else _text(pci.busId),
            profile_id=profile(name, total),
            memory_total_bytes=total,
            memory_used_bytes=used,
            memory_free_bytes=free,
            memory_reserved_bytes=reserved,
            memory_bandwidth_gb_s=self.bandwidth_gb_s(handle),
            compute_capability=None if cc is None else f"{cc[0]}.{cc[1]}",
            mig_enabled=mig_on,
            mig_pending=mig_pending,
            mig_instances=instances,
            ecc_enabled=ecc_on,
            ecc_uncorrected_errors=None if errors is None else int(errors),
            power_limit_watts=None if power_mw is None else power_mw / 1000,
            persistence_mode=None if persistence is None else persistence == n.NVML_FEATURE_ENABLED,
            processes=self.processes(handle),
        )

    # --- topology -----------------------------------------------------------------------

    def nvlinks(self, handle: Any) -> list[tuple[str, tuple[int, int, int] | None]] | None:
        """Active NVLinks of a GPU: ('switch', None) or ('gpu', remote PCI (domain, bus, dev));
        [] for a GPU without NVLink, None when NVML will not say."""
        n = self.nvml
        links: list[tuple[str, tuple[int, int, int] | None]] = []
        for link in range(getattr(n, "NVML_NVLINK_MAX_LINKS", 18)):
            try:
                state = n.nvmlDeviceGetNvLinkState(handle, link)
            except (n.NVMLError_NotSupported, n.NVMLError_InvalidArgument):
                break  # no NVLink at all (link 0), or past the device's last link
            except (n.NVMLError_NoPermission, n.NVMLError_FunctionNotFound):
                return None
            if state != n.NVML_FEATURE_ENABLED:
                continue
            kind = self.opt(n.nvmlDeviceGetNvLinkRemoteDeviceType, handle, link)
            if kind == n.NVML_NVLINK_DEVICE_TYPE_SWITCH:
                links.append(("switch", None))
                continue
            pci = self.opt(n.nvmlDeviceGetNvLinkRemotePciInfo, handle, link)
            if pci is None:
                continue
            key = (int(pci.domain), int(pci.bus), int(pci.device))
            links.append(("gpu" if kind in (None, n.NVML_NVLINK_DEVICE_TYPE_GPU) else "other", key))
        return links

    def topology(self, handles: list[Any], keys: list[tuple[int, int, int] | None]) -> Topology:
        n = self.nvml
        count = len(handles)
        nvlinks = [self.nvlinks(h) for h in handles]
        links: list[GpuLink] = []
        matrix = [["X" if i == j else "?" for j in range(count)] for i in range(count)]
        for a in range(count):
            for b in range(a + 1, count):
                level = self.opt(n.nvmlDeviceGetTopologyCommonAncestor, handles[a], handles[b])
                pcie = _PCIE_LEVELS.get(level) if level is not None else None
                la, lb = nvlinks[a], nvlinks[b]
                nv: int | None = None
                via_switch = False
                if la is not None and lb is not None:
                    direct = sum(1 for kind, key in la if kind == "gpu" and key == keys[b])
                    if not direct:
                        direct = sum(1 for kind, key in lb if kind == "gpu" and key == keys[a])
                    sw_a = sum(1 for kind, _ in la if kind == "switch")
                    sw_b = sum(1 for kind, _ in lb if kind == "switch")
                    via_switch = not direct and bool(sw_a and sw_b)
                    nv = direct or (min(sw_a, sw_b) if via_switch else 0)
                status = self.opt(
                    n.nvmlDeviceGetP2PStatus, handles[a], handles[b], n.NVML_P2P_CAPS_INDEX_NVLINK
                )
                p2p = None if status is None else status == n.NVML_P2P_STATUS_OK
                links.append(
                    GpuLink(
                        gpus=[a, b], pcie=pcie, nvlink_links=nv, nvswitch=via_switch, p2p_nvlink=p2p
                    )
                )
                label = f"NV{nv}" if nv else (pcie if pcie and pcie != "internal" else "?")
                if pcie == "internal" and not nv:
                    label = "PIX"
                matrix[a][b] = matrix[b][a] = label
        return Topology(matrix=matrix, links=links)


_PCIE_LEVELS: dict[int, PcieLevel] = {
    0: "internal",  # NVML_TOPOLOGY_INTERNAL: two GPUs on one board
    10: "PIX",  # NVML_TOPOLOGY_SINGLE: one PCIe switch
    20: "PXB",  # NVML_TOPOLOGY_MULTIPLE: several PCIe switches, no host bridge
    30: "PHB",  # NVML_TOPOLOGY_HOSTBRIDGE: through a PCIe host bridge
    40: "NODE",  # NVML_TOPOLOGY_NODE: host bridges of one NUMA node
    50: "SYS",  # NVML_TOPOLOGY_SYSTEM: across NUMA nodes (SMP interconnect)
}


def _version_mismatch(nvml: Any) -> type[Exception]:
    # NVML_ERROR_ARGUMENT_VERSION_MISMATCH (a driver without nvmlDeviceGetMemoryInfo_v2 structs)
    error: type[Exception] = getattr(
        nvml, "NVMLError_ArgumentVersionMismatch", nvml.NVMLError_FunctionNotFound
    )
    return error


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _mig_id(value: Any) -> int | None:
    # outside MIG, NVML fills gpuInstanceId/computeInstanceId with 0xFFFFFFFF
    if value is None or int(value) == 0xFFFFFFFF:
        return None
    return int(value)


def _cuda_text(version: int | None) -> str | None:
    if not version:
        return None
    return f"{version // 1000}.{version % 1000 // 10}"


def read_inventory(
    nvml: Any | None = None,
    *,
    host: str | None = None,
    now: datetime | None = None,
    profiles: Sequence[GpuSpec] | None = None,
) -> GpuInventory:
    """Probe this host through NVML. `nvml` defaults to the real pynvml module."""
    from swissai.core.gpu_inventory import match_profile

    n = nvml if nvml is not None else load_pynvml()
    try:
        n.nvmlInit()
    except n.NVMLError as exc:
        absent = isinstance(exc, (n.NVMLError_LibraryNotFound, n.NVMLError_DriverNotLoaded))
        raise NvmlUnavailable(
            f"NVML is not available: {exc}", hint=_init_hint(n, exc), absent=absent
        ) from exc
    try:
        if profiles is None:
            from swissai.adapters.profiles import list_gpu_ids, load_gpu

            profiles = [load_gpu(g) for g in list_gpu_ids()]
        known = list(profiles)
        reader = _Reader(n)
        count = n.nvmlDeviceGetCount()
        if count == 0:
            raise NvmlUnavailable(
                "NVML reports no GPU on this host", hint=NO_NVML_HINT, absent=True
            )
        handles = [n.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
        gpus = [
            reader.gpu(i, h, lambda name, total: match_profile(name, total, known))
            for i, h in enumerate(handles)
        ]
        keys = []
        for h in handles:
            pci = reader.opt(n.nvmlDeviceGetPciInfo, h)
            keys.append(None if pci is None else (int(pci.domain), int(pci.bus), int(pci.device)))
        topology = reader.topology(handles, keys)
        driver = reader.opt(n.nvmlSystemGetDriverVersion)
        cuda = reader.opt(n.nvmlSystemGetCudaDriverVersion)
        nvml_version = reader.opt(n.nvmlSystemGetNVMLVersion)
    except n.NVMLError as exc:
        raise NvmlUnavailable(f"NVML failed while probing: {exc}", hint=NO_NVML_HINT) from exc
    finally:
        with contextlib.suppress(n.NVMLError):
            n.nvmlShutdown()
    stamp = now or datetime.now(timezone.utc)
    return GpuInventory(
        host=host or socket.gethostname(),
        probed_at=stamp.isoformat(timespec="seconds"),
        driver_version=None if driver is None else _text(driver),
        cuda_driver_version=_cuda_text(cuda),
        nvml_version=None if nvml_version is None else _text(nvml_version),
        gpus=gpus,
        topology=topology,
    )


def probe_hardware(nvml: Any | None = None) -> Hardware:
    """The local GPUs as planner Hardware (`swissai plan` without --gpus/--inventory)."""
    from swissai.adapters.profiles import load_gpu
    from swissai.core.gpu_inventory import hardware_from_inventory

    return hardware_from_inventory(read_inventory(nvml), load_gpu, source="probe")
