"""A faithful fake of the pynvml functions swissai's NVML adapter calls.

It behaves as nvidia-ml-py does on a real machine, described by a fixture in tests/data/nvml/:

* the error classes are pynvml's own (`NVMLError_NotSupported`, `NVMLError_LibraryNotFound`,
  `NVMLError_Uninitialized`, ...), raised through `pynvml.NVMLError(code)` exactly as
  `_nvmlCheckReturn` does;
* return types are pynvml's: device handles are `c_nvmlDevice_t` ctypes pointers (a new object on
  every call, so code that keys on handle identity breaks here as it would on a GPU server),
  memory is `c_nvmlMemory_t` / `c_nvmlMemory_v2_t`, PCI info is `nvmlPciInfo_t` (a ctypes
  struct holding busId as c_char bytes), processes are `nvmlFriendlyObject`s built from `c_nvmlProcessInfo_v3_t` with
  `usedGpuMemory` None where NVML cannot attribute memory, strings are str (`convertStrBytes`);
* every call before `nvmlInit` (or after the last `nvmlShutdown`) fails with Uninitialized;
* a function the fixture marks unsupported on a device raises NotSupported, as NVML does for
  ECC on a GeForce, MIG on an L40S or NVLink on a PCIe-only card.

Only the functions the adapter needs exist; calling any other is an AttributeError, so the
adapter cannot silently depend on something this fake does not model. `calls` records each call.
"""

from __future__ import annotations

import ctypes
from pathlib import Path
from typing import Any

import pynvml as _real
import yaml

FIXTURES = Path(__file__).resolve().parent.parent / "data" / "nvml"

_HANDLE_BASE = 0x1000
_MIG_BASE = 0x100000
_NOT_AVAILABLE = _real.NVML_VALUE_NOT_AVAILABLE_ulonglong.value
_PCIE_CODES = {
    "internal": _real.NVML_TOPOLOGY_INTERNAL,
    "PIX": _real.NVML_TOPOLOGY_SINGLE,
    "PXB": _real.NVML_TOPOLOGY_MULTIPLE,
    "PHB": _real.NVML_TOPOLOGY_HOSTBRIDGE,
    "NODE": _real.NVML_TOPOLOGY_NODE,
    "SYS": _real.NVML_TOPOLOGY_SYSTEM,
}


def load_machine(name: str) -> dict[str, Any]:
    """The fixture tests/data/nvml/<name>.yaml with `defaults` merged into each GPU."""
    data: dict[str, Any] = yaml.safe_load((FIXTURES / f"{name}.yaml").read_text(encoding="utf-8"))
    defaults = data.pop("defaults", {}) or {}
    data["gpus"] = [{**defaults, **gpu} for gpu in data["gpus"]]
    return data


def _error(name: str) -> _real.NVMLError:
    """pynvml.NVMLError for NVML_ERROR_<NAME>: the real subclass, e.g. NVMLError_NotSupported."""
    return _real.NVMLError(getattr(_real, f"NVML_ERROR_{name}"))


