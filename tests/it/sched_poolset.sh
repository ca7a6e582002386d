#!/usr/bin/env bash
# sched_poolset.sh -- the pool set on single Redis: one scheduler tick with
# SQLVAULT_POOL=a,b,c sends each workspace's jobs to its pool (FNV-1a 32 of
# the id mod 3), a worker serving the three runs them all, CLI job commands
# route the same way, and `sqlvault stats --json` sums the pools.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/poolset_lib.sh"
sv_setup
sv_use_file_store
ps_tick_check psa psb psc
sv_pass
