"""The planner: model + GPUs + workload -> ServePlan, or an honest "does not fit".

Search: every layout vLLM can run (parallelism.py) is sized as vLLM of the target version
would size it (sizing.py). A layout must fit in memory; among those that do, single-node
replicas beat multi-node ones, tensor parallelism inside an NVLink domain beats TP over PCIe,
then the layout serving the most concurrent max_model_len requests wins (capped at
--concurrency when given), then the one with the higher estimated throughput. Availability
comes first: a layout with at least `min_replicas` (default 2) replicas that meets the target
beats one with fewer, even if it serves less (an update or a node drain of a single replica is an
outage); the concurrency given up is said in `reasons` (core/availability.py, docs/sizing.md).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from swissai.core.availability import availability_for
from swissai.core.estimates import Estimates, estimate
from swissai.core.gpu_inventory import driver_finding
from swissai.core.kernels import (
    attention_backend,
    check_weights_supported,
    moe_kernel_env,
    select_moe_kernel,
)
from swissai.core.lora import LoraOptions, lora_args, lora_gib_for, plan_lora
from swissai.core.parallelism import Placement, candidate_layouts, layout_problem, place
from swissai.core.sizing import Layout, Limits, Sizing, size_memory
from swissai.core.vllm_args import OFFLINE_ENV, serve_args, tool_call_parser_for
from swissai.core.vllm_versions import (
    DEFAULT_VLLM_VERSION,
    Version,
    VllmBehaviour,
    behaviour_for,
    format_version,
)
from swissai.errors import InputError
from swissai.models.gpu import GpuSpec, Hardware
from swissai.models.model import ModelSpec
from swissai.models.plan import (
    LayoutOption,
    PlanAvailability,
    PlanEstimates,
    PlanGpu,
    PlanHardware,
    PlanKvCache,
    PlanLayout,
    PlanLimits,
    PlanMemory,
    PlanModel,
    PlanVllm,
    ServePlan,
)

DEFAULT_GPU_MEMORY_UTILIZATION = 0.9  # vLLM CacheConfig default
DEFAULT_BLOCK_SIZE = 16  # CacheConfig.DEFAULT_BLOCK_SIZE on CUDA
MLA_BLOCK_SIZE = 64  # FlashMLA / FlashInfer-MLA force 64
VALID_BLOCK_SIZES = (1, 8, 16, 32, 64, 128, 256)
FREE_MEMORY_MARGIN = 0.01  # utilization left unused when other processes hold memory
SUGGESTION_UTILIZATIONS = (0.92, 0.95)  # the recipe's ceiling for Hopper TP1/TP2 is 0.95
GPT_OSS_MIN_VLLM = (0, 10, 1, 0)  # vLLM's gpt-oss support (Aug 2025 release, vLLM blog)
LOW_HEADROOM_GIB = 1.0  # warn below this much memory left outside the budget
DEFAULT_MIN_REPLICAS = 2  # a single replica makes every update and node drain an outage


@dataclass(frozen=True)
class PlanRequest:
    """Everything `swissai plan` was asked; None = what vLLM of that version would do."""

    model: ModelSpec
    hardware: Hardware | None  # None only to validate the options before hardware is known
    vllm_version: str = DEFAULT_VLLM_VERSION
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
    concurrency: int | None = None
    # `--replicas N`: exactly N replicas (fewer than fit leaves GPUs idle for a surge);
    # `--min-replicas N`: prefer layouts with at least N replicas (1 accepts a single replica).
    replicas: int | None = None
    min_replicas: int = DEFAULT_MIN_REPLICAS
    # issue 15: settings that change memory, sized; the rest passes through checked
    quantization: str | None = None  # online quantization of a bf16 checkpoint: fp8 | bitsandbytes
    enforce_eager: bool = False
    cpu_offload_gb: float = 0.0
    swap_space_gb: float | None = None
    enable_prefix_caching: bool | None = None  # None: vLLM's default (on)
    speculative_config: str | None = None  # the JSON of --speculative-config
    extra_vllm_args: tuple[str, ...] = ()
    lora: LoraOptions | None = None  # `--lora NAME=DIR` ...: core/lora.py sizes the slots

    @property
    def layout_forced(self) -> bool:
        return self.tp is not None or self.pp is not None or self.dp is not None


@dataclass(frozen=True)
class Evaluation:
    layout: Layout
    placement: Placement | None
    sizing: Sizing | None
    feasible: bool
    served_concurrency: float
    reason: str
    throughput: float = 0.0


def batch_defaults(gpu: GpuSpec, behaviour: VllmBehaviour) -> tuple[int, int]:
    """(max_num_batched_tokens, max_num_seqs) that `vllm serve` picks
    (arg_utils.py `_set_default_args` / `get_batch_defaults`, research note §8)."""
    memory = gpu.memory_total_gib
    if behaviour.has_160gib_batch_tier and memory >= 160:
        return 16384, 1024
    if memory >= 70 and "a100" not in gpu.name.lower():
        return 8192, 1024
    return 2048, 256


def validate_request(req: PlanRequest) -> None:
    """Reject impossible options (exit 2) before anything touches the machine. Every number is
    bounded: NaN and infinities are not fractions, and absurd counts (10**30 sequences) must
    be refused here, not discovered as a hang or an overflow in the sizing."""
    import math

    from swissai.models.plan import (
        MAX_CONCURRENCY,
        MAX_NUM_BATCHED_TOKENS,
        MAX_NUM_SEQS,
        MAX_PARALLEL_SIZE,
    )

    def _count(value: int) -> str:
        # str() of an int over 4300 digits raises (sys.get_int_max_str_digits); a message
        # line must not be the 5000-digit number either.
        return str(value) if abs(value) < 10**18 else f"a {value.bit_length()}-bit integer"

    model = req.model
    util = req.gpu_memory_utilization
    if util is not None and not (math.isfinite(util) and 0 < util <= 1):
        raise InputError(
            f"--gpu-memory-utilization {util} must be in (0, 1]",
            hint="vLLM takes a fraction of total GPU memory, e.g. 0.9",
        )
    if req.max_model_len is not None:
        if req.max_model_len < 1:
            raise InputError(
                "--max-model-len must be at least 1",
                hint="leave it out for the model's full context",
            )
        if req.max_model_len > model.max_position_embeddings:
            raise InputError(
                f"--max-model-len {_count(req.max_model_len)} exceeds {model.id}'s "
                f"max_position_embeddings {model.max_position_embeddings}",
                hint=f"vLLM refuses this; use at most {model.max_position_embeddings}",
            )
    if req.block_size is not None and req.block_size not in VALID_BLOCK_SIZES:
        raise InputError(
            f"--block-size {_count(req.block_size)} is not one vLLM accepts",
            hint="choose one of " + ", ".join(map(str, VALID_BLOCK_SIZES)),
        )
    for flag, value, most in (
        ("--max-num-seqs", req.max_num_seqs, MAX_NUM_SEQS),
        ("--max-num-batched-tokens", req.max_num_batched_tokens, MAX_NUM_BATCHED_TOKENS),
        ("--concurrency", req.concurrency, MAX_CONCURRENCY),
        ("--tp", req.tp, MAX_PARALLEL_SIZE),
        ("--pp", req.pp, MAX_PARALLEL_SIZE),
        ("--dp", req.dp, MAX_PARALLEL_SIZE),
    ):
        if value is not None and value < 1:
            raise InputError(
                f"{flag} must be at least 1, got {_count(value)}",
                hint=f"leave {flag} out to let swissai choose",
            )
        if value is not None and value > most:
            raise InputError(
                f"{flag} {_count(value)} is more than {most:,}, the most swissai plans for",
                hint=f"leave {flag} out to let swissai choose",
            )
    if (
        req.max_num_batched_tokens is not None
        and req.max_num_seqs is not None
        and req.max_num_batched_tokens < req.max_num_seqs
    ):
        raise InputError(
            f"--max-num-batched-tokens {req.max_num_batched_tokens} is below --max-num-seqs "
            f"{req.max_num_seqs}",
            hint="vLLM requires max_num_batched_tokens >= max_num_seqs",
        )
    if req.kv_cache_dtype not in ("auto", "fp8"):
        raise InputError(
            f"--kv-cache-dtype {req.kv_cache_dtype}: use auto or fp8",
            hint="auto keeps the model's dtype; fp8 halves the KV cache",
        )
    if req.moe_backend not in ("auto", "triton", "marlin", "flashinfer"):
        raise InputError(
            f"--moe-backend {req.moe_backend}: use auto, triton, marlin or flashinfer",
            hint="auto picks the kernel vLLM picks for the GPU and version",
        )
    validate_memory_options(req)


ONLINE_QUANTIZATION = ("fp8", "bitsandbytes")
# Speculative methods and the draft layers they load: n-gram and suffix lookups need no GPU
# memory; MTP reuses the checkpoint's own next-token layers (deepseek_mtp.py et al.).
SPEC_NO_MEMORY = ("ngram", "suffix")
SPEC_MTP = ("mtp", "deepseek_mtp", "qwen3_next_mtp", "glm4_moe_mtp", "ernie_mtp", "mimo_mtp")
MAX_CPU_OFFLOAD_GB = 4096.0
MAX_SWAP_SPACE_GB = 4096.0
MAX_SPECULATIVE_CONFIG_CHARS = 4096  # vLLM's own examples are under 200; refuses nesting bombs


def validate_memory_options(req: PlanRequest) -> list[str]:
    """Issue 15's memory options (exit 2 on nonsense); returns warnings for the plan."""
    import math

    from swissai.core.vllm_args import check_extra_args, split_extra_args

    warnings: list[str] = []
    if req.quantization is not None:
        if req.quantization not in ONLINE_QUANTIZATION:
            raise InputError(
                f"--quantization {req.quantization[:40]}: the planner sizes online fp8 or "
                "bitsandbytes",
                hint="AWQ, GPTQ, compressed-tensors and fp8 checkpoints are read from their "
                "config.json; leave --quantization out for them",
            )
        if req.model.quantization.method != "none":
            raise InputError(
                f"--quantization {req.quantization}: {req.model.id} is already quantized "
                f"({req.model.quantization.label})",
                hint="vLLM refuses a --quantization that differs from the checkpoint's; leave "
                "it out",
            )
    for flag, value, most in (
        ("--cpu-offload-gb", req.cpu_offload_gb, MAX_CPU_OFFLOAD_GB),
        ("--swap-space", req.swap_space_gb, MAX_SWAP_SPACE_GB),
    ):
        if value is not None and not (math.isfinite(value) and 0 <= value <= most):
            raise InputError(
                f"{flag} {value} must be from 0 to {most:g} (GiB)",
                hint=f"leave {flag} out for vLLM's default",
            )
    if req.swap_space_gb is not None:
        from swissai.core.vllm_flag_table import TAKES_VALUE, VLLM_VERSION

        if "--swap-space" not in TAKES_VALUE:
            raise InputError(
                f"--swap-space: vLLM {VLLM_VERSION}'s `vllm serve` has no such flag (the V1 "
                "engine preempts by recomputation and keeps no CPU swap space)",
                hint="leave --swap-space out; it never changed GPU memory",
            )
    _speculative_draft_layers(req)
    if req.extra_vllm_args:
        warnings += check_extra_args(split_extra_args(list(req.extra_vllm_args)))
    return warnings


