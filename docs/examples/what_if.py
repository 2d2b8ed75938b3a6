"""What-if: does it fit on one H100? An infeasible plan is returned, not raised."""

import swissai

plan = swissai.plan("gpt-oss-120b", gpus="1xh100-80gb")
if not plan.feasible:
    print("does not fit:", plan.reasons[-1])
    for suggestion in plan.suggestions:  # the nearest settings that fit
        print("  try", suggestion)
assert not plan.feasible and plan.suggestions
