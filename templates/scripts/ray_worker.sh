#!/bin/sh
# Worker of one LeaderWorkerSet group (swissai): join the leader's Ray cluster and block.
# The leader's Ray head may come up after this pod (its own model verification, a reschedule):
# like the LWS vLLM example, retry `ray start` every 5 s, here until SWISSAI_RAY_WAIT_S has
# passed, instead of exiting at once and having the whole group recreated. vLLM places its
# workers here through Ray; Ray usage statistics stay off (RES-006).
set -eu
find /dev/shm -mindepth 1 -delete 2>/dev/null || true
head="${LWS_LEADER_ADDRESS}:6379"
deadline=$(( $(date +%s) + ${SWISSAI_RAY_WAIT_S} ))
pid=""
# `ray start` runs in the background so that SIGTERM (pod deletion) reaches it at once
trap 'if [ -n "${pid}" ]; then kill -TERM "${pid}" 2>/dev/null || true; wait "${pid}" || true; fi; exit 143' TERM INT
while :; do
  ray start --address="${head}" --node-ip-address="${VLLM_HOST_IP}" \
    --disable-usage-stats --num-gpus="${SWISSAI_GPUS_PER_POD}" --block &
  pid=$!
  status=0
  wait "${pid}" || status=$?
  pid=""
  [ "${status}" -eq 0 ] && exit 0
  if [ "$(date +%s)" -ge "${deadline}" ]; then
    echo "swissai: could not join the Ray head at ${head} (ray start exit ${status}) within ${SWISSAI_RAY_WAIT_S} s" >&2
    exit "${status}"
  fi
  echo "swissai: the Ray head at ${head} is not ready (ray start exit ${status}); retrying in 5 s" >&2
  ray stop --force >/dev/null 2>&1 || true
  sleep 5
done
