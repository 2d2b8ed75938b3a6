"""`swissai size` and `swissai cost` JSON for the worked example of docs/cost.md (gpt-oss-120b,
2,000 employees; A100, H100, H200), compared with golden files (tests/golden/data).

`pytest --update-goldens` rewrites them; review the diff: a changed figure changes the answer
a bank reads. The invariants below hold whatever the numbers are."""

from __future__ import annotations

import difflib
import json
from pathlib import Path

from swissai.services.artifacts import to_document
from swissai.services.cost import CostOptions, cost
from swissai.services.size import SizeOptions, size

DATA = Path(__file__).parent / "data"
EXAMPLE = SizeOptions(users=2000, gpus=("a100-80gb", "h100-80gb", "h200-141gb"))


def _compare(name: str, text: str, update: bool) -> None:
    path = DATA / name
    if update:
        path.write_text(text, encoding="utf-8")
        return
    assert path.is_file(), f"{path} is missing: run pytest --update-goldens and review it"
    golden = path.read_text(encoding="utf-8")
    if golden != text:
        diff = "".join(
            difflib.unified_diff(
                golden.splitlines(keepends=True), text.splitlines(keepends=True), name, "computed"
            )
        )
        raise AssertionError(f"{name} differs from the golden file:\n{diff}")


def test_size_worked_example_matches_golden(update_goldens: bool) -> None:
    result, plan = size(EXAMPLE)
    _compare("size-gpt-oss-120b-2000-users.json", to_document(result, "json"), update_goldens)
    assert plan is not None and plan.feasible
    for o in result.options:  # invariants
        if o.meets_slo:
            assert o.gpus == o.replicas * (o.tensor_parallel_size or 0) * (
                o.pipeline_parallel_size or 0
            )
            assert o.replicas >= 2  # N+1


def test_cost_worked_example_matches_golden(update_goldens: bool) -> None:
    result = cost(CostOptions(size=EXAMPLE))
    text = to_document(result, "json")
    _compare("cost-gpt-oss-120b-2000-users.json", text, update_goldens)
    doc = json.loads(text)
    assert doc["cheapest"] == doc["options"][0]["name"]
    totals = [o["total_chf_over_horizon"] for o in doc["options"]]
    assert totals == sorted(totals)
