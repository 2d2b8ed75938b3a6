#!/bin/sh
# Leader of one LeaderWorkerSet group (swissai): start the Ray head, wait until every worker of
# the group has joined, then run `vllm serve` with the exact arguments of the plan ("$@").
# The Ray dashboard and Ray usage statistics stay off (RES-006); /dev/shm is cleared of segments
# a crashed run left behind.
set -eu
find /dev/shm -mindepth 1 -delete 2>/dev/null || true
ray start --head --port=6379 --node-ip-address="${VLLM_HOST_IP}" \
  --disable-usage-stats --include-dashboard=false --num-gpus="${SWISSAI_GPUS_PER_POD}"
deadline=$(( $(date +%s) + ${SWISSAI_RAY_WAIT_S} ))
while :; do
  alive=$(python3 -c 'import ray; ray.init(address="auto", logging_level="ERROR"); print(sum(1 for n in ray.nodes() if n["Alive"]))' 2>/dev/null || echo 0)
  [ "${alive}" -ge "${LWS_GROUP_SIZE}" ] && break
  if [ "$(date +%s)" -ge "${deadline}" ]; then
    echo "swissai: ${alive} of ${LWS_GROUP_SIZE} Ray nodes joined in ${SWISSAI_RAY_WAIT_S} s" >&2
    exit 1
  fi
  sleep 5
done
exec vllm serve "$@"