def _speculative_draft_layers(req: PlanRequest) -> int:
    """Draft layers --speculative-config loads on the GPU (exit 2 for what is not sized)."""
    import json

    if req.speculative_config is None:
        return 0
    if len(req.speculative_config) > MAX_SPECULATIVE_CONFIG_CHARS:
        raise InputError(
            f"--speculative-config is longer than {MAX_SPECULATIVE_CONFIG_CHARS} characters",
            hint='e.g. {"method": "ngram", "num_speculative_tokens": 3}',
        )
    try:
        spec = json.loads(req.speculative_config)
    except (ValueError, RecursionError) as exc:
        raise InputError(
            f"--speculative-config is not JSON ({str(exc)[:60]})",
            hint='e.g. --speculative-config \'{"method": "ngram", "num_speculative_tokens": 3}\'',
        ) from exc
    if not isinstance(spec, dict):
        raise InputError("--speculative-config must be a JSON object", hint="see vLLM's docs")
    method = str(spec.get("method", ""))[:40]
    tokens = spec.get("num_speculative_tokens")
    if not isinstance(tokens, int) or isinstance(tokens, bool) or not 1 <= tokens <= 64:
        raise InputError(
            "--speculative-config: num_speculative_tokens must be an integer from 1 to 64",
            hint="vLLM requires it; 1 to 5 is usual",
        )
    if method in SPEC_NO_MEMORY:
        return 0
    if method in SPEC_MTP:
        if req.model.mtp_layers < 1:
            raise InputError(
                f"--speculative-config method {method}: {req.model.id} has no MTP layers",
                hint="use method ngram, or a checkpoint with num_nextn_predict_layers",
            )
        return req.model.mtp_layers
    raise InputError(
        f"--speculative-config method {method or '(none)'} is not sized by the planner",
        hint="the planner sizes ngram, suffix and the checkpoint's own MTP layers (mtp); a "
        "separate draft model needs its own memory",
    )


