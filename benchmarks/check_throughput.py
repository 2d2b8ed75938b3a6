"""Throughput of `swissai check` (not part of CI): scan 1,000 generated manifests and print
manifests per second; where checkov is installed (on PATH, or .venv-checkov/bin/checkov from
`make checkov-env`), run it on the same files in the same run and print the ratio.

    python benchmarks/check_throughput.py [--count 1000] [--keep DIR]
    python benchmarks/check_throughput.py --corpus third-party --count 252

`--corpus third-party`: the small KServe, KAITO, KubeRay, Argo Rollouts, llm-d, NIM, Ollama
and production-stack-shaped manifests of tests/data/compliance/crd/ (issue 18), copied into
numbered namespaces until `--count` objects, plus a `helm template`-style file without
objects (skipped by both tools); `--count` then counts objects, not files.

Both tools start as processes (`python -m swissai check DIR`, `checkov -d DIR --framework
kubernetes`), so start-up is included for both; checkov runs offline (--skip-download, no update
check). Different rule sets, so the ratio compares tools, not rules.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

TEMPLATE = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: svc-{i}
  namespace: team-{ns}
  labels: {{app: svc-{i}}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: svc-{i}}}}}
  template:
    metadata: {{labels: {{app: svc-{i}}}}}
    spec:
      serviceAccountName: svc-{i}
      securityContext: {{runAsNonRoot: true, seccompProfile: {{type: RuntimeDefault}}}}
      containers:
      - name: main
        image: {image}
        args: [{args}]
        env:
        - {{name: VLLM_NO_USAGE_STATS, value: "{stats}"}}
        - {{name: DO_NOT_TRACK, value: "1"}}
        - {{name: HF_HUB_OFFLINE, value: "1"}}
        resources:
          requests: {{cpu: "1", memory: 1Gi}}
          limits: {{memory: 1Gi, nvidia.com/gpu: "1"}}
        securityContext: {{allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {{drop: [ALL]}}}}
---
apiVersion: v1
kind: Service
metadata: {{name: svc-{i}, namespace: team-{ns}}}
spec:
  type: {svc_type}
  selector: {{app: svc-{i}}}
  ports: [{{port: 8000}}]
"""


def generate(folder: Path, count: int) -> None:
    for i in range(count):
        vllm = i % 3 == 0
        image = (
            (
                "vllm/vllm-openai:v0.10.1"
                if i % 2
                else "registry.bank.internal/vllm/vllm-openai@sha256:" + "4" * 64
            )
            if vllm
            else f"registry.bank.internal/app-{i % 7}:1.{i}"
        )
        (folder / f"m{i:04d}.yaml").write_text(
            TEMPLATE.format(
                i=i,
                ns=i % 10,
                replicas=1 + i % 3,
                image=image,
                args="/models/m, --tensor-parallel-size, '1'" if vllm else "--port, '8000'",
                stats="1" if i % 4 else "true",
                svc_type="ClusterIP" if i % 5 else "NodePort",
            ),
            encoding="utf-8",
        )


CRD_DATA = REPO / "tests" / "data" / "compliance" / "crd"


def generate_third_party(folder: Path, count: int) -> int:
    """Copies of the issue-18 manifests, one namespace per copy, until `count` objects;
    returns the number of objects written."""
    import re

    sources = [p for p in sorted(CRD_DATA.glob("*.yaml")) if p.name != "site.yaml"]
    texts = [p.read_text(encoding="utf-8") for p in sources]
    per_copy = [sum(1 for d in t.split("\n---") if re.search(r"^kind:", d, re.M)) for t in texts]
    written, copy = 0, 0
    while written < count:
        for source, text, objects in zip(sources, texts, per_copy, strict=True):
            renamed = re.sub(r"namespace: ai\b", f"namespace: ai-{copy}", text)
            (folder / f"c{copy:03d}-{source.name}").write_text(renamed, encoding="utf-8")
            written += objects
            if written >= count:
                break
        copy += 1
    (folder / "empty-render.yaml").write_text("---\n# Source: llm/templates/hpa.yaml\n")
    return written


def timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, int]:
    start = time.perf_counter()
    proc = subprocess.run(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=False
    )
    return time.perf_counter() - start, proc.returncode


def checkov_binary() -> str | None:
    found = shutil.which("checkov")
    local = REPO / ".venv-checkov" / "bin" / "checkov"
    return found or (str(local) if local.exists() else None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--keep", type=Path, help="write the manifests here and keep them")
    parser.add_argument("--corpus", choices=("generated", "third-party"), default="generated")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="swissai-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    unit = "manifests"
    if args.corpus == "third-party":
        args.count, unit = generate_third_party(folder, args.count), "objects"
    else:
        generate(folder, args.count)
    seconds, rc = timed(
        [sys.executable, "-m", "swissai", "check", str(folder), "-o", "json", "--fail-on", "none"]
    )
    rate = args.count / seconds
    print(
        f"swissai check: {args.count} {unit} in {seconds:.2f} s = {rate:.0f} {unit}/s (exit {rc})"
    )
    checkov = checkov_binary()
    if checkov is None:
        print("checkov: not installed (make checkov-env); no comparison")
    else:
        env = dict(os.environ, CKV_SKIP_PACKAGE_UPDATE_CHECK="true", BC_SKIP_MAPPING="TRUE")
        cseconds, crc = timed(
            [
                checkov,
                "-d",
                str(folder),
                "--framework",
                "kubernetes",
                "--skip-download",
                "--quiet",
                "--compact",
                "-o",
                "json",
            ],
            env,
        )
        crate = args.count / cseconds
        print(
            f"checkov:       {args.count} {unit} in {cseconds:.2f} s = {crate:.0f} {unit}/s (exit {crc})"
        )
        print(f"ratio swissai/checkov: {rate / crate:.2f}x")
    if args.keep is None:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
