"""config.json -> ModelSpec: parameter counts against the published model-card figures.

Published figures (independent of swissai):
* gpt-oss-120b 116.83B total / 5.13B active, gpt-oss-20b 20.91B / 3.61B: OpenAI gpt-oss model
  card (arXiv 2508.10925), table 1.
* Llama-3.1-8B 8.03B: Hugging Face model card meta-llama/Llama-3.1-8B (8,030,261,248 params).
* Qwen3-235B-A22B 235.09B: Hugging Face safetensors metadata of Qwen/Qwen3-235B-A22B
  (card: "235B total, 22B activated").
* DeepSeek-V3 671.0B (without the 14B MTP module): DeepSeek-V3 model card ("671B total ...
  685B on Hugging Face includes 14B of the Multi-Token Prediction module").
* Qwen3-30B-A3B 30.5B / 3.3B: Hugging Face card Qwen/Qwen3-30B-A3B.
* Llama-3.3-70B 70.6B: Hugging Face card meta-llama/Llama-3.3-70B-Instruct.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from swissai.adapters.profiles import load_model
from swissai.core.model_config import parse_model_config, parse_quantization
from swissai.errors import InputError
from swissai.resources import profiles_dir

B = 1e9


def _config(name: str) -> dict[str, Any]:
    path = profiles_dir() / "models" / "configs" / name
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


@pytest.mark.parametrize(
    ("model_id", "total_b", "tolerance_b"),
    [
        ("gpt-oss-120b", 116.83, 0.005),
        ("gpt-oss-20b", 20.91, 0.005),
        ("llama-3.1-8b-instruct", 8.03, 0.005),
        ("qwen3-235b-a22b", 235.09, 0.005),
        ("qwen3-235b-a22b-fp8", 235.09, 0.005),
        ("deepseek-v3", 671.0, 0.05),
        ("deepseek-r1", 671.0, 0.05),
        ("qwen3-30b-a3b", 30.5, 0.05),
        ("llama-3.3-70b-instruct", 70.6, 0.05),
    ],
)
def test_total_parameters_match_model_cards(
    model_id: str, total_b: float, tolerance_b: float
) -> None:
    spec = load_model(model_id)
    assert spec.params_total / B == pytest.approx(total_b, abs=tolerance_b)


@pytest.mark.parametrize(
    ("model_id", "active_b", "tolerance_b"),
    [("gpt-oss-120b", 5.13, 0.005), ("gpt-oss-20b", 3.61, 0.005), ("qwen3-30b-a3b", 3.3, 0.3)],
)
def test_active_parameters_match_model_cards(
    model_id: str, active_b: float, tolerance_b: float
) -> None:
    spec = load_model(model_id)
    assert spec.params_active / B == pytest.approx(active_b, abs=tolerance_b)


def test_dense_model_has_nearly_all_parameters_active() -> None:
    spec = load_model("llama-3.1-8b-instruct")
    # Only the input embedding table (vocab x hidden, a gather) is excluded from "active".
    assert spec.params_total - spec.params_active == 128256 * 4096
    assert spec.moe is None


def test_gpt_oss_120b_attention_pattern() -> None:
    spec = load_model("gpt-oss-120b")
    assert spec.num_layers == 36
    assert spec.num_full_layers == 18
    assert spec.num_sliding_layers == 18
    # layer_types alternates, starting with a sliding-window layer
    assert spec.layer_attention[:4] == ["sliding", "full", "sliding", "full"]
    assert spec.sliding_window == 128
    assert spec.attention_sinks
    assert (spec.num_attention_heads, spec.num_kv_heads, spec.head_dim) == (64, 8, 64)


def test_gpt_oss_quantization_is_mxfp4_with_block_32_scales() -> None:
    spec = load_model("gpt-oss-120b")
    assert spec.quantization.method == "mxfp4"
    assert spec.quantization.mx_block_size == 32
    assert "model.layers.*.self_attn" in spec.quantization.unquantized_modules
    assert spec.moe is not None
    assert (spec.moe.num_experts, spec.moe.experts_per_token) == (128, 4)


def test_fp8_block_quantization() -> None:
    spec = load_model("qwen3-235b-a22b-fp8")
    assert spec.quantization.method == "fp8_block"
    assert spec.quantization.weight_block_size == [128, 128]


def test_deepseek_uses_mla_and_leading_dense_layers() -> None:
    spec = load_model("deepseek-v3")
    assert spec.attention == "mla"
    assert spec.mla is not None and spec.mla.kv_lora_rank == 512
    assert spec.moe is not None
    assert spec.moe.first_dense_layers == 3
    assert spec.moe.num_shared_experts == 1
    assert spec.layer_attention == ["full"] * 61


def test_model_without_sliding_layers_has_no_window() -> None:
    spec = load_model("llama-3.1-8b-instruct")
    assert spec.sliding_window is None
    assert spec.num_sliding_layers == 0


def test_qwen2_style_sliding_window_from_max_window_layers() -> None:
    cfg = _config("Meta-Llama-3.1-8B.json")
    cfg.update(use_sliding_window=True, sliding_window=4096, max_window_layers=28)
    spec = parse_model_config(cfg, model_id="x", source="test")
    assert spec.layer_attention == ["full"] * 28 + ["sliding"] * 4
    assert spec.sliding_window == 4096


def test_head_dim_defaults_to_hidden_over_heads() -> None:
    cfg = _config("Meta-Llama-3.1-8B.json")
    cfg.pop("head_dim", None)
    spec = parse_model_config(cfg, model_id="x", source="test")
    assert spec.head_dim == 4096 // 32


def test_kv_heads_default_to_attention_heads() -> None:
    cfg = _config("Meta-Llama-3.1-8B.json")
    del cfg["num_key_value_heads"]
    spec = parse_model_config(cfg, model_id="x", source="test")
    assert spec.num_kv_heads == spec.num_attention_heads == 32


def test_compressed_tensors_fp8_is_per_channel() -> None:
    q = parse_quantization(
        {
            "quantization_config": {
                "quant_method": "compressed-tensors",
                "config_groups": {"group_0": {"weights": {"num_bits": 8, "type": "float"}}},
                "ignore": ["lm_head"],
            }
        }
    )
    assert q.method == "fp8_channel"
    assert q.unquantized_modules == ["lm_head"]


def _broken(mutate: Any) -> dict[str, Any]:
    cfg = copy.deepcopy(_config("Meta-Llama-3.1-8B.json"))
    mutate(cfg)
    return cfg


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda c: c.pop("hidden_size"), "missing 'hidden_size'"),
        (lambda c: c.pop("num_hidden_layers"), "missing 'num_hidden_layers'"),
        (lambda c: c.update(hidden_size="4096"), "'hidden_size' must be an integer"),
        (lambda c: c.update(num_attention_heads=True), "'num_attention_heads' must be an integer"),
        (lambda c: c.update(layer_types=["full_attention"] * 3), "layer_types has 3 entries"),
        (
            lambda c: c.update(layer_types=["chunked_attention"] * 32),
            "unknown layer type 'chunked_attention'",
        ),
        (
            lambda c: c.update(quantization_config={"quant_method": "hqq"}),
            "quantization method 'hqq' is not supported",
        ),
        (lambda c: c.update(quantization_config=["fp8"]), "must be a mapping"),
        (
            lambda c: c.update(
                quantization_config={"quant_method": "compressed-tensors", "config_groups": {}}
            ),
            "compressed-tensors scheme is not supported",
        ),
    ],
)
def test_bad_config_raises_input_error_with_message(mutate: Any, expected: str) -> None:
    with pytest.raises(InputError) as info:
        parse_model_config(_broken(mutate), model_id="bad", source="test")
    assert expected in info.value.message


def test_config_that_is_not_an_object_is_rejected() -> None:
    with pytest.raises(InputError, match="JSON object"):
        parse_model_config([], model_id="bad", source="test")  # type: ignore[arg-type]


def test_missing_key_error_carries_a_hint() -> None:
    cfg = _broken(lambda c: c.pop("vocab_size"))
    with pytest.raises(InputError) as info:
        parse_model_config(cfg, model_id="bad", source="test")
    assert info.value.hint and "config.json" in info.value.hint


def test_load_model_from_directory_and_file(tmp_path: Any) -> None:
    cfg = _config("gpt-oss-20b.json")
    model_dir = tmp_path / "my-model"
    model_dir.mkdir()
    (model_dir / "config.json").write_text(json.dumps(cfg), encoding="utf-8")
    from_dir = load_model(str(model_dir))
    from_file = load_model(str(model_dir / "config.json"))
    assert from_dir.id == from_file.id == "my-model"
    assert from_dir.params_total == load_model("gpt-oss-20b").params_total


def test_load_model_rejects_invalid_json(tmp_path: Any) -> None:
    path = tmp_path / "config.json"
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(InputError, match="not valid JSON"):
        load_model(str(path))


def test_unknown_model_lists_catalog_ids() -> None:
    with pytest.raises(InputError) as info:
        load_model("no-such-model")
    assert info.value.hint and "gpt-oss-120b" in info.value.hint


def test_every_catalog_model_loads() -> None:
    from swissai.adapters.profiles import list_model_ids

    ids = list_model_ids()
    assert "gpt-oss-120b" in ids and len(ids) >= 10
    for model_id in ids:
        spec = load_model(model_id)
        assert spec.params_total > spec.params_active > 0
        assert len(spec.layer_attention) == spec.num_layers
