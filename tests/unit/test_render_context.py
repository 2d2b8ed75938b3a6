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
from swissai.rendering.context import build_context, plan_digest
from swissai.rendering.environment import RenderError, make_environment


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
    args = build_context(plan, site()).values.vllm.args
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
    assert "--model=/models/oss/120b" in values.vllm.args


def test_multi_node_runs_ray_and_keeps_args() -> None:
    values = build_context(load_plan(PLAN_MULTI), site()).values
    assert values.multi_node is True
    assert values.group_size == 2 and values.gpus_per_pod == 8
    assert values.vllm.args[-2:] == ["--distributed-executor-backend", "ray"]
    assert "--pipeline-parallel-size" in values.vllm.args
    assert set(values.scripts) == {"verify_model.py", "ray_leader.sh", "ray_worker.sh"}


def test_probe_budget_follows_load_time_and_policy() -> None:
    plan = load_plan(PLAN_SINGLE)
    probe = build_context(plan, site()).values.vllm.startup_probe
    budget = probe["periodSeconds"] * probe["failureThreshold"]
    assert budget >= 1800 and budget >= 2 * plan.estimates.load_time_s
    slow = _plan(estimates__load_time_s=3000.0)
    probe = build_context(slow, site()).values.vllm.startup_probe
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
    args = build_context(_plan(vllm__args=[*plan.vllm.args, *extra]), site()).values.vllm.args
    assert args[len(plan.vllm.args) : len(plan.vllm.args) + len(extra)] == extra


def test_underscore_spelling_of_a_rendered_flag_is_not_added_twice() -> None:
    plan = load_plan(PLAN_SINGLE)
    args = build_context(
        _plan(vllm__args=[*plan.vllm.args, "--disable_fastapi_docs"]), site()
    ).values.vllm.args
    assert "--disable-fastapi-docs" not in args and args.count("--disable_fastapi_docs") == 1


def test_ray_workers_get_a_startup_probe_with_the_leaders_budget() -> None:
    values = build_context(_plan(PLAN_MULTI, estimates__load_time_s=3000.0), site()).values.data()
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
    route = build_context(plan, site(exposure={"type": "route"})).values.data()
    assert _gateway_peers(route) == [
        {"namespaceSelector": {"matchLabels": {"network.openshift.io/policy-group": "ingress"}}}
    ]
    cluster_ip = build_context(plan, site()).values.data()
    assert _gateway_peers(cluster_ip) == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "gateway"}}}
    ]
    mine = {"namespace_labels": {"team": "edge"}, "pod_labels": {"app": "router"}}
    explicit = build_context(plan, site(exposure={"type": "route", "clients": mine})).values.data()
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


# -- one policy for forbidden flags: every spelling vLLM accepts (swissai.core.vllm_flags) -------


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--trust-remote"], "SEC-006"),  # a unique prefix vLLM expands
        (["--trust-rem"], "SEC-006"),
        (["--Trust-Remote-Code"], "SEC-006"),  # re-cased
        (["--TRUST_REMOTE_CODE"], "SEC-006"),
        (["--enable-log-req"], "LOG-001"),
        (["--enable_log_out"], "LOG-001"),
        (["--api-ke=s3cret-value"], "Secret"),
        (["--api-k", "s3cret-value"], "Secret"),
        (["--tool-serv", "demo"], "RES-010"),
    ],
)
def test_abbreviated_or_recased_forbidden_flags_are_refused(extra: list[str], message: str) -> None:
    plan = load_plan(PLAN_SINGLE)
    with pytest.raises(InputError, match=message) as info:
        build_context(_plan(vllm__args=[*plan.vllm.args, *extra]), site())
    assert info.value.exit_code == 2
    # the flag is named, a value (an API key) never is
    assert extra[0].split("=", 1)[0] in info.value.message
    assert "s3cret-value" not in info.value.message + (info.value.hint or "")


@pytest.mark.parametrize("name", ["hf_token", "Vllm_Api_Key", "vllm_server_dev_mode"])
def test_recased_forbidden_variables_are_refused(name: str) -> None:
    env = {**load_plan(PLAN_SINGLE).vllm.env, name: "x"}
    with pytest.raises(InputError, match=name):
        build_context(_plan(vllm__env=env), site())


# -- gpt-oss encodings: one location (swissai.core.encodings) ------------------------------------


