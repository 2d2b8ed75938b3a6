"""Backup and restore figures against the fake API server (tests/fakes/fake_kube_api.py).

Deploys the test plan, then alternates two plans (deploy, rollback) until the workload has
--records deployment records, then times `backup` (plain and encrypted) and `restore` into a
fresh fake cluster, and prints the backup's size. The fake answers in-process over HTTP on
127.0.0.1, so the times are swissai's own work plus the HTTP round trips, not a real cluster's.

    .venv/bin/python benchmarks/bench_day2.py --records 20
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "tests"), str(REPO / "tests" / "integration")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20, help="deployment records to create")
    args = parser.parse_args()

    from fakes.fake_kube_api import FakeKubeApi, kubelet_ready
    from test_deploy import DATA, NS, TOKEN, seed_cluster

    import swissai
    from swissai.services.events import ignore

    os.environ["NO_PROXY"] = "127.0.0.1,localhost"
    site = swissai.read_site(DATA / "site.yaml")
    plans = [
        swissai.read_plan(DATA / f) for f in ("plan-single-node.yaml", "plan-single-node-long.yaml")
    ]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        os.chdir(work)
        api = FakeKubeApi(token=TOKEN, kubelet=kubelet_ready(step_s=0.0))
        api.start()
        fresh = FakeKubeApi(token=TOKEN, kubelet=kubelet_ready(step_s=0.0))
        fresh.start()
        try:
            seed_cluster(api)
            seed_cluster(fresh)
            os.environ["KUBECONFIG"] = str(api.kubeconfig(work / "kubeconfig"))
            for index in range(args.records):
                request = swissai.DeployRequest(
                    plan=plans[index % 2], site=site, timeout_s=30, record_file=None
                )
                swissai.deploy(request, on_event=ignore)
            key = work / "key"
            from swissai.services.backup import new_key

            new_key(key)
            figures = []
            for label, key_file in (("plain", None), ("encrypted", key)):
                out = work / f"{label}.swb"
                started = time.perf_counter()
                result = swissai.backup(
                    swissai.BackupRequest(
                        namespace=NS, out=out, key_file=key_file, claim_name="swissai-models"
                    ),
                    on_event=ignore,
                )
                elapsed = time.perf_counter() - started
                figures.append((label, result.records, out.stat().st_size, elapsed))
            os.environ["KUBECONFIG"] = str(fresh.kubeconfig(work / "kubeconfig-new"))
            started = time.perf_counter()
            restored = swissai.restore(
                swissai.RestoreRequest(path=work / "encrypted.swb", key_file=key),
                on_event=ignore,
            )
            restore_s = time.perf_counter() - started
        finally:
            api.stop()
            fresh.stop()
    for label, records, size, elapsed in figures:
        print(f"backup {label:9}: {records} records, {size / 1024:.1f} KiB in {elapsed:.3f} s")
    print(
        f"restore encrypted: {restored.records} records + {len(restored.objects)} objects "
        f"in {restore_s:.3f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
