"""LoRA adapters: the GPU memory vLLM reserves for them, and the `vllm serve` flags that enable them.

vLLM allocates the LoRA slots when the model loads, before the KV cache is profiled: every
LoRA-capable layer gets zero-filled stacks for `--max-loras` adapters of `--max-lora-rank`
(vllm/lora/layers/base_linear.py `create_lora_weights`, fused_moe.py `_create_lora_*_weights`,
read from the vLLM 0.32.0 wheel). That memory is charged to the model in the profiling run, so
it comes straight out of the KV cache. `--max-cpu-loras` adapters are cached in host memory
(vllm/config/lora.py: default = max_loras, must be >= max_loras).

Per layer and GPU, with r = max_lora_rank, L = max_loras, b = LoRA dtype bytes (the model's):
    column-parallel (qkv, gate_up):  A = slices x r x in,        B = out / tp x r
    row-parallel (o_proj, down):     A = r x in / tp,            B = r x out
    fused MoE experts (E / ep local experts, I = moe intermediate / tp when no EP):
        w13: A = 2 x E x r x H,  B = E x 2I x r;   w2: A = E x r x I,  B = E x H x r
    bytes = L x b x sum over layers of the pipeline stage
This is vLLM's allocation without `--fully-sharded-loras` (swissai never sets it). Embedding and
lm_head LoRA (vocab-sized) are not allocated by default and are not counted.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from swissai.errors import InputError
from swissai.models.gpu import GIB
from swissai.models.model import ModelSpec
from swissai.models.plan import PlanLora, PlanLoraAdapter

if TYPE_CHECKING:
    from swissai.core.planner import PlanRequest
    from swissai.core.sizing import Layout

# vllm/config/lora.py MaxLoRARanks (0.32.0); 0.10.x accepted the same set minus 320 and 512
# was added in 0.10.2 (vLLM changelog); swissai plans for the 0.32 set and lets vLLM refuse.
VALID_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)
DEFAULT_MAX_LORAS = 1  # LoRAConfig.max_loras
DEFAULT_MAX_LORA_RANK = 16  # LoRAConfig.max_lora_rank
MAX_LORAS = 256  # far above what fits; bounds the arithmetic (input_bounds style)
# An adapter name is what clients send as "model": the served-model-name rules (DNS-like) keep
# it safe in YAML, argv and Kubernetes annotations.
NAME_PATTERN = re.compile(r"^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$")
ADAPTERS_MOUNT = "/adapters"  # where render mounts the adapter volume in the pod


@dataclass(frozen=True)
class LoraAdapter:
    """One adapter: the name clients request and where its files are."""

    name: str
    path: str  # a local directory (plan/serve) or the in-pod path (render)
    rank: int | None = None  # adapter_config.json `r`, where known
    # adapter_config.json `target_modules` (a list of module names), () = unknown or all
    target_modules: tuple[str, ...] = ()


@dataclass(frozen=True)
class LoraOptions:
    """What `--lora NAME=DIR`, `--max-loras`, `--max-lora-rank`, `--max-cpu-loras` ask for."""

    adapters: tuple[LoraAdapter, ...] = ()
    max_loras: int | None = None
    max_lora_rank: int | None = None
    max_cpu_loras: int | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.adapters) or self.max_loras is not None


@dataclass(frozen=True)
class LoraSizing:
    max_loras: int
    max_lora_rank: int
    max_cpu_loras: int
    gpu_gib: float  # per GPU, the most loaded pipeline stage
    host_gib: float  # host memory for the CPU adapter cache (estimate: slots x GPU bytes x tp)


def parse_lora_spec(spec: str) -> LoraAdapter:
    """`NAME=DIR` -> LoraAdapter; exit 2 for anything else (hub ids are refused: no downloads)."""
    name, sep, path = spec.partition("=")
    name, path = name.strip(), path.strip()
    if not sep or not name or not path:
        raise InputError(
            f"--lora {spec!r} is not NAME=DIR",
            hint="e.g. --lora legal-de=/models/adapters/legal-de",
        )
    if not NAME_PATTERN.match(name):
        raise InputError(
            f"--lora name {name!r}: use lower-case letters, digits, '.', '_' or '-' (<= 63)",
            hint="clients send this name as the request's model",
        )
    return LoraAdapter(name=name, path=path)


def resolve(options: LoraOptions) -> tuple[int, int, int]:
    """(max_loras, max_lora_rank, max_cpu_loras) as vLLM will run them; exit 2 for values vLLM
    refuses (vllm/config/lora.py validators)."""
    names = [a.name for a in options.adapters]
    if len(set(names)) != len(names):
        raise InputError("--lora names must be unique", hint="one NAME=DIR per adapter")
    max_loras = options.max_loras if options.max_loras is not None else DEFAULT_MAX_LORAS
    if not 1 <= max_loras <= MAX_LORAS:
        raise InputError(
            f"--max-loras {max_loras} must be between 1 and {MAX_LORAS}",
            hint="adapters served in one batch; vLLM's default is 1",
        )
    ranks = [a.rank for a in options.adapters if a.rank is not None]
    rank = options.max_lora_rank
    if rank is None:
        needed = max(ranks, default=DEFAULT_MAX_LORA_RANK)
        rank = next((r for r in VALID_LORA_RANKS if r >= needed), needed)
    if rank not in VALID_LORA_RANKS:
        raise InputError(
            f"--max-lora-rank {rank} is not one vLLM accepts",
            hint="choose one of " + ", ".join(map(str, VALID_LORA_RANKS)),
        )
    too_big = [a for a in options.adapters if a.rank is not None and a.rank > rank]
    if too_big:
        a = too_big[0]
        raise InputError(
            f"adapter {a.name} has rank {a.rank} > --max-lora-rank {rank}",
            hint=f"vLLM refuses to load it; use --max-lora-rank {a.rank} or more",
        )
    cpu = options.max_cpu_loras if options.max_cpu_loras is not None else max_loras
    cpu = max(cpu, len(options.adapters)) if options.max_cpu_loras is None else cpu
    if cpu < max_loras:
        raise InputError(
            f"--max-cpu-loras {cpu} is below --max-loras {max_loras}",
            hint="vLLM requires max_cpu_loras >= max_loras",
        )
    if cpu > MAX_LORAS:
        raise InputError(f"--max-cpu-loras {cpu} is more than {MAX_LORAS}", hint="use fewer")
    return max_loras, rank, cpu


# adapter-visible module names -> the vLLM layer that carries their LoRA (packed_modules_mapping)
ATTENTION_QKV = frozenset({"q_proj", "k_proj", "v_proj", "qkv_proj"})
MLP_NAMES = frozenset({"gate_proj", "up_proj", "gate_up_proj", "down_proj", "experts"})


def target_modules(options: LoraOptions) -> tuple[str, ...]:
    """The union of the adapters' target modules, sorted: vLLM's `--lora-target-modules`, which
    makes it wrap only those layers (vllm/lora/utils.py is_in_target_modules). () when any
    adapter does not list its modules (vLLM then wraps every supported layer)."""
    if not options.adapters or any(not a.target_modules for a in options.adapters):
        return ()
    return tuple(sorted({m for a in options.adapters for m in a.target_modules}))


def lora_bytes_per_slot(
    model: ModelSpec, *, tp: int, pp: int, ep: int, rank: int, targets: tuple[str, ...] = ()
) -> int:
    """GPU bytes one adapter slot takes on one GPU of the most loaded pipeline stage; `targets`
    restricts it to the layers `--lora-target-modules` wraps (() = every supported layer)."""

    def on(*names: str) -> int:
        return 1 if not targets or any(n in targets for n in names) else 0

    h = model.hidden_size
    q_out = model.num_attention_heads * model.head_dim
    kv_out = model.num_kv_heads * model.head_dim
    attention = on(*ATTENTION_QKV) * (
        3 * rank * h  # qkv A: one slice per q, k, v over the full input
        + rank * (q_out + 2 * kv_out) // tp  # qkv B: output sharded
    ) + on("o_proj") * (
        rank * q_out // tp  # o_proj A: input sharded
        + rank * h  # o_proj B: full output
    )
    dense_mlp = on("gate_proj", "up_proj", "gate_up_proj") * (
        2 * rank * h  # gate_up A
        + rank * 2 * model.intermediate_size // tp  # gate_up B
    ) + on("down_proj") * (
        rank * model.intermediate_size // tp  # down A
        + rank * h  # down B
    )
    moe = model.moe
    if moe is None:
        per_layer = [attention + dense_mlp] * model.num_layers
    else:
        experts = math.ceil(moe.num_experts / max(1, ep))
        inter = moe.moe_intermediate_size // (1 if ep > 1 else tp)
        expert = on(*MLP_NAMES) * experts * rank * (2 * h + 2 * inter + inter + h)
        per_layer = [
            attention + (dense_mlp if i < moe.first_dense_layers else expert)
            for i in range(model.num_layers)
        ]
    layers_per_stage = math.ceil(model.num_layers / pp)
    stages = [
        per_layer[i : i + layers_per_stage] for i in range(0, len(per_layer), layers_per_stage)
    ]
    return max(sum(stage) for stage in stages) * model.torch_dtype_bytes


def size_lora(model: ModelSpec, options: LoraOptions, *, tp: int, pp: int, ep: int) -> LoraSizing:
    """The memory `options` make vLLM reserve, per GPU (GPU) and per replica (host cache)."""
    max_loras, rank, cpu = resolve(options)
    slot = lora_bytes_per_slot(
        model, tp=tp, pp=pp, ep=ep, rank=rank, targets=target_modules(options)
    )
    return LoraSizing(
        max_loras=max_loras,
        max_lora_rank=rank,
        max_cpu_loras=cpu,
        gpu_gib=max_loras * slot / GIB,
        host_gib=cpu * slot * tp * pp / GIB,
    )


def lora_gib_for(req: PlanRequest, layout: Layout) -> float:
    """The planner's one memory term: GiB per GPU of LoRA slots for this layout (0 without)."""
    if req.lora is None or not req.lora.enabled:
        return 0.0
    return size_lora(req.model, req.lora, tp=layout.tp, pp=layout.pp, ep=layout.ep).gpu_gib


