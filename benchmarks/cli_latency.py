"""Wall time of `swissai --help` and of a default `swissai plan`, against `python -c pass`.

Target (issue 2): a default plan under 0.4 s on the project's 2-core machine; `--help` imports
neither kubernetes nor jinja2 nor pynvml. Best of N runs, each a fresh interpreter.

    .venv/bin/python benchmarks/cli_latency.py [--runs 7]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time


def best_of(cmd: list[str], runs: int) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        best = min(best, time.perf_counter() - start)
    return best


def heavy_modules_after_help() -> list[str]:
    probe = (
        "import sys; from typer.testing import CliRunner; from swissai.cli.main import app; "
        "CliRunner().invoke(app, ['--help']); "
        "print(' '.join(m for m in ('kubernetes','jinja2','pynvml','httpx','vllm') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return out.stdout.split()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    runs = parser.parse_args().runs
    py = sys.executable
    baseline = best_of([py, "-c", "pass"], runs)
    helptime = best_of([py, "-m", "swissai", "--help"], runs)
    plantime = best_of([py, "-m", "swissai", "plan", "-o", "json"], runs)
    print(f"python -c pass        {baseline * 1000:7.0f} ms")
    print(
        f"swissai --help        {helptime * 1000:7.0f} ms  (+{(helptime - baseline) * 1000:.0f} ms)"
    )
    print(
        f"swissai plan (default){plantime * 1000:7.0f} ms  (+{(plantime - baseline) * 1000:.0f} ms)"
        f"  target < 400 ms: {'met' if plantime < 0.4 else 'NOT met'}"
    )
    heavy = heavy_modules_after_help()
    print(f"heavy modules imported by --help: {', '.join(heavy) if heavy else 'none'}")


if __name__ == "__main__":
    main()
