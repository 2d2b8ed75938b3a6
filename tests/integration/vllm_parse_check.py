"""Parse serve argvs with vLLM's real `vllm serve` argument parser; runs inside .venv-vllm.

stdin: {"model_dir": DIR, "argvs": [[...], ...]} (each argv is what follows `vllm serve`).
stdout: one JSON list, per argv {"ok": bool, "error": str}. The parser is built once
(ServeSubcommand, as `vllm serve` builds it); each parsed namespace is turned into
AsyncEngineArgs with the model replaced by a local tiny model, since EngineArgs resolves the
model through the hub (offline here).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys

os.environ.setdefault("VLLM_TARGET_DEVICE", "cpu")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("VLLM_NO_USAGE_STATS", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")


def main() -> None:
    request = json.load(sys.stdin)
    from vllm.engine.arg_utils import AsyncEngineArgs
    from vllm.entrypoints.cli.serve import ServeSubcommand
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    parser = FlexibleArgumentParser(prog="vllm")
    subparsers = parser.add_subparsers(dest="subparser")
    ServeSubcommand().subparser_init(subparsers)
    results = []
    for argv in request["argvs"]:
        err = io.StringIO()
        try:
            with contextlib.redirect_stderr(err):
                ns = parser.parse_args(["serve", *argv])
            ns.model_tag = None
            ns.model = request["model_dir"]
            AsyncEngineArgs.from_cli_args(ns)
            results.append({"ok": True, "error": ""})
        except SystemExit:
            results.append({"ok": False, "error": err.getvalue().strip().splitlines()[-1:]})
        except Exception as exc:  # reported per argv
            results.append({"ok": False, "error": f"{type(exc).__name__}: {exc}"})
    sys.stdout.write(json.dumps(results) + "\n")


if __name__ == "__main__":
    main()
