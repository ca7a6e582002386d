#!/usr/bin/env bash
# cluster_poolset.sh -- the pool set on a Redis Cluster: three pools whose
# slots sit on three different masters; one scheduler tick with
# SQLVAULT_POOL=A,B,C (its lead keys on yet another slot) enqueues each
# workspace's jobs into its pool, one pipeline per pool; a worker serving the
# three runs them all, CLI job commands route the same way, and
# `sqlvault stats --json` sums the pools across the masters.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/cluster_lib.sh"
source "$(dirname "$0")/poolset_lib.sh"
sv_setup
sv_use_file_store
cl_setup
ps_tick_check "$POOL_A" "$POOL_B" "$POOL_C"
sv_pass
