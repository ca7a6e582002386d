#!/usr/bin/env bash
# ops_compose.sh -- the deployment files hold together without Docker:
# docker/docker-compose.yml parses, every file it mounts exists, every
# command a sqlvault service runs is a command of `sqlvault --help` whose
# flags the command accepts, Prometheus's flags exist in Debian's
# prometheus, prometheus.yml passes `promtool check config`, the Grafana
# dashboard parses and every sqlvault_ metric it and the alert rules query is
# one a worker's /metrics really serves, and docker/.env.example names every
# variable the compose file requires; the image builds and copies the
# binary and sqlvault.so, and installs a package for every library they link.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/ops_lib.sh"
sv_setup
sv_use_file_store
D="$SV_SOURCE_DIR/docker"

step "the compose file parses; mounted files exist; sqlvault commands and flags exist"
python3 - "$D" "$SV_BIN" <<'PY' || fail "compose check failed"
import os, re, subprocess, sys, yaml
d, sv = sys.argv[1], sys.argv[2]
c = yaml.safe_load(open(os.path.join(d, "docker-compose.yml")))
helptext = subprocess.run([sv, "--help"], capture_output=True, text=True).stdout
commands = set(re.findall(r"^  ([a-z][a-z-]+)\s", helptext, re.M))
bad = []
for name, s in c["services"].items():
    for v in s.get("volumes", []):
        src = v.split(":")[0]
        if src.startswith("./") and not os.path.exists(os.path.join(d, src)) and not src.endswith("redis-ca.pem"):
            bad.append(f"{name}: mounts missing {src}")
    if s.get("image", "").startswith("sqlvault") and "entrypoint" not in s:
        cmd = s.get("command", ["worker"])
        if cmd[0] not in commands:
            bad.append(f"{name}: '{cmd[0]}' is not a command of sqlvault --help")
            continue
        sub = subprocess.run([sv, cmd[0], "--help"], capture_output=True, text=True)
        text = sub.stdout + sub.stderr
        for flag in [a for a in cmd[1:] if a.startswith("--")]:
            if flag not in text and flag[2:] not in open(os.path.join(os.environ["SV_SOURCE_DIR"], "src/config/config.c")).read():
                bad.append(f"{name}: {cmd[0]} has no flag {flag}")
        print(f"ok: {name}: sqlvault {' '.join(cmd)}")
    elif "entrypoint" in s:
        print(f"ok: {name}: entrypoint {s['entrypoint'][0]}")
for name in ("worker", "scheduler", "prometheus", "grafana", "redis"):
    if name not in c["services"]:
        bad.append(f"service {name} is missing")
if bad:
    print("\n".join(bad)); sys.exit(1)
PY
note "ok: compose services check out"

step "the runtime image installs what the compose services run (tini, stunnel4)"
assert_contains "$(cat "$D/Dockerfile")" "stunnel4" "Dockerfile runtime packages"
assert_contains "$(cat "$D/Dockerfile")" "libmicrohttpd12" "Dockerfile runtime packages"
assert_contains "$(cat "$D/Dockerfile")" "scripts/install-deps.sh --build-only" "build stage uses install-deps.sh"

step "the image holds the binary and the extension, and a package for every library they link"
# the build stage's targets are CMake targets, both are copied into the
# runtime stage, and each shared library either one needs (objdump NEEDED,
# the sanitizers' own aside) belongs to a Debian package the runtime stage
# installs (dpkg -S), so `docker run` cannot fail on a missing library
python3 - "$D/Dockerfile" "$SV_SOURCE_DIR/CMakeLists.txt" "$SV_BIN" "$(dirname "$SV_BIN")/sqlvault.so" <<'PY' || fail "the image would lack a part"
import re, subprocess, sys
dockerfile, cmake, binary, ext = sys.argv[1:5]
d = open(dockerfile).read()
targets = set(re.findall(r"add_(?:executable|library)\((\w+)", open(cmake).read()))
built = re.search(r"--target ([\w ]+?) *\\?\n", d).group(1).split()
bad = [f"--target {t} is no CMake target" for t in built if t not in targets]
for want in ("sqlvault", "sqlvault_ext"):
    if want not in built: bad.append(f"the build stage does not build {want}")
