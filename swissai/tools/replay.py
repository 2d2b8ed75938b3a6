"""Replay real vLLM startup observations as `swissai plan` what-ifs and measure the agreement.

Used by tests/unit/test_observation_replay.py (asserts the tolerances) and by
benchmarks/plan_accuracy.py (prints the table). Each replay runs the real CLI in-process with
the settings the source states and compares the ServePlan with what vLLM printed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

# Tolerances of issue 2 ("Done means").
WEIGHTS_REL_TOL = 0.03
KV_REL_TOL = 0.05
KV_ABS_TOL_GIB = 0.5
CONCURRENCY_REL_TOL = 0.05
TOKENS_REL_TOL = 0.05


@dataclass(frozen=True)
class Replay:
    id: str
    plan_args: list[str]
    expect: dict[str, Any]
    asserted: bool
    source: str
    note: str = ""


@dataclass
class Outcome:
    replay: Replay
    predicted: dict[str, Any]
    errors: dict[str, float] = field(default_factory=dict)  # relative errors (pred/obs - 1)
    failures: list[str] = field(default_factory=list)

    @property
    def agrees(self) -> bool:
        return not self.failures


def _args(raw: list[Any], data: Path) -> list[str]:
    """plan_args with `{data}` standing for the folder of the replay file (model configs of
    checkpoints outside the catalog live in tests/data/model_configs/)."""
    return [str(a).replace("{data}", str(data)) for a in raw]


def load_replays(observations: Path, replays: Path) -> list[Replay]:
    data = replays.resolve().parent
    obs = yaml.safe_load(observations.read_text(encoding="utf-8"))["observations"]
    sources = {o["id"]: str(o.get("source", "")) for o in obs}
    spec = yaml.safe_load(replays.read_text(encoding="utf-8"))
    out: list[Replay] = []
    for r in spec["replays"]:
        if r["id"] not in sources:
            raise KeyError(f"replay {r['id']} names no observation")
        out.append(
            Replay(
                r["id"],
                _args(r["plan_args"], data),
                r["expect"],
                bool(r["assert"]),
                sources[r["id"]],
                str(r.get("correction", "")),
            )
        )
    for extra in spec.get("extra_observations", []):
        rep = extra["replay"]
        out.append(
            Replay(
                extra["id"],
                _args(rep["plan_args"], data),
                rep["expect"],
                bool(rep["assert"]),
                str(extra["source"]),
            )
        )
    return out


def run_plan(args: list[str]) -> dict[str, Any]:
    """`swissai plan ARGS -o json` in-process; exit 0 (fits) and 4 (does not fit) both plan."""
    from typer.testing import CliRunner

    from swissai.cli.main import app

    result = CliRunner().invoke(app, ["plan", *args, "-o", "json"])
    if result.exit_code not in (0, 4):
        raise RuntimeError(
            f"swissai plan {' '.join(args)} exited {result.exit_code}: {result.output}"
        )
    plan: dict[str, Any] = json.loads(result.stdout)
    return plan


def compare(replay: Replay) -> Outcome:
    plan = run_plan(replay.plan_args)
    mem = plan["memory_per_gpu_gib"]
    predicted = {
        "weights_gib": mem["weights"],
        "kv_cache_gib": mem["kv_cache"],
        "kv_tokens": plan["kv_cache"]["tokens"],
        "max_concurrency": plan["kv_cache"]["max_concurrency"],
        "feasible": plan["feasible"],
    }
    outcome = Outcome(replay, predicted)
    exp = replay.expect
    if "weights_gib" in exp:
        err = predicted["weights_gib"] / exp["weights_gib"] - 1
        outcome.errors["weights"] = err
        if abs(err) > WEIGHTS_REL_TOL:
            outcome.failures.append(f"weights {predicted['weights_gib']} vs {exp['weights_gib']}")
    if "kv_cache_gib" in exp:
        diff = predicted["kv_cache_gib"] - exp["kv_cache_gib"]
        rel = diff / abs(exp["kv_cache_gib"])
        outcome.errors["kv_cache"] = rel
        if abs(rel) > KV_REL_TOL and abs(diff) > KV_ABS_TOL_GIB:
            outcome.failures.append(f"KV {predicted['kv_cache_gib']} vs {exp['kv_cache_gib']} GiB")
    if "max_concurrency" in exp:
        err = predicted["max_concurrency"] / exp["max_concurrency"] - 1
        outcome.errors["concurrency"] = err
        if abs(err) > CONCURRENCY_REL_TOL:
            outcome.failures.append(
                f"concurrency {predicted['max_concurrency']} vs {exp['max_concurrency']}"
            )
    if "kv_tokens" in exp:
        err = predicted["kv_tokens"] / exp["kv_tokens"] - 1
        outcome.errors["tokens"] = err
        if abs(err) > TOKENS_REL_TOL:
            outcome.failures.append(f"tokens {predicted['kv_tokens']} vs {exp['kv_tokens']}")
    if "feasible" in exp and predicted["feasible"] != exp["feasible"]:
        outcome.failures.append(f"verdict {predicted['feasible']} vs {exp['feasible']}")
    return outcome
