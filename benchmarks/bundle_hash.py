"""sha256 throughput of `swissai bundle verify` on multi-GB files, one thread vs. several.

Generates sparse files (ftruncate: no disk space, reads come from the page cache of the hole,
so this measures the hashing, not the disk; one untimed pass warms the page cache), hashes them through the same code `bundle verify`
uses (swissai.adapters.bundle_files.hash_files: 8 MiB streaming chunks, one file per thread)
and prints GB/s. Target (issue 13): hashing must not be the bottleneck of verifying weights
from disk, and more jobs must scale across cores (hashlib releases the GIL for large buffers).

    .venv/bin/python benchmarks/bundle_hash.py [--files 4] [--gib 2] [--jobs 1,2,4]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import tempfile
import time
from pathlib import Path

from swissai.adapters.bundle_files import hash_files


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--gib", type=float, default=2.0, help="size of each file")
    parser.add_argument("--jobs", default=f"1,{min(8, os.cpu_count() or 1)}")
    parser.add_argument("--dir", type=Path, default=None, help="where to create the files")
    args = parser.parse_args()
    size = int(args.gib * 2**30)
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        root = Path(tmp)
        names = []
        for i in range(args.files):
            name = f"model-{i:05d}.safetensors"
            with open(root / name, "wb") as handle:
                handle.truncate(size)
            names.append(name)
        total = size * len(names)
        # the expected hash of a file of zeros, computed independently once
        zero = hashlib.sha256()
        block = bytes(8 * 2**20)
        left = size
        while left:
            zero.update(block[: min(left, len(block))])
            left -= min(left, len(block))
        print(f"{len(names)} sparse files x {args.gib:g} GiB = {total / 1e9:.2f} GB")
        # One untimed pass first: the first read of a hole fills the page cache, which would
        # make whichever row runs first slower than the others.
        dict(hash_files(root, names, jobs=len(names)))
        start = time.perf_counter()
        probe = hashlib.sha256()
        for _ in range(128):
            probe.update(block)
        print(
            f"hashlib alone, one core, in memory: {2**30 / (time.perf_counter() - start) / 1e9:.2f} GB/s"
        )
        print(f"{'jobs':>4}  {'seconds':>8}  {'GB/s':>6}")
        for jobs in (int(j) for j in args.jobs.split(",")):
            start = time.perf_counter()
            results = dict(hash_files(root, names, jobs=jobs))
            seconds = time.perf_counter() - start
            assert all(r == zero.hexdigest() for r in results.values()), results
            print(f"{jobs:>4}  {seconds:>8.2f}  {total / seconds / 1e9:>6.2f}")


if __name__ == "__main__":
    main()
