"""`swissai render --policies`: the ValidatingAdmissionPolicies' CEL evaluated for real (the
cel-python package, a Common Expression Language implementation from PyPI) against the same
examples the rules are tested with (tests/data/compliance/examples/<RULE-ID>/pass|fail.yaml),
so the in-cluster policy and `swissai check` agree case by case.

What is not real here: the API server. The policies' structure is validated against the
Kubernetes 1.30 and 1.37 schemas (kubernetes-validate); the evaluation follows the API server's
semantics for `object` and `variables` (variables evaluated in order, then every validation).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from compliance_support import EXAMPLES, check_example, example_files
from render_support import variants

from swissai.core.compliance import REGISTRY
from swissai.models.policy import CompliancePolicy
from swissai.rendering.policies import not_expressible, policy_objects, specs

celpy = pytest.importorskip("celpy")
WORKLOADS = ("Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "LeaderWorkerSet")
RULES = [s.rule_id for s in specs(CompliancePolicy())]


def _last_index_of(items: Any, value: Any) -> Any:
    """Kubernetes' CEL list library `lastIndexOf` (built into the API server since 1.27,
    https://kubernetes.io/docs/reference/using-api/cel/#kubernetes-list-library); cel-python
    has the CEL standard only, so the function is registered here with its documented meaning."""
    found = [i for i, item in enumerate(items) if item == value]
    return celpy.celtypes.IntType(found[-1] if found else -1)


@cache
def _program(expression: str) -> Any:
    env = celpy.Environment()
    return env.program(env.compile(expression), functions={"lastIndexOf": _last_index_of})


def admitted(vap: dict[str, Any], obj: dict[str, Any]) -> bool:
    """The API server's verdict on `obj`: variables in order, then every validation true."""
    activation: dict[str, Any] = {"object": celpy.json_to_cel(obj)}
    variables: dict[Any, Any] = {}
    for variable in vap["spec"].get("variables", []):
        activation["variables"] = celpy.celtypes.MapType(variables)
        value = _program(variable["expression"]).evaluate(activation)
        if isinstance(value, Exception):
            raise value
        variables[celpy.celtypes.StringType(variable["name"])] = value
    activation["variables"] = celpy.celtypes.MapType(variables)
    verdicts = []
    for validation in vap["spec"]["validations"]:
        value = _program(validation["expression"]).evaluate(activation)
        if isinstance(value, Exception):  # failurePolicy Fail: an error denies
            raise value
        assert isinstance(value, celpy.celtypes.BoolType), validation["expression"]
        verdicts.append(bool(value))
    return all(verdicts)


def _policies(policy: CompliancePolicy) -> dict[str, dict[str, Any]]:
    return {
        o["metadata"]["annotations"]["swissai.io/rule"]: o
        for o in policy_objects(policy, "ai", {})
        if o["kind"] == "ValidatingAdmissionPolicy"
    }


def _workloads(path: Path) -> list[dict[str, Any]]:
    docs = yaml.safe_load_all(path.read_text(encoding="utf-8"))
    return [d for d in docs if isinstance(d, dict) and d.get("kind") in WORKLOADS]


@pytest.mark.parametrize("rule_id", RULES)
def test_policy_admits_the_pass_example_and_denies_the_fail_example(rule_id: str) -> None:
    vap = _policies(CompliancePolicy())[rule_id]
    passing = _workloads(EXAMPLES / rule_id / "pass.yaml")
    failing = _workloads(EXAMPLES / rule_id / "fail.yaml")
    assert passing and failing
    assert all(admitted(vap, obj) for obj in passing)
    assert not all(admitted(vap, obj) for obj in failing)


def _finding_on(report: Any, rule_id: str, obj: dict[str, Any]) -> bool:
    kind, name = obj["kind"], obj["metadata"]["name"]
    return any(
        f.rule_id == rule_id
        and f.object
        and f.object.startswith(kind + "/")
        and f.object.endswith("/" + name)
        for f in report.findings
    )


def test_policies_and_check_agree_on_every_workload_of_every_example() -> None:
    """Every workload of every rule example (both cases, every rule folder): each policy denies
    it exactly when `swissai check` reports that policy's rule on it."""
    compared = 0
    disagreements = []
    for folder in sorted(p.name for p in EXAMPLES.iterdir() if p.name in REGISTRY):
        for case in ("pass", "fail"):
            files = example_files(folder, case)
            workloads = _workloads(files["manifests"])
            if not workloads:
                continue
            from swissai.adapters.site import load_site

            policy = load_site(files["site"]).compliance if "site" in files else CompliancePolicy()
            report = check_example(folder, case)
            for rule_id, vap in _policies(policy).items():
                for obj in workloads:
                    compared += 1
                    if admitted(vap, obj) == _finding_on(report, rule_id, obj):
                        disagreements.append(f"{folder}/{case}: {rule_id} on {obj['kind']}")
    assert compared > 500
    assert disagreements == []