def _with_online_quantization(model: ModelSpec, method: str | None) -> ModelSpec:
    """The model as vLLM holds it after `--quantization fp8|bitsandbytes` of a bf16 checkpoint:
    fp8 per-tensor weights (fp8.py Fp8LinearMethod, dynamic activation scales) or bitsandbytes
    4-bit (bitsandbytes_loader.py in-flight quantization; blocksize 64, fp32 absmax)."""
    if method is None:
        return model
    from swissai.models.model import Quantization

    if method == "fp8":
        quant = Quantization(method="fp8_tensor", format="fp8", online=True)
    else:
        quant = Quantization(
            method="bnb_4bit", format="bitsandbytes", double_quant=False, online=True
        )
    return model.model_copy(update={"quantization": quant})


def _validate_replicas(req: PlanRequest) -> None:
    """`--replicas` and `--min-replicas` (exit 2 before the machine is touched)."""
    for flag, value in (("--replicas", req.replicas), ("--min-replicas", req.min_replicas)):
        if value is not None and value < 1:
            raise InputError(
                f"{flag} must be at least 1, got {value}",
                hint="--min-replicas 1 accepts a single replica; leave --replicas out to let "
                "swissai choose",
            )


def _limits(req: PlanRequest, gpu: GpuSpec, behaviour: VllmBehaviour, util: float) -> Limits:
    mnbt_default, seqs_default = batch_defaults(gpu, behaviour)
    mnbt = req.max_num_batched_tokens or mnbt_default
    seqs = req.max_num_seqs or seqs_default
    if req.max_num_batched_tokens is not None and mnbt < seqs:
        if req.max_num_seqs is not None:
            raise InputError(
                f"--max-num-batched-tokens {mnbt} is below --max-num-seqs {seqs}",
                hint="vLLM requires max_num_batched_tokens >= max_num_seqs",
            )
        seqs = mnbt
    block = req.block_size or (
        MLA_BLOCK_SIZE if req.model.attention == "mla" else DEFAULT_BLOCK_SIZE
    )
    return Limits(
        max_model_len=req.max_model_len or req.model.max_position_embeddings,
        max_num_seqs=seqs,
        max_num_batched_tokens=mnbt,
        gpu_memory_utilization=util,
        block_size=block,
        kv_cache_dtype=req.kv_cache_dtype,
        enforce_eager=req.enforce_eager,
        cpu_offload_gib=req.cpu_offload_gb,
        spec_draft_layers=_speculative_draft_layers(req),
    )


