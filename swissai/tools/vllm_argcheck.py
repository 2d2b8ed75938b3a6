"""Parse a `vllm serve` argv with vLLM's real parser; runs inside a vLLM installation.

Used by swissai/adapters/vllm_parser.py for `swissai plan --extra-vllm-arg`: stdin is a JSON
list (the flags after `vllm serve MODEL`), stdout one JSON object {"ok": bool, "error": str}.
The parser is built as `vllm serve` builds it (ServeSubcommand), so flag names, prefixes,
types, choices and JSON values are checked exactly as vLLM will check them at start.
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
    argv = json.load(sys.stdin)
    from vllm.entrypoints.cli.serve import ServeSubcommand
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    parser = FlexibleArgumentParser(prog="vllm")
    subparsers = parser.add_subparsers(dest="subparser")
    ServeSubcommand().subparser_init(subparsers)
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            parser.parse_args(["serve", "swissai-argcheck-model", *argv])
        result = {"ok": True, "error": ""}
    except SystemExit:
        lines = err.getvalue().strip().splitlines()
        result = {"ok": False, "error": lines[-1] if lines else "refused"}
    except Exception as exc:  # reported, not raised: the caller prints one line
        result = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
