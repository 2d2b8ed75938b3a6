"""vllm_args: plan -> the child's argv and environment (no shell strings, no key on argv)."""

from __future__ import annotations

import pytest

from swissai.core.sizing import Layout, Limits
from swissai.core.vllm_args import (
    MASK,
    OFFLINE_ENV,
    Launcher,
    flag_value,
    is_gpt_oss,
    is_secret,
    masked_env_lines,
    needs_flashinfer_cubins,
    reported_env_keys,
    serve_args,
    serve_argv,
    serve_env,
)
from swissai.errors import InputError

LIMITS = Limits(
    max_model_len=131072,
    max_num_seqs=256,
    max_num_batched_tokens=8192,
    gpu_memory_utilization=0.92,
    block_size=16,
    kv_cache_dtype="fp8",
)
PLAN_ARGS = serve_args(
    model_ref="openai/gpt-oss-120b",
    served_model_name="gpt-oss-120b",
    layout=Layout(tp=8, pp=2, dp=1, expert_parallel=True),
    limits=LIMITS,
)
PY = Launcher("python", "/opt/venv/bin/python")
BIN = Launcher("bin", "/usr/local/bin/vllm")


def test_serve_args_are_long_flags_with_tp_always_present() -> None:
    args = serve_args(
        model_ref="m",
        served_model_name="m",
        layout=Layout(tp=1, pp=1, dp=1, expert_parallel=False),
        limits=LIMITS,
    )
    assert flag_value(args, "--tensor-parallel-size") == "1"
    assert "--pipeline-parallel-size" not in args
    flags = args[::2]
    assert all(f.startswith("--") for f in flags)
    assert flag_value(PLAN_ARGS, "--pipeline-parallel-size") == "2"
    assert "--enable-expert-parallel" in PLAN_ARGS
    assert flag_value(PLAN_ARGS, "--gpu-memory-utilization") == "0.92"


def test_python_launcher_takes_model_flag_with_local_path() -> None:
    argv = serve_argv(
        PLAN_ARGS, launcher=PY, model_path="/models/gpt-oss-120b", host="0.0.0.0", port=9000
    )
    assert argv[:3] == ["/opt/venv/bin/python", "-m", "vllm.entrypoints.openai.api_server"]
    assert flag_value(argv, "--model") == "/models/gpt-oss-120b"
    assert argv.count("--model") == 1  # the hub id of the plan is replaced, not duplicated
    assert "openai/gpt-oss-120b" not in argv
    assert flag_value(argv, "--host") == "0.0.0.0"
    assert flag_value(argv, "--port") == "9000"
    assert flag_value(argv, "--served-model-name") == "gpt-oss-120b"


def test_bin_launcher_takes_model_positionally() -> None:
    argv = serve_argv(PLAN_ARGS, launcher=BIN, model_path="/models/x", host="127.0.0.1", port=8000)
    assert argv[:3] == ["/usr/local/bin/vllm", "serve", "/models/x"]
    assert "--model" not in argv


def test_cpu_target_drops_gpu_flags_and_runs_eager() -> None:
    gpu = serve_argv(PLAN_ARGS, launcher=PY, model_path="/m", host="h", port=1)
    cpu = serve_argv(PLAN_ARGS, launcher=PY, model_path="/m", host="h", port=1, target="cpu")
    assert "--gpu-memory-utilization" in gpu and "--enforce-eager" not in gpu
    assert "--gpu-memory-utilization" not in cpu and "0.92" not in cpu
    assert cpu.count("--enforce-eager") == 1
    # everything else is kept in order
    assert flag_value(cpu, "--max-model-len") == "131072"
    assert flag_value(cpu, "--kv-cache-dtype") == "fp8"


def test_api_key_in_plan_args_is_refused() -> None:
    with pytest.raises(InputError, match="api-key"):
        serve_argv(
            [*PLAN_ARGS, "--api-key", "s3cret"], launcher=PY, model_path="/m", host="h", port=1
        )
    with pytest.raises(InputError, match="api-key"):
        serve_argv([*PLAN_ARGS, "--api-key=s3cret"], launcher=PY, model_path="/m", host="h", port=1)


