"""Plan gpt-oss-120b for one node of 8 H100, keep the plan, read it back."""

import swissai

plan = swissai.plan("gpt-oss-120b", gpus="8xh100-80gb", max_model_len=32768)
assert plan.feasible
print(plan.layout.tensor_parallel_size, plan.layout.replicas, plan.memory_per_gpu_gib.kv_cache)

swissai.write_plan(plan, "plan.yaml")  # what `swissai plan --out plan.yaml` writes
assert swissai.read_plan("plan.yaml") == plan
