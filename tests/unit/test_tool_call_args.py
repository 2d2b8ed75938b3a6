"""gpt-oss plans carry the flags without which vLLM never returns tool_calls (vLLM gpt-oss
recipe); other families get none they did not ask for; value flags come before booleans."""

from __future__ import annotations

from swissai.adapters.profiles import load_gpu, load_model
from swissai.core.hardware import hardware_from_spec
from swissai.core.planner import PlanRequest, make_plan


def _args(model: str, gpus: str) -> list[str]:
    plan = make_plan(
        PlanRequest(model=load_model(model), hardware=hardware_from_spec(gpus, load_gpu))
    )
    return plan.vllm.args


def test_gpt_oss_plans_enable_the_openai_tool_parser() -> None:
    args = _args("gpt-oss-20b", "1xh100-80gb")
    assert args[args.index("--tool-call-parser") + 1] == "openai"
    assert "--enable-auto-tool-choice" in args


def test_dense_llama_plans_have_no_tool_parser() -> None:
    args = _args("llama-3.1-8b-instruct", "1xh100-80gb")
    assert "--tool-call-parser" not in args and "--enable-auto-tool-choice" not in args


def test_value_flags_precede_boolean_flags() -> None:
    args = _args("gpt-oss-120b", "8xh100-80gb")
    first_boolean = args.index("--enable-auto-tool-choice")
    pairs = args[:first_boolean]
    assert all(flag.startswith("--") for flag in pairs[::2])
    assert not any(value.startswith("--") for value in pairs[1::2])
    assert all(a.startswith("--") for a in args[first_boolean:])
