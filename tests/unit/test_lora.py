"""LoRA adapters in plans: the slots vLLM reserves (core/lora.py), the flags, infeasibility and
bad input (exit 2). The allocation formula is checked against shapes read from the vLLM 0.32.0
wheel (vllm/lora/layers/base_linear.py, fused_moe.py); the real-vLLM test that the flags start a
server and serve the adapter is tests/integration/test_serve_vllm.py::test_lora_adapter_served."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from swissai.adapters.profiles import load_model
from swissai.core.lora import (
    LoraAdapter,
    LoraOptions,
    adapters_in_args,
    lora_args,
    lora_bytes_per_slot,
    parse_lora_spec,
    resolve,
    with_adapter_paths,
)
from swissai.errors import InputError
from swissai.models.plan import ServePlan
from tests.swissai_inprocess import swissai


def adapter_dir(
    root: Path, name: str = "legal", rank: int = 16, targets: list[str] | None = None
) -> Path:
    path = root / name
    path.mkdir(parents=True)
    config: dict[str, object] = {"peft_type": "LORA", "r": rank}
    if targets is not None:
        config["target_modules"] = targets
    (path / "adapter_config.json").write_text(json.dumps(config))
    (path / "adapter_model.safetensors").write_bytes(b"{}")
    return path


def test_dense_slot_bytes_match_vllm_shapes() -> None:
    """Llama-3.1-8B, rank 16, TP1: per layer qkv A 3*r*H + B r*(q+2kv), o A r*q + B r*H,
    gate_up A 2*r*H + B r*2I, down A r*I + B r*H; 32 layers, bf16."""
    m = load_model("llama-3.1-8b-instruct")
    r, h, i = 16, m.hidden_size, m.intermediate_size
    q, kv = m.num_attention_heads * m.head_dim, m.num_kv_heads * m.head_dim
    per_layer = 3 * r * h + r * (q + 2 * kv) + r * q + r * h + 2 * r * h + r * 2 * i + r * i + r * h
    expected = per_layer * m.num_layers * 2
    assert lora_bytes_per_slot(m, tp=1, pp=1, ep=1, rank=16) == expected
    # TP shards the B of column-parallel and the A of row-parallel layers only
    assert lora_bytes_per_slot(m, tp=2, pp=1, ep=1, rank=16) > expected // 2
    assert lora_bytes_per_slot(m, tp=2, pp=1, ep=1, rank=16) < expected
    # PP: the most loaded stage holds half the layers
    assert lora_bytes_per_slot(m, tp=1, pp=2, ep=1, rank=16) == expected // 2
    # --lora-target-modules o_proj: vLLM wraps only o_proj
    o_proj = (r * q + r * h) * m.num_layers * 2
    assert lora_bytes_per_slot(m, tp=1, pp=1, ep=1, rank=16, targets=("o_proj",)) == o_proj


def test_moe_experts_dominate_gpt_oss() -> None:
    m = load_model("gpt-oss-120b")
    slot = lora_bytes_per_slot(m, tp=1, pp=1, ep=1, rank=16)
    assert slot / 2**30 > 2.0  # 128 experts x 36 layers: GiBs per slot, not MiBs
    assert lora_bytes_per_slot(m, tp=1, pp=1, ep=8, rank=16) < slot / 4


def test_plan_with_adapters_takes_the_slots_from_the_kv_cache(tmp_path: Path) -> None:
    a = adapter_dir(tmp_path, targets=["q_proj", "v_proj"])
    base = ["plan", "-o", "json", "--model", "llama-3.1-8b-instruct", "--gpus", "1xl40s-48gb"]
    plain = ServePlan.model_validate_json(swissai(*base).stdout)
    res = swissai(*base, "--lora", f"legal={a}", "--max-loras", "4")
    assert res.returncode == 0, res.stderr
    lora = ServePlan.model_validate_json(res.stdout)
    assert plain.lora is None and "lora" not in json.loads(swissai(*base).stdout)
    assert lora.lora is not None
    assert lora.lora.max_loras == 4 and lora.lora.max_lora_rank == 16
    assert lora.lora.adapters[0].rank == 16 and lora.lora.adapters[0].path == str(a)
    drop = plain.memory_per_gpu_gib.kv_cache - lora.memory_per_gpu_gib.kv_cache
    assert drop == pytest.approx(lora.lora.gpu_gib_per_gpu, abs=0.02)
    args = lora.vllm.args
    assert args[-1] == "--enable-lora"
    assert args[args.index("--max-loras") + 1] == "4"
    assert adapters_in_args(args) == [("legal", str(a))]
    # only the adapter's modules are wrapped (and sized)
    at = args.index("--lora-target-modules")
    assert args[at + 1 : at + 3] == ["q_proj", "v_proj"]


def test_adapters_that_do_not_fit_make_the_plan_infeasible(tmp_path: Path) -> None:
    a = adapter_dir(tmp_path, rank=256)
    res = swissai(
        "plan", "-o", "json", "--model", "gpt-oss-120b", "--gpus", "1xh100-80gb",
        "--lora", f"legal={a}", "--max-loras", "8", "--min-replicas", "1",
    )  # fmt: skip
    assert res.returncode == 4
    plan = ServePlan.model_validate_json(res.stdout)
    assert not plan.feasible
    assert any("LoRA slots" in alt.reason for alt in plan.alternatives)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--lora", "legal"], "is not NAME=DIR"),
        (["--lora", "Legal=/x"], "lower-case"),
        (["--lora", "legal=org/adapter"], "hub ids are not downloaded"),
        (["--max-lora-rank", "16"], "need --lora"),
        (["--max-loras", "0"], "between 1 and"),
        (["--max-loras", "4", "--max-cpu-loras", "2"], "below --max-loras"),
        (["--max-loras", "1", "--max-lora-rank", "12"], "not one vLLM accepts"),
    ],
)
def test_bad_lora_input_is_exit_2(args: list[str], message: str) -> None:
    res = swissai("plan", "--gpus", "1xh100-80gb", *args)
    assert res.returncode == 2
    assert message in res.stderr
    assert "Traceback" not in res.stderr


def test_rank_above_max_lora_rank_is_refused(tmp_path: Path) -> None:
    a = adapter_dir(tmp_path, rank=64)
    res = swissai("plan", "--gpus", "1xh100-80gb", "--lora", f"x={a}", "--max-lora-rank", "32")
    assert res.returncode == 2 and "rank 64 > --max-lora-rank 32" in res.stderr


def test_default_rank_covers_the_largest_adapter() -> None:
    opts = LoraOptions(adapters=(LoraAdapter("a", "/a", 8), LoraAdapter("b", "/b", 40)))
    assert resolve(opts) == (1, 64, 2)  # 40 rounds up to vLLM's next rank; both cached on CPU
    with pytest.raises(InputError):
        resolve(LoraOptions(adapters=(LoraAdapter("a", "/a"), LoraAdapter("a", "/b"))))


def test_adapter_paths_are_rewritten_for_the_pod() -> None:
    opts = LoraOptions(adapters=(parse_lora_spec("a=/tmp/a"), parse_lora_spec("b=/tmp/b")))
    args = ["--model", "/m", *lora_args(opts)]
    moved = with_adapter_paths(args, {"a": "/adapters/a", "b": "/adapters/b"})
    assert adapters_in_args(moved) == [("a", "/adapters/a"), ("b", "/adapters/b")]
    assert moved[-1] == "--enable-lora" and moved[:2] == ["--model", "/m"]