def test_encodings_live_in_the_one_folder_with_tiktokens_hashes() -> None:
    from swissai.core.encodings import ENCODINGS_SUBDIR, TIKTOKEN_REQUIRED, TIKTOKEN_SHA256

    values = build_context(load_plan(PLAN_SINGLE), site()).values
    env = {e["name"]: e.get("value") for e in values.vllm.env}
    folder = f"/models/gpt-oss-120b/{ENCODINGS_SUBDIR}"
    assert env["TIKTOKEN_ENCODINGS_BASE"] == env["TIKTOKEN_RS_CACHE_DIR"] == folder
    verify = next(c for c in values.init_containers if c["name"] == "verify-model")
    required = next(e["value"] for e in verify["env"] if e["name"] == "REQUIRED_FILES")
    assert required == ";".join(
        f"{ENCODINGS_SUBDIR}/{name}={TIKTOKEN_SHA256[name]}" for name in TIKTOKEN_REQUIRED
    )
    import swissai.rendering.context as context_module

    assert not hasattr(context_module, "TIKTOKEN_FILES")  # no second table of hashes


# -- availability: render writes exactly the plan's ---------------------------------------------


def _planned(gpus: str, **kwargs: Any) -> ServePlan:
    from swissai.adapters.profiles import load_gpu, load_model
    from swissai.core.hardware import hardware_from_spec
    from swissai.core.planner import PlanRequest, make_plan

    hardware = hardware_from_spec(gpus, load_gpu)
    return make_plan(PlanRequest(model=load_model("gpt-oss-120b"), hardware=hardware, **kwargs))


def _workload_and_pdb(plan: ServePlan) -> tuple[dict[str, Any], dict[str, Any]]:
    from swissai.rendering.manifests import render

    objects = render(plan, site()).objects
    (workload,) = [o for o in objects if o["kind"] == "Deployment"]
    (pdb,) = [o for o in objects if o["kind"] == "PodDisruptionBudget"]
    return workload, pdb


def test_two_tp4_replicas_on_one_8_gpu_node_get_a_preferred_rule() -> None:
    plan = _planned("8xh100-80gb")
    assert (plan.layout.replicas, plan.hardware.nodes) == (2, 1)
    workload, pdb = _workload_and_pdb(plan)
    anti = workload["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
    # a required rule would leave the second pod Pending: there is one node
    assert "requiredDuringSchedulingIgnoredDuringExecution" not in anti
    (term,) = anti["preferredDuringSchedulingIgnoredDuringExecution"]
    assert term["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    assert workload["spec"]["replicas"] == 2
    assert workload["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 0, "maxUnavailable": 1}
    assert pdb["spec"]["minAvailable"] == 1 and "maxUnavailable" not in pdb["spec"]


def test_two_replicas_on_two_nodes_get_a_required_rule() -> None:
    plan = _planned("16xh100-80gb@2", tp=8)
    assert (plan.layout.replicas, plan.hardware.nodes) == (2, 2)
    workload, pdb = _workload_and_pdb(plan)
    anti = workload["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
    (term,) = anti["requiredDuringSchedulingIgnoredDuringExecution"]
    assert term["topologyKey"] == "kubernetes.io/hostname"
    assert "preferredDuringSchedulingIgnoredDuringExecution" not in anti
    assert pdb["spec"]["minAvailable"] == 1


def test_a_single_replica_with_idle_gpus_surges_and_prefers_spread() -> None:
    plan = _planned("8xh100-80gb", tp=4, replicas=1)
    workload, pdb = _workload_and_pdb(plan)
    assert workload["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    anti = workload["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
    assert "preferredDuringSchedulingIgnoredDuringExecution" in anti
    assert pdb["spec"]["minAvailable"] == 0


def test_render_follows_the_plans_availability_not_its_own_rule() -> None:
    plan = load_plan(PLAN_SINGLE)
    assert plan.availability is None  # an older plan file: derived from the layout
    derived, _ = _workload_and_pdb(plan)
    anti = derived["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
    assert "requiredDuringSchedulingIgnoredDuringExecution" in anti  # 1 replica, 1 node
    stated = {
        "replicas": 1,
        "min_available": 0,
        "max_unavailable": 1,
        "max_surge": 0,
        "spread": "none",
        "update_outage": True,
        "reason": "test",
    }
    workload, _ = _workload_and_pdb(_plan(availability=stated))
    assert "podAntiAffinity" not in workload["spec"]["template"]["spec"]["affinity"]


def test_availability_that_contradicts_the_layout_is_exit_2() -> None:
    stated = {
        "replicas": 3,
        "min_available": 2,
        "max_unavailable": 1,
        "max_surge": 0,
        "spread": "required",
        "update_outage": False,
        "reason": "edited",
    }
    with pytest.raises(InputError, match=r"availability\.replicas") as info:
        build_context(_plan(availability=stated), site())
    assert info.value.exit_code == 2


def test_multi_node_pdb_counts_pods_one_group_at_a_time() -> None:
    values = build_context(load_plan(PLAN_MULTI), site()).values
    assert (values.pdb.field, values.pdb.value) == ("maxUnavailable", 1)
    assert (values.rollout.max_surge, values.rollout.max_unavailable) == (0, 1)
