"""RenderContext: refusals (exit 2 and 4) and the values computed from plan and site."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from render_support import PLAN_MULTI, PLAN_SINGLE, load_plan, site

from swissai.errors import InfeasiblePlan, InputError
from swissai.models.plan import ServePlan
from swissai.render.context import build_context, plan_digest
from swissai.render.environment import RenderError, make_environment


def _plan(path: Any = PLAN_SINGLE, **update: Any) -> ServePlan:
    plan = load_plan(path)
    data = plan.model_dump()
    for dotted, value in update.items():
        target = data
        *parents, last = dotted.split("__")
        for key in parents:
            target = target[key]
        target[last] = value
    return ServePlan.model_validate(data)


def test_infeasible_plan_is_exit_4() -> None:
    with pytest.raises(InfeasiblePlan) as info:
        build_context(_plan(feasible=False), site())
    assert info.value.exit_code == 4


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--trust-remote-code"], "SEC-006"),
        (["--api-key", "s3cret"], "Secret"),
        (["--enable-log-requests"], "LOG-001"),
        (["--tool-server=demo"], "RES-010"),
        (["--chat-template", "x\ny"], "control character"),
        # vLLM's parser reads `_` as `-`: the underscore spellings are the same flags
        (["--trust_remote_code"], "SEC-006"),
        (["--enable_log_requests"], "LOG-001"),
        (["--enable_log_outputs"], "LOG-001"),
        (["--api_key=s3cret"], "Secret"),
        (["--tool_server", "demo"], "RES-010"),
        # a hub id for the tokenizer or the config is downloaded at start-up
        (
            ["--tokenizer", "deepseek-ai/DeepSeek-R1"],
            "--tokenizer deepseek-ai/DeepSeek-R1: not an absolute path",
        ),
        (["--tokenizer=org/tok"], "RES-005"),
        (["--config", "serve.yaml"], "--config serve.yaml: not an absolute path"),
    ],
)
def test_dangerous_or_unsafe_args_are_refused(extra: list[str], message: str) -> None:
    plan = load_plan(PLAN_SINGLE)
    bad = _plan(vllm__args=[*plan.vllm.args, *extra])
    with pytest.raises(InputError, match=message) as info:
        build_context(bad, site())
    assert info.value.exit_code == 2


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("DO_NOT_TRACK", "true", "exactly '1'"),
        ("VLLM_NO_USAGE_STATS", "yes", "exactly '1'"),
        ("RAY_USAGE_STATS_ENABLED", "1", "exactly '0'"),
        ("VLLM_DO_NOT_TRACK", "0", "exactly '1'"),
        ("HF_ENDPOINT", "https://huggingface.co", "RES-005"),
        ("HF_TOKEN", "hf_x", "RES-005"),
        ("VLLM_API_KEY", "k", "Secret"),
        ("BAD NAME", "1", "not an environment variable name"),
    ],
)
def test_plan_env_that_would_phone_home_is_refused(name: str, value: str, message: str) -> None:
    env = {**load_plan(PLAN_SINGLE).vllm.env, name: value}
    with pytest.raises(InputError, match=message):
        build_context(_plan(vllm__env=env), site())


@pytest.mark.parametrize("model_id", ["gpt-oss\n120b", 'gpt-oss"120b', "gpt oss: {x: 1}"])
def test_model_ids_that_would_break_yaml_are_refused(model_id: str) -> None:
    with pytest.raises(InputError, match=r"model\.id"):
        build_context(_plan(model__id=model_id), site())


def test_plan_args_are_kept_verbatim_with_the_local_model_path() -> None:
    plan = load_plan(PLAN_SINGLE)
    args = build_context(plan, site()).values["vllm"]["args"]
    expected = list(plan.vllm.args)
    expected[expected.index("--model") + 1] = "/models/gpt-oss-120b"
    assert args[: len(expected)] == expected
    assert "openai/gpt-oss-120b" not in args
    assert args[len(expected) :] == ["--port", "8000", "--disable-fastapi-docs"]


def test_equals_form_of_model_and_site_model_path() -> None:
    plan = load_plan(PLAN_SINGLE)
    args = [a for a in plan.vllm.args]
    i = args.index("--model")
    args[i : i + 2] = ["--model=openai/gpt-oss-120b"]
    values = build_context(_plan(vllm__args=args), site(model={"path": "oss/120b"})).values
    assert "--model=/models/oss/120b" in values["vllm"]["args"]


def test_multi_node_runs_ray_and_keeps_args() -> None:
    values = build_context(load_plan(PLAN_MULTI), site()).values
    assert values["multiNode"] is True
    assert values["groupSize"] == 2 and values["gpusPerPod"] == 8
    assert values["vllm"]["args"][-2:] == ["--distributed-executor-backend", "ray"]
    assert "--pipeline-parallel-size" in values["vllm"]["args"]
    assert set(values["scripts"]) == {"verify_model.py", "ray_leader.sh", "ray_worker.sh"}


def test_probe_budget_follows_load_time_and_policy() -> None:
    plan = load_plan(PLAN_SINGLE)
    probe = build_context(plan, site()).values["vllm"]["startupProbe"]
    budget = probe["periodSeconds"] * probe["failureThreshold"]
    assert budget >= 1800 and budget >= 2 * plan.estimates.load_time_s
    slow = _plan(estimates__load_time_s=3000.0)
    probe = build_context(slow, site()).values["vllm"]["startupProbe"]
    assert probe["periodSeconds"] * probe["failureThreshold"] >= 6000


def test_plan_digest_changes_with_the_plan() -> None:
    plan = load_plan(PLAN_SINGLE)
    assert plan_digest(plan) == plan_digest(load_plan(PLAN_SINGLE))
    assert plan_digest(plan) != plan_digest(_plan(limits__max_num_seqs=7))


def test_the_environment_refuses_a_value_pasted_without_the_json_filter() -> None:
    env = make_environment()
    assert env.from_string("a: {{ x | j }}").render(x='q"\nz') == 'a: "q\\"\\nz"'
    with pytest.raises(RenderError, match="without the j filter"):
        env.from_string("a: {{ x }}").render(x="y")
    with pytest.raises(Exception, match="'missing' is undefined"):
        env.from_string("a: {{ missing | j }}").render()


def test_local_tokenizer_and_config_paths_are_kept() -> None:
    plan = load_plan(PLAN_SINGLE)
    extra = ["--tokenizer", "/models/tok", "--config=/models/serve.yaml"]
    args = build_context(_plan(vllm__args=[*plan.vllm.args, *extra]), site()).values["vllm"]["args"]
    assert args[len(plan.vllm.args) : len(plan.vllm.args) + len(extra)] == extra


def test_underscore_spelling_of_a_rendered_flag_is_not_added_twice() -> None:
    plan = load_plan(PLAN_SINGLE)
    args = build_context(
        _plan(vllm__args=[*plan.vllm.args, "--disable_fastapi_docs"]), site()
    ).values["vllm"]["args"]
    assert "--disable-fastapi-docs" not in args and args.count("--disable_fastapi_docs") == 1


def test_ray_workers_get_a_startup_probe_with_the_leaders_budget() -> None:
    values = build_context(_plan(PLAN_MULTI, estimates__load_time_s=3000.0), site()).values
    leader, worker = values["vllm"]["startupProbe"], values["worker"]["startupProbe"]
    budget = worker["periodSeconds"] * worker["failureThreshold"]
    assert budget == leader["periodSeconds"] * leader["failureThreshold"] >= 6300
    assert worker["exec"]["command"] == values["worker"]["livenessProbe"]["exec"]["command"]
    assert "LWS_LEADER_ADDRESS" in worker["exec"]["command"][-1]
    assert budget >= int(
        next(e["value"] for e in values["worker"]["env"] if e["name"] == "SWISSAI_RAY_WAIT_S")
    )


def _gateway_peers(values: dict[str, Any]) -> list[Any]:
    policy = next(p for p in values["networkPolicies"] if p["name"].endswith("-allow-gateway"))
    return [peer for rule in policy["spec"]["ingress"] for peer in rule["from"]]


def test_route_exposure_admits_the_openshift_router_by_default() -> None:
    plan = load_plan(PLAN_SINGLE)
    route = build_context(plan, site(exposure={"type": "route"})).values
    assert _gateway_peers(route) == [
        {"namespaceSelector": {"matchLabels": {"network.openshift.io/policy-group": "ingress"}}}
    ]
    cluster_ip = build_context(plan, site()).values
    assert _gateway_peers(cluster_ip) == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "gateway"}}}
    ]
    mine = {"namespace_labels": {"team": "edge"}, "pod_labels": {"app": "router"}}
    explicit = build_context(plan, site(exposure={"type": "route", "clients": mine})).values
    assert _gateway_peers(explicit) == [
        {
            "namespaceSelector": {"matchLabels": {"team": "edge"}},
            "podSelector": {"matchLabels": {"app": "router"}},
        }
    ]


def _run_worker_script(tmp_path: Path, failures: int, wait_s: int) -> tuple[int, str, list[str]]:
    """templates/scripts/ray_worker.sh under /bin/sh with stand-ins for `ray`, `sleep` and
    `find` (the script clears /dev/shm: never on the test machine) on PATH."""
    from swissai.resources import templates_dir

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "ray.log"
    (bin_dir / "ray").write_text(
        "#!/bin/sh\n"
        f'echo "$*" >> "{log}"\n'
        '[ "$1" = start ] || exit 0\n'
        f'n=$(grep -c "^start" "{log}")\n'
        f'[ "$n" -gt {failures} ] && exit 0\n'
        "exit 7\n"
    )
    for name in ("sleep", "find"):
        (bin_dir / name).write_text("#!/bin/sh\nexit 0\n")
    for script in bin_dir.iterdir():
        script.chmod(0o755)
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "LWS_LEADER_ADDRESS": "leader.svc",
        "VLLM_HOST_IP": "10.0.0.2",
        "SWISSAI_GPUS_PER_POD": "8",
        "SWISSAI_RAY_WAIT_S": str(wait_s),
    }
    result = subprocess.run(
        ["/bin/sh", str(templates_dir() / "scripts" / "ray_worker.sh")],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    calls = log.read_text().splitlines() if log.exists() else []
    return result.returncode, result.stderr, calls


def test_ray_worker_retries_joining_until_the_leader_is_up(tmp_path: Path) -> None:
    code, stderr, calls = _run_worker_script(tmp_path, failures=2, wait_s=600)
    starts = [c for c in calls if c.startswith("start")]
    assert code == 0, stderr
    assert len(starts) == 3 and all("--address=leader.svc:6379" in c for c in starts)
    assert all("--disable-usage-stats" in c and "--block" in c for c in starts)
    assert stderr.count("retrying in 5 s") == 2


def test_ray_worker_gives_up_after_the_deadline(tmp_path: Path) -> None:
    code, stderr, calls = _run_worker_script(tmp_path, failures=99, wait_s=0)
    assert code == 7
    assert len([c for c in calls if c.startswith("start")]) == 1
    assert "could not join the Ray head at leader.svc:6379" in stderr
