"""How vLLM reads `vllm serve` flags, and the flags and variables swissai never lets through.

One normalisation, as vLLM parses, and one policy for `render`, `check` and `serve`:

- vLLM's `FlexibleArgumentParser` (vllm/utils/argparse_utils.py, `parse_args`) replaces `_`
  by `-` in a flag's name, from the `--` up to the first `.` (JSON sub-keys such as
  `--compilation-config.level`), and keeps the value after `=` as it is.
- argparse then expands a unique prefix (`allow_abbrev=True`, checked against vLLM 0.32.0's
  parser): `--trust-rem` is `--trust-remote-code`, `--api-ke=x` is `--api-key x`; an ambiguous
  prefix (`--trust`) is an error. Names are case-sensitive: `--Trust-Remote-Code` is refused
  by vLLM, and refused here too, as is any spelling that folds onto a forbidden flag.

The table of flags (`vllm_flag_table.py`) is generated from vLLM's own parser
(swissai/tools/gen_vllm_flags.py); a flag a newer vLLM adds is unknown here and kept verbatim,
but a token that could expand to a forbidden flag is refused whatever the table says.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from swissai.core.vllm_flag_table import TAKES_VALUE

MASK = "********"

# Flags that must never reach vLLM: remote code (SEC-006), a literal key in argv (SEC-003: it
# would sit in /proc/PID/cmdline and in the pod spec), prompt or completion logging (LOG-001),
# external tool servers (RES-010).
FORBIDDEN_ARGS: dict[str, str] = {
    "--trust-remote-code": "remote code from the model repository is never run (SEC-006)",
    "--api-key": "the API key comes from a Secret or file via VLLM_API_KEY, never from argv "
    "(SEC-003)",
    "--enable-log-requests": "prompts must not be logged (LOG-001)",
    "--enable-log-outputs": "completions must not be logged (LOG-001)",
    "--tool-server": "no external tool servers (RES-010)",
}
# Flags whose value is a secret: masked wherever an argv is printed.
SECRET_ARGS = frozenset({"--api-key"})

# Variables that must never reach vLLM from a plan or an inherited environment.
FORBIDDEN_ENV: dict[str, str] = {
    "VLLM_API_KEY": "the API key comes from the site's Secret or --api-key-file, not the plan",
    "HF_TOKEN": "no hub token in a sovereign deployment (RES-005)",
    "HUGGING_FACE_HUB_TOKEN": "no hub token in a sovereign deployment (RES-005)",
    "VLLM_USAGE_STATS_SERVER": "usage statistics stay off (RES-006)",
    "VLLM_SERVER_DEV_MODE": "no development endpoints (SEC-005)",
    "HF_ENDPOINT": "no hub endpoint: weights come from the local directory (RES-005)",
    "VLLM_USE_MODELSCOPE": "no model hub (RES-005)",
}


@dataclass(frozen=True)
class Flag:
    """One `--flag[=value]` token as vLLM reads it."""

    token: str  # as given
    name: str  # the flag vLLM resolves it to (canonical), or the normalised token when unknown
    value: str | None  # the part after `=`, None without one
    known: bool  # `name` is a flag of the table's vLLM
    abbreviated: bool  # vLLM expanded a prefix to reach `name`
    takes_value: bool | None  # from the table; None when unknown


def normalised_name(token: str) -> str:
    """`--Foo_bar.x=1` -> `--Foo-bar`: vLLM's underscore rule, the JSON sub-key dropped."""
    head = token.split("=", 1)[0]
    name = head[2:].split(".", 1)[0]
    return "--" + name.replace("_", "-")


def parse_flag(token: str, known: Mapping[str, bool] = TAKES_VALUE) -> Flag | None:
    """The flag a `--` token is to vLLM; None for anything else (a value, the model)."""
    if not token.startswith("--") or token == "--":
        return None
    name = normalised_name(token)
    value = token.split("=", 1)[1] if "=" in token else None
    if name in known:
        return Flag(token, name, value, True, False, known[name])
    matches = [flag for flag in known if flag.startswith(name)]
    if len(matches) == 1:
        return Flag(token, matches[0], value, True, True, known[matches[0]])
    return Flag(token, name, value, False, False, None)


def forbidden_reason(token: str, known: Mapping[str, bool] = TAKES_VALUE) -> str | None:
    """Why a token may not reach vLLM, or None. Refuses every spelling that vLLM (this one or a
    newer one with more flags) could read as a forbidden flag: exact, `_` for `-`, a unique or
    ambiguous prefix, and any change of case (vLLM refuses those; they are never meant well)."""
    flag = parse_flag(token, known)
    if flag is None:
        return None
    if flag.name in FORBIDDEN_ARGS:
        return FORBIDDEN_ARGS[flag.name]
    for forbidden in FORBIDDEN_ARGS:
        if _may_mean(flag, forbidden, known):
            return FORBIDDEN_ARGS[forbidden]
    return None


def _may_mean(flag: Flag, target: str, known: Mapping[str, bool]) -> bool:
    """`flag` is `target`, a re-cased spelling of it, or a prefix of it that is not itself a
    flag (vLLM expands a unique prefix and refuses an ambiguous one; a newer vLLM may make an
    ambiguous one unique)."""
    folded = flag.name.lower()
    if folded == target:
        return True
    return len(folded) > 3 and target.startswith(folded) and folded not in known


@dataclass(frozen=True)
class Violation:
    where: str  # e.g. "vllm.args[3]" or "env VLLM_SERVER_DEV_MODE"
    token: str  # the offending token or variable name (never a secret value)
    flag: str  # the forbidden flag or variable it resolves to
    reason: str


def arg_violations(args: Sequence[str], where: str = "args") -> list[Violation]:
    """Every token of an argv that resolves to a forbidden flag."""
    found = []
    for i, token in enumerate(args):
        reason = forbidden_reason(str(token))
        if reason is not None:
            flag = parse_flag(str(token))
            name = token.split("=", 1)[0]
            found.append(Violation(f"{where}[{i}]", name, flag.name if flag else name, reason))
    return found


def env_violations(names: Iterable[str], where: str = "env") -> list[Violation]:
    """Forbidden variables among `names`; names are compared case-insensitively (Linux is
    case-sensitive, but a re-cased name in a plan is never meant well)."""
    upper = {name.upper(): name for name in FORBIDDEN_ENV}
    found = []
    for name in names:
        canonical = upper.get(str(name).upper())
        if canonical is not None:
            found.append(
                Violation(f"{where} {name}", str(name), canonical, FORBIDDEN_ENV[canonical])
            )
    return found


def is_secret_flag(token: str, known: Mapping[str, bool] = TAKES_VALUE) -> bool:
    """The token is (or may be read as) a flag whose value is a secret."""
    flag = parse_flag(token, known)
    return flag is not None and any(_may_mean(flag, secret, known) for secret in SECRET_ARGS)


def masked_argv(argv: Sequence[str]) -> list[str]:
    """The argv with the value of every secret flag (`--api-key x`, `--api_key=x`, `--api-ke=x`)
    replaced by MASK: safe to print or log."""
    out: list[str] = []
    mask_next = False
    for token in argv:
        if mask_next:
            out.append(MASK)
            mask_next = False
            continue
        if is_secret_flag(token):
            if "=" in token:
                out.append(token.split("=", 1)[0] + "=" + MASK)
            else:
                out.append(token)
                mask_next = True
            continue
        out.append(token)
    return out
