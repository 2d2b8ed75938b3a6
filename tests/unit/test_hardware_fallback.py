"""`swissai plan` falls back to the embedded default only where this host has no NVIDIA stack.

NVML cannot run here: the faithful fake (tests/fakes/fake_pynvml.py, real pynvml error classes)
stands in for it behind the adapter's one interface."""

from __future__ import annotations

from pathlib import Path

import pytest

from swissai.adapters.hardware import EMBEDDED_DEFAULT_GPUS, resolve_hardware
from swissai.adapters.nvml import NvmlUnavailable
from swissai.errors import EXIT_ENVIRONMENT, EXIT_USAGE, InputError
from tests.fakes.fake_pynvml import FakePynvml


@pytest.mark.parametrize("fake", [FakePynvml.library_missing(), FakePynvml.driver_not_loaded()])
def test_no_nvidia_stack_falls_back_to_the_embedded_default(fake: FakePynvml) -> None:
    hardware, note = resolve_hardware(None, None, nvml=fake)
    assert hardware.source == "default" and hardware.spec == EMBEDDED_DEFAULT_GPUS
    assert note is not None and "embedded default" in note


@pytest.mark.parametrize("error", ["NO_PERMISSION", "UNKNOWN"])
def test_a_failing_nvml_on_a_gpu_host_is_an_environment_error(error: str) -> None:
    with pytest.raises(NvmlUnavailable) as info:
        resolve_hardware(None, None, nvml=FakePynvml(None, init_error=error))
    assert info.value.exit_code == EXIT_ENVIRONMENT
    assert not info.value.absent


def test_gpus_and_inventory_together_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError) as info:
        resolve_hardware("8xh100-80gb", tmp_path / "missing.yaml")
    assert info.value.exit_code == EXIT_USAGE
