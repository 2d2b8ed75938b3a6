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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from swissai.adapters.profiles import load_gpu, load_model  # noqa: E402
from swissai.core.weights import checkpoint_bytes  # noqa: E402
from swissai.models.gpu import GIB  # noqa: E402
from swissai.tools.replay import Outcome, compare, load_replays  # noqa: E402

KAITO_OVERHEAD_GIB = 1.0


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


def main() -> None:
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


if __name__ == "__main__":
    main()
