#!/bin/sh
# Worker of one LeaderWorkerSet group (swissai): join the leader's Ray cluster and block.
# vLLM places its workers here through Ray; Ray usage statistics stay off (RES-006).
set -eu
find /dev/shm -mindepth 1 -delete 2>/dev/null || true
exec ray start --address="${LWS_LEADER_ADDRESS}:6379" --node-ip-address="${VLLM_HOST_IP}" \
  --disable-usage-stats --num-gpus="${SWISSAI_GPUS_PER_POD}" --block