def test_plan_args_must_start_with_a_long_flag_and_name_the_served_model() -> None:
    with pytest.raises(InputError, match="long flags"):
        serve_argv(["serve", *PLAN_ARGS], launcher=PY, model_path="/m", host="h", port=1)
    with pytest.raises(InputError, match="served-model-name"):
        serve_argv(["--model", "x"], launcher=PY, model_path="/m", host="h", port=1)


def test_env_has_exact_offline_values_and_removes_unsafe_inherited() -> None:
    inherited = {
        "PATH": "/usr/bin",
        "HF_TOKEN": "hf_abc",
        "HF_ENDPOINT": "https://huggingface.co",
        "VLLM_DO_NOT_TRACK": "0",  # would mask DO_NOT_TRACK=1 (RES-006)
        "VLLM_NO_USAGE_STATS": "true",  # vLLM compares with "1": "true" does not disable
        "VLLM_API_KEY": "from-the-shell",
    }
    spec = serve_env({"HF_HUB_OFFLINE": "1"}, inherited=inherited)
    env = spec.env
    for key, value in OFFLINE_ENV.items():
        assert env[key] == value
    assert env["VLLM_DO_NOT_TRACK"] == "1"
    assert env["VLLM_NO_USAGE_STATS"] == "1"
    assert "HF_TOKEN" not in env and "HF_ENDPOINT" not in env
    assert "VLLM_API_KEY" not in env  # a key is passed only when given explicitly
    assert env["PATH"] == "/usr/bin"
    assert spec.dropped == ["HF_TOKEN", "HF_ENDPOINT", "VLLM_API_KEY"]  # a warning each
    assert not any("hf_abc" in n for n in spec.notes + spec.dropped)  # never the value
    assert "VLLM_TARGET_DEVICE" not in env
    assert inherited["HF_TOKEN"] == "hf_abc"  # the caller's mapping is not modified


def test_plan_env_cannot_weaken_offline_values() -> None:
    spec = serve_env({"HF_HUB_OFFLINE": "0", "DO_NOT_TRACK": "yes"}, inherited={})
    assert spec.env["HF_HUB_OFFLINE"] == "1"
    assert spec.env["DO_NOT_TRACK"] == "1"
    assert any("HF_HUB_OFFLINE" in n for n in spec.notes)


def test_cpu_target_api_key_and_encodings_env() -> None:
    spec = serve_env(
        {}, inherited={}, target="cpu", api_key="k-123", tiktoken_dir="/m/enc", cpu_kvcache_gib=4
    )
    env = spec.env
    assert env["VLLM_TARGET_DEVICE"] == "cpu"
    assert env["VLLM_CPU_KVCACHE_SPACE"] == "4"
    assert env["VLLM_API_KEY"] == "k-123"
    assert env["TIKTOKEN_ENCODINGS_BASE"] == "/m/enc"
    assert env["TIKTOKEN_RS_CACHE_DIR"] == "/m/enc"


def test_masking_by_word_not_substring() -> None:
    assert is_secret("VLLM_API_KEY") and is_secret("HF_TOKEN") and is_secret("DB_PASSWORD")
    assert not is_secret("TIKTOKEN_ENCODINGS_BASE")
    assert not is_secret("MONKEYPATCH_MODE")  # "KEY" inside a word is not a secret marker
    lines = masked_env_lines({"VLLM_API_KEY": "k-123", "HF_HUB_OFFLINE": "1"})
    assert lines == ["HF_HUB_OFFLINE=1", f"VLLM_API_KEY={MASK}"]  # sorted
    assert all("k-123" not in line for line in lines)


def test_reported_keys_are_what_swissai_set() -> None:
    inherited = {"PATH": "/bin", "HOME": "/root"}
    env = serve_env({}, inherited=inherited).env
    keys = reported_env_keys(env, inherited)
    assert "PATH" not in keys and "HOME" not in keys
    assert set(OFFLINE_ENV) <= set(keys)


