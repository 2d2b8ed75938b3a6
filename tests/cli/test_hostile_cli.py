"""Hostile and broken input at the command line (issue 19): every case is exit 2 with one
`error:` line naming the file (and line or key where known) and one `hint:` line; never an
internal error, a traceback, a hang or gigabytes of memory; nothing written on error.

In-process through typer's CliRunner (the app maps errors to exit codes itself), except the
alias bomb, which runs in a child process under a 2 GiB address-space limit so that a
regression fails the test instead of taking the machine's memory.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from swissai.cli.main import app

REPO = Path(__file__).resolve().parents[2]
BUNDLE = REPO / "tests/data/compliance/baseline/bundle.yaml"
SITE = REPO / "tests/data/compliance/baseline/site.yaml"

# "Billion laughs" in YAML: 9 references per level, 8 levels: 9^8 = 43 million nodes when
# walked per reference, 362 bytes on disk (the report of issue 19).
ALIAS_BOMB = (
    "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: lol}\ndata:\n"
    '  a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    "  b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
    "  c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
    "  d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
    "  e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
    "  f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
    "  g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n"
    "  h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\n"
)
CONFIGMAP = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n"


def invoke(args: list[str], stdin: bytes | str | None = None, cwd: Path | None = None) -> Any:
    runner = CliRunner()
    if cwd is None:
        return runner.invoke(app, args, input=stdin)
    old = Path.cwd()
    os.chdir(cwd)
    try:
        return runner.invoke(app, args, input=stdin)
    finally:
        os.chdir(old)


def assert_input_error(result: Any, *words: str) -> str:
    """Exit 2, exactly one error line and one hint line, no internal error; returns the error."""
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 2, result.stderr
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1 and lines[-1].startswith("hint:"), result.stderr
    for word in words:
        assert word in errors[0], (word, errors[0])
    return errors[0]


@pytest.fixture
def plan_file(tmp_path: Path) -> Path:
    result = invoke(["plan", "--gpus", "8xh100-80gb", "-o", "json"])
    assert result.exit_code == 0, result.stderr
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(json.loads(result.stdout), sort_keys=False))
    return path


# --- the alias bomb ---------------------------------------------------------------------------


def _limited() -> None:  # pragma: no cover - runs in the child
    two_gib = 2 * 1024**3
    resource.setrlimit(resource.RLIMIT_AS, (two_gib, two_gib))


@pytest.mark.parametrize("via_stdin", [False, True])
def test_alias_bomb_is_refused_quickly_in_bounded_memory(tmp_path: Path, via_stdin: bool) -> None:
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(ALIAS_BOMB)
    env = {k: v for k, v in os.environ.items() if k != "SWISSAI_DEBUG"}
    result = subprocess.run(
        [sys.executable, "-m", "swissai", "check", "-" if via_stdin else str(bomb)],
        input=ALIAS_BOMB if via_stdin else None,
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=_limited,
        env=env,
        cwd=tmp_path,
    )
    assert result.returncode == 2, result.stderr
    first = result.stderr.splitlines()[0]
    assert first.startswith(f"error: {'-' if via_stdin else bomb}:")
    assert "aliases expanded" in first and "1,000,000" in first


def test_aliases_are_refused_in_plans_and_site_profiles(tmp_path: Path, plan_file: Path) -> None:
    text = plan_file.read_text().replace("nodes: 1\n", "nodes: &n 1\n", 1)
    text = text.replace("pipeline_parallel_size: 1", "pipeline_parallel_size: *n", 1)
    plan_file.write_text(text)
    assert_input_error(invoke(["render", str(plan_file), "--site", str(SITE)]), "alias *n")
    site = tmp_path / "site.yaml"
    site.write_text("namespace: &ns ai\nregion_label: *ns\n")
    assert_input_error(invoke(["check", str(BUNDLE), "--site", str(site)]), "alias *ns")


# --- scalars whose constructors raise -------------------------------------------------------


def test_impossible_date_in_a_manifest_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(CONFIGMAP + "data:\n  expires: 2026-02-30\n")
    assert_input_error(invoke(["check", str(path)]), f"{path}:5:", "2026-02-30")


def test_impossible_date_in_waivers_and_site(tmp_path: Path) -> None:
    waivers = tmp_path / "waivers.yaml"
    waivers.write_text("- rule: SEC-001\n  expires: 2026-02-30\n")
    assert_input_error(invoke(["check", str(BUNDLE), "--waivers", str(waivers)]), f"{waivers}:2:")
    site = tmp_path / "site.yaml"
    site.write_text("namespace: ai\ncompliance:\n  approvals: {date: 2026-13-01}\n")
    assert_input_error(invoke(["check", str(BUNDLE), "--site", str(site)]), f"{site}:3:")


def test_5000_digit_integers(tmp_path: Path, plan_file: Path) -> None:
    huge = "9" * 5000
    manifest = tmp_path / "m.yaml"
    manifest.write_text(CONFIGMAP + f"spec:\n  replicas: {huge}\n")
    assert_input_error(invoke(["check", str(manifest)]), f"{manifest}:5:", "integer")
    plan_file.write_text(plan_file.read_text().replace("nodes: 1\n", f"nodes: {huge}\n", 1))
    assert_input_error(invoke(["render", str(plan_file), "--site", str(SITE)]), str(plan_file))
    as_json = tmp_path / "plan.json"
    as_json.write_text('{"kind": "ServePlan", "x": ' + huge + "}")
    assert_input_error(invoke(["render", str(as_json), "--site", str(SITE)]), str(as_json))


def test_deep_nesting(tmp_path: Path) -> None:
    deep = tmp_path / "deep.yaml"
    deep.write_text(CONFIGMAP + "data:\n" + "".join("  " * (i + 1) + "a:\n" for i in range(3000)))
    assert_input_error(invoke(["check", str(deep)]), str(deep), "nested")
    deep_json = tmp_path / "deep.json"
    deep_json.write_text('{"apiVersion": "v1", "kind": "ConfigMap", "data": ' + "[" * 5000)
    deep_json.write_text(deep_json.read_text() + "]" * 5000 + "}")
    assert_input_error(invoke(["check", str(deep_json)]), str(deep_json))
    plan = tmp_path / "plan.json"
    plan.write_text('{"kind": "ServePlan", "x": ' + "[" * 100_000 + "]" * 100_000 + "}")
    assert_input_error(invoke(["render", str(plan), "--site", str(SITE)]), str(plan), "nested")


# --- encodings ------------------------------------------------------------------------------


def test_non_utf8_stdin_for_check(tmp_path: Path) -> None:
    assert_input_error(invoke(["check", "-"], stdin=b"apiVersion: v1\nkind: \xff\xfe\n"), "-:")


def test_non_utf8_plan_site_and_inventory(tmp_path: Path, plan_file: Path) -> None:
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes("namespace: z\xfcrich\n".encode("latin-1"))
    assert_input_error(invoke(["check", str(BUNDLE), "--site", str(bad)]), str(bad), "UTF-8")
    assert_input_error(invoke(["render", str(bad), "--site", str(SITE)]), str(bad), "UTF-8")
    assert_input_error(invoke(["plan", "--inventory", str(bad)]), str(bad), "UTF-8")


# --- inventories and model configs -----------------------------------------------------------


def test_inventory_that_is_not_a_mapping(tmp_path: Path) -> None:
    for text in ("- a\n- b\n", "just text\n", ""):
        path = tmp_path / "inventory.yaml"
        path.write_text(text)
        assert_input_error(invoke(["plan", "--inventory", str(path)]), str(path))


def _inventory(**gpu: Any) -> dict[str, Any]:
    entry = {
        "index": 0,
        "name": "NVIDIA H100 80GB HBM3",
        "uuid": "GPU-0",
        "profile_id": "h100-80gb",
        "memory_total_bytes": 85520809984,
        "compute_capability": "9.0",
    }
    entry.update(gpu)
    return {"apiVersion": "swissai/v1alpha1", "kind": "GpuInventory", "host": "h", "gpus": [entry]}


def test_inventory_profile_id_cannot_name_a_file_outside_the_profiles(tmp_path: Path) -> None:
    """An id is joined to profiles/gpus/ only after it matched the id pattern: an absolute
    path or '../' would otherwise load any YAML file as a GPU profile."""
    planted = tmp_path / "evil.yaml"
    planted.write_text((REPO / "profiles/gpus/h100-80gb.yaml").read_text())
    for profile_id in (str(planted.with_suffix("")), "../../../../" + str(planted)[1:-5]):
        path = tmp_path / "inventory.yaml"
        path.write_text(yaml.safe_dump(_inventory(profile_id=profile_id)))
        assert_input_error(invoke(["plan", "--inventory", str(path)]), "profile_id")


@pytest.mark.parametrize(
    "gpu",
    [
        {"compute_capability": "abc", "profile_id": None},
        {"memory_total_bytes": 0, "profile_id": None},
        {"memory_bandwidth_gb_s": float("nan")},
        {"memory_total_bytes": 2**70},
    ],
)
def test_inventory_with_impossible_values(tmp_path: Path, gpu: dict[str, Any]) -> None:
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(_inventory(**gpu)))
    assert_input_error(invoke(["plan", "--inventory", str(path)]), str(path))


def _config(tmp_path: Path, **changes: Any) -> str:
    config = json.loads((REPO / "profiles/models/configs/gpt-oss-20b.json").read_text())
    config.update(changes)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    return str(path)


@pytest.mark.parametrize(
    "changes",
    [
        {"architectures": 5},
        {"quantization_config": {"quant_method": "mxfp4", "modules_to_not_convert": 5}},
        {"quantization_config": {"quant_method": "fp8", "weight_block_size": 5}},
        {"quantization_config": {"quant_method": "compressed-tensors", "config_groups": []}},
        {"use_sliding_window": True, "sliding_window": "wide", "layer_types": None},
        {"num_hidden_layers": "36"},
        {"num_hidden_layers": [36]},
        {"num_hidden_layers": 10**9},
        {"hidden_size": -2880},
        {"num_attention_heads": 0},
        {"n_shared_experts": -100},
        {"model_type": "deepseek_v3", "kv_lora_rank": -5},
        {"model_type": "deepseek_v3", "kv_lora_rank": 512, "q_lora_rank": "x"},
        {"first_k_dense_replace": 1000},
        {"max_position_embeddings": 10**15},
    ],
)
def test_nonsense_model_configs_are_refused_at_load(tmp_path: Path, changes: Any) -> None:
    path = _config(tmp_path, **changes)
    key = next(iter(changes))
    error = assert_input_error(invoke(["plan", "--model", path, "--gpus", "8xh100-80gb"]), path)
    assert key in error or "config.json" in error


def test_duplicate_key_in_config_json(tmp_path: Path) -> None:
    path = Path(_config(tmp_path))
    path.write_text(path.read_text()[:-1] + ', "num_hidden_layers": 24000}')
    assert_input_error(invoke(["plan", "--model", str(path)]), str(path), "num_hidden_layers")


# --- duplicate keys in plans and site profiles -----------------------------------------------


def test_duplicate_keys_in_a_site_profile_name_both_lines(tmp_path: Path, plan_file: Path) -> None:
    """render, deploy and serve read the site profile with load_site alone (check also read it
    with the manifest loader, which refused duplicates already): a second `namespace:` won."""
    site = tmp_path / "site.yaml"
    site.write_text(SITE.read_text() + "namespace: other\n")
    total = len(site.read_text().splitlines())
    out = tmp_path / "out"
    error = assert_input_error(
        invoke(["render", str(plan_file), "--site", str(site), "--out", str(out)])
    )
    assert f"{site}:{total}: duplicate key 'namespace' (first at line 4)" in error
    assert not out.exists()


def test_duplicate_keys_in_a_plan_name_both_lines(plan_file: Path) -> None:
    plan_file.write_text(plan_file.read_text() + "feasible: false\n")
    error = assert_input_error(invoke(["render", str(plan_file), "--site", str(SITE)]))
    assert "duplicate key 'feasible' (first at line" in error and str(plan_file) in error


def test_duplicate_keys_in_an_inventory_name_the_file_once(tmp_path: Path) -> None:
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(_inventory()) + "host: other\n")
    error = assert_input_error(invoke(["plan", "--inventory", str(path)]))
    assert error.startswith(f"error: inventory {path}:") and error.count(str(path)) == 1
    assert "duplicate key 'host'" in error


# --- flags ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--gpus", "８xh100-80gb"], "８xh100-80gb"),  # fullwidth digit
        (["--gpus", "٨xh100-80gb"], "not COUNTxID"),  # Arabic-Indic digit
        (["--gpus", "8xh100-80gb@²"], "node count"),
        (["--gpus", "99999999999xh100-80gb"], "more than the 4096"),
        (["--gpus", "1" * 5000 + "xh100-80gb"], "more than the 4096"),
        (["--gpus", "4096xh100-80gb,8xa100-80gb"], "more than the 4096"),
        (["--gpus", "8xh100-80gb@100000"], "node count"),
        (["--model", "../gpus/h100-80gb"], "unknown model"),
        (["--model", "../../../../../../../etc/passwd"], "passwd"),  # a path: not JSON
        (["--concurrency", "1000000000000"], "--concurrency"),
        (["--max-num-seqs", "1000000000000"], "--max-num-seqs"),
        (["--max-num-batched-tokens", "99999999999999999999"], "--max-num-batched-tokens"),
        (["--max-model-len", "99999999999999999999"], "--max-model-len"),
        (["--block-size", "99999999999999999999"], "--block-size"),
        (["--tp", "99999999999"], "--tp"),
        (["--pp", "99999999999"], "--pp"),
        (["--dp", "99999999999"], "--dp"),
        (["--gpu-memory-utilization", "nan"], "--gpu-memory-utilization"),
        (["--gpu-memory-utilization", "inf"], "--gpu-memory-utilization"),
    ],
)
def test_absurd_plan_flags_are_one_line_errors(args: list[str], words: str) -> None:
    assert_input_error(invoke(["plan", *args, "-o", "json"]), words)


def test_a_model_directory_or_config_path_still_works(tmp_path: Path) -> None:
    path = _config(tmp_path)
    for ref in (path, str(Path(path).parent)):
        result = invoke(["plan", "--model", ref, "--gpus", "1xh100-80gb", "-o", "json"])
        assert result.exit_code == 0, result.stderr


# --- --out ------------------------------------------------------------------------------------


def test_out_never_writes_through_a_planted_temp_link(tmp_path: Path) -> None:
    """The old fixed temp name `.plan.yaml.tmp`, planted as a link, redirected the write."""
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    (tmp_path / ".plan.yaml.tmp").symlink_to(victim)
    result = invoke(["plan", "--gpus", "8xh100-80gb", "--out", "plan.yaml"], cwd=tmp_path)
    assert result.exit_code == 0, result.stderr
    assert victim.read_text() == "precious\n"
    assert "kind: ServePlan" in (tmp_path / "plan.yaml").read_text()
    assert (tmp_path / "plan.yaml").stat().st_mode & 0o777 == 0o644


def test_out_refuses_a_symlink_or_directory_target(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    (tmp_path / "plan.yaml").symlink_to(victim)
    assert_input_error(
        invoke(["plan", "--gpus", "8xh100-80gb", "--out", "plan.yaml"], cwd=tmp_path),
        "plan.yaml",
        "symbolic link",
    )
    assert victim.read_text() == "precious\n"
    (tmp_path / "dir.yaml").mkdir()
    assert_input_error(
        invoke(["plan", "--gpus", "8xh100-80gb", "--out", "dir.yaml"], cwd=tmp_path), "directory"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir.yaml", "plan.yaml", "victim.txt"]


def test_unwritable_out_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    assert_input_error(
        invoke(["plan", "--gpus", "8xh100-80gb", "--out", str(tmp_path / "file" / "p.yaml")]),
        "cannot write",
    )


def test_vllm_version_with_5000_digits_is_a_one_line_error() -> None:
    assert_input_error(
        invoke(["plan", "--gpus", "8xh100-80gb", "--vllm-version", "1" * 5000 + ".0.0"])
    )


def _deployment_with_config_map(config_text: str, startup_probe: object) -> str:
    """A vLLM Deployment whose `--config` file comes from a ConfigMap (what compliance reads
    inside the manifest), and a startup probe as given."""
    import yaml

    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "vllm-config", "namespace": "ai"},
        "data": {"config.yaml": config_text},
    }
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "llm", "namespace": "ai"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "llm"}},
            "template": {
                "metadata": {"labels": {"app": "llm"}},
                "spec": {
                    "containers": [
                        {
                            "name": "vllm",
                            "image": "vllm/vllm-openai@sha256:" + "a" * 64,
                            "command": ["vllm", "serve"],
                            "args": ["/models/m", "--config", "/etc/vllm/config.yaml"],
                            "startupProbe": startup_probe,
                            "volumeMounts": [{"name": "cfg", "mountPath": "/etc/vllm"}],
                        }
                    ],
                    "volumes": [{"name": "cfg", "configMap": {"name": "vllm-config"}}],
                },
            },
        },
    }
    return yaml.safe_dump_all([config_map, deployment])


def test_alias_bomb_inside_a_config_map_is_bounded(tmp_path: Path) -> None:
    """The vLLM --config text inside a ConfigMap is YAML too: the rules parse it with the
    bounded parser, so a bomb there is skipped in bounded time, not expanded."""
    bomb = 'a: &a ["x","x","x","x","x","x","x","x","x"]\n' + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{','.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8)
    )
    manifest = tmp_path / "m.yaml"
    manifest.write_text(_deployment_with_config_map(bomb, {"httpGet": {"path": "/health"}}))
    result = invoke(["check", str(manifest), "-o", "json", "--fail-on", "none"])
    assert result.exit_code == 0, result.stderr
    assert "internal error" not in result.stderr


@pytest.mark.parametrize("threshold", [{"a": 1}, [3], "many", 2**62, -5, True])
def test_startup_probe_numbers_of_any_type_are_no_internal_error(
    tmp_path: Path, threshold: object
) -> None:
    probe = {"httpGet": {"path": "/health"}, "failureThreshold": threshold, "periodSeconds": 10}
    manifest = tmp_path / "m.yaml"
    manifest.write_text(_deployment_with_config_map("max_model_len: 4096\n", probe))
    result = invoke(["check", str(manifest), "-o", "json", "--fail-on", "none"])
    assert result.exit_code == 0, result.stderr
    assert "internal error" not in result.stderr