def _evaluate(
    req: PlanRequest,
    gpu: GpuSpec,
    count: int,
    nodes: int,
    nvlink: int,
    behaviour: VllmBehaviour,
    limits: Limits,
    kernel: str | None,
    layout: Layout,
) -> Evaluation:
    problem = layout_problem(req.model, layout)
    if problem:
        return Evaluation(layout, None, None, False, 0.0, problem)
    placement, why = place(layout, total_gpus=count, nodes=nodes, nvlink_domain=nvlink)
    if placement is None:
        return Evaluation(layout, None, None, False, 0.0, why or "cannot be placed")
    if req.replicas is not None:
        if placement.replicas < req.replicas:
            return Evaluation(
                layout,
                None,
                None,
                False,
                0.0,
                f"--replicas {req.replicas} needs {req.replicas} x {layout.gpus} GPUs "
                f"({placement.nodes_per_replica} node(s) each); only {placement.replicas} "
                "replica(s) fit",
            )
        placement = replace(placement, replicas=req.replicas)
    sizing = size_memory(
        req.model,
        gpu,
        layout,
        limits,
        behaviour,
        kernel or "fused_moe",
        lora_gib_for(req, layout),
        p2p=(placement.tp_within_node and placement.tp_within_nvlink) or layout.tp == 1,
    )
    served = sizing.max_concurrency * layout.dp * placement.replicas
    if sizing.kv_cache_gib <= 0:
        reason = (
            f"no room for the KV cache ({sizing.kv_cache_gib:.2f} GiB after weights "
            f"{sizing.weights_gib:.2f}, "
            + (f"LoRA slots {sizing.lora_gib:.2f}, " if sizing.lora_gib else "")
            + f"activations {sizing.activation_peak_gib:.2f}, "
            f"non-torch {sizing.non_torch_gib:.2f}"
            + (f", CUDA graphs {sizing.cuda_graphs_gib:.2f}" if sizing.cuda_graphs_deducted else "")
            + " GiB)"
        )
    elif sizing.max_concurrency < 1:
        reason = (
            f"KV cache {sizing.kv_cache_gib:.2f} GiB holds {sizing.max_concurrency:.2f} of one "
            f"{limits.max_model_len}-token request"
        )
    elif sizing.headroom_gib < 0:
        reason = (
            f"CUDA graphs ({sizing.cuda_graphs_gib:.2f} GiB) and the CUDA context do not fit in "
            f"the {sizing.total_gib - sizing.budget_gib:.2f} GiB left outside the budget "
            "(out of memory at graph capture)"
        )
    else:
        reason = (
            f"{'marginal' if sizing.verdict == 'marginal' else 'fits'}: KV "
            f"{sizing.kv_cache_gib:.2f} GiB/GPU, {sizing.max_concurrency:.2f} requests "
            f"of {limits.max_model_len} tokens per replica, x{placement.replicas * layout.dp}, "
            f"margin {sizing.margin_gib:.2f} GiB"
        )
    feasible = sizing.feasible_memory
    throughput = 0.0
    if feasible:
        est = estimate(req.model, gpu, layout, sizing, limits.max_num_seqs)
        throughput = est.decode_tokens_per_s_per_replica * placement.replicas
    return Evaluation(
        layout, placement, sizing, feasible, served if feasible else 0.0, reason, throughput
    )


def _available(ev: Evaluation, target: int | None, min_replicas: int) -> bool:
    """Meets the availability policy: enough replicas and, with a target, serves it."""
    return (
        ev.feasible
        and ev.placement is not None
        and ev.placement.replicas >= min_replicas
        and (target is None or ev.served_concurrency >= target)
    )


def _score(ev: Evaluation, target: int | None, min_replicas: int = 1) -> tuple[float, ...]:
    p = ev.placement
    if not ev.feasible:
        # Nothing fits: the layout closest to fitting is the one to show and to start from.
        return (0.0, ev.sizing.kv_cache_gib if ev.sizing else float("-inf"))
    served = ev.served_concurrency if target is None else min(ev.served_concurrency, target)
    return (
        1.0,
        1.0 if _available(ev, target, min_replicas) else 0.0,
        1.0 if p is not None and p.nodes_per_replica == 1 else 0.0,
        1.0 if p is not None and p.tp_within_nvlink else 0.0,
        round(served, 6),
        ev.throughput,
    )


def _describe(layout: Layout) -> str:
    text = f"TP{layout.tp}"
    if layout.pp > 1:
        text += f" x PP{layout.pp}"
    if layout.dp > 1:
        text += f" x DP{layout.dp}"
    if layout.expert_parallel:
        text += " +EP"
    return text