for path in ("/usr/local/bin/sqlvault", "/usr/local/lib/sqlvault/sqlvault.so"):
    if not re.search(r"COPY --from=build " + re.escape(path) + " ", d): bad.append(f"the runtime stage does not copy {path}")
runtime = d.split("AS runtime", 1)[1]
pkgs = set(re.findall(r"\b(lib[\w.+-]+|sqlite3|ca-certificates)\b", runtime.split("rm -rf", 1)[0]))
for f in (binary, ext):
    needed = re.findall(r"NEEDED\s+(\S+)", subprocess.run(["objdump", "-p", f], capture_output=True, text=True).stdout)
    for so in needed:
        if re.match(r"lib(a|ub|l|t)san|libc\.so|ld-linux|libm\.so|libpthread|libdl|libgcc_s|libstdc", so): continue
        out = subprocess.run(["dpkg", "-S", so], capture_output=True, text=True).stdout
        owners = {line.split(":")[0] for line in out.splitlines() if "/" + so in line or line.rstrip().endswith(so)}
        if not owners & pkgs: bad.append(f"{f.split('/')[-1]} needs {so} ({', '.join(sorted(owners)) or 'no package'}), not installed by the runtime stage")
        else: print(f"ok: {f.split('/')[-1]}: {so} from {', '.join(sorted(owners & pkgs))}")
if bad:
    print("\n".join(bad)); sys.exit(1)
PY

step "Prometheus: its flags exist in Debian's prometheus; the config and rules check"
help=$(prometheus --help 2>&1)
for f in $(python3 -c 'import yaml,sys; [print(a.split("=")[0]) for a in yaml.safe_load(open(sys.argv[1]))["services"]["prometheus"]["command"]]' "$D/docker-compose.yml"); do
  assert_contains "$help" "$f" "prometheus flag"
done
mkdir -p "$SV_SCRATCH/etc"
cp "$D/prometheus/rules.yml" "$SV_SCRATCH/etc/rules.yml"
sed "s|/etc/prometheus/rules.yml|$SV_SCRATCH/etc/rules.yml|" "$D/prometheus/prometheus.yml" >"$SV_SCRATCH/etc/prometheus.yml"
out=$(promtool check config "$SV_SCRATCH/etc/prometheus.yml" 2>&1) || fail "promtool check config: $out"
note "ok: promtool check config"

step "every sqlvault_ metric the dashboard and the rules query is served by /metrics"
addr="127.0.0.1:$(free_port)"
redis_private_start
SQLVAULT_REDIS_URL="$SV_PRIVATE_REDIS_URL" "$SV_BIN" worker --threads 1 --metrics-addr "$addr" >"$SV_SCRATCH/w.log" 2>&1 &
SV_CLEANUP_PIDS+=($!)
wait_for --timeout 10 curl -fsS "http://$addr/healthz"
wait_for --timeout 10 bash -c "curl -fsS 'http://$addr/metrics' | grep -q '^sqlvault_workers_alive'"
served=$(scrape "$addr" | sed -n 's/^# TYPE \([a-z_]*\) .*/\1/p' | sort -u)
queried=$(cat "$D/grafana/dashboards/sqlvault.json" "$D/prometheus/rules.yml" | grep -o 'sqlvault_[a-z_]*' |
  sed -E 's/_(bucket|sum|count)$//' | sort -u)
for m in $queried; do
  grep -qx "$m" <<<"$served" || fail "$m is queried but /metrics has no such family"
done
note "ok: $(wc -w <<<"$queried") metric names checked against $(wc -l <<<"$served") families"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["uid"] and len(d["panels"]) >= 8; print(len(d["panels"]), "panels")' \
  "$D/grafana/dashboards/sqlvault.json" || fail "dashboard JSON"
for f in "$D/grafana/provisioning/datasources/prometheus.yml" "$D/grafana/provisioning/dashboards/sqlvault.yml"; do
  python3 -c 'import yaml,sys; yaml.safe_load(open(sys.argv[1]))' "$f" || fail "$f does not parse"
done

step "docker/.env.example names every variable the compose file requires"
for v in $(grep -o '\${[A-Z0-9_]*:?' "$D/docker-compose.yml" | tr -d '${:?' | sort -u); do
  grep -q "^$v=" "$D/.env.example" || fail "$v is required by the compose file but not in .env.example"
done
note "ok"
sv_pass
