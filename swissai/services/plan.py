"""The `plan` use case: a model and GPUs in, a ServePlan out (feasible or not, with reasons).

Order (ARCHITECTURE.md): every option is validated before the machine is probed, so a bad
input is exit 2 even where NVML is broken; then the hardware is resolved (--gpus, --inventory,
the local GPUs, or the embedded default, said as a note) and the planner runs. An infeasible
plan is returned, not raised: the caller decides (the CLI prints it and exits 4; `render`,
`serve` and `deploy` refuse it).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from swissai.core.planner import DEFAULT_MIN_REPLICAS
from swissai.models.plan import ServePlan
from swissai.services.events import EventSink, ignore, say


@dataclass(frozen=True)
class PlanOptions:
    """What `swissai plan` is asked; None = what vLLM of the target version would do
    (the option contract of ARCHITECTURE.md, one field per flag)."""

    model: str = "gpt-oss-120b"
    gpus: str | None = None
    inventory: Path | None = None
    tp: int | None = None
    pp: int | None = None
    dp: int | None = None
    expert_parallel: bool | None = None
    max_model_len: int | None = None
    gpu_memory_utilization: float | None = None
    max_num_batched_tokens: int | None = None
    max_num_seqs: int | None = None
    kv_cache_dtype: str = "auto"
    block_size: int | None = None
    moe_backend: str = "auto"
    vllm_version: str | None = None
    concurrency: int | None = None
    replicas: int | None = None
    min_replicas: int = DEFAULT_MIN_REPLICAS
    gpu_profile: Path | None = None
    quantization: str | None = None
    enforce_eager: bool = False
    cpu_offload_gb: float = 0.0
    swap_space_gb: float | None = None
    enable_prefix_caching: bool | None = None
    speculative_config: str | None = None
    extra_vllm_args: tuple[str, ...] = ()
    check_extra_args_with_vllm: bool = True
    # LoRA adapters: `--lora NAME=DIR` (repeatable) and vLLM's slot flags (core/lora.py)
    lora: tuple[str, ...] = ()
    max_loras: int | None = None
    max_lora_rank: int | None = None
    max_cpu_loras: int | None = None


def make_plan(options: PlanOptions, *, on_event: EventSink = ignore, nvml: Any = None) -> ServePlan:
    """Validate, resolve the hardware, plan. `nvml` replaces the real pynvml (tests)."""
    from swissai.adapters.hardware import resolve_hardware
    from swissai.adapters.profiles import load_model
    from swissai.core.planner import PlanRequest, validate_request
    from swissai.core.planner import make_plan as plan_for
    from swissai.core.vllm_versions import DEFAULT_VLLM_VERSION, behaviour_for

    version = options.vllm_version or DEFAULT_VLLM_VERSION
    behaviour_for(version)  # an unknown version is exit 2 before anything else
    request = PlanRequest(
        model=load_model(options.model),
        hardware=None,
        vllm_version=version,
        tp=options.tp,
        pp=options.pp,
        dp=options.dp,
        expert_parallel=options.expert_parallel,
        max_model_len=options.max_model_len,
        gpu_memory_utilization=options.gpu_memory_utilization,
        max_num_batched_tokens=options.max_num_batched_tokens,
        max_num_seqs=options.max_num_seqs,
        kv_cache_dtype=options.kv_cache_dtype,
        block_size=options.block_size,
        moe_backend=options.moe_backend,
        concurrency=options.concurrency,
        replicas=options.replicas,
        min_replicas=options.min_replicas,
        quantization=options.quantization,
        enforce_eager=options.enforce_eager,
        cpu_offload_gb=options.cpu_offload_gb,
        swap_space_gb=options.swap_space_gb,
        enable_prefix_caching=options.enable_prefix_caching,
        speculative_config=options.speculative_config,
        extra_vllm_args=tuple(options.extra_vllm_args),
        lora=_lora_options(options),
    )
    validate_request(request)
    if options.extra_vllm_args and options.check_extra_args_with_vllm:
        _check_with_vllm_parser(request, on_event)
    hardware, hardware_note = resolve_hardware(
        options.gpus, options.inventory, nvml=nvml, gpu_profile=options.gpu_profile
    )
    if hardware_note:
        say(on_event, hardware_note)
    return plan_for(replace(request, hardware=hardware))


def _check_with_vllm_parser(request: Any, on_event: EventSink) -> None:
    """--extra-vllm-arg through vLLM's real parser where a vLLM is installed (this interpreter,
    $SWISSAI_VLLM_PYTHON, or the `vllm` on PATH); otherwise the flag table only, said."""
    from swissai.adapters.vllm_parser import parse_with_vllm
    from swissai.core.planner import _memory_args
    from swissai.errors import InputError

    result = parse_with_vllm(_memory_args(request))
    if result.python is None:
        say(
            on_event,
            "--extra-vllm-arg checked against the flag table of vLLM "
            f"{result.table_version} only: no vLLM installation found to parse it",
        )
        return
    if result.error:
        raise InputError(
            f"--extra-vllm-arg: vLLM's parser ({result.python}) refuses it: {result.error}",
            hint="check the flag and its value against `vllm serve --help`",
        )
    say(on_event, f"--extra-vllm-arg accepted by vLLM's parser ({result.python})")


def _lora_options(options: PlanOptions) -> Any:
    """`--lora NAME=DIR` etc. -> core LoraOptions (each directory read for its rank); None when
    no LoRA flag was given. Exit 2 for a missing directory or a hub id (nothing is downloaded)."""
    if not options.lora and options.max_loras is None:
        if options.max_lora_rank is not None or options.max_cpu_loras is not None:
            from swissai.errors import InputError

            raise InputError(
                "--max-lora-rank/--max-cpu-loras need --lora NAME=DIR or --max-loras",
                hint="give the adapters to serve with --lora NAME=DIR",
            )
        return None
    from swissai.adapters.lora_files import read_adapter
    from swissai.core.lora import LoraOptions, parse_lora_spec, resolve

    adapters = tuple(read_adapter(parse_lora_spec(spec)) for spec in options.lora)
    lora = LoraOptions(
        adapters=adapters,
        max_loras=options.max_loras,
        max_lora_rank=options.max_lora_rank,
        max_cpu_loras=options.max_cpu_loras,
    )
    resolve(lora)  # bad values are exit 2 before the machine is probed
    return lora


def gpu_ids() -> list[str]:
    from swissai.adapters.profiles import list_gpu_ids

    return list_gpu_ids()


def model_ids() -> list[str]:
    from swissai.adapters.profiles import list_model_ids

    return list_model_ids()
