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

# ls_listener KIND WS WRITER STOPF [COUNTF]: plays the Node server's listener
# for WS with redis-cli (docs/PROTOCOL.md), in the background: registers in
# PREFIX:listeners:{WS} every 0.1 s; when the flag PREFIX:KIND:{WS} appears
# (KIND quiesce or pause), stops the writer (touches STOPF and waits for the
# process WRITER to end, as onBackup/onRestore hold the store's writes),
# logs "KIND JOB at N" (N from COUNTF) to $SV_SCRATCH/listener.log, acks,
# waits for the flag to go and logs "resumed JOB". Returns once the
# registration is seen; ends when $SV_SCRATCH/listener-stop exists.
ls_listener() {
  local kind="$1" ws="$2" writer="$3" stopf="$4" countf="${5:-}"
  (
    local val job
    while [[ ! -e "$SV_SCRATCH/listener-stop" ]]; do
      redis_cli ZADD "$P:listeners:{$ws}" $(($(date +%s%3N) + 15000)) L1 >/dev/null
      val=$(redis_cli GET "$P:$kind:{$ws}")
      if [[ -n "$val" ]]; then
        job=$(grep -oE '^[A-Za-z0-9_-]+' <<<"$val")
        touch "$stopf"
        while kill -0 "$writer" 2>/dev/null; do sleep 0.05; done
        echo "$kind $job at $([[ -n "$countf" ]] && cat "$countf")" >>"$SV_SCRATCH/listener.log"
        redis_cli SADD "$P:acks:{$ws}:$job" L1 >/dev/null
        redis_cli EXPIRE "$P:acks:{$ws}:$job" 600 >/dev/null
        while [[ -n "$(redis_cli GET "$P:$kind:{$ws}")" ]]; do sleep 0.05; done
        echo "resumed $job" >>"$SV_SCRATCH/listener.log"
      fi
      sleep 0.1
    done
  ) &
  wait_for --timeout 10 bash -c "[[ \$(redis-cli -u '$SQLVAULT_REDIS_URL' ZCARD '$P:listeners:{$ws}') == 1 ]]"
}
