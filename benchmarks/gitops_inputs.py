"""Cost of the GitOps inputs of `swissai check` (not part of CI): the same plan rendered as
plain manifests, a Helm chart and a Kustomize overlay, each checked as a process
(`python -m swissai check ...`, start-up included), median of --runs; and the admission
policies' CEL evaluated with cel-python on the rendered Deployment.

    python benchmarks/gitops_inputs.py [--runs 5]

Prints seconds per check; the differences are Helm's render (helm-python-sdk) and
`kubectl kustomize`, which CI pays once per chart or overlay.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PLAN = REPO / "tests" / "data" / "render" / "plan-gpt-oss-120b.yaml"
SITE = REPO / "tests" / "data" / "render" / "site.yaml"


def _swissai(*args: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "swissai", *args], check=False, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for flag, name in (("", "plain"), ("--helm", "chart"), ("--kustomize", "kustomize")):
            extra = [flag] if flag else []
            _swissai("render", str(PLAN), "--site", str(SITE), "--out", str(root / name), *extra)
        inputs = {
            "plain manifests": root / "plain",
            "chart directory (helm render)": root / "chart",
            "kustomize overlay (kubectl kustomize)": root / "kustomize" / "overlays" / "prod",
        }
        for label, path in inputs.items():
            times = [_swissai("check", str(path), "--site", str(SITE)) for _ in range(runs)]
            print(f"check {label:40s} median {statistics.median(times):.2f} s over {runs} runs")
    import celpy
    import yaml

    from swissai.adapters.site import load_site
    from swissai.models.plan import ServePlan
    from swissai.models.policy import CompliancePolicy
    from swissai.rendering.manifests import render
    from swissai.rendering.policies import policy_objects

    plan = ServePlan.model_validate(yaml.safe_load(PLAN.read_text(encoding="utf-8")))
    (deployment,) = [o for o in render(plan, load_site(SITE)).objects if o["kind"] == "Deployment"]
    vaps = [o for o in policy_objects(CompliancePolicy(), "x", {}) if o["kind"].endswith("Policy")]
    env = celpy.Environment()
    count = 0
    start = time.perf_counter()
    for vap in vaps:
        act = {"object": celpy.json_to_cel(deployment)}
        pods = env.program(env.compile(vap["spec"]["variables"][0]["expression"])).evaluate(act)
        act["variables"] = celpy.celtypes.MapType({celpy.celtypes.StringType("pods"): pods})
        for validation in vap["spec"]["validations"]:
            program = env.program(
                env.compile(validation["expression"]),
                functions={
                    "lastIndexOf": lambda items, v: celpy.celtypes.IntType(
                        max([i for i, x in enumerate(items) if x == v], default=-1)
                    )
                },
            )
            program.evaluate(act)
            count += 1
    elapsed = time.perf_counter() - start
    print(
        f"cel-python: {count} validations (compile + evaluate) on one Deployment in {elapsed:.2f} s"
    )


if __name__ == "__main__":
    main()