def plan_lora(model: ModelSpec, options: LoraOptions | None, layout: Layout) -> PlanLora | None:
    """The plan's `lora` section (None without adapters)."""
    if options is None or not options.enabled:
        return None
    s = size_lora(model, options, tp=layout.tp, pp=layout.pp, ep=layout.ep)
    return PlanLora(
        max_loras=s.max_loras,
        max_lora_rank=s.max_lora_rank,
        max_cpu_loras=s.max_cpu_loras,
        gpu_gib_per_gpu=round(s.gpu_gib, 2),
        host_gib_per_replica=round(s.host_gib, 2),
        adapters=[PlanLoraAdapter(name=a.name, path=a.path, rank=a.rank) for a in options.adapters],
    )


def lora_args(options: LoraOptions, layout: Layout | None = None) -> list[str]:
    """`vllm serve` flags: adapters by name from local directories, never a hub id. Runtime
    loading (VLLM_ALLOW_RUNTIME_LORA_UPDATING) is not part of the plan: compliance SEC-LORA."""
    del layout  # the flags do not depend on the layout; kept for the planner's call
    sizing = resolve(options)
    max_loras, rank, cpu = sizing
    args = [
        "--max-loras",
        str(max_loras),
        "--max-lora-rank",
        str(rank),
        "--max-cpu-loras",
        str(cpu),
    ]
    targets = target_modules(options)
    if targets:
        args.append("--lora-target-modules")
        args += list(targets)
    if options.adapters:
        args.append("--lora-modules")
        args += [f"{a.name}={a.path}" for a in options.adapters]
    args.append("--enable-lora")
    return args


def with_adapter_paths(args: list[str], paths: dict[str, str]) -> list[str]:
    """The same argv with each `--lora-modules NAME=PATH` pointing at `paths[NAME]` (render: the
    in-pod mount instead of the planning machine's directory)."""
    out: list[str] = []
    in_modules = False
    for arg in args:
        if arg == "--lora-modules":
            in_modules = True
            out.append(arg)
            continue
        if in_modules and not arg.startswith("--") and "=" in arg:
            name = arg.split("=", 1)[0]
            out.append(f"{name}={paths.get(name, arg.split('=', 1)[1])}")
            continue
        in_modules = False
        out.append(arg)
    return out


def adapters_in_args(args: list[str]) -> list[tuple[str, str]]:
    """(name, path) of every `--lora-modules` entry in a vLLM argv."""
    found: list[tuple[str, str]] = []
    in_modules = False
    for arg in args:
        if arg == "--lora-modules":
            in_modules = True
            continue
        if in_modules and not arg.startswith("--") and "=" in arg:
            name, _, path = arg.partition("=")
            found.append((name, path))
            continue
        in_modules = False
    return found