@pytest.mark.parametrize("name", sorted(variants()))
def test_everything_swissai_renders_is_admitted(name: str) -> None:
    from swissai.rendering.manifests import render

    plan, profile = variants()[name]
    workloads = [o for o in render(plan, profile).objects if o["kind"] in WORKLOADS]
    for rule_id, vap in _policies(profile.compliance).items():
        for obj in workloads:
            assert admitted(vap, obj), f"{rule_id} denies {obj['kind']}/{obj['metadata']['name']}"


def test_the_helm_test_pod_is_admitted(tmp_path: Path) -> None:
    helm = pytest.importorskip("helm_python")
    from render_support import PLAN_SINGLE, load_plan, site

    from swissai.adapters.tracked_files import write_tracked
    from swissai.rendering.context import build_context
    from swissai.rendering.helm import chart

    plan, profile = load_plan(PLAN_SINGLE), site()
    write_tracked(tmp_path, chart(build_context(plan, profile), plan, profile))
    rendered = helm.Chart.load(str(tmp_path)).render(name="prod", namespace="llm-prod")
    pods = [
        d
        for path, text in rendered.items()
        if "/tests/" in path
        for d in yaml.safe_load_all(text)
        if d and d["kind"] == "Pod"
    ]
    assert len(pods) == 1
    for rule_id, vap in _policies(profile.compliance).items():
        assert admitted(vap, pods[0]), rule_id


def test_policies_are_valid_objects_named_after_their_rules() -> None:
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    objects = policy_objects(CompliancePolicy(), "llm-prod", {"app.kubernetes.io/part-of": "x"})
    assert len(objects) == 2 * len(RULES)
    for obj in objects:
        for version in ("1.30.0", "1.37.0"):
            kubernetes_validate.validate(obj, version, strict=True)
        rule_id = obj["metadata"]["labels"]["swissai.io/rule"]
        assert obj["metadata"]["name"] == f"swissai-{rule_id.lower()}"
    for vap in (o for o in objects if o["kind"] == "ValidatingAdmissionPolicy"):
        rule_id = vap["metadata"]["annotations"]["swissai.io/rule"]
        assert all(v["message"].startswith(rule_id + ":") for v in vap["spec"]["validations"])
    bindings = [o for o in objects if o["kind"] == "ValidatingAdmissionPolicyBinding"]
    for binding in bindings:
        assert binding["spec"]["validationActions"] == ["Deny"]
        selector = binding["spec"]["matchResources"]["namespaceSelector"]["matchLabels"]
        assert selector == {"kubernetes.io/metadata.name": "llm-prod"}


def test_every_rule_is_either_enforced_or_listed_as_not_expressible() -> None:
    listed = not_expressible()
    assert set(listed).isdisjoint(RULES)
    assert set(listed) | set(RULES) == {r for r in REGISTRY if not r.startswith("WAIVER")}
    assert "egress" in listed["RES-004"].lower() or "NetworkPolicies" in listed["RES-004"]


def test_site_values_reach_the_expressions() -> None:
    """A site that allows another registry and region: the policies follow it."""
    policy = CompliancePolicy(allowed_registries=["harbor.bank.ch"], allowed_locations=["ch-ge1"])
    vaps = _policies(policy)
    deployment = _workloads(EXAMPLES / "RES-009" / "pass.yaml")[0]
    assert not admitted(vaps["RES-009"], deployment)  # registry.bank.internal is not allowed now
    assert not admitted(vaps["RES-002"], deployment)  # ch-zh1/ch-be1 are not allowed now


def test_kyverno_policies_carry_the_same_cel() -> None:
    """The optional Kyverno form: one ClusterPolicy per rule with exactly the variables,
    expressions and messages the tests above evaluate, matched to the serving namespace."""
    from swissai.rendering.policies import kyverno_objects

    vaps = _policies(CompliancePolicy())
    kyverno = kyverno_objects(CompliancePolicy(), "llm-prod", {})
    assert [k["metadata"]["annotations"]["swissai.io/rule"] for k in kyverno] == RULES
    for cluster_policy in kyverno:
        rule_id = cluster_policy["metadata"]["annotations"]["swissai.io/rule"]
        (rule,) = cluster_policy["spec"]["rules"]
        cel = rule["validate"]["cel"]
        vap = vaps[rule_id]["spec"]
        assert cel["variables"] == vap["variables"]
        assert cel["expressions"] == [
            {"expression": v["expression"], "message": v["message"]} for v in vap["validations"]
        ]
        assert rule["match"]["any"][0]["resources"]["namespaces"] == ["llm-prod"]
        assert cluster_policy["spec"]["validationFailureAction"] == "Enforce"
