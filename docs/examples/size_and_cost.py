"""Size gpt-oss-120b for 2,000 employees, keep the chosen plan, then price it against APIs."""

import swissai

options = swissai.SizeOptions(users=2000, gpus=("h100-80gb", "h200-141gb"))
result, plan = swissai.size(options)
assert result.feasible and plan is not None  # exit 4 on the CLI when nothing meets the SLOs
best = result.options[0]
print(best.gpu, best.gpus, "GPUs,", best.replicas, "replicas, TPOT p95", best.tpot_p95_ms, "ms")
swissai.write_plan(plan, "plan.yaml")  # render and deploy continue from it

tco = swissai.cost(swissai.CostOptions(size=options))
for option in tco.options:  # cheapest first over the amortisation horizon
    print(option.name, round(option.monthly_chf), "CHF/month", option.chf_per_mtok, "CHF/1M")
