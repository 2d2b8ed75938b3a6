"""Read vLLM's startup log: the phase it is in, and the numbers it reports about memory.

Pure: lines in, facts out. Formats handled (vLLM 0.6 to 0.33; each with a log line quoted in
tests/unit/test_startup_log.py and its source):

- weights: "Loading model weights took 14.9888 GB" (0.6/0.7), "Model loading took 29.0935 GiB
  and 12.3 seconds" (0.8-0.10), "Model loading took 15.26 GiB memory and 23.1 seconds" (0.11+)
- KV memory: "Available KV cache memory: 10.55 GiB"; CPU backend: "Explicitly set (1/22.9) GiB
  for KV cache on node 0."
- KV tokens: "GPU KV cache size: 230,528 tokens" (any device prefix: GPU, CPU, XPU, ...)
- concurrency: "Maximum concurrency for 100,000 tokens per request: 2.31x"
- newer releases print the last two on one line: "GPU KV cache size: 34,952 tokens, Maximum
  concurrency for 8,192 tokens per request: 4.27x"

Each rank prints its own lines (prefixed "(Worker_TP3 pid=...)"): the weights of the most loaded
rank and the KV memory of the smallest rank are kept, as the plan states them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from swissai.core.sizing import KvCapacity, Limits, kv_capacity
from swissai.core.vllm_args import CPU_BLOCK_SIZE
from swissai.core.vllm_versions import behaviour_for
from swissai.core.weights import stage_layer_counts
from swissai.errors import InputError
from swissai.models.gpu import GIB
from swissai.models.model import ModelSpec
from swissai.models.plan import ServePlan

_NUM = r"([0-9][0-9,]*(?:\.[0-9]+)?)"
WEIGHTS_RE = re.compile(
    r"(?:Model loading took|Loading model weights took)\s+" + _NUM + r"\s*(GiB|GB|MiB|MB)\b"
)
KV_MEMORY_RE = re.compile(r"Available KV cache memory:\s*" + _NUM + r"\s*(GiB|GB|MiB|MB)\b")
# CPU backend (v1/worker/cpu_worker.py): "Explicitly set (1/22.9) GiB for KV cache on node 0."
CPU_KV_MEMORY_RE = re.compile(
    r"(?:Explicitly|Auto) set \(" + _NUM + r"/[0-9.,]+\) (GiB) for KV cache"
)
KV_TOKENS_RE = re.compile(r"\b[A-Z]{2,5}(?: \+ host)? KV cache size:\s*" + _NUM + r"\s*tokens")
CONCURRENCY_RE = re.compile(
    r"Maximum concurrency for\s+" + _NUM + r"\s+tokens per request:\s*" + _NUM + r"\s*x"
)
LOAD_SECONDS_RE = re.compile(
    r"(?:Model loading took).*?\band\s+" + _NUM + r"\s*(?:seconds|s)\b", re.IGNORECASE
)

# (phase, patterns that announce it), in startup order. A later phase never moves back.
PHASES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("starting", ("non-default args", "Initializing a V1 LLM engine", "vLLM API server version")),
    (
        "loading weights",
        ("Starting to load model", "Loading weights took", "Loading safetensors checkpoint"),
    ),
    ("weights loaded", ("Model loading took", "Loading model weights took")),
    (
        "compiling",
        ("Dynamo bytecode transform", "Compiling a graph", "torch.compile take"),
    ),
    ("profiling", ("Memory profiling takes", "Available KV cache memory", "GiB for KV cache")),
    ("KV cache allocated", ("KV cache size:", "# GPU blocks", "Maximum concurrency for")),
    ("capturing graphs", ("Capturing CUDA graph", "Capturing cudagraph", "Graph capturing")),
    ("warming up", ("init engine (profile, create kv cache, warmup model) took",)),
    ("starting API server", ("Starting vLLM API server", "Available routes are")),
    ("ready", ("Application startup complete", "Uvicorn running on")),
)
PHASE_NAMES: tuple[str, ...] = tuple(name for name, _ in PHASES)


def _number(text: str) -> float:
    return float(text.replace(",", ""))


def _gib(value: float, unit: str) -> float:
    # vLLM divides by 2**30 even where it prints "GB" (0.6/0.7 worker.py); MiB/MB likewise.
    return value / 1024 if unit in ("MiB", "MB") else value


@dataclass(frozen=True)
class StartupObservation:
    """What vLLM reported about itself while starting (None: not seen)."""

    weights_gib: float | None = None
    load_seconds: float | None = None
    kv_cache_gib: float | None = None
    kv_tokens: int | None = None
    max_concurrency: float | None = None
    concurrency_max_model_len: int | None = None
    phase: str | None = None
    ranks_reporting_kv: int = 0

    def as_dict(self) -> dict[str, float | int | str | None]:
        return {
            "weights_gib": self.weights_gib,
            "load_seconds": self.load_seconds,
            "kv_cache_gib": self.kv_cache_gib,
            "kv_tokens": self.kv_tokens,
            "max_concurrency": self.max_concurrency,
            "concurrency_max_model_len": self.concurrency_max_model_len,
        }


def phase_of(line: str) -> str | None:
    """The startup phase a log line announces, or None."""
    for name, patterns in reversed(PHASES):
        if any(p in line for p in patterns):
            return name
    return None


def update(obs: StartupObservation, line: str) -> StartupObservation:
    """obs with whatever `line` reports folded in."""
    changes: dict[str, object] = {}
    m = WEIGHTS_RE.search(line)
    if m:
        gib = _gib(_number(m[1]), m[2])
        changes["weights_gib"] = gib if obs.weights_gib is None else max(obs.weights_gib, gib)
        s = LOAD_SECONDS_RE.search(line)
        if s:
            seconds = _number(s[1])
            changes["load_seconds"] = (
                seconds if obs.load_seconds is None else max(obs.load_seconds, seconds)
            )
    m = KV_MEMORY_RE.search(line) or CPU_KV_MEMORY_RE.search(line)
    if m:
        gib = _gib(_number(m[1]), m[2])
        changes["kv_cache_gib"] = gib if obs.kv_cache_gib is None else min(obs.kv_cache_gib, gib)
        changes["ranks_reporting_kv"] = obs.ranks_reporting_kv + 1
    m = KV_TOKENS_RE.search(line)
    if m:
        tokens = int(_number(m[1]))
        changes["kv_tokens"] = tokens if obs.kv_tokens is None else min(obs.kv_tokens, tokens)
    m = CONCURRENCY_RE.search(line)
    if m:
        conc = _number(m[2])
        if obs.max_concurrency is None or conc < obs.max_concurrency:
            changes["max_concurrency"] = conc
            changes["concurrency_max_model_len"] = int(_number(m[1]))
    phase = phase_of(line)
    if phase is not None and (
        obs.phase is None or PHASE_NAMES.index(phase) > PHASE_NAMES.index(obs.phase)
    ):
        changes["phase"] = phase
    return replace(obs, **changes) if changes else obs  # type: ignore[arg-type]


def parse_lines(lines: list[str] | tuple[str, ...]) -> StartupObservation:
    obs = StartupObservation()
    for line in lines:
        obs = update(obs, line)
    return obs


# --- plan vs observed --------------------------------------------------------------------------


@dataclass(frozen=True)
class Tolerance:
    relative: float
    absolute: float

    def allows(self, planned: float, observed: float) -> bool:
        return abs(observed - planned) <= max(self.absolute, self.relative * abs(planned))


# Weights are deterministic (5 %); the KV budget moves with profiling noise (5 %, at least
# 0.25 GiB); token counts and concurrency follow the KV budget.
TOLERANCES: dict[str, Tolerance] = {
    "weights_gib": Tolerance(0.05, 0.05),
    "kv_cache_gib": Tolerance(0.05, 0.25),
    "kv_tokens": Tolerance(0.05, 16),
    "max_concurrency": Tolerance(0.05, 0.05),
}
LABELS: dict[str, str] = {
    "weights_gib": "Model loading took (GiB)",
    "kv_cache_gib": "Available KV cache memory (GiB)",
    "kv_tokens": "KV cache size (tokens)",
    "max_concurrency": "Maximum concurrency (requests)",
}


@dataclass(frozen=True)
class Comparison:
    key: str
    label: str
    planned: float | None
    observed: float | None
    within: bool | None  # None: not comparable (not printed by this vLLM, or no plan value)
    note: str = ""


@dataclass(frozen=True)
class Verification:
    rows: list[Comparison] = field(default_factory=list)

    @property
    def deviations(self) -> list[Comparison]:
        return [r for r in self.rows if r.within is False]


def cpu_kv_capacity(
    plan: ServePlan, model: ModelSpec, cpu_kvcache_gib: float, vllm_version: str | None = None
) -> KvCapacity:
    """The KV cache vLLM's CPU backend builds for this plan: VLLM_CPU_KVCACHE_SPACE bytes per
    rank, its own block size (CPU_BLOCK_SIZE: serve drops the plan's --block-size there), and
    the plan's max_model_len, batch limits, KV dtype and TP/PP split. The block size matters:
    a sliding-window layer holds cdiv(window - 1 + in-flight, block) + 1 blocks per request.
    `vllm_version` (the installed vLLM) picks the tokens-line rule; the plan's version when it
    is None or outside the modelled range. The most constrained pipeline stage is returned
    (vLLM keeps the smallest block count)."""
    try:
        _, behaviour = behaviour_for(vllm_version or plan.vllm.version)
    except InputError:
        _, behaviour = behaviour_for(plan.vllm.version)
    lim = plan.limits
    limits = Limits(
        max_model_len=lim.max_model_len,
        max_num_seqs=lim.max_num_seqs,
        max_num_batched_tokens=lim.max_num_batched_tokens,
        gpu_memory_utilization=lim.gpu_memory_utilization,
        block_size=CPU_BLOCK_SIZE,
        kv_cache_dtype=lim.kv_cache_dtype,
    )
    pp = plan.layout.pipeline_parallel_size
    tp = plan.layout.tensor_parallel_size
    kv_bytes = int(cpu_kvcache_gib * GIB)
    worst: KvCapacity | None = None
    first = 0
    for count in stage_layer_counts(model.num_layers, pp):
        layers = model.layer_attention[first : first + count]
        first += count
        cap = kv_capacity(model, layers, tp, limits, behaviour, kv_bytes, pp if pp > 1 else 1)
        if worst is None or cap.num_blocks < worst.num_blocks:
            worst = cap
    assert worst is not None
    return worst


def expected(
    plan: ServePlan,
    *,
    target: str = "gpu",
    cpu_kvcache_gib: float | None = None,
    model: ModelSpec | None = None,
    vllm_version: str | None = None,
) -> dict[str, float | None]:
    """What the plan says vLLM will print. On the CPU target the KV budget is
    VLLM_CPU_KVCACHE_SPACE, not the GPU budget, and the blocks are CPU_BLOCK_SIZE tokens:
    tokens and concurrency are sized again from `model` (cpu_kv_capacity); without a model
    they are not comparable (None)."""
    mem, kv = plan.memory_per_gpu_gib, plan.kv_cache
    out: dict[str, float | None] = {
        "weights_gib": mem.weights,
        "kv_cache_gib": mem.kv_cache,
        "kv_tokens": float(kv.tokens),
        "max_concurrency": kv.max_concurrency,
    }
    if target == "cpu" and cpu_kvcache_gib is not None:
        out["kv_cache_gib"] = float(cpu_kvcache_gib)
        out["kv_tokens"] = out["max_concurrency"] = None
        if model is not None:
            cap = cpu_kv_capacity(plan, model, cpu_kvcache_gib, vllm_version)
            out["kv_tokens"] = float(cap.kv_tokens)
            out["max_concurrency"] = round(cap.max_concurrency, 2)
    return out


def compare(
    plan: ServePlan,
    obs: StartupObservation,
    *,
    target: str = "gpu",
    cpu_kvcache_gib: float | None = None,
    model: ModelSpec | None = None,
    vllm_version: str | None = None,
) -> Verification:
    """Each planned number beside the observed one, with its tolerance verdict."""
    want = expected(
        plan,
        target=target,
        cpu_kvcache_gib=cpu_kvcache_gib,
        model=model,
        vllm_version=vllm_version,
    )
    got = obs.as_dict()
    rows: list[Comparison] = []
    for key in ("weights_gib", "kv_cache_gib", "kv_tokens", "max_concurrency"):
        planned = want[key]
        raw = got[key]
        observed = float(raw) if isinstance(raw, (int, float)) else None
        note = ""
        within: bool | None
        if observed is None:
            within, note = None, "not in the log"
        elif planned is None:
            within, note = None, "no model config to size the CPU KV cache"
        else:
            within = TOLERANCES[key].allows(planned, observed)
        if (
            key == "max_concurrency"
            and obs.concurrency_max_model_len is not None
            and obs.concurrency_max_model_len != plan.limits.max_model_len
        ):
            within = False
            note = (
                f"vLLM used max_model_len {obs.concurrency_max_model_len}, "
                f"the plan {plan.limits.max_model_len}"
            )
        rows.append(Comparison(key, LABELS[key], planned, observed, within, note))
    return Verification(rows)


def deviation_message(row: Comparison) -> str:
    tol = TOLERANCES[row.key]
    text = (
        f"{row.label}: planned {row.planned:g}, vLLM reported {row.observed:g} "
        f"(tolerance {tol.relative:.0%} or {tol.absolute:g})"
    )
    return text + (f"; {row.note}" if row.note else "")