def make_plan(req: PlanRequest) -> ServePlan:
    """Plan `req`; raises InputError for impossible requests, returns feasible=False otherwise."""
    validate_request(req)
    _validate_replicas(req)
    option_warnings = validate_memory_options(req)
    req = replace(req, model=_with_online_quantization(req.model, req.quantization))
    version, behaviour = behaviour_for(req.vllm_version)
    if req.model.model_type == "gpt_oss" and version < GPT_OSS_MIN_VLLM:
        raise InputError(
            f"vLLM {format_version(version)} cannot serve gpt-oss",
            hint="gpt-oss support arrived in vLLM 0.10.1; plan for 0.10.1 or newer",
        )
    hardware = req.hardware
    if hardware is None:
        raise InputError("no hardware to plan for", hint="give --gpus or --inventory")
    group = max(hardware.groups, key=lambda g: (g.count * g.gpu.memory_total_gib, g.count))
    gpu, count = group.gpu, group.count
    nodes = hardware.nodes if count % hardware.nodes == 0 else 1
    nvlink = hardware.nvlink_domain_size or gpu.nvlink_domain_size
    kernel = select_moe_kernel(req.model, gpu, req.moe_backend)
    check_weights_supported(req.model, gpu)
    warnings: list[str] = list(hardware.warnings)  # probe/inventory findings
    warnings += option_warnings
    if req.model.nested_config_ignored:
        warnings.append(
            f"{req.model.id}: {', '.join(req.model.nested_config_ignored)} not sized (the "
            "language model of text_config is); the encoder adds weights and a profiling peak, "
            "so keep a margin or serve text-only"
        )
    if gpu.vendor == "nvidia" and gpu.sm < 80:
        warnings.append(
            f"{gpu.id} has no bf16: vLLM serves the model in float16 (same memory; a model "
            "trained in bf16 may overflow in fp16)"
        )
    driver = driver_finding(hardware.driver_version, hardware.cuda_driver_version, version)
    if driver:
        warnings.append(driver)
    reasons: list[str] = []
    if len(hardware.groups) > 1:
        others = ", ".join(f"{g.count}x{g.gpu.id}" for g in hardware.groups if g is not group)
        reasons.append(
            f"mixed GPUs: planning on {count}x{gpu.id}; vLLM needs identical GPUs in one "
            f"replica, {others} left unused"
        )

    # Utilization: vLLM refuses to start when free memory < total x utilization, so memory
    # held by other processes caps it.
    free_fraction = (gpu.memory_total_gib - hardware.memory_used_gib_max) / gpu.memory_total_gib
    util = req.gpu_memory_utilization or DEFAULT_GPU_MEMORY_UTILIZATION
    if hardware.memory_used_gib_max > 0 and util > free_fraction:
        if req.gpu_memory_utilization is None:
            util = max(0.05, round(free_fraction - FREE_MEMORY_MARGIN, 2))
            reasons.append(
                f"other processes hold {hardware.memory_used_gib_max:.1f} GiB on a GPU: "
                f"gpu_memory_utilization lowered to {util} (vLLM needs free >= total x utilization)"
            )
        else:
            warnings.append(
                f"other processes hold {hardware.memory_used_gib_max:.1f} GiB on a GPU; vLLM "
                f"will refuse to start with utilization {util} (free {free_fraction:.2f} of total)"
            )
    limits = _limits(req, gpu, behaviour, util)
    if req.max_model_len is None:
        reasons.append(
            f"max_model_len {limits.max_model_len}: the model's max_position_embeddings "
            "(vLLM's default)"
        )

    layouts = candidate_layouts(
        req.model,
        total_gpus=count,
        nodes=nodes,
        tp=req.tp,
        pp=req.pp,
        dp=req.dp,
        expert_parallel=req.expert_parallel,
    )
    evaluations = [
        _evaluate(req, gpu, count, nodes, nvlink, behaviour, limits, kernel, lay) for lay in layouts
    ]
    if req.replicas is not None and all(ev.placement is None for ev in evaluations):
        smallest = min(evaluations, key=lambda ev: ev.layout.gpus)
        raise InputError(
            f"--replicas {req.replicas}: no layout of {req.model.id} has {req.replicas} "
            f"replicas on {count}x{gpu.id} ({_describe(smallest.layout)}: {smallest.reason})",
            hint="give fewer --replicas or more GPUs (--gpus)",
        )
    if req.layout_forced and len(evaluations) == 1 and evaluations[0].placement is None:
        ev = evaluations[0]
        raise InputError(
            f"layout {_describe(ev.layout)} cannot exist here: {ev.reason}",
            hint="choose TP that divides the heads and TP x PP x DP <= the GPUs given",
        )
    placed = [ev for ev in evaluations if ev.placement is not None]
    if not placed:
        raise InputError(
            f"no layout of {req.model.id} can be placed on {count}x{gpu.id}",
            hint="; ".join(sorted({ev.reason for ev in evaluations}))[:300],
        )
    best = max(placed, key=lambda ev: _score(ev, req.concurrency, req.min_replicas))
    assert best.sizing is not None and best.placement is not None
    sizing, placement, layout = best.sizing, best.placement, best.layout
    if free_fraction < util and hardware.memory_used_gib_max > 0:
        best = replace(best, feasible=False)

    # --- reasons --------------------------------------------------------------------------
    ctx = limits.max_model_len
    if best.feasible:
        reasons.append(
            f"{_describe(layout)} x {placement.replicas} replica(s): serves "
            f"{best.served_concurrency:.1f} concurrent {ctx}-token requests"
            + (f" (target {req.concurrency})" if req.concurrency else "")
        )
    availability_note = _availability_reason(req, best, evaluations)
    if availability_note:
        reasons.append(availability_note)
    ranked = sorted(
        evaluations, key=lambda e: _score(e, req.concurrency, req.min_replicas), reverse=True
    )
    for ev in ranked:
        if ev is best:
            continue
        label = _describe(ev.layout)
        if ev.feasible:
            why = f"serves {ev.served_concurrency:.1f} concurrent requests"
            p = ev.placement
            if p is not None and not p.tp_within_node:
                why += ", TP across nodes"
            elif p is not None and not p.tp_within_nvlink:
                why += ", TP over PCIe"
            elif p is not None and p.nodes_per_replica > 1:
                why += ", spans nodes"
            why += f", est. {ev.throughput:.0f} tok/s"
            reasons.append(f"rejected {label}: {why}")
        else:
            reasons.append(f"rejected {label}: {ev.reason}")
    verdict = sizing.verdict if best.feasible else "does_not_fit"
    if verdict == "marginal":
        side = (
            "memory left outside the budget after the CUDA context and CUDA graphs"
            if sizing.headroom_gib <= sizing.kv_margin_gib
            else f"KV cache beyond one {ctx}-token request"
        )
        warnings.append(
            f"marginal: {sizing.margin_gib:.2f} GiB of margin ({side}), less than the "
            f"{sizing.marginal_band_gib:.2f} GiB band in which identical launches start or fail; "
            "see the suggestions for the knob that buys safety"
        )
    if (
        best.feasible
        and verdict != "marginal"
        and not sizing.cuda_graphs_deducted
        and sizing.headroom_gib < LOW_HEADROOM_GIB
    ):
        warnings.append(
            f"only {sizing.headroom_gib:.2f} GiB stay free after the CUDA context and "
            f"{sizing.cuda_graphs_gib:.2f} GiB of CUDA graphs outside the budget: out-of-memory "
            "risk at graph capture; vLLM's gpt-oss recipe keeps utilization <= 0.95 on 80 GB cards"
        )
    if req.concurrency and best.feasible and best.served_concurrency < req.concurrency:
        warnings.append(
            f"no layout reaches the target of {req.concurrency} concurrent {ctx}-token "
            f"requests: the best serves {best.served_concurrency:.1f}; add GPUs, shorten "
            "--max-model-len or use --kv-cache-dtype fp8"
        )
    if not placement.tp_within_node:
        warnings.append(
            f"TP{layout.tp} spans nodes: every layer's all-reduce crosses the inter-node network "
            "(vLLM's multi-node guide puts TP inside a node and PP across nodes)"
        )
    elif not placement.tp_within_nvlink:
        warnings.append(
            f"TP{layout.tp} exceeds the NVLink domain of {nvlink} GPU(s): all-reduce runs over PCIe"
        )
    if placement.nodes_per_replica > 1 and placement.tp_within_node:
        reasons.append(
            f"one node is not enough: {placement.nodes_per_replica} nodes per replica, TP inside "
            "a node, PP across nodes (vLLM multi-node guide)"
        )

    availability = availability_for(
        replicas=placement.replicas,
        gpus_per_replica=layout.gpus,
        nodes_per_replica=placement.nodes_per_replica,
        total_gpus=count,
        nodes=nodes,
    )
    if availability.update_outage and best.feasible:
        gave_up = _fewer_replicas_why(req, best, evaluations)
        if gave_up:
            availability = availability.model_copy(
                update={"reason": f"{availability.reason}; {gave_up}"}
            )
    est = estimate(req.model, gpu, layout, sizing, limits.max_num_seqs)
    p2p = (placement.tp_within_node and placement.tp_within_nvlink) or layout.tp == 1
    if not best.feasible:
        suggestions = _suggestions(req, gpu, behaviour, limits, kernel, layout, nvlink)
    elif verdict == "marginal":
        suggestions = _safety_knobs(req, gpu, behaviour, limits, kernel, layout, sizing, p2p)
    else:
        suggestions = []
    return _build_plan(
        req,
        hardware,
        gpu,
        count,
        version,
        behaviour,
        kernel,
        limits,
        layout,
        placement,
        sizing,
        best,
        evaluations,
        reasons,
        warnings,
        suggestions,
        est,
        availability,
    )


