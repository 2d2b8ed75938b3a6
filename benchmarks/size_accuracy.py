"""The capacity model's error on measurements it was not fitted on (docs/accuracy.md).

Every `holdout` figure of profiles/calibration/serving_observations.yaml is predicted with the
efficiency fitted on the `fit` figures only; per metric (output tokens/s per GPU, mean TTFT,
mean TPOT) the median and worst absolute relative error are printed, then every row, then the
same with the uncalibrated roofline x 0.5 for comparison.

    .venv/bin/python benchmarks/size_accuracy.py
"""

from __future__ import annotations

from swissai.core.calibration import FittedTable, fit_table, holdout_errors, resolve_all, summarize
from swissai.services.size import load_observations, observation_shape


def main() -> None:
    observations = load_observations()
    resolved = resolve_all(observations, observation_shape)
    skipped = sorted({o.id for o in observations} - {r[0].id for r in resolved})
    table = fit_table(resolved)
    fitted = holdout_errors(table, resolved)
    plain = holdout_errors(FittedTable({}), resolved)
    fit_n = sum(1 for r in resolved if r[0].split == "fit")
    print(f"{len(observations)} measurements, {fit_n} fitted, {len(resolved) - fit_n} held out")
    if skipped:
        print("not sizable by the planner (left out): " + ", ".join(skipped))
    print(f"\n{'metric':22s} {'n':>3s} {'median |err|':>13s} {'worst |err|':>12s}   (uncalibrated)")
    base = summarize(plain)
    for metric, (n, median, worst) in summarize(fitted).items():
        b = base.get(metric, (0, float("nan"), float("nan")))
        print(f"{metric:22s} {n:3d} {median:12.0%} {worst:12.0%}   ({b[1]:.0%} / {b[2]:.0%})")
    print(
        f"\n{'holdout measurement':36s} {'metric':22s} {'measured':>10s} {'model':>10s} {'error':>7s}"
    )
    for row in fitted:
        print(
            f"{row.id:36s} {row.metric:22s} {row.measured:10.1f} {row.predicted:10.1f} "
            f"{row.error:+7.0%}"
        )
    print("\nfitted efficiency (decode, prefill, measurements) per group:")
    for key, (d, p, n) in sorted(table.factors.items()):
        print(f"  {'/'.join(key):32s} {d:6.3f} {p:6.3f} {n:3d}")


if __name__ == "__main__":
    main()
