"""Wall time of `swissai size` over the whole GPU catalog for one workload (issue 12: < 1 s).

Two figures: the first call in a fresh process (planning every replica shape and fitting the
efficiency table on the packaged measurements) and a warm call (shapes and fit cached), plus
the whole command in a fresh interpreter. Best of N.

    .venv/bin/python benchmarks/size_catalog.py [--runs 5]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

COLD = (
    "import time; t=time.perf_counter(); "
    "from swissai.services.size import SizeOptions, size; "
    "r, _ = size(SizeOptions(users=2000)); "
    "print(time.perf_counter()-t, len(r.options))"
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    cold = []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", COLD], capture_output=True, text=True, check=True
        )
        seconds, gpus = out.stdout.split()
        cold.append(float(seconds))
    from swissai.services.size import SizeOptions, size

    size(SizeOptions(users=2000))
    warm = []
    for _ in range(runs):
        start = time.perf_counter()
        size(SizeOptions(users=2000))
        warm.append(time.perf_counter() - start)
    cli = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "swissai", "size", "--users", "2000", "-o", "json"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=True,
        )
        cli.append(time.perf_counter() - start)
    print(f"size over the catalog ({gpus} GPU types, gpt-oss-120b, 2,000 users), best of {runs}:")
    print(f"  first call in a process (imports + plans + table): {min(cold):.3f} s")
    print(f"  warm call:                                          {min(warm):.3f} s")
    print(f"  `swissai size` command, fresh interpreter:          {min(cli):.3f} s")
    print(f"  target < 1 s: {'met' if min(cold) < 1.0 else 'NOT met'}")


if __name__ == "__main__":
    main()
