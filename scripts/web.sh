#!/usr/bin/env bash
# web.sh -- the reference web server (clients/node/server) in the foreground:
# the plan's export/import routes, the job API under /api/ and the Backup &
# Restore page at /. Installs its npm dependencies when missing, prints
# `listening on http://HOST:PORT` when ready. It runs no jobs: start a
# `sqlvault worker` against the same Redis and store.
#
#   SQLVAULT_WEB_USERS=users.json scripts/web.sh
#
# Environment: SQLVAULT_WEB_ADDR (default 127.0.0.1:8080), SQLVAULT_WEB_USERS
# (required: {"TOKEN": {"user": "alice", "workspaces": ["ws1"], "admin": false}}),
# SQLVAULT_WEB_CORS_ORIGINS (comma list of browser origins allowed to call
# the API), SQLVAULT_WEB_SECRET (signs file:// download links; random per
# start otherwise), SQLVAULT_WEB_PUBLIC_URL, and the usual
# SQLVAULT_REDIS_URL, SQLVAULT_REDIS_PREFIX, SQLVAULT_STORE, SQLVAULT_S3_*,
# AWS_*, SQLVAULT_MAX_DB_SIZE, SQLVAULT_EXPORT_TTL.
set -euo pipefail
top="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
case "${1:-}" in
  -h | --help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
esac
command -v node >/dev/null || { echo "web.sh: node is missing (scripts/install-deps.sh installs it)" >&2; exit 2; }
for dir in "$top/clients/node" "$top/clients/node/server"; do
  if [[ ! -f "$dir/node_modules/.package-lock.json" ]]; then
    echo "web.sh: installing npm dependencies in ${dir#"$top"/}" >&2
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error) >&2
  fi
done
exec node "$top/clients/node/server/main.js"
