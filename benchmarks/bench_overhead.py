"""The load generator's own overhead: how many streamed requests per second `swissai bench`
can drive, and its CPU cost per request and per streamed token, against a trivial local server.
One worker, in this process (`--workers 1`): the cost of one event loop; more workers scale it
by the cores (benchmarks/bench_generator.py compares with `vllm bench serve`).

The server (tests/fakes/fake_openai.py) runs in its own process on 127.0.0.1 and answers
instantly, so the figures are the client's ceiling: when a real endpoint's request rate is far
below it, bench's numbers measure the endpoint, not bench. Uses swissai.adapters.loadgen (the
code `swissai bench` runs), warm connections, no progress bar.

    .venv/bin/python benchmarks/bench_overhead.py [--requests 400] [--tokens 16]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FAKE = REPO / "tests" / "fakes" / "fake_openai.py"


def _cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400, help="requests per level")
    parser.add_argument("--tokens", type=int, default=16, help="streamed tokens per request")
    parser.add_argument("--levels", default="1,8,32,64")
    args = parser.parse_args()

    import json

    from swissai.adapters.loadgen import Job, LoadGenerator, Target
    from swissai.core.bench_stats import aggregate

    server = subprocess.Popen(
        [sys.executable, str(FAKE), "--port", "0", "--max-model-len", "100000"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline().split()[1])
        base = f"http://127.0.0.1:{port}"
        body = json.dumps(
            {"model": "fake-model", "prompt": "word " * 32, "max_tokens": args.tokens,
             "stream": True, "stream_options": {"include_usage": True}, "ignore_eos": True}
        ).encode()  # fmt: skip
        job = Job("/v1/completions", (body,))
        gen = LoadGenerator(Target(base, None, 60.0), 1)
        print(f"cpus: {os.cpu_count()}, python {sys.version.split()[0]}, server pid {server.pid}")
        print(f"{args.requests} requests per level, {args.tokens} streamed tokens each")
        print(f"{'C':>4} {'req/s':>8} {'tok/s':>9} {'CPU ms/req':>11} {'CPU us/token':>13} "
              f"{'p50 E2E ms':>11} {'failed':>7}")  # fmt: skip
        # warm the interpreter and the server once
        gen.run([job] * 20, 4)
        for level in (int(x) for x in args.levels.split(",")):
            cpu0, t0 = _cpu_s(), time.perf_counter()
            run = gen.run([job] * args.requests, level)
            wall = time.perf_counter() - t0
            cpu = _cpu_s() - cpu0
            stats = aggregate(level, run.records)
            tokens = stats.total_output_tokens
            print(
                f"{level:>4} {stats.completed / wall:>8.0f} {tokens / wall:>9.0f} "
                f"{cpu / max(1, stats.completed) * 1000:>11.2f} "
                f"{cpu / max(1, tokens) * 1e6:>13.1f} {stats.e2el.median_ms:>11.2f} "
                f"{stats.failed:>7}"
            )
    finally:
        server.terminate()
        server.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
