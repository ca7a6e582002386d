#!/usr/bin/env bash
# sched_label_catchup.sh -- a backup is labelled with its snapshot's time,
# not its tick's. A catch-up tick (the scheduler ran late: the tick is an
# hour old) enqueues a backup; a row is written after the tick and before
# the worker gets to it. The committed backup holds the row, and its label
# (folder, metadata.timestamp, what --from matches) is not earlier than the
# row's write; the tick is kept as metadata.tickTime.
source "$(dirname "$0")/lib.sh"
sv_setup
sv_use_file_store
STORE_DIR="${SQLVAULT_STORE#file://}"
export SQLVAULT_LOG_FORMAT=text SQLVAULT_SCHEDULE='0 * * * *'
WS=label-ws
make_workspace "$WS" 30
NOW=$(($(date +%s) * 1000))
TICK=$(((NOW / 3600000 - 1) * 3600000))

step "a catch-up tick an hour old enqueues the backup (no worker yet)"
out="$(SQLVAULT_FAKE_NOW=$((TICK + 1000)) "$SV_BIN" scheduler --once --json)" || fail "tick failed: $out"
note "$out"
sleep 0.05
W_MS=$(python3 -c 'import time; print(int(time.time() * 1000))')
sqlite3 "$SQLVAULT_DATA_DIR/$WS/livestore.db" \
  "INSERT INTO todos (id, title) VALUES ('late-row', 'written at $W_MS, after the tick')"
note "row written at $W_MS ms, tick $TICK ms"

step "a worker takes the backup"
sv_bg "$SV_BIN" worker --threads 1
wait_for --timeout 60 bash -c "ls '$STORE_DIR/full/$WS'/*/metadata.json >/dev/null 2>&1"
meta="$(cat "$STORE_DIR/full/$WS"/*/metadata.json)"
folder="$(basename "$(dirname "$(ls "$STORE_DIR/full/$WS"/*/metadata.json)")")"
label_ms=$(python3 -c 'import sys,datetime; t=datetime.datetime.strptime(sys.argv[1], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc); print(int(t.timestamp()*1000))' "$(jq -r .timestamp <<<"$meta")")
tick_iso=$(python3 -c 'import sys,datetime; print(datetime.datetime.fromtimestamp(int(sys.argv[1])//1000, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z"))' "$TICK")
note "folder $folder, timestamp $(jq -r .timestamp <<<"$meta"), tickTime $(jq -r .tickTime <<<"$meta")"
assert_ge "$label_ms" "$W_MS" "label (ms) not earlier than the row's write"
assert_eq "$tick_iso" "$(jq -r .tickTime <<<"$meta")" "tickTime"
assert_eq "$folder" "$(python3 -c 'import sys,datetime; ms=int(sys.argv[1]); print(datetime.datetime.fromtimestamp(ms//1000, datetime.timezone.utc).strftime("%Y%m%dT%H%M%S") + ".%03dZ" % (ms % 1000))' "$label_ms")" "folder = timestamp"
assert_eq scheduled "$(jq -r .reason <<<"$meta")" "reason"

step "restoring the backup by its label gives the row"
"$SV_BIN" restore "$WS" --from "$(jq -r .timestamp <<<"$meta")" --db "$SV_SCRATCH/r.db" --inline --yes >/dev/null 2>"$SV_SCRATCH/r.err" ||
  fail "restore failed: $(cat "$SV_SCRATCH/r.err")"
assert_eq 1 "$(sqlite3 "$SV_SCRATCH/r.db" "SELECT count(*) FROM todos WHERE id = 'late-row'")" "the late row"
sv_pass
