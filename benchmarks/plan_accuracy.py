"""How well swissai's plans agree with real vLLM startup logs.

Prints, for every replayable observation (tests/data/vllm_observations.yaml), predicted vs
observed weights, KV cache, KV tokens and max concurrency with the error per row, then the
median and max absolute error per quantity over the asserted rows, next to a KAITO-style
estimate (checkpoint x 1.02 + a fixed 1 GiB overhead, every layer treated as full attention).

    .venv/bin/python benchmarks/plan_accuracy.py
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from swissai.adapters.profiles import load_gpu, load_model  # noqa: E402
from swissai.core.weights import checkpoint_bytes  # noqa: E402
from swissai.models.gpu import GIB  # noqa: E402
from swissai.tools.replay import Outcome, compare, load_replays  # noqa: E402

KAITO_OVERHEAD_GIB = 1.0

# Published serving figures (shared research: throughput_observations.yaml), GPUStack
# performance lab, `vllm bench serve`, ShareGPT 1000 prompts sent at once (~215 prompt and ~195
# output tokens per request), max-model-len 32768, gpt-oss-120b, --async-scheduling.
# https://docs.gpustack.ai/latest/performance-lab/gpt-oss-120b/h100 and .../2.0/.../a100
PUBLISHED = [
    # (label, gpus, tp, vllm version, output tokens/s measured)
    ("GPUStack H100 TP2 (vLLM 0.10.2)", "2xh100-80gb", 2, "0.10.2", 7648.67),
    ("GPUStack H100 TP4 (vLLM 0.10.2)", "4xh100-80gb", 4, "0.10.2", 11327.22),
    ("GPUStack A100 TP1 (vLLM 0.11.0)", "1xa100-80gb", 1, "0.11.0", 2371.67),
    ("GPUStack A100 TP2 (vLLM 0.11.0)", "2xa100-80gb", 2, "0.11.0", 3765.02),
]
SHAREGPT_CONTEXT_TOKENS = 310  # ~215 prompt + half of ~195 output tokens


def kaito_style(args: list[str]) -> dict[str, float]:
    """checkpoint x 1.02 weights, fixed overhead, KV for every layer at full context."""
    opts = dict(zip(args[::2], args[1::2], strict=False))
    model = load_model(opts["--model"])
    count, gpu_id = opts["--gpus"].split("@")[0].split("x", 1)
    gpu = load_gpu(gpu_id)
    tp = int(opts.get("--tp", count))
    util = float(opts.get("--gpu-memory-utilization", 0.9))
    mml = int(opts.get("--max-model-len", model.max_position_embeddings))
    weights = checkpoint_bytes(model) / GIB * 1.02 / tp
    kv = gpu.memory_total_gib * util - weights - KAITO_OVERHEAD_GIB
    if model.mla is not None:
        per_token = model.num_layers * (model.mla.kv_lora_rank + model.mla.qk_rope_head_dim) * 2
    else:
        per_token = model.num_layers * 2 * max(1, model.num_kv_heads // tp) * model.head_dim * 2
    return {
        "weights_gib": weights,
        "kv_cache_gib": kv,
        "max_concurrency": max(0.0, kv * GIB / (per_token * mml)),
    }


def pct(x: float | None) -> str:
    return "" if x is None else f"{x * 100:+.1f}%"


def main(json_out: Path | None = None) -> None:
    data = ROOT / "tests" / "data"
    replays = load_replays(data / "vllm_observations.yaml", data / "vllm_observation_replays.yaml")
    outcomes: list[Outcome] = [compare(r) for r in replays]
    header = (
        f"{'observation':46} {'asrt':4} {'weights obs/pred':>18} {'err':>7} "
        f"{'KV GiB obs/pred':>17} {'err':>7} {'conc obs/pred':>16} {'err':>7} {'fits':>9}"
    )
    print(header)
    print("-" * len(header))
    for o in outcomes:
        e, p, x = o.errors, o.predicted, o.replay.expect
        w = f"{x.get('weights_gib', '-')}/{p['weights_gib']}" if "weights_gib" in x else "-"
        k = f"{x.get('kv_cache_gib', '-')}/{p['kv_cache_gib']}" if "kv_cache_gib" in x else "-"
        c = (
            f"{x.get('max_concurrency', '-')}/{p['max_concurrency']}"
            if "max_concurrency" in x
            else "-"
        )
        fits = f"{x.get('feasible', '-')}/{p['feasible']}"
        print(
            f"{o.replay.id[:46]:46} {'yes' if o.replay.asserted else 'no':4} {w:>18} "
            f"{pct(e.get('weights')):>7} {k:>17} {pct(e.get('kv_cache')):>7} {c:>16} "
            f"{pct(e.get('concurrency')):>7} {fits:>9}{'' if o.agrees else '  OUTSIDE TOLERANCE'}"
        )
    print()
    asserted = [o for o in outcomes if o.replay.asserted]
    # Relative KV errors only where the observed KV is positive and large enough to be a ratio.
    series = {
        "weights": [abs(o.errors["weights"]) for o in asserted if "weights" in o.errors],
        "kv_cache": [
            abs(o.errors["kv_cache"])
            for o in asserted
            if "kv_cache" in o.errors and o.replay.expect["kv_cache_gib"] > 1
        ],
        "concurrency": [
            abs(o.errors["concurrency"]) for o in asserted if "concurrency" in o.errors
        ],
    }
    kaito: dict[str, list[float]] = {"weights": [], "kv_cache": [], "concurrency": []}
    for o in asserted:
        k = kaito_style(o.replay.plan_args)
        x = o.replay.expect
        if "weights_gib" in x:
            kaito["weights"].append(abs(k["weights_gib"] / x["weights_gib"] - 1))
        if "kv_cache_gib" in x and x["kv_cache_gib"] > 1:
            kaito["kv_cache"].append(abs(k["kv_cache_gib"] / x["kv_cache_gib"] - 1))
        if "max_concurrency" in x:
            kaito["concurrency"].append(abs(k["max_concurrency"] / x["max_concurrency"] - 1))
    verdicts = sum(
        1 for o in asserted if o.predicted["feasible"] == o.replay.expect.get("feasible")
    )
    print(f"asserted rows: {len(asserted)}; fits/does-not-fit verdict agrees on {verdicts}")
    print(
        f"{'quantity':12} {'n':>3} {'median':>8} {'max':>8}   {'KAITO-style median':>18} {'max':>8}"
    )
    for name, values in series.items():
        kv = kaito[name]
        print(
            f"{name:12} {len(values):>3} {statistics.median(values) * 100:>7.2f}% "
            f"{max(values) * 100:>7.2f}%   {statistics.median(kv) * 100:>17.2f}% {max(kv) * 100:>7.2f}%"
        )
    if json_out is not None:
        # The figures `swissai report --accuracy FILE` puts in the audit pack.
        from swissai.models.audit import AccuracyQuantity, PlannerAccuracy
        from swissai.services.artifacts import write_document

        accuracy = PlannerAccuracy(
            asserted_rows=len(asserted),
            verdicts_agree=verdicts,
            quantities={
                name: AccuracyQuantity(
                    n=len(values),
                    median_abs_rel_err=round(statistics.median(values), 4),
                    max_abs_rel_err=round(max(values), 4),
                )
                for name, values in series.items()
            },
        )
        write_document(json_out, accuracy)
        print(f"wrote {json_out}")
    print()
    breakdown(outcomes)


def _family(args: list[str]) -> str:
    """Model family of a replay: the catalog id's stem, or the config file's name."""
    model = args[args.index("--model") + 1]
    name = Path(model).stem.lower()
    for family in ("gpt-oss", "llama", "qwen3", "deepseek", "mixtral"):
        if family.replace("-", "") in name.replace("-", ""):
            return family
    return name


def _gpu(args: list[str]) -> str:
    return args[args.index("--gpus") + 1].split("@")[0].split("x", 1)[1]


def breakdown(outcomes: list[Outcome]) -> None:
    """Median and worst absolute error per model family and per GPU (asserted rows; weights and
    KV cache, the latter where the observed KV is above 1 GiB), with the verdicts."""
    for label, key in (("family", _family), ("GPU", _gpu)):
        groups: dict[str, list[Outcome]] = {}
        for o in outcomes:
            if o.replay.asserted:
                groups.setdefault(key(o.replay.plan_args), []).append(o)
        print(
            f"{label:12} {'rows':>4} {'weights med':>11} {'worst':>7} {'KV med':>7} {'worst':>7}"
            f" {'verdicts':>9}"
        )
        for name in sorted(groups):
            rows = groups[name]
            w = [abs(o.errors["weights"]) for o in rows if "weights" in o.errors]
            kv = [
                abs(o.errors["kv_cache"])
                for o in rows
                if "kv_cache" in o.errors and o.replay.expect["kv_cache_gib"] > 1
            ]
            agree = sum(
                1 for o in rows if o.predicted["feasible"] == o.replay.expect.get("feasible")
            )

            def cell(values: list[float], f: Any) -> str:
                return f"{f(values) * 100:.2f}%" if values else "-"

            print(
                f"{name[:12]:12} {len(rows):>4} {cell(w, statistics.median):>11} "
                f"{cell(w, max):>7} {cell(kv, statistics.median):>7} {cell(kv, max):>7} "
                f"{agree:>4}/{len(rows):<4}"
            )
        print()


def published_throughput() -> None:
    """Roofline decode estimates next to published measurements (not asserted anywhere)."""
    from swissai.core.estimates import decode_step_seconds
    from swissai.core.hardware import hardware_from_spec
    from swissai.core.kernels import select_moe_kernel
    from swissai.core.planner import PlanRequest, make_plan
    from swissai.core.sizing import Layout, Limits, size_memory
    from swissai.core.vllm_versions import behaviour_for

    print()
    print("decode throughput, roofline estimate vs published (gpt-oss-120b, max-model-len 32768)")
    print(
        f"{'source':36} {'measured tok/s':>14} {'roofline B=256':>15} {'B=1000':>8} {'measured/B=256':>15}"
    )
    model = load_model("gpt-oss-120b")
    for label, gpus, tp, version, measured in PUBLISHED:
        hw = hardware_from_spec(gpus, load_gpu)
        plan = make_plan(
            PlanRequest(
                model=model,
                hardware=hw,
                vllm_version=version,
                tp=tp,
                max_model_len=32768,
                gpu_memory_utilization=0.95,
            )
        )
        gpu = hw.groups[0].gpu
        _, behaviour = behaviour_for(version)
        layout = Layout(tp=tp, pp=1, dp=1, expert_parallel=False)
        lim = plan.limits
        limits = Limits(
            lim.max_model_len,
            lim.max_num_seqs,
            lim.max_num_batched_tokens,
            lim.gpu_memory_utilization,
            lim.block_size,
            lim.kv_cache_dtype,
        )
        kernel = select_moe_kernel(model, gpu, "auto") or "fused_moe"
        sizing = size_memory(model, gpu, layout, limits, behaviour, kernel)
        rates = [
            b / decode_step_seconds(model, gpu, layout, sizing, b, SHAREGPT_CONTEXT_TOKENS)
            for b in (256, 1000)
        ]
        print(
            f"{label:36} {measured:>14.0f} {rates[0]:>15.0f} {rates[1]:>8.0f} "
            f"{measured / rates[0]:>15.2f}"
        )
    print("plans report the per-replica roofline x 0.5 (core/estimates.py SERVING_EFFICIENCY)")


if __name__ == "__main__":
    # `--json FILE`: also write the summary as a PlannerAccuracy document (swissai report)
    out = Path(sys.argv[sys.argv.index("--json") + 1]) if "--json" in sys.argv else None
    main(out)
    if out is None:
        published_throughput()