def test_gpt_oss_detection() -> None:
    assert is_gpt_oss("gpt-oss-120b")
    assert is_gpt_oss(None, "openai/gpt-oss-20b")
    assert is_gpt_oss("tiny", None, "gpt_oss")
    assert not is_gpt_oss("llama-3.1-8b-instruct", "meta-llama/Llama-3.1-8B-Instruct", None)


@pytest.mark.parametrize(
    ("moe", "attention", "needed"),
    [
        ("flashinfer", "FLASHINFER", True),  # gpt-oss on B200
        ("flashinfer", "FLASH_ATTN", True),
        ("triton", "FLASHINFER", True),
        (None, "FLASHINFER_MLA", True),
        ("triton", "FLASH_ATTN", False),  # gpt-oss on H100
        (None, None, False),
    ],
)
def test_flashinfer_cubins_needed_by_either_backend(
    moe: str | None, attention: str | None, needed: bool
) -> None:
    assert needs_flashinfer_cubins(moe, attention) is needed


def test_flashinfer_cubin_dir_reaches_the_child_env_only_when_given() -> None:
    spec = serve_env({}, inherited={}, flashinfer_cubin_dir="/opt/flashinfer/cubins")
    assert spec.env["FLASHINFER_CUBIN_DIR"] == "/opt/flashinfer/cubins"
    assert "FLASHINFER_CUBIN_DIR" not in serve_env({}, inherited={}).env


# --- the policy (issue 19): core/vllm_flags applied to the plan's args and env -----------------


@pytest.mark.parametrize(
    "token",
    [
        "--trust-remote-code",
        "--trust-remote",  # a unique prefix: vLLM's parser expands it
        "--trust_remote_code",  # `_` for `-`
        "--Trust-Remote-Code",  # re-cased
        "--enable-log-req",
        "--enable_log_outputs",
        "--api-ke=sk-secret-in-argv",
        "--api_key=sk-secret-in-argv",
        "--tool-server=demo",
    ],
)
def test_forbidden_flags_in_any_spelling_are_refused_naming_the_token(token: str) -> None:
    with pytest.raises(InputError) as refused:
        serve_argv([*PLAN_ARGS, token], launcher=PY, model_path="/m", host="h", port=1)
    name = token.split("=", 1)[0]
    assert name in refused.value.message
    assert "sk-secret-in-argv" not in refused.value.message + (refused.value.hint or "")


@pytest.mark.parametrize("name", ["VLLM_SERVER_DEV_MODE", "HF_TOKEN", "vllm_api_key"])
def test_forbidden_variables_in_the_plan_env_are_refused(name: str) -> None:
    with pytest.raises(InputError, match=name):
        serve_env({name: "1"}, inherited={})


def test_inherited_forbidden_variables_are_dropped_and_named() -> None:
    spec = serve_env({}, inherited={"VLLM_SERVER_DEV_MODE": "1", "HF_TOKEN": "hf_x", "HOME": "/h"})
    assert "VLLM_SERVER_DEV_MODE" not in spec.env and "HF_TOKEN" not in spec.env
    assert sorted(spec.dropped) == ["HF_TOKEN", "VLLM_SERVER_DEV_MODE"]
    assert spec.env["HOME"] == "/h"


@pytest.mark.parametrize("spelling", ["--host=0.0.0.0", "--hos", "--por", "--port=1"])
def test_a_plan_cannot_override_the_address_serve_sets(spelling: str) -> None:
    """--host/--port in any spelling vLLM reads are dropped from the plan's args: the address
    is serve's (--host, --port), not whatever a plan file carries."""
    args = [*PLAN_ARGS, spelling] + ([] if "=" in spelling else ["9"])
    argv = serve_argv(args, launcher=PY, model_path="/m", host="127.0.0.1", port=8000)
    assert argv[-4:] == ["--host", "127.0.0.1", "--port", "8000"]
    assert spelling not in argv