class FakePynvml:
    """Stands in for the `pynvml` module. Build it with `FakePynvml(load_machine("dgx-h100"))`
    or `FakePynvml.library_missing()` (a laptop: no libnvidia-ml.so.1)."""

    def __init__(self, machine: dict[str, Any] | None, *, init_error: str | None = None) -> None:
        for name in dir(_real):
            if name.startswith(("NVML_", "NVMLError", "nvmlMemory_v")):
                setattr(self, name, getattr(_real, name))
        self.machine = machine or {"gpus": []}
        self.init_error = init_error
        self.calls: list[str] = []
        self._refcount = 0

    @classmethod
    def library_missing(cls) -> FakePynvml:
        return cls(None, init_error="LIBRARY_NOT_FOUND")

    @classmethod
    def driver_not_loaded(cls) -> FakePynvml:
        return cls(None, init_error="DRIVER_NOT_LOADED")

    @property
    def initialized(self) -> bool:
        return self._refcount > 0

    # --- plumbing ------------------------------------------------------------------------

    def _call(self, name: str) -> None:
        self.calls.append(name)
        if not self.initialized:
            raise _error("UNINITIALIZED")

    @property
    def _gpus(self) -> list[dict[str, Any]]:
        gpus: list[dict[str, Any]] = self.machine["gpus"]
        return gpus

    def _decode(self, handle: Any) -> tuple[int, int | None]:
        """(gpu index, MIG slot or None) of a handle this fake handed out."""
        if not isinstance(handle, _real.c_nvmlDevice_t):
            raise _error("INVALID_ARGUMENT")
        value = ctypes.cast(handle, ctypes.c_void_p).value or 0
        if value >= _MIG_BASE:
            rest = value - _MIG_BASE
            return rest // 0x100, rest % 0x100 - 1
        if not _HANDLE_BASE <= value < _HANDLE_BASE + len(self._gpus):
            raise _error("INVALID_ARGUMENT")
        return value - _HANDLE_BASE, None

    def _device(self, name: str, handle: Any, *, mig_ok: bool = False) -> dict[str, Any]:
        self._call(name)
        index, slot = self._decode(handle)
        gpu = self._gpus[index]
        error = (gpu.get("nvml_errors") or {}).get(name)
        if error:
            raise _error(error)
        if slot is not None:
            if not mig_ok:
                raise _error("NOT_SUPPORTED")
            instance: dict[str, Any] = gpu["mig"]["instances"][slot]
            return {"_parent": gpu, **instance, "_mig": True}
        return gpu

    @staticmethod
    def _handle(value: int) -> Any:
        return ctypes.cast(ctypes.c_void_p(value), _real.c_nvmlDevice_t)

    @staticmethod
    def _pci(bus_id: str) -> Any:
        domain, bus, rest = bus_id.split(":")
        device = rest.split(".")[0]
        info = _real.nvmlPciInfo_t()
        info.busId = bus_id.encode()
        info.busIdLegacy = bus_id[-12:].encode()
        info.domain = int(domain, 16)
        info.bus = int(bus, 16)
        info.device = int(device, 16)
        return info

    def _nvlink(self, name: str, handle: Any, link: int) -> tuple[dict[str, Any], dict[str, Any]]:
        gpu = self._device(name, handle)
        nvlink = gpu.get("nvlink")
        if nvlink is None:
            raise _error("NOT_SUPPORTED")  # a GPU without NVLink (L40S, L4)
        if not 0 <= link < nvlink.get("slots", 0):
            raise _error("INVALID_ARGUMENT")  # past the device's last link
        return gpu, nvlink

    def _link_target(self, nvlink: dict[str, Any], link: int) -> tuple[str, int | None] | None:
        """('switch', None), ('gpu', peer index) or None for an inactive link."""
        if link < nvlink.get("switch", 0):
            return "switch", None
        start = 0
        for peer, count in (nvlink.get("peers") or {}).items():
            if start <= link < start + count:
                return "gpu", int(peer)
            start += count
        return None

    # --- library -------------------------------------------------------------------------

    def nvmlInit(self) -> None:
        self.calls.append("nvmlInit")
        if self.init_error:
            raise _error(self.init_error)
        self._refcount += 1

    def nvmlShutdown(self) -> None:
        self._call("nvmlShutdown")
        self._refcount -= 1

    def nvmlSystemGetDriverVersion(self) -> str:
        self._call("nvmlSystemGetDriverVersion")
        return str(self.machine["driver_version"])

    def nvmlSystemGetCudaDriverVersion(self) -> int:
        self._call("nvmlSystemGetCudaDriverVersion")
        return int(self.machine["cuda_driver_version"])

    def nvmlSystemGetNVMLVersion(self) -> str:
        self._call("nvmlSystemGetNVMLVersion")
        return str(self.machine["nvml_version"])

    def nvmlSystemGetProcessName(self, pid: int) -> str:
        self._call("nvmlSystemGetProcessName")
        for gpu in self._gpus:
            for proc in gpu.get("processes") or []:
                if proc["pid"] == pid and proc.get("name"):
                    return str(proc["name"])
        raise _error("NOT_FOUND")  # a process in another PID namespace (container)

    # --- devices -------------------------------------------------------------------------

    def nvmlDeviceGetCount(self) -> int:
        self._call("nvmlDeviceGetCount")
        return len(self._gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> Any:
        self._call("nvmlDeviceGetHandleByIndex")
        if not 0 <= index < len(self._gpus):
            raise _error("INVALID_ARGUMENT")
        return self._handle(_HANDLE_BASE + index)

    def nvmlDeviceGetName(self, handle: Any) -> str:
        return str(self._device("nvmlDeviceGetName", handle, mig_ok=True)["name"])

    def nvmlDeviceGetUUID(self, handle: Any) -> str:
        return str(self._device("nvmlDeviceGetUUID", handle, mig_ok=True)["uuid"])

    def nvmlDeviceGetPciInfo(self, handle: Any) -> Any:
        return self._pci(self._device("nvmlDeviceGetPciInfo", handle)["pci_bus_id"])

    def nvmlDeviceGetMemoryInfo(self, handle: Any, version: int | None = None) -> Any:
        dev = self._device("nvmlDeviceGetMemoryInfo", handle, mig_ok=True)
        mem = dev["memory"]
        total, used = int(mem["total"]), int(mem.get("used", 0))
        reserved = int(mem.get("reserved", 0))
        free = total - reserved - used
        if version:
            if not self.machine.get("memory_v2", True):
                raise _error("FUNCTION_NOT_FOUND")  # a driver older than nvmlDeviceGetMemoryInfo_v2
            if version != _real.nvmlMemory_v2:
                raise _error("ARGUMENT_VERSION_MISMATCH")
            v2 = _real.c_nvmlMemory_v2_t()
            v2.version, v2.total, v2.reserved, v2.free, v2.used = (
                version,
                total,
                reserved,
                free,
                used,
            )
            return v2
        v1 = _real.c_nvmlMemory_t()
        v1.total, v1.free, v1.used = total, free, used + reserved  # v1 counts reserved as used
        return v1

    def nvmlDeviceGetCudaComputeCapability(self, handle: Any) -> tuple[int, int]:
        major, minor = self._device("nvmlDeviceGetCudaComputeCapability", handle)[
            "compute_capability"
        ]
        return (int(major), int(minor))

    def nvmlDeviceGetMemoryBusWidth(self, handle: Any) -> int:
        return int(self._device("nvmlDeviceGetMemoryBusWidth", handle)["memory_bus_width"])

    def nvmlDeviceGetMaxClockInfo(self, handle: Any, type: int) -> int:
        gpu = self._device("nvmlDeviceGetMaxClockInfo", handle)
        if type != _real.NVML_CLOCK_MEM:
            raise _error("NOT_SUPPORTED")
        return int(gpu["memory_clock_max_mhz"])

    def nvmlDeviceGetMigMode(self, handle: Any) -> list[int]:
        gpu = self._device("nvmlDeviceGetMigMode", handle)
        mig = gpu.get("mig")
        if mig is None:
            raise _error("NOT_SUPPORTED")  # not a MIG-capable GPU
        return [int(mig["current"]), int(mig.get("pending", mig["current"]))]

    def nvmlDeviceGetMaxMigDeviceCount(self, handle: Any) -> int:
        gpu = self._device("nvmlDeviceGetMaxMigDeviceCount", handle)
        if gpu.get("mig") is None:
            raise _error("NOT_SUPPORTED")
        return 7

    def nvmlDeviceGetMigDeviceHandleByIndex(self, handle: Any, index: int) -> Any:
        gpu = self._device("nvmlDeviceGetMigDeviceHandleByIndex", handle)
        mig = gpu.get("mig") or {}
        if not mig.get("current"):
            raise _error("INVALID_ARGUMENT")
        instances = mig.get("instances") or []
        if not 0 <= index < len(instances):
            raise _error("NOT_FOUND")  # an empty MIG slot
        parent = self._decode(handle)[0]
        return self._handle(_MIG_BASE + parent * 0x100 + index + 1)

    def nvmlDeviceGetGpuInstanceId(self, handle: Any) -> int:
        dev = self._device("nvmlDeviceGetGpuInstanceId", handle, mig_ok=True)
        if not dev.get("_mig"):
            raise _error("INVALID_ARGUMENT")
        return int(dev["gpu_instance_id"])

    def nvmlDeviceGetComputeInstanceId(self, handle: Any) -> int:
        dev = self._device("nvmlDeviceGetComputeInstanceId", handle, mig_ok=True)
        if not dev.get("_mig"):
            raise _error("INVALID_ARGUMENT")
        return int(dev.get("compute_instance_id", 0))

    def nvmlDeviceGetEccMode(self, handle: Any) -> list[int]:
        gpu = self._device("nvmlDeviceGetEccMode", handle)
        current, pending = gpu["ecc_mode"]
        return [int(current), int(pending)]

    def nvmlDeviceGetTotalEccErrors(self, handle: Any, errorType: int, counterType: int) -> int:
        gpu = self._device("nvmlDeviceGetTotalEccErrors", handle)
        if not gpu["ecc_mode"][0]:
            raise _error("NOT_SUPPORTED")  # ECC off: no counters
        if errorType != _real.NVML_MEMORY_ERROR_TYPE_UNCORRECTED:
            return int(gpu.get("ecc_corrected_volatile", 0))
        if counterType == _real.NVML_VOLATILE_ECC:
            return int(gpu.get("ecc_uncorrected_volatile", 0))
        return int(gpu.get("ecc_uncorrected_aggregate", gpu.get("ecc_uncorrected_volatile", 0)))

    def nvmlDeviceGetEnforcedPowerLimit(self, handle: Any) -> int:
        return int(self._device("nvmlDeviceGetEnforcedPowerLimit", handle)["power_limit_mw"])

    def nvmlDeviceGetPersistenceMode(self, handle: Any) -> int:
        return int(self._device("nvmlDeviceGetPersistenceMode", handle)["persistence_mode"])

    def nvmlDeviceGetComputeRunningProcesses(self, handle: Any) -> list[Any]:
        gpu = self._device("nvmlDeviceGetComputeRunningProcesses", handle)
        out = []
        for proc in gpu.get("processes") or []:
            info = _real.c_nvmlProcessInfo_v3_t()
            info.pid = int(proc["pid"])
            used = proc.get("used_bytes")
            info.usedGpuMemory = _NOT_AVAILABLE if used is None else int(used)
            info.gpuInstanceId = int(proc.get("gpu_instance_id", 0xFFFFFFFF))
            info.computeInstanceId = int(proc.get("compute_instance_id", 0xFFFFFFFF))
            obj = _real.nvmlStructToFriendlyObject(info)
            if obj.usedGpuMemory == _NOT_AVAILABLE:
                obj.usedGpuMemory = None  # as pynvml does
            out.append(obj)
        return out

    # --- topology ------------------------------------------------------------------------

    def nvmlDeviceGetTopologyCommonAncestor(self, device1: Any, device2: Any) -> int:
        self._device("nvmlDeviceGetTopologyCommonAncestor", device1)
        a, b = self._decode(device1)[0], self._decode(device2)[0]
        label = self.machine["pcie_topology"][a][b]
        if label == "X":
            raise _error("INVALID_ARGUMENT")
        return int(_PCIE_CODES[label])

    def nvmlDeviceGetNvLinkState(self, device: Any, link: int) -> int:
        _, nvlink = self._nvlink("nvmlDeviceGetNvLinkState", device, link)
        active = self._link_target(nvlink, link) is not None
        return int(_real.NVML_FEATURE_ENABLED if active else _real.NVML_FEATURE_DISABLED)

    def nvmlDeviceGetNvLinkRemoteDeviceType(self, handle: Any, link: int) -> int:
        _, nvlink = self._nvlink("nvmlDeviceGetNvLinkRemoteDeviceType", handle, link)
        target = self._link_target(nvlink, link)
        if target is None:
            raise _error("NOT_SUPPORTED")
        if target[0] == "switch":
            return int(_real.NVML_NVLINK_DEVICE_TYPE_SWITCH)
        return int(_real.NVML_NVLINK_DEVICE_TYPE_GPU)

    def nvmlDeviceGetNvLinkRemotePciInfo(self, device: Any, link: int) -> Any:
        _, nvlink = self._nvlink("nvmlDeviceGetNvLinkRemotePciInfo", device, link)
        target = self._link_target(nvlink, link)
        if target is None:
            raise _error("NOT_SUPPORTED")
        if target[0] == "switch":
            switch = link % 4  # four NVSwitch chips on an HGX H100 board
            return self._pci(f"00000000:{0xC5 + switch:02X}:00.0")
        peer = target[1]
        assert peer is not None
        return self._pci(self._gpus[peer]["pci_bus_id"])

    def nvmlDeviceGetP2PStatus(self, device1: Any, device2: Any, p2pIndex: int) -> int:
        self._device("nvmlDeviceGetP2PStatus", device1)
        a, b = self._decode(device1)[0], self._decode(device2)[0]
        if p2pIndex != _real.NVML_P2P_CAPS_INDEX_NVLINK:
            return int(_real.NVML_P2P_STATUS_OK)
        la = self._gpus[a].get("nvlink") or {}
        lb = self._gpus[b].get("nvlink") or {}
        direct = str(b) in {str(p) for p in (la.get("peers") or {})}
        switched = la.get("switch", 0) > 0 and lb.get("switch", 0) > 0
        if switched and not self.machine.get("fabric_manager", True):
            return int(_real.NVML_P2P_STATUS_NOT_SUPPORTED)  # NVSwitch without fabric manager
        ok = direct or switched
        return int(_real.NVML_P2P_STATUS_OK if ok else _real.NVML_P2P_STATUS_NOT_SUPPORTED)