def _availability_reason(
    req: PlanRequest, best: Evaluation, evaluations: list[Evaluation]
) -> str | None:
    """When availability beat concurrency: what was given up, in one sentence."""
    if best.placement is None or not _available(best, req.concurrency, req.min_replicas):
        return None
    more = [
        ev
        for ev in evaluations
        if ev.feasible
        and ev.placement is not None
        and ev.placement.replicas < req.min_replicas
        and _score(ev, req.concurrency) > _score(best, req.concurrency)
    ]
    if not more:
        return None
    other = max(more, key=lambda ev: _score(ev, req.concurrency))
    assert other.placement is not None
    return (
        f"availability: {best.placement.replicas} replicas of {_describe(best.layout)} rather "
        f"than {other.placement.replicas} of {_describe(other.layout)}, giving up "
        f"{other.served_concurrency - best.served_concurrency:.1f} concurrent requests "
        f"({best.served_concurrency:.1f} instead of {other.served_concurrency:.1f}), so that an "
        f"update or a node drain keeps serving (--min-replicas 1 accepts a single replica)"
    )


def _fewer_replicas_why(
    req: PlanRequest, best: Evaluation, evaluations: list[Evaluation]
) -> str | None:
    """Why the plan has fewer replicas than --min-replicas asks for, when a layout with more
    exists (it misses the target); None when none fits."""
    if req.replicas is not None:
        return f"--replicas {req.replicas} was asked for"
    if req.min_replicas <= 1:
        return "--min-replicas 1 accepts a single replica"
    wider = [
        ev
        for ev in evaluations
        if ev.feasible and ev.placement is not None and ev.placement.replicas >= req.min_replicas
    ]
    if not wider:
        return None  # the base reason says what buys a second replica
    top = max(wider, key=lambda ev: ev.served_concurrency)
    assert top.placement is not None
    return (
        f"{top.placement.replicas} replicas of {_describe(top.layout)} fit but serve "
        f"{top.served_concurrency:.1f} < the target {req.concurrency}"
    )


def _fits(
    req: PlanRequest,
    gpu: GpuSpec,
    behaviour: VllmBehaviour,
    limits: Limits,
    kernel: str | None,
    layout: Layout,
    *,
    p2p: bool = True,
    safe: bool = False,
) -> Sizing | None:
    """The sizing when `layout` fits (with `safe`: fits outside the marginal band)."""
    sizing = size_memory(
        req.model,
        gpu,
        layout,
        limits,
        behaviour,
        kernel or "fused_moe",
        lora_gib_for(req, layout),
        p2p=p2p,
    )
    if not sizing.feasible_memory:
        return None
    return sizing if not safe or sizing.verdict == "fits" else None


def _safety_knobs(
    req: PlanRequest,
    gpu: GpuSpec,
    behaviour: VllmBehaviour,
    limits: Limits,
    kernel: str | None,
    layout: Layout,
    sizing: Sizing,
    p2p: bool,
) -> list[str]:
    """For a marginal plan: the settings that move it out of the band, each as flags."""
    out: list[str] = []

    def safe(new_limits: Limits) -> Sizing | None:
        return _fits(req, gpu, behaviour, new_limits, kernel, layout, p2p=p2p, safe=True)

    util = limits.gpu_memory_utilization
    if sizing.headroom_gib <= sizing.kv_margin_gib:
        # Too little outside the budget: a lower utilization moves memory out of vLLM's budget.
        for step in range(1, 11):
            lower = round(util - 0.01 * step, 2)
            s = safe(replace(limits, gpu_memory_utilization=lower)) if lower > 0 else None
            if s:
                out.append(
                    f"--gpu-memory-utilization {lower}: margin {s.margin_gib:.2f} GiB, "
                    f"{s.max_concurrency:.2f} requests fit"
                )
                break
    else:
        for higher in (round(util + 0.01 * step, 2) for step in range(1, 6)):
            s = safe(replace(limits, gpu_memory_utilization=higher)) if higher <= 1 else None
            if s:
                out.append(
                    f"--gpu-memory-utilization {higher}: margin {s.margin_gib:.2f} GiB, "
                    f"{s.max_concurrency:.2f} requests fit"
                )
                break
        if limits.kv_cache_dtype == "auto":
            s = safe(replace(limits, kv_cache_dtype="fp8"))
            if s:
                out.append(f"--kv-cache-dtype fp8: margin {s.margin_gib:.2f} GiB")
        lo, hi, best_len = 1, limits.max_model_len - 1, 0
        while lo <= hi:
            mid = (lo + hi) // 2
            if safe(replace(limits, max_model_len=mid)):
                best_len, lo = mid, mid + 1
            else:
                hi = mid - 1
        if best_len >= 1024:
            out.append(f"--max-model-len {best_len // 1024 * 1024}: outside the marginal band")
    for seqs in (256, 128, 64):
        if seqs < limits.max_num_seqs:
            s = safe(replace(limits, max_num_seqs=seqs))
            if s:
                out.append(
                    f"--max-num-seqs {seqs}: smaller sampler warm-up, margin {s.margin_gib:.2f} GiB"
                )
                break
    if not out:
        out.append("no nearby setting leaves the marginal band: add GPUs (--gpus)")
    return out


