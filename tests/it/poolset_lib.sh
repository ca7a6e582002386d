#!/usr/bin/env bash
# poolset_lib.sh -- the pool set (SQLVAULT_POOL "a,b,c": each workspace to one
# pool of it, include/queue.h), shared by sched_poolset.sh (single Redis) and
# cluster_poolset.sh (pools on three masters of a Redis Cluster):
#
#   ps_hash WS          32-bit FNV-1a of an (ASCII) workspace id
#   ps_pool_of SET WS   WS's pool in SET: item ps_hash(WS) % n of the list
#   ps_tick_check A B C one scheduler tick with SQLVAULT_POOL=A,B,C over N
#                       workspaces, a worker serving all three: every job in
#                       its workspace's pool, all succeed, `stats --json`
#                       sums the pools; CLI job commands route the same way
#
# Run directly (CMake registers every tests/it/*.sh), it checks ps_pool_of
# against tests/unit/fixtures/pool_set.tsv (the vectors the C and Node unit
# tests read), so a third implementation agrees.

ps_hash() {
  local s=$1 h=2166136261 i c
  for ((i = 0; i < ${#s}; i++)); do
    printf -v c '%d' "'${s:i:1}"
    h=$(((h ^ c) * 16777619 & 0xffffffff))
  done
  echo "$h"
}

ps_pool_of() {
  local -a items=() uniq=()
  local p q seen
  IFS=', ' read -r -a items <<<"$1"
  for p in "${items[@]}"; do
    [[ -n "$p" ]] || continue
    seen=0
    for q in "${uniq[@]}"; do [[ "$q" == "$p" ]] && seen=1; done
    ((seen)) || uniq+=("$p")
  done
  ((${#uniq[@]})) || uniq=(default)
  echo "${uniq[$(($(ps_hash "$2") % ${#uniq[@]}))]}"
}

ps_tick_check() {
  local set="$1,$2,$3" ws p n=0 out st tick id
  local -A per=()
  export SQLVAULT_SCHEDULE='0 */6 * * *' SQLVAULT_LOG_FORMAT=text
  step "N workspaces spread over the pool set $set (FNV-1a 32 of the id mod 3), each pool holding some"
  for i in $(seq 1 40); do
    ws="psw-$i"
    p=$(ps_pool_of "$set" "$ws")
    ((${per[$p]:-0} < 3)) || continue
    per[$p]=$((${per[$p]:-0} + 1))
    make_workspace "$ws" 5
    n=$((n + 1))
  done
  for p in "$1" "$2" "$3"; do assert_eq 3 "${per[$p]:-0}" "workspaces of pool $p"; done

  step "one scheduler tick with SQLVAULT_POOL=$set; a worker serving all three pools runs it"
  sv_bg "$SV_BIN" worker --pools "$set" --threads 3
  out=$(SQLVAULT_POOL="$set" SQLVAULT_FAKE_NOW=2030-01-01T06:10:00.000Z \
    "$SV_BIN" scheduler --once --wait --timeout 120 --json) || fail "tick failed: $out"
  note "$out"
  assert_eq "$n" "$(jq .workspaces <<<"$out")" "workspaces discovered"
  assert_eq "$n" "$(jq .results.backup.succeeded <<<"$out")" "backups of the tick succeeded"
  assert_eq 0 "$(jq '[.results[].failed] | add' <<<"$out")" "failed jobs of the tick"
  tick=$(date -u -d "$(jq -r .tick <<<"$out")" +%Y%m%dT%H%MZ) # the job ids' tick (scheduler.c job_id)

  step "each workspace's backup is in its own pool (sqlvault status --pool P), not in the others"
  for i in $(seq 1 40); do
    ws="psw-$i"
    [[ -d "$SQLVAULT_DATA_DIR/$ws" ]] || continue
    p=$(ps_pool_of "$set" "$ws")
    id="sched-$ws-$tick"
    st=$("$SV_BIN" status "$id" --pool "$p" --json) || fail "no job $id in pool $p: $st"
    assert_eq succeeded "$(jq -r .state <<<"$st")" "state of $id"
    assert_eq "$p" "$(jq -r .pool <<<"$st")" "pool of $id"
    for q in "$1" "$2" "$3"; do
      [[ "$q" == "$p" ]] && continue
      if SQLVAULT_POOLS="$q" "$SV_BIN" status "$id" --pool "$q" --json >/dev/null 2>&1; then fail "job $id also in pool $q"; fi
    done
  done

  step "CLI job commands with SQLVAULT_POOL=$set go to the workspace's pool"
  for ws in psw-1 psw-2 psw-3; do
    [[ -d "$SQLVAULT_DATA_DIR/$ws" ]] || continue
    out=$(SQLVAULT_POOL="$set" "$SV_BIN" backup "$ws" --json) || fail "backup of $ws failed: $out"
    assert_eq succeeded "$(jq -r .state <<<"$out")" "CLI backup of $ws"
    assert_eq "$(ps_pool_of "$set" "$ws")" "$(jq -r .pool <<<"$out")" "pool of the CLI backup of $ws"
  done

  step "sqlvault stats --json sums the three pools"
  wait_for --timeout 60 bash -c "st=\$('$SV_BIN' stats --pools '$set' --json); [[ \$(jq .enqueued <<<\"\$st\") == \$(jq .succeeded <<<\"\$st\") ]]"
  st=$("$SV_BIN" stats --pools "$set" --json)
  note "$(jq -c '[.pools[] | {pool, enqueued, succeeded}]' <<<"$st")"
  assert_eq 3 "$(jq '.pools | length' <<<"$st")" "pools in stats"
  assert_eq "$(jq '[.pools[].enqueued] | add' <<<"$st")" "$(jq .enqueued <<<"$st")" "stats --json sums enqueued"
  assert_eq "$(jq '[.pools[].succeeded] | add' <<<"$st")" "$(jq .succeeded <<<"$st")" "stats --json sums succeeded"
  assert_ge "$(jq .succeeded <<<"$st")" "$((n + 3))" "succeeded over the pools (tick backups and CLI backups)"
  for p in "$1" "$2" "$3"; do
    assert_ge "$(jq --arg p "$p" '.pools[] | select(.pool == $p) | .succeeded' <<<"$st")" 3 "succeeded in pool $p"
  done
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  source "$(dirname "$0")/lib.sh"
  step "ps_pool_of agrees with tests/unit/fixtures/pool_set.tsv"
  k=0
  while IFS=$'\t' read -r w h p; do
    [[ "$w" == \#* || -z "$w" ]] && continue
    [[ "$w" == - ]] && w=
    assert_eq "$h" "$(ps_hash "$w")" "hash of '$w'"
    assert_eq "$p" "$(ps_pool_of a,b,c "$w")" "pool of '$w'"
    assert_eq "$p" "$(ps_pool_of 'a, b,,a ,c' "$w")" "pool of '$w' (loose list)"
    k=$((k + 1))
  done <"$SV_SOURCE_DIR/tests/unit/fixtures/pool_set.tsv"
  assert_ge "$k" 10 "vectors"
  sv_pass
fi
