"""Issue 15: nested (multimodal) configs and hybrid models whose layers mix full attention with
linear-attention / Mamba-style layers, sized as vLLM's hybrid KV cache manager sizes them.

The geometry follows vLLM (config.py `HybridAttentionMambaModelConfig`, kv_cache_utils.py): the
attention block grows in steps of 16 tokens until one attention page holds one request's
recurrent state, state pages are padded to it, layers group by the smallest type count, and a
state group holds one page per request (prefix caching of states off)."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import pytest

from swissai.adapters.profiles import load_gpu
from swissai.core.hardware import hardware_from_spec
from swissai.core.model_config import parse_model_config
from swissai.core.planner import PlanRequest, make_plan
from swissai.errors import InputError

DATA = Path(__file__).resolve().parents[1] / "data" / "model_configs"
QWEN3_NEXT = json.loads((DATA / "Qwen3-Next-80B-A3B-Instruct.json").read_text())
LLAMA = json.loads((DATA / "Mixtral-8x7B-v0.1-GPTQ.json").read_text())  # a plain decoder


def spec(config: dict[str, Any]) -> Any:
    return parse_model_config(copy.deepcopy(config), model_id="m", source="test")


def test_qwen3_next_layers_and_parameters() -> None:
    m = spec(QWEN3_NEXT)
    assert m.layer_attention.count("full") == 12 and m.layer_attention.count("state") == 36
    assert m.layer_attention[3] == "full" and m.layer_attention[0] == "state"
    assert m.state is not None and m.state.kind == "gated_delta_net"
    assert m.params_total == pytest.approx(80e9, rel=0.01)  # "80B" in the model's name
    assert m.rotary_dim == 64  # partial_rotary_factor 0.25 of head_dim 256


def test_hybrid_geometry_as_vllm_builds_it() -> None:
    m = spec(QWEN3_NEXT)
    hw = hardware_from_spec("4xh100-80gb", load_gpu)
    plan = make_plan(PlanRequest(model=m, hardware=hw, tp=4, max_model_len=32768, min_replicas=1))
    kv = plan.kv_cache
    # per rank: 1 KV head (2 over TP4, replicated) x 256 x 2 (K, V) x 2 bytes = 1 KiB per token
    state = (8192 // 4 * 3 + 32 // 4 * 128 * 128) * 2
    block = 16 * math.ceil(state / (16 * 1024))
    assert block == 272
    assert kv.page_size_bytes == block * 1024 >= state
    assert kv.groups == 4 and kv.layers_per_group == 12  # 1 full + 3 state groups of 12
    assert kv.blocks_per_request == math.ceil(32768 / block) + 3
    assert kv.bytes_per_token == 12 * 1024  # only full-attention layers grow with context
    assert plan.feasible


def test_hybrid_serves_far_more_long_requests_than_if_all_layers_were_attention() -> None:
    hw = hardware_from_spec("4xh100-80gb", load_gpu)
    hybrid = spec(QWEN3_NEXT)
    dense_attn = hybrid.model_copy(update={"layer_attention": ["full"] * 48, "state": None})
    req = {"hardware": hw, "tp": 4, "max_model_len": 262144, "min_replicas": 1}
    a = make_plan(PlanRequest(model=hybrid, **req))
    b = make_plan(PlanRequest(model=dense_attn, **req))
    assert a.kv_cache.max_concurrency > 3 * b.kv_cache.max_concurrency


def test_layer_types_spellings_and_mamba2() -> None:
    cfg = copy.deepcopy(LLAMA)
    cfg.pop("quantization_config")
    cfg["layer_types"] = ["mamba", "mamba", "mamba", "attention"] * 8
    cfg.update(mamba_n_heads=128, mamba_d_head=64, mamba_d_state=128, mamba_n_groups=8)
    m = spec(cfg)
    assert m.num_state_layers == 24 and m.state is not None and m.state.kind == "mamba2"
    assert m.state.state_bytes(1) == (128 * 64 + 2 * 8 * 128) * 3 * 2 + 128 * 64 * 128 * 2


def test_state_layers_without_dimensions_are_refused() -> None:
    cfg = copy.deepcopy(LLAMA)
    cfg["layer_types"] = ["linear_attention", "full_attention"] * 16
    with pytest.raises(InputError, match="without their dimensions"):
        spec(cfg)


def test_nested_text_config_is_read_and_towers_are_said() -> None:
    inner = copy.deepcopy(LLAMA)
    quant = inner.pop("quantization_config")
    nested = {
        "architectures": ["LlavaForConditionalGeneration"],
        "model_type": "llava",
        "text_config": inner,
        "vision_config": {"hidden_size": 1024},
        "quantization_config": quant,
    }
    m = spec(nested)
    flat = spec(LLAMA)
    assert (m.hidden_size, m.num_layers, m.params_total) == (
        flat.hidden_size,
        flat.num_layers,
        flat.params_total,
    )
    assert m.quantization.method == "int_weight"  # the top-level quantization_config
    assert m.architecture == "LlavaForConditionalGeneration"
    assert m.nested_config_ignored == ["vision_config"]
    hw = hardware_from_spec("2xh100-80gb", load_gpu)
    plan = make_plan(PlanRequest(model=m, hardware=hw, max_model_len=4096, min_replicas=1))
    assert any("vision_config not sized" in w for w in plan.warnings)
