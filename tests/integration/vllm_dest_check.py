"""Which forbidden options does vLLM's REAL `vllm serve` parser set for each argv? (.venv-vllm)

stdin: {"flags": ["--trust-remote-code", ...], "argvs": [[...], ...]} (each argv is what follows
`vllm serve`). stdout: one JSON object: {"dests": {flag: dest or null}, "results": [{"ok": bool,
"set": [flags whose dest differs from the default]}]}. The parser is built once, as `vllm serve`
builds it (ServeSubcommand on a FlexibleArgumentParser: its `_`-for-`-` rewrite included).
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
    from vllm.entrypoints.cli.serve import ServeSubcommand
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    parser = FlexibleArgumentParser(prog="vllm")
    subparsers = parser.add_subparsers(dest="subparser")
    ServeSubcommand().subparser_init(subparsers)
    serve = subparsers.choices["serve"]
    dests: dict[str, str | None] = {}
    for flag in request["flags"]:
        dests[flag] = next((a.dest for a in serve._actions if flag in a.option_strings), None)
    baseline = vars(parser.parse_args(["serve", "m"]))
    results = []
    for argv in request["argvs"]:
        try:
            with contextlib.redirect_stderr(io.StringIO()):
                parsed = vars(parser.parse_args(["serve", "m", *argv]))
        except SystemExit:
            results.append({"ok": False, "set": []})
            continue
        changed = [
            flag
            for flag, dest in dests.items()
            if dest is not None and parsed.get(dest) != baseline.get(dest)
        ]
        results.append({"ok": True, "set": changed})
    sys.stdout.write(json.dumps({"dests": dests, "results": results}) + "\n")


if __name__ == "__main__":
    main()
