"""Issue 15 coverage: quantised checkpoints (AWQ, GPTQ, compressed-tensors, bitsandbytes) and
online quantisation, and the serve settings that change memory (--enforce-eager,
--cpu-offload-gb, --swap-space, prefix caching, --speculative-config) or pass through checked
(--extra-vllm-arg, against the flag table here; vLLM's real parser in
tests/integration/test_extra_vllm_args.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from swissai.adapters.profiles import load_model
from swissai.cli.main import app
from swissai.core.model_config import parse_quantization
from swissai.core.weights import _quantized_linear_bytes

BASE = ["--model", "llama-3.1-8b-instruct", "--gpus", "1xh100-80gb", "--max-model-len", "8192"]


def run(*args: str) -> tuple[int, Any]:
    result = CliRunner().invoke(app, ["plan", *args, "-o", "json"])
    if result.exit_code in (0, 4):
        return result.exit_code, json.loads(result.stdout)
    return result.exit_code, result.output


def q(config: dict[str, Any]) -> Any:
    return parse_quantization({"quantization_config": config})


# --- checkpoint formats ------------------------------------------------------------------------


def test_awq_gptq_compressed_tensors_and_bnb_are_read() -> None:
    awq = q({"quant_method": "awq", "w_bit": 4, "q_group_size": 128, "zero_point": True})
    assert (awq.method, awq.bits, awq.group_size, awq.zero_point) == ("int_weight", 4, 128, True)
    gptq = q({"quant_method": "gptq", "bits": 4, "group_size": -1, "desc_act": True, "sym": True})
    assert (gptq.group_size, gptq.act_order, gptq.zero_point) == (None, True, False)
    w4a16 = q(
        {
            "quant_method": "compressed-tensors",
            "config_groups": {
                "group_0": {"weights": {"num_bits": 4, "type": "int", "group_size": 128}}
            },
        }
    )
    assert (w4a16.method, w4a16.bits, w4a16.group_size) == ("int_weight", 4, 128)
    w8a8 = q(
        {
            "quant_method": "compressed-tensors",
            "config_groups": {
                "g": {
                    "weights": {"num_bits": 8, "type": "int"},
                    "input_activations": {"num_bits": 8, "type": "int", "dynamic": True},
                }
            },
        }
    )
    assert w8a8.method == "int8_w8a8"
    bnb = q({"quant_method": "bitsandbytes", "load_in_4bit": True})
    assert bnb.method == "bnb_4bit"
    assert q({"quant_method": "bitsandbytes", "load_in_8bit": True}).method == "bnb_8bit"


def test_int4_bytes_per_kernel_layout() -> None:
    """AWQ g128 4096x4096: packed int4 + fp16 scale and int4 zero point per 128 inputs."""
    model = load_model("llama-3.1-8b-instruct")
    awq = q({"quant_method": "awq", "w_bit": 4, "q_group_size": 128, "zero_point": True})
    m = model.model_copy(update={"quantization": awq})
    assert _quantized_linear_bytes(m, 4096, 4096) == 4096 * 4096 / 2 + 32 * 4096 * 2 + 32 * 4096 / 2
    gptq = q({"quant_method": "gptq", "bits": 4, "group_size": -1, "desc_act": True})
    m = model.model_copy(update={"quantization": gptq})
    # per-channel scales, no zero points (symmetric), act-order g_idx + sort indices (int32)
    assert _quantized_linear_bytes(m, 4096, 4096) == 4096 * 4096 / 2 + 4096 * 2 + 2 * 4096 * 4


def test_online_fp8_roughly_halves_the_linear_weights() -> None:
    _, bf16 = run(*BASE)
    _, fp8 = run(*BASE, "--quantization", "fp8")
    assert "--quantization" in fp8["vllm"]["args"]
    w16, w8 = bf16["memory_per_gpu_gib"]["weights"], fp8["memory_per_gpu_gib"]["weights"]
    embeddings = 2 * 128256 * 4096 * 2 / 2**30  # stay bf16
    assert w8 == pytest.approx((w16 - embeddings) / 2 + embeddings, rel=0.01)
    _, bnb = run(*BASE, "--quantization", "bitsandbytes")
    assert bnb["memory_per_gpu_gib"]["weights"] < w8


def test_quantization_of_a_quantized_checkpoint_is_refused() -> None:
    code, out = run("--model", "gpt-oss-20b", "--gpus", "1xh100-80gb", "--quantization", "fp8")
    assert code == 2 and "already quantized" in out
    code, out = run(*BASE, "--quantization", "awq")
    assert code == 2 and "online fp8 or bitsandbytes" in out


# --- memory settings ---------------------------------------------------------------------------


def test_enforce_eager_frees_the_graph_memory() -> None:
    _, graphs = run(*BASE)
    _, eager = run(*BASE, "--enforce-eager")
    assert graphs["memory_per_gpu_gib"]["cuda_graphs"] > 0
    assert eager["memory_per_gpu_gib"]["cuda_graphs"] == 0
    assert eager["memory_per_gpu_gib"]["kv_cache"] > graphs["memory_per_gpu_gib"]["kv_cache"]
    assert "--enforce-eager" in eager["vllm"]["args"]


def test_cpu_offload_moves_weights_out_of_the_gpu() -> None:
    _, base = run(*BASE)
    _, off = run(*BASE, "--cpu-offload-gb", "4")
    assert off["memory_per_gpu_gib"]["weights"] == pytest.approx(
        base["memory_per_gpu_gib"]["weights"] - 4, abs=0.01
    )
    assert off["vllm"]["args"][off["vllm"]["args"].index("--cpu-offload-gb") + 1] == "4"
    code, out = run(*BASE, "--cpu-offload-gb", "nan")
    assert code == 2 and "--cpu-offload-gb" in out


def test_swap_space_is_explained_not_passed_to_a_vllm_without_it() -> None:
    code, out = run(*BASE, "--swap-space", "4")
    assert code == 2 and "no such flag" in out


def test_prefix_caching_flag_reaches_the_args() -> None:
    _, off = run(*BASE, "--no-enable-prefix-caching")
    assert "--no-enable-prefix-caching" in off["vllm"]["args"]
    _, on = run(*BASE, "--enable-prefix-caching")
    assert "--enable-prefix-caching" in on["vllm"]["args"]


def test_speculative_decoding_memory() -> None:
    _, base = run(*BASE)
    _, ngram = run(
        *BASE, "--speculative-config", '{"method": "ngram", "num_speculative_tokens": 3}'
    )
    assert ngram["memory_per_gpu_gib"]["weights"] == base["memory_per_gpu_gib"]["weights"]
    ds = ["--model", "deepseek-r1", "--gpus", "8xh200-141gb", "--max-model-len", "32768"]
    _, plain = run(*ds)
    _, mtp = run(*ds, "--speculative-config", '{"method": "mtp", "num_speculative_tokens": 1}')
    grown = mtp["memory_per_gpu_gib"]["weights"] - plain["memory_per_gpu_gib"]["weights"]
    assert 1.0 < grown < 3.0  # one MoE layer + embedding/head over 8 ranks
    assert mtp["kv_cache"]["bytes_per_token"] > plain["kv_cache"]["bytes_per_token"]
    code, out = run(*BASE, "--speculative-config", '{"method": "mtp", "num_speculative_tokens": 1}')
    assert code == 2 and "no MTP layers" in out
    code, out = run(
        *BASE, "--speculative-config", '{"method": "eagle", "num_speculative_tokens": 3}'
    )
    assert code == 2 and "not sized" in out
    code, out = run(*BASE, "--speculative-config", "{nope")
    assert code == 2 and "not JSON" in out
    code, out = run(*BASE, "--speculative-config", "[" * 4000)
    assert code == 2 and "Traceback" not in out
    code, out = run(*BASE, "--speculative-config", "[" * 5000)
    assert code == 2 and "longer than" in out


# --- --extra-vllm-arg --------------------------------------------------------------------------


def test_extra_args_pass_through_after_the_planned_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")  # no vLLM: the flag table alone
    monkeypatch.delenv("SWISSAI_VLLM_PYTHON", raising=False)
    code, plan = run(*BASE, "--extra-vllm-arg=--max-logprobs=5", "--extra-vllm-arg", "--seed 7")
    assert code == 0
    assert plan["vllm"]["args"][-3:] == ["--max-logprobs=5", "--seed", "7"]


@pytest.mark.parametrize(
    ("arg", "words"),
    [
        ("--trust-remote-code", "never passes"),
        ("--trust_remote", "never passes"),
        ("--api-key=sk-1", "never passes"),
        ("--no-such-flag", "is not a flag of vLLM"),
        ("--max-model-len 4096", "set by the plan itself"),
        ("--gpu_memory_utilization=0.5", "set by the plan itself"),
        ("--max-logprobs", "needs a value"),
        ("max-logprobs", "starting with --"),
    ],
)
def test_extra_args_are_checked(arg: str, words: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.delenv("SWISSAI_VLLM_PYTHON", raising=False)
    code, out = run(*BASE, "--extra-vllm-arg", arg)
    assert code == 2, out
    assert words in out
    assert "sk-1" not in out  # a secret value is never echoed


def test_memory_flags_outside_the_plan_warn(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.delenv("SWISSAI_VLLM_PYTHON", raising=False)
    code, plan = run(*BASE, "--extra-vllm-arg=--num-gpu-blocks-override=100")
    assert code == 0
    assert any("does not size" in w for w in plan["warnings"])
