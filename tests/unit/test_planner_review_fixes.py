"""Defects found in review of the planner, each pinned by a test that failed before its fix."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from swissai.adapters.profiles import load_gpu, load_model
from swissai.core.hardware import hardware_from_spec
from swissai.core.model_config import parse_model_config
from swissai.core.planner import PlanRequest, make_plan, validate_request
from swissai.errors import InputError

CONFIGS = Path(__file__).resolve().parents[2] / "profiles" / "models" / "configs"


def _config(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((CONFIGS / name).read_text())
    return data


def _plan(model: str, gpus: str, **kw: Any) -> Any:
    return make_plan(
        PlanRequest(model=load_model(model), hardware=hardware_from_spec(gpus, load_gpu), **kw)
    )


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("num_attention_heads", 0),
        ("hidden_size", 0),
        ("num_key_value_heads", -8),
        ("num_key_value_heads", 7),  # 32 heads do not group over 7 KV heads
        ("vocab_size", 0),
    ],
)
def test_impossible_configs_are_input_errors_not_crashes(key: str, value: int) -> None:
    config = copy.deepcopy(_config("Meta-Llama-3.1-8B.json"))
    config[key] = value
    with pytest.raises(InputError):
        parse_model_config(config, model_id="bad", source="test")


def test_more_experts_per_token_than_experts_is_refused() -> None:
    config = copy.deepcopy(_config("gpt-oss-20b.json"))
    config["num_experts_per_tok"] = config["experts_per_token"] = 64
    with pytest.raises(InputError, match="experts per token"):
        parse_model_config(config, model_id="bad", source="test")


def test_gpt_oss_needs_vllm_0_10_1() -> None:
    with pytest.raises(InputError, match="cannot serve gpt-oss"):
        _plan("gpt-oss-20b", "1xh100-80gb", vllm_version="0.10.0")


@pytest.mark.parametrize(("version", "has_parser"), [("0.10.1", False), ("0.10.2", True)])
def test_openai_tool_parser_only_where_vllm_has_it(version: str, has_parser: bool) -> None:
    args = _plan("gpt-oss-20b", "1xh100-80gb", vllm_version=version).vllm.args
    assert ("--tool-call-parser" in args) is has_parser


@pytest.mark.parametrize(
    ("model", "gpus", "kw"),
    [
        ("gpt-oss-120b", "1xh100-80gb", {"max_model_len": 56320}),
        ("gpt-oss-120b", "8xh100-80gb", {}),
        ("llama-3.1-8b-instruct", "1xl40s-48gb", {}),
    ],
)
def test_a_replica_is_never_slower_than_one_sequence(model: str, gpus: str, kw: Any) -> None:
    est = _plan(model, gpus, **kw).estimates
    assert est.decode_tokens_per_s_per_replica >= est.decode_tokens_per_s_per_sequence


def test_infeasible_plan_shows_the_layout_closest_to_fitting() -> None:
    plan = _plan("gpt-oss-120b", "2xrtx4090-24gb")
    assert not plan.feasible
    # TP2 halves the weights per GPU; TP1 would show 66 GiB of weights on a 24 GiB card.
    assert plan.layout.tensor_parallel_size == 2
    tp1 = next(a for a in plan.alternatives if a.tensor_parallel_size == 1)
    assert plan.memory_per_gpu_gib.kv_cache > tp1.kv_cache_gib


def test_forced_tp_across_nodes_says_so() -> None:
    plan = _plan("gpt-oss-120b", "16xh100-80gb@2", tp=16)
    assert any("spans nodes" in w for w in plan.warnings)
    assert not any("TP inside a node, PP across nodes" in r for r in plan.reasons)
    assert not any("over PCIe" in w for w in plan.warnings)


def test_batch_limits_contradiction_is_caught_before_hardware() -> None:
    req = PlanRequest(
        model=load_model("gpt-oss-20b"), hardware=None, max_num_batched_tokens=64, max_num_seqs=128
    )
    with pytest.raises(InputError, match="is below --max-num-seqs"):
        validate_request(req)


def test_list_gpus_in_json_is_one_document() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "swissai", "plan", "--list-gpus", "-o", "json"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "h100-80gb" in json.loads(out)
