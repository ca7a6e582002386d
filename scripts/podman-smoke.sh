#!/usr/bin/env bash
# Builds the container image with podman where no image registry is
# reachable, and runs `sqlvault --help` and a file:// backup in it.
#
#   bash scripts/podman-smoke.sh [--keep]
#
# 1. mmdebstrap makes a Debian 12 minbase root file system from the apt
#    mirror, imported as localhost/debian:bookworm-slim (what the
#    Dockerfile's FROM names), unless that image exists.
# 2. podman builds docker/Dockerfile with --pull=never, --network=host (the
#    build stage runs scripts/install-deps.sh against the apt mirror) and
#    --isolation=chroot (no OCI runtime needed for RUN steps).
# 3. The image runs `sqlvault --help` and `sqlvault backup ws1 --inline` on a
#    file:// store in a mounted folder, with `podman run`; where the OCI
#    runtime cannot start containers on this host (see docs/deploy-r2.md §9), it
#    says why and runs the same commands with `buildah run --isolation=chroot`.
# Needs root, podman, buildah, mmdebstrap (apt-get install podman buildah mmdebstrap).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KEEP=0
[[ "${1:-}" == --keep ]] && KEEP=1
say() { printf 'podman-smoke: %s\n' "$*"; }
for c in podman buildah mmdebstrap; do
  command -v "$c" >/dev/null || { echo "podman-smoke: $c is missing (apt-get install podman buildah mmdebstrap)" >&2; exit 2; }
done
WORK="$(mktemp -d /tmp/sqlvault-podman.XXXXXX)"
cleanup() { ((KEEP)) || rm -rf "$WORK"; }
trap cleanup EXIT

if ! podman image exists localhost/debian:bookworm-slim; then
  say "making a Debian 12 base image with mmdebstrap"
  mmdebstrap --variant=minbase --mode=root --aptopt='Acquire::Check-Valid-Until "false"' bookworm "$WORK/base.tar" \
    "deb http://deb.debian.org/debian bookworm main" "deb http://deb.debian.org/debian bookworm-updates main" \
    "deb http://deb.debian.org/debian-security bookworm-security main" >"$WORK/mmdebstrap.log" 2>&1
  podman import "$WORK/base.tar" localhost/debian:bookworm-slim >/dev/null
fi
say "building the image (podman build --isolation=chroot)"
podman build --pull=never --network=host --isolation=chroot -f "$ROOT/docker/Dockerfile" -t localhost/sqlvault:smoke \
  "$ROOT" >"$WORK/build.log" 2>&1 || { tail -20 "$WORK/build.log" >&2; exit 1; }
say "image: $(podman images --format '{{.Repository}}:{{.Tag}} {{.Size}}' localhost/sqlvault:smoke)"

mkdir -p "$WORK/data" && chmod 777 "$WORK/data"
SCRIPT='set -e
sqlvault --help | head -3
mkdir -p /data/ws1
sqlite3 /data/ws1/livestore.db "pragma journal_mode=wal; create table t(x); insert into t values (randomblob(50000));" >/dev/null
SQLVAULT_STORE=file:///data/store SQLVAULT_LOG_FORMAT=text sqlvault backup ws1 --inline --json >/dev/null
SQLVAULT_STORE=file:///data/store sqlvault list ws1'
if out=$(podman run --rm --network=host -v "$WORK/data:/data" --entrypoint /bin/sh localhost/sqlvault:smoke -c "$SCRIPT" 2>&1); then
  say "podman run: ok"
else
  say "podman run cannot start a container here: $(head -1 <<<"$out")"
  say "running the same commands with buildah run --isolation=chroot"
  ctr=$(buildah from --pull-never localhost/sqlvault:smoke)
  out=$(buildah run --isolation=chroot -v "$WORK/data:/data" "$ctr" -- /bin/sh -c "$SCRIPT" 2>&1) || { echo "$out" >&2; buildah rm "$ctr" >/dev/null; exit 1; }
  buildah rm "$ctr" >/dev/null
fi
echo "$out"
ls "$WORK"/data/store/full/ws1/*/metadata.json >/dev/null || { echo "podman-smoke: no committed backup" >&2; exit 1; }
say "ok: sqlvault --help and a file:// backup ran in the image"