def _suggestions(
    req: PlanRequest,
    gpu: GpuSpec,
    behaviour: VllmBehaviour,
    limits: Limits,
    kernel: str | None,
    layout: Layout,
    nvlink: int,
) -> list[str]:
    """The nearest feasible settings, each as flags to add."""
    out: list[str] = []
    p2p = layout.tp <= nvlink  # TP inside the NVLink domain (1 = PCIe cards: no p2p)
    # 1. shorter context, same layout
    lo, hi, best_len = 1, limits.max_model_len - 1, 0
    while lo <= hi:
        mid = (lo + hi) // 2
        if _fits(req, gpu, behaviour, replace(limits, max_model_len=mid), kernel, layout, p2p=p2p):
            best_len, lo = mid, mid + 1
        else:
            hi = mid - 1
    if best_len >= 1024:
        best_len = best_len // 1024 * 1024
        out.append(
            f"--max-model-len {best_len}: one request of that length fits on {_describe(layout)}"
        )
    # 2. higher utilization
    for util in SUGGESTION_UTILIZATIONS:
        if util > limits.gpu_memory_utilization:
            s = _fits(
                req,
                gpu,
                behaviour,
                replace(limits, gpu_memory_utilization=util),
                kernel,
                layout,
                p2p=p2p,
            )
            if s:
                out.append(f"--gpu-memory-utilization {util}: {s.max_concurrency:.2f} requests fit")
                break
    # 2b. lower utilization, when the graphs and the CUDA context overflow what is left
    # outside the budget (out of memory at graph capture, after the KV cache is allocated)
    here = size_memory(req.model, gpu, layout, limits, behaviour, kernel or "fused_moe", p2p=p2p)
    if here.headroom_gib < 0:
        for step in range(1, 11):
            lower = round(limits.gpu_memory_utilization - 0.01 * step, 2)
            s = (
                _fits(
                    req,
                    gpu,
                    behaviour,
                    replace(limits, gpu_memory_utilization=lower),
                    kernel,
                    layout,
                    p2p=p2p,
                )
                if lower > 0
                else None
            )
            if s:
                out.append(
                    f"--gpu-memory-utilization {lower}: graphs fit outside the budget, "
                    f"{s.max_concurrency:.2f} requests fit"
                )
                break
    # 3. fp8 KV cache
    if limits.kv_cache_dtype == "auto":
        s = _fits(
            req, gpu, behaviour, replace(limits, kv_cache_dtype="fp8"), kernel, layout, p2p=p2p
        )
        if s:
            out.append(f"--kv-cache-dtype fp8: {s.max_concurrency:.2f} requests fit")
    # 4. fewer sequences in flight (smaller sampler warm-up peak)
    for seqs in (256, 128, 64, 32):
        if seqs < limits.max_num_seqs:
            s = _fits(
                req, gpu, behaviour, replace(limits, max_num_seqs=seqs), kernel, layout, p2p=p2p
            )
            if s:
                out.append(
                    f"--max-num-seqs {seqs}: activation peak falls to "
                    f"{s.activation_peak_gib:.2f} GiB, {s.max_concurrency:.2f} requests fit"
                )
                break
    # 5. more GPUs of the same kind, laid out as the search lays them out: TP over one node,
    # or across whole nodes TP inside a node and PP across nodes
    count = layout.gpus
    per_node = max(1, gpu.gpus_per_node)
    for more in (2, 4, 8, 16, 32, 64):
        if more <= count:
            continue
        if more <= per_node:
            tp, pp = more, 1
        elif more % per_node == 0:
            tp, pp = per_node, more // per_node
        else:
            continue
        candidate = Layout(tp=tp, pp=pp, dp=1, expert_parallel=False)
        if layout_problem(req.model, candidate):
            continue
        s = _fits(req, gpu, behaviour, limits, kernel, candidate, p2p=tp <= nvlink)
        if s:
            spec = f"{more}x{gpu.id}" + (f"@{pp}" if pp > 1 else "")
            out.append(
                f"--gpus {spec} ({_describe(candidate)}): {s.max_concurrency:.2f} requests fit"
            )
            break
    if not out:
        out.append("no nearby setting fits: choose larger GPUs or a smaller model")
    return out


