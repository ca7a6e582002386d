#!/usr/bin/env bash
# livestore_backup.sh -- a real LiveStore 0.4 store (npm, node adapter, fs
# storage) committing events continuously while sqlvault backs it up 15
# times: every backup succeeds; every one restores into an empty data dir as
# a store whose event log is intact and gap-free and which LiveStore reopens
# with exactly the state that event log produces; the live store loses
# nothing. Also: discovery finds stores and single files, and stale state
# files of an old schema are left out of the backup.
source "$(dirname "$0")/lib.sh"
source "$SV_SOURCE_DIR/tests/livestore/lib.sh"
ls_require
sv_setup
sv_use_file_store
store_root="${SQLVAULT_STORE#file://}"
SEED="${SV_SEED:-$RANDOM}"
RANDOM=$SEED
note "seed $SEED (SV_SEED=$SEED reproduces the writer's rate)"

ws=ls-live
live="$SQLVAULT_DATA_DIR/$ws"

step "a store is recognised and discovered next to a single-file workspace"
ls_node write "$SQLVAULT_DATA_DIR" "$ws" --count 300 >/dev/null
make_workspace plain 50
ls "$live"
mkdir -p "$SQLVAULT_DATA_DIR/empty-dir"
out=$(SQLVAULT_WORKSPACES= "$SV_BIN" scheduler --once --json) || fail "scheduler tick failed: $out"
assert_eq 2 "$(jq -r .workspaces <<<"$out")" "workspaces discovered (the store and the single file, not the empty dir)"
assert_eq 1 "$(redis_cli --scan --pattern "$SQLVAULT_REDIS_PREFIX:{default}:job:sched-$ws-*" | wc -l)" \
  "scheduled backup job of the store"
assert_eq store "$("$SV_BIN" backup "$ws" --inline --json | jq -r .shape)" "the store's backup shape"
assert_eq file "$("$SV_BIN" backup plain --inline --json | jq -r .shape)" "the single file's backup shape"

step "a schema change leaves a stale state file; the backup takes the current one only"
ls_node write "$SQLVAULT_DATA_DIR" "$ws" --count 20 --schema 2 >/dev/null
nstate=$(find "$live" -name 'state*@*.db' | wc -l)
assert_eq 2 "$nstate" "state files on disk after the schema change"
cur=$(ls -t "$live"/state*@*.db | head -1 | xargs basename)
out=$("$SV_BIN" backup "$ws" --inline --json)
b="$store_root/full/$ws/$(jq -r .ts <<<"$out")"
assert_eq "eventlog@6.db $cur" "$(jq -r '[.files[].name] | join(" ")' "$b/metadata.json")" "files of the backup"
assert_eq 1 "$(jq -r .livestore.staleStateFiles <<<"$out")" "stale state files reported"
for i in 0 1; do
  name=$(jq -r ".files[$i].name" "$b/metadata.json")
  zstd -dqf "$b/$(jq -r ".files[$i].object" "$b/metadata.json")" -o "$SV_SCRATCH/f"
  assert_eq "$(jq -r ".files[$i].checksum" "$b/metadata.json")" "sha256:$(sha256sum <"$SV_SCRATCH/f" | cut -d' ' -f1)" "checksum of $name"
  assert_eq "$(jq -r ".files[$i].size" "$b/metadata.json")" "$(stat -c %s "$SV_SCRATCH/f")" "size of $name"
done
rm -f "$SV_SCRATCH/f"

step "15 backups while LiveStore commits continuously"
rate=$((150 + RANDOM % 150))
note "writer: about $rate events/s"
stopf="$SV_SCRATCH/stop" countf="$SV_SCRATCH/count"
ls_node serve "$SQLVAULT_DATA_DIR" "$ws" --schema 2 --rate "$rate" --stop "$stopf" --out "$countf" >"$SV_SCRATCH/writer.log" 2>&1 &
writer=$!
wait_for --timeout 60 test -s "$countf"
start_n=$(cat "$countf")
tss=() methods=() tries=()
for i in $(seq 1 15); do
  out=$("$SV_BIN" backup "$ws" --inline --json) || fail "backup $i failed"
  tss+=("$(jq -r .ts <<<"$out")")
  methods+=("$(jq -r .livestore.method <<<"$out")")
  tries+=("$(jq -r .livestore.tries <<<"$out")")
  note "backup $i: $(jq -c '{ts, events: .livestore.events, tries: .livestore.tries, method: .livestore.method}' <<<"$out")"
  sleep 0.$((RANDOM % 5))
done
touch "$stopf"
wait "$writer" || fail "the LiveStore writer failed: $(tail -5 "$SV_SCRATCH/writer.log")"
final_n=$(cat "$countf")
note "writer committed events $start_n..$final_n during the backups"
assert_ge "$((final_n - start_n))" 100 "events committed while backing up"

step "the live store lost nothing"
ls_expect_state "$(ls_state "$SQLVAULT_DATA_DIR" "$ws" --schema 2)" "$final_n" "live state after the backups"
read -r ev head gaps < <(ls_log_check "$live/eventlog@6.db")
assert_eq "$final_n $final_n 0" "$ev $head $gaps" "live event log: events, head, gaps"

step "every backup restores into an empty data dir as a store LiveStore opens with its event log's state"
prev=0 dirs=() evs=()
for i in "${!tss[@]}"; do
  b="$store_root/full/$ws/${tss[$i]}"
  rd="$SV_SCRATCH/restore-$i"
  ls_unpack "$b" "$rd/$ws"
  read -r ev head gaps < <(ls_log_check "$rd/$ws/eventlog@6.db")
  [[ "$gaps" == 0 && "$ev" == "$head" ]] || fail "backup ${tss[$i]}: event log has gaps ($ev events, head $head)"
  [[ "$(sqlite3 "file:$rd/$ws/eventlog@6.db?immutable=1" 'PRAGMA integrity_check')" == ok ]] ||
    fail "backup ${tss[$i]}: event log fails integrity_check"
  ((ev >= prev)) || fail "backup $i has fewer events ($ev) than the one before ($prev)"
  prev=$ev
  dirs+=("$rd") evs+=("$ev")
done
note "event logs intact and gap-free, events per backup: ${evs[*]}"
assert_ne "${evs[0]}" "${evs[14]}" "events of the first and the last backup"
mapfile -t states < <(ls_states "$ws" "${dirs[@]}" --schema 2)
for i in "${!dirs[@]}"; do
  ls_expect_state "${states[$i]:-none}" "${evs[$i]}" "backup $((i + 1)) reopened by LiveStore (${evs[$i]} events)"
done
note "methods: ${methods[*]}"
note "tries: ${tries[*]}"

sv_pass
