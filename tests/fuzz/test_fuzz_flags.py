"""Fuzz tier (marker `fuzz`): the flag parsers. `--gpus` specs, `core/vllm_flags`
(`parse_flag`, `forbidden_reason`) and `swissai plan`'s options through typer's CliRunner.

Properties: no exception other than a SwissaiError with a one-line message and the right exit
code (2 for bad input; `plan` exits 0, 2 or 4 and never prints "internal error"); every
accepted `--gpus` spec is within the bounds the planner is built for; every spelling vLLM could
read as a forbidden flag is refused. Reproducible (`derandomize=True`, `database=None`) and
bounded (small `max_examples`, a per-example deadline). See tests/fuzz/test_fuzz_loaders.py.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from swissai.adapters.profiles import list_gpu_ids, load_gpu
from swissai.cli.main import app
from swissai.core.hardware import hardware_from_spec, parse_gpu_spec
from swissai.core.vllm_flag_table import TAKES_VALUE
from swissai.core.vllm_flags import FORBIDDEN_ARGS, Flag, forbidden_reason, parse_flag
from swissai.errors import EXIT_USAGE, SwissaiError
from swissai.models.gpu import MAX_GPUS, MAX_NODES

pytestmark = pytest.mark.fuzz

FUZZ = settings(
    max_examples=80,
    deadline=5000,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

# Digits of other scripts that Python's `\d` and int() accept: fullwidth, Arabic-Indic,
# Devanagari, superscript (isdigit() but not int()), and look-alikes of 'x' and '-'.
ODD_CHARS = "８٨४²×xX－‐-@,. \t\n0123456789"
GPU_IDS = [*list_gpu_ids(), "../gpus/h100-80gb", "/etc/passwd", "h100..80gb", "H100-80GB"]


@st.composite
def gpu_specs(draw: st.DrawFn) -> str:
    parts = []
    for _ in range(draw(st.integers(1, 3))):
        count = draw(
            st.sampled_from(["8", "0", "00008", "99999999999", "1" * 5000, "-8", "８", "٨"])
            | st.integers(0, 10_000).map(str)
        )
        parts.append(
            f"{count}{draw(st.sampled_from(['x', 'X', '×', '']))}{draw(st.sampled_from(GPU_IDS))}"
        )
    spec = draw(st.sampled_from([",", ", ", ";"])).join(parts)
    if draw(st.booleans()):
        spec += "@" + draw(st.sampled_from(["2", "0", "²", "٢", "99999999", "1" * 5000, ""]))
    return spec


@FUZZ
@given(
    spec=gpu_specs()
    | st.sampled_from(["", "\n", "@\n", " ", "8xh100-80gb\n", "8xh100-80gb@\x00", "\u2028"])
    | st.text(alphabet=ODD_CHARS + "abgh", max_size=30)
    | st.text(max_size=30)
)
def test_gpu_specs_parse_within_bounds_or_are_refused(spec: str) -> None:
    try:
        parts, nodes = parse_gpu_spec(spec)
        hardware = hardware_from_spec(spec, load_gpu)
    except SwissaiError as exc:
        assert exc.exit_code == EXIT_USAGE and "\n" not in exc.message, exc.message
        return
    assert 1 <= nodes <= MAX_NODES
    assert 1 <= sum(count for count, _ in parts) <= MAX_GPUS
    assert all(gpu_id in list_gpu_ids() for _, gpu_id in parts)
    assert hardware.total_gpus == sum(count for count, _ in parts)
    assert spec.isascii() or not any(ch.isdigit() and not ch.isascii() for ch in spec)


# --- vllm_flags -------------------------------------------------------------------------------

FLAG_NAMES = sorted(TAKES_VALUE)


@st.composite
def flag_tokens(draw: st.DrawFn) -> str:
    name = draw(st.sampled_from([*FLAG_NAMES, *FORBIDDEN_ARGS]))[2:]
    cut = draw(st.integers(1, len(name)))
    name = name[:cut] if draw(st.booleans()) else name
    if draw(st.booleans()):
        name = name.replace("-", "_")
    if draw(st.booleans()):
        name = "".join(c.upper() if draw(st.booleans()) else c for c in name)
    token = draw(st.sampled_from(["--", "-", "—", "－－", "--"])) + name
    if draw(st.booleans()):
        token += draw(st.sampled_from([".level", ".x.y", ""])) + "=" + draw(st.text(max_size=8))
    return token


@FUZZ
@given(token=flag_tokens() | st.text(max_size=40))
def test_parse_flag_and_forbidden_reason_never_raise(token: str) -> None:
    flag = parse_flag(token)
    reason = forbidden_reason(token)
    assert flag is None or isinstance(flag, Flag)
    assert reason is None or (isinstance(reason, str) and reason)
    if flag is None:
        assert reason is None
    else:
        assert flag.name.startswith("--") and flag.token == token


@FUZZ
@given(
    forbidden=st.sampled_from(sorted(FORBIDDEN_ARGS)),
    cut=st.integers(0, 40),
    underscores=st.booleans(),
    upper=st.booleans(),
    value=st.none() | st.text(max_size=8),
)
def test_every_spelling_of_a_forbidden_flag_is_refused(
    forbidden: str, cut: int, underscores: bool, upper: bool, value: str | None
) -> None:
    """What vLLM would read as a forbidden flag (exact, `_` for `-`, a unique or ambiguous
    prefix longer than 3 characters, any change of case) is refused."""
    name = forbidden[2:]
    name = name[: max(4, len(name) - cut)]
    if name != forbidden[2:] and "--" + name in TAKES_VALUE:
        return  # a prefix that is itself another flag means that flag
    if underscores:
        name = name.replace("-", "_")
    if upper:
        name = name.upper()
    token = "--" + name + ("" if value is None else "=" + value)
    assert forbidden_reason(token) is not None, token


# --- swissai plan through CliRunner -----------------------------------------------------------

NUMBERS = st.sampled_from(
    ["0", "-1", "1", "8", "16", "1e3", "nan", "inf", "-inf", "1" * 30, "99999999999", "８", ""]
) | st.integers(-(2**40), 2**40).map(str)
FRACTIONS = st.sampled_from(
    ["nan", "inf", "-0.0", "0", "1", "1.0000001", "0.9", "1e-320", "abc"]
) | st.floats().map(str)
OPTIONS: dict[str, Any] = {
    "--tp": NUMBERS,
    "--pp": NUMBERS,
    "--dp": NUMBERS,
    "--max-model-len": NUMBERS,
    "--max-num-seqs": NUMBERS,
    "--max-num-batched-tokens": NUMBERS,
    "--block-size": NUMBERS,
    "--concurrency": NUMBERS,
    "--gpu-memory-utilization": FRACTIONS,
    "--kv-cache-dtype": st.sampled_from(["auto", "fp8", "FP8", "", "fp4"]),
    "--moe-backend": st.sampled_from(["auto", "triton", "marlin", "flashinfer", "cutlass"]),
    "--model": st.sampled_from(
        ["gpt-oss-20b", "gpt-oss-120b", "llama-3.1-8b-instruct", "../gpus/h100-80gb", "/", "x"]
    ),
    "--gpus": gpu_specs(),
    "--vllm-version": st.sampled_from(
        ["0.11.0", "0.32.0", "v0.10.1.1", "1" * 5000 + ".0.0", "0.١١.0", "0.11", "", "9.9.9"]
    ),
}


@settings(FUZZ, max_examples=40)
@given(
    chosen=st.dictionaries(st.sampled_from(sorted(OPTIONS)), st.just(None), max_size=5),
    data=st.data(),
)
def test_plan_options_exit_0_2_or_4_never_crash(
    chosen: dict[str, None], data: st.DataObject
) -> None:
    args = ["plan", "-o", "json"]
    if "--gpus" not in chosen:
        args += ["--gpus", "8xh100-80gb"]  # never probe the machine
    for option in chosen:
        args += [option, data.draw(OPTIONS[option], label=option)]
    result = CliRunner().invoke(app, args)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert result.exit_code in (0, 2, 4), (args, result.stderr)
    assert "internal error" not in result.stderr, (args, result.stderr)
    if result.exit_code == 2:
        lines = result.stderr.strip().splitlines()
        assert [line for line in lines if line.startswith("error:")] == lines[:1], lines
        assert lines[-1].startswith("hint:") and len(lines) == 2, lines
