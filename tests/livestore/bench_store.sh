#!/usr/bin/env bash
# bench_store.sh -- row j of scripts/bench.sh: a real LiveStore 0.4 store of
# about SIZE_MB MB under a steady writer (tests/livestore/server.mjs, which
# registers the Node client's onBackup), backed up BACKUPS times through the
# queue by one worker. Prints one line of key=value figures:
#   mb events backups ok median_s max_s tries_median tries_max quiesced rss_mib
#
#   bench_store.sh SV_BIN DIR SIZE_MB BACKUPS RATE
# Needs SQLVAULT_REDIS_URL and SQLVAULT_STORE set (the bench's servers).
# The store is made fast: LiveStore creates it, then the events are appended
# to both files with sqlite3 while LiveStore is not running (rows exactly as
# LiveStore writes them, the sync head moved with them), then LiveStore
# reopens it and writes on.
set -uo pipefail
SV="$1" DIR="$2" SIZE_MB="$3" BACKUPS="$4" RATE="$5"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ws=bench-store
data="$DIR/data" st="$DIR/data/$ws"
export SQLVAULT_DATA_DIR="$data" SQLVAULT_REDIS_PREFIX="bench-ls-$$" SQLVAULT_LOG_FORMAT=text
rm -rf "$DIR" && mkdir -p "$data"
node "$HERE/store.mjs" write "$data" "$ws" --count 10 >/dev/null 2>&1 || { echo "error=livestore-create"; exit 1; }
state=$(cd "$st" && ls state*@6.db)
n=$((SIZE_MB * 1024 * 1024 / 520)) # ~520 bytes per event over both files
sqlite3 "$st/eventlog@6.db" >/dev/null <<SQL
WITH RECURSIVE k(i) AS (SELECT 11 UNION ALL SELECT i+1 FROM k WHERE i < $n)
INSERT INTO eventlog SELECT i,0,0,i-1,0,0,'v1.ItemAdded',
  json_object('id','i'||i,'n',i,'pad',hex(randomblob(150))),
  clientId, sessionId, schemaHash, '{"_tag":"None"}' FROM k, (SELECT clientId, sessionId, schemaHash FROM eventlog LIMIT 1);
INSERT OR REPLACE INTO __livestore_sync_status(head) VALUES ($n);
DELETE FROM __livestore_sync_status WHERE head <> $n;
SQL
sqlite3 "$st/$state" >/dev/null <<SQL
WITH RECURSIVE k(i) AS (SELECT 11 UNION ALL SELECT i+1 FROM k WHERE i < $n)
INSERT INTO items(id, n) SELECT 'i'||i, i FROM k;
DELETE FROM __livestore_session_changeset;
INSERT INTO __livestore_session_changeset VALUES ($n, 0, 0, NULL, NULL);
SQL
mb=$(du -sm "$st" | cut -f1)
/usr/bin/time -f '%M' -o "$DIR/worker.rss" "$SV" worker --threads 1 >"$DIR/worker.log" 2>&1 &
wpid=$!
node "$HERE/server.mjs" "$data" "$ws" --rate "$RATE" --stop "$DIR/stop" --out "$DIR/count" --log "$DIR/server.log" \
  >"$DIR/server.out" 2>&1 &
spid=$!
for _ in $(seq 1 1200); do [[ -s "$DIR/count" ]] && break; sleep 0.1; done
[[ -s "$DIR/count" ]] || { echo "error=server-did-not-start"; kill "$wpid" "$spid"; exit 1; }
ok=0 quiesced=0 times=() tries=()
for i in $(seq 1 "$BACKUPS"); do
  "$SV" backup "$ws" --id "bs-$i-$$" >/dev/null 2>&1
  res=$(redis-cli -u "$SQLVAULT_REDIS_URL" HGET "$SQLVAULT_REDIS_PREFIX:{default}:job:bs-$i-$$" result)
  if [[ -n "$res" ]]; then
    ok=$((ok + 1))
    times+=("$(jq -r '.durationMs / 1000' <<<"$res")")
    tries+=("$(jq -r '.livestore.tries' <<<"$res")")
    [[ "$(jq -r .livestore.method <<<"$res")" == quiesce ]] && quiesced=$((quiesced + 1))
  fi
  sleep 1
done
events=$(cat "$DIR/count")
touch "$DIR/stop"
wait "$spid"
pkill -TERM -P "$wpid" # the worker, a child of /usr/bin/time, which then writes the peak RSS
wait "$wpid"
med() { printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { print (NR ? a[int((NR + 1) / 2)] : "—") }'; }
mx() { printf '%s\n' "$@" | sort -g | tail -1; }
echo "mb=$mb events=$events backups=$BACKUPS ok=$ok median_s=$(med "${times[@]}") max_s=$(mx "${times[@]}")" \
  "tries_median=$(med "${tries[@]}") tries_max=$(mx "${tries[@]}") quiesced=$quiesced" \
  "rss_mib=$(($(tail -n 1 "$DIR/worker.rss" 2>/dev/null | grep -E '^[0-9]+$' || echo 0) / 1024))"
