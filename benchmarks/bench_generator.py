"""`swissai bench`'s load generator side by side with `vllm bench serve`, same machine, same server.

Both drive the project's fake OpenAI server (tests/fakes/fake_openai.py, its own process on
127.0.0.1, answers instantly), so the figures are each client's ceiling. Runs alternate
(vllm, swissai, vllm, swissai, ...) so a noisy neighbour hits both alike; the best run of each
is compared and the ratio printed (issue 17: swissai must reach >= 1.5x vllm's request and
token rate). Where vLLM is not installed (.venv-vllm, or --vllm-python) only swissai's figures
are printed, and it says so.

`vllm bench serve` needs a tokenizer for its random dataset: a tiny word-level one (the fake's
vocabulary) is built offline into a temporary folder with the `tokenizers`/`transformers` of
vLLM's venv; no download. vLLM is driven through vllm.benchmarks.serve (what `vllm bench serve`
calls), because the shared venv's `vllm` script lacks package metadata.

    .venv/bin/python benchmarks/bench_generator.py [--requests 400] [--tokens 16] \
        [--concurrency 32] [--runs 3] [--workers auto]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FAKE = REPO / "tests" / "fakes" / "fake_openai.py"
VLLM_PYTHON = REPO / ".venv-vllm" / "bin" / "python"

TOKENIZER_SCRIPT = r"""
import json, sys
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast
words = ["[UNK]", "[EOS]"] + [f"w{i}" for i in range(1000)] + ["hello", "word"]
tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", eos_token="[EOS]")
fast.save_pretrained(sys.argv[1])
"""

VLLM_SCRIPT = r"""
import sys
from vllm.benchmarks.serve import add_cli_args, main
from vllm.utils.argparse_utils import FlexibleArgumentParser
parser = FlexibleArgumentParser()
add_cli_args(parser)
main(parser.parse_args(sys.argv[1:]))
"""


def _run_vllm(python: Path, port: int, tok: str, args: argparse.Namespace, out: Path) -> dict:
    cmd = [
        str(python), "-c", VLLM_SCRIPT,
        "--backend", "vllm", "--base-url", f"http://127.0.0.1:{port}",
        "--endpoint", "/v1/completions", "--model", "fake-model", "--tokenizer", tok,
        "--dataset-name", "random", "--random-input-len", "32",
        "--random-output-len", str(args.tokens), "--num-prompts", str(args.requests),
        "--max-concurrency", str(args.concurrency), "--ignore-eos", "--disable-tqdm",
        "--save-result", "--result-dir", str(out.parent), "--result-filename", out.name,
        "--num-warmups", "0",
    ]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0 or not out.exists():
        raise RuntimeError(f"vllm bench serve failed:\n{done.stdout[-2000:]}{done.stderr[-3000:]}")
    result: dict = json.loads(out.read_text())
    return result


def _run_swissai(port: int, args: argparse.Namespace, workers: int) -> dict:
    from swissai.adapters.loadgen import Job, LoadGenerator, Target
    from swissai.core.bench_stats import aggregate

    body = json.dumps(
        {
            "model": "fake-model",
            "prompt": "word " * 31,
            "max_tokens": args.tokens,
            "stream": True,
            "stream_options": {"include_usage": True},
            "ignore_eos": True,
        }
    ).encode()
    jobs = [Job("/v1/completions", (body,))] * args.requests
    with LoadGenerator(Target(f"http://127.0.0.1:{port}", None, 60.0), workers) as gen:
        gen.run(jobs[:20], min(8, args.concurrency))  # warm-up: connections, interpreters
        outcome = gen.run(jobs, args.concurrency)
    s = aggregate(args.concurrency, outcome.records)
    return {
        "completed": s.completed,
        "failed": s.failed,
        "request_throughput": s.request_throughput,
        "output_throughput": s.output_throughput,
        "cpu_busy": outcome.cpu_busy,
        "workers": outcome.workers,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--tokens", type=int, default=16, help="streamed tokens per request")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--runs", type=int, default=3, help="alternating runs of each client")
    parser.add_argument("--workers", default="auto", help="swissai worker processes")
    parser.add_argument("--vllm-python", type=Path, default=VLLM_PYTHON)
    args = parser.parse_args()

    from swissai.adapters.loadgen import default_workers

    workers = default_workers(args.concurrency) if args.workers == "auto" else int(args.workers)
    have_vllm = args.vllm_python.exists()
    server = subprocess.Popen(
        [sys.executable, str(FAKE), "--port", "0", "--max-model-len", "100000"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline().split()[1])
        print(
            f"cpus: {os.cpu_count()}, python {sys.version.split()[0]}, fake server pid "
            f"{server.pid}; {args.requests} requests x {args.tokens} streamed tokens, "
            f"concurrency {args.concurrency}, swissai workers {workers}"
        )
        with tempfile.TemporaryDirectory() as tmp:
            tok = str(Path(tmp) / "tok")
            if have_vllm:
                subprocess.run(
                    [str(args.vllm_python), "-c", TOKENIZER_SCRIPT, tok], check=True, timeout=300
                )
            else:
                print(f"vLLM not installed ({args.vllm_python} missing): swissai's figures only")
            best: dict[str, dict] = {}
            for i in range(args.runs):
                if have_vllm:
                    t0 = time.perf_counter()
                    v = _run_vllm(args.vllm_python, port, tok, args, Path(tmp) / f"v{i}.json")
                    print(
                        f"run {i + 1} vllm bench serve: {v['request_throughput']:8.0f} req/s "
                        f"{v['output_throughput']:9.0f} tok/s  completed {v['completed']} "
                        f"failed {v['failed']} ({time.perf_counter() - t0:.0f} s with start-up)"
                    )
                    if v["request_throughput"] > best.get("vllm", {}).get("request_throughput", 0):
                        best["vllm"] = v
                s = _run_swissai(port, args, workers)
                print(
                    f"run {i + 1} swissai bench:    {s['request_throughput']:8.0f} req/s "
                    f"{s['output_throughput']:9.0f} tok/s  completed {s['completed']} "
                    f"failed {s['failed']}  busiest worker CPU {s['cpu_busy']:.0%}"
                )
                if s["request_throughput"] > best.get("swissai", {}).get("request_throughput", 0):
                    best["swissai"] = s
        if "vllm" in best:
            v, s = best["vllm"], best["swissai"]
            req = s["request_throughput"] / v["request_throughput"]
            tok_ratio = s["output_throughput"] / v["output_throughput"]
            verdict = "meets" if min(req, tok_ratio) >= 1.5 else "MISSES"
            print(
                f"best of {args.runs}: swissai / vllm = {req:.2f}x requests/s, "
                f"{tok_ratio:.2f}x tokens/s ({verdict} the 1.5x target)"
            )
    finally:
        server.terminate()
        server.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
