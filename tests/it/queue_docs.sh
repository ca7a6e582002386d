#!/usr/bin/env bash
# queue_docs.sh -- runs every ```sh block of docs/PROTOCOL.md, in order, in
# one shell (set -e), against a private Redis with a worker serving the
# default pool, so the document's redis-cli examples stay true.
source "$(dirname "$0")/lib.sh"
sv_setup
sv_use_file_store
redis_private_start
export SQLVAULT_REDIS_URL="$SV_PRIVATE_REDIS_URL" SQLVAULT_REDIS_PREFIX=sqlvault
export SQLVAULT_LEASE=2s SQLVAULT_LOG_FORMAT=text
make_workspace ws1 100

# redis-cli on PATH reaches the private Redis, as the document assumes.
mkdir -p "$SV_SCRATCH/bin"
cat >"$SV_SCRATCH/bin/redis-cli" <<EOS
#!/bin/sh
exec $(command -v redis-cli) -p $SV_PRIVATE_REDIS_PORT "\$@"
EOS
chmod +x "$SV_SCRATCH/bin/redis-cli"

"$SV_BIN" worker --threads 2 >"$SV_SCRATCH/worker.log" 2>&1 &
SV_CLEANUP_PIDS+=($!)

step "extract the sh blocks of docs/PROTOCOL.md"
awk '/^```sh$/ {on=1; n++; print "echo \"-- block " n "\""; next} /^```/ {on=0} on' \
  "$SV_SOURCE_DIR/docs/PROTOCOL.md" >"$SV_SCRATCH/doc.sh"
blocks=$(grep -c '^-- block\|^echo "-- block' "$SV_SCRATCH/doc.sh")
assert_ge "$blocks" 6 "runnable blocks"

step "run them in order"
out=$(cd "$SV_SOURCE_DIR" && PATH="$SV_SCRATCH/bin:$PATH" timeout 120 bash -euo pipefail "$SV_SCRATCH/doc.sh" 2>&1) ||
  fail "a block of docs/PROTOCOL.md failed:
$(tail -25 <<<"$out")"
note "$(grep -c . <<<"$out") lines of output, last block: $(grep -- '-- block' <<<"$out" | tail -1)"
assert_contains "$out" "-- block $blocks" "every block ran"
assert_eq succeeded "$(redis-cli -p "$SV_PRIVATE_REDIS_PORT" HGET 'sqlvault:{default}:job:doc-1' state)" "doc-1"
sv_pass