def _memory_args(req: PlanRequest) -> list[str]:
    """The issue-15 settings as `vllm serve` flags, then the checked pass-through flags."""
    out: list[str] = []
    if req.quantization is not None:
        out += ["--quantization", req.quantization]
    if req.cpu_offload_gb:
        out += ["--cpu-offload-gb", f"{req.cpu_offload_gb:g}"]
    if req.swap_space_gb is not None:
        out += ["--swap-space", f"{req.swap_space_gb:g}"]
    if req.speculative_config is not None:
        import json

        out += ["--speculative-config", json.dumps(json.loads(req.speculative_config))]
    if req.enforce_eager:
        out.append("--enforce-eager")
    if req.enable_prefix_caching is True:
        out.append("--enable-prefix-caching")
    from swissai.core.vllm_args import split_extra_args

    return out + split_extra_args(list(req.extra_vllm_args))


def _build_plan(
    req: PlanRequest,
    hardware: Hardware,
    gpu: GpuSpec,
    count: int,
    version: Version,
    behaviour: VllmBehaviour,
    kernel: str | None,
    limits: Limits,
    layout: Layout,
    placement: Placement,
    sizing: Sizing,
    best: Evaluation,
    evaluations: list[Evaluation],
    reasons: list[str],
    warnings: list[str],
    suggestions: list[str],
    est: Estimates,
    availability: PlanAvailability,
) -> ServePlan:
    model = req.model
    env = dict(OFFLINE_ENV)
    env.update(moe_kernel_env(kernel, req.moe_backend, gpu))
    args = serve_args(
        model_ref=model.hf_repo or model.id,
        served_model_name=model.id,
        layout=layout,
        limits=limits,
        tool_call_parser=tool_call_parser_for(model.model_type, version),
        enable_prefix_caching=req.enable_prefix_caching is not False,
    )
    args += _memory_args(req)
    if req.lora is not None and req.lora.enabled:
        args += lora_args(req.lora, layout)
    r = 2  # GiB figures to two decimals, as vLLM prints them
    return ServePlan(
        model=PlanModel(
            id=model.id,
            source=model.source,
            hf_repo=model.hf_repo,
            params_total=model.params_total,
            params_active=model.params_active,
            quantization=model.quantization.label,
        ),
        hardware=PlanHardware(
            gpus=[PlanGpu(id=g.gpu.id, count=g.count) for g in hardware.groups],
            nodes=hardware.nodes,
            source=hardware.source,
        ),
        vllm=PlanVllm(
            version=format_version(version),
            behaviour=format_version(behaviour.since),
            moe_backend=None if kernel in (None, "fused_moe") else kernel,
            attention_backend=attention_backend(model, gpu, limits.kv_cache_dtype),
            args=args,
            env=env,
        ),
        layout=PlanLayout(
            tensor_parallel_size=layout.tp,
            pipeline_parallel_size=layout.pp,
            data_parallel_size=layout.dp,
            expert_parallel=layout.expert_parallel,
            replicas=placement.replicas,
            gpus_per_replica=layout.gpus,
            nodes_per_replica=placement.nodes_per_replica,
        ),
        limits=PlanLimits(
            max_model_len=limits.max_model_len,
            max_num_seqs=limits.max_num_seqs,
            max_num_batched_tokens=limits.max_num_batched_tokens,
            gpu_memory_utilization=limits.gpu_memory_utilization,
            block_size=limits.block_size,
            kv_cache_dtype=limits.kv_cache_dtype,
        ),
        memory_per_gpu_gib=PlanMemory(
            total=round(sizing.total_gib, r),
            budget=round(sizing.budget_gib, r),
            weights=round(sizing.weights_gib, r),
            activation_peak=round(sizing.activation_peak_gib, r),
            non_torch=round(sizing.non_torch_gib, r),
            cuda_graphs=round(sizing.cuda_graphs_gib, r),
            cuda_graphs_deducted=sizing.cuda_graphs_deducted,
            kv_cache=round(sizing.kv_cache_gib, r),
            headroom_after_graphs=round(sizing.headroom_gib, r),
        ),
        kv_cache=PlanKvCache(
            bytes_per_token=sizing.geometry.bytes_per_token,
            page_size_bytes=sizing.geometry.page_size_bytes,
            groups=sizing.geometry.groups,
            layers_per_group=sizing.geometry.layers_per_group,
            blocks=sizing.num_blocks,
            tokens=sizing.kv_tokens,
            blocks_per_request=sizing.blocks_per_request,
            max_concurrency=round(sizing.max_concurrency, 2),
        ),
        feasible=best.feasible,
        verdict=sizing.verdict if best.feasible else "does_not_fit",
        margin_gib=round(sizing.margin_gib, r),
        served_concurrency=round(best.served_concurrency, 2),
        target_concurrency=req.concurrency,
        reasons=reasons,
        warnings=warnings,
        suggestions=suggestions,
        alternatives=[
            LayoutOption(
                tensor_parallel_size=ev.layout.tp,
                pipeline_parallel_size=ev.layout.pp,
                data_parallel_size=ev.layout.dp,
                expert_parallel=ev.layout.expert_parallel,
                replicas=ev.placement.replicas if ev.placement else 0,
                feasible=ev.feasible,
                served_concurrency=round(ev.served_concurrency, 2),
                kv_cache_gib=round(ev.sizing.kv_cache_gib, r) if ev.sizing else 0.0,
                reason=ev.reason,
            )
            for ev in evaluations
        ],
        estimates=PlanEstimates(
            decode_tokens_per_s_per_replica=est.decode_tokens_per_s_per_replica,
            decode_tokens_per_s_per_sequence=est.decode_tokens_per_s_per_sequence,
            ttft_ms_p50=est.ttft_ms_p50,
            prefill_tokens_per_s_per_replica=est.prefill_tokens_per_s_per_replica,
            load_time_s=est.load_time_s,
            basis=est.basis,
        ),
        availability=availability,
        lora=plan_lora(req.model, req.lora, layout),
    )
