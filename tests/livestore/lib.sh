# Helpers for the LiveStore tests (tests/it/livestore_*.sh), sourced after
# tests/it/lib.sh. They drive a real LiveStore 0.4 store from npm through
# tests/livestore/store.mjs (installed by scripts/install-deps.sh).

LS_DIR="$SV_SOURCE_DIR/tests/livestore"

# ls_require: fails with a hint unless the LiveStore packages are installed.
ls_require() {
  [[ -d "$LS_DIR/node_modules/@livestore/adapter-node" ]] ||
    fail "LiveStore is not installed in tests/livestore
HINT: run scripts/install-deps.sh (npm ci in tests/livestore)"
}

# ls_node ARGS...: runs store.mjs.
ls_node() { node "$LS_DIR/store.mjs" "$@"; }

# ls_state DATA_DIR WS [--schema N]: LiveStore's view of the store, as JSON {items,maxN,sum}.
ls_state() { ls_node state "$@" | grep '^{'; }

# ls_states WS DIR... [--schema N]: ls_state of WS under each DIR, one line each.
ls_states() { ls_node states "$@" | grep '^{'; }

# ls_log_check FILE: "events head gaps" of an event log file that is not live
# (opened immutable: never a live store file).
ls_log_check() {
  sqlite3 "file:$1?immutable=1" "SELECT count(*), coalesce(max(seqNumGlobal),0),
    coalesce(max(seqNumGlobal),0) - count(DISTINCT seqNumGlobal) FROM eventlog WHERE seqNumClient=0" | tr '|' ' '
}

# ls_expect_state JSON EVENTS MSG: LiveStore's state is exactly what EVENTS
# events 1..EVENTS produce (items n=1..EVENTS).
ls_expect_state() {
  local js="$1" n="$2" msg="$3"
  assert_eq "{\"items\":$n,\"maxN\":$n,\"sum\":$((n * (n + 1) / 2))}" "$js" "$msg"
}

# ls_unpack BACKUP_DIR DEST_DIR: the files of a file:// store backup
# decompressed under their store names (what a store restore puts back).
ls_unpack() {
  local b="$1" dest="$2" name obj
  mkdir -p "$dest"
  while read -r name obj; do
    zstd -dqf "$b/$obj" -o "$dest/$name"
  done < <(jq -r '.files[] | "\(.name) \(.object)"' "$b/metadata.json")
}
