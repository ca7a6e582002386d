#!/usr/bin/env bash
# ops_lib.sh -- helpers for the operations tests (tests/it/ops_*.sh,
# worker_metrics.sh), sourced after lib.sh and sv_setup.
#
#   scrape ADDR                     prints ADDR's /metrics
#   metric_value TEXT SERIES        prints the value of one exact series
#                                   ('sqlvault_jobs_total{type="backup",outcome="failed"}'), or nothing
#   wait_metric ADDR SERIES OP N [T] waits until SERIES OP N (OP: -ge -eq ...)
#   http_code URL                   prints the HTTP status of a GET
#
# Run directly (CMake registers it like every tests/it/*.sh), it checks
# metric_value on a fixed text.

scrape() { curl -fsS --max-time 5 "http://$1/metrics"; }

metric_value() {
  awk -v s="$2" 'index($0, s " ") == 1 { print $2; exit }' <<<"$1"
}

wait_metric() {
  local addr="$1" series="$2" op="$3" want="$4" t="${5:-20}"
  wait_for --timeout "$t" bash -c "
    v=\$(curl -fsS --max-time 5 'http://$addr/metrics' | awk -v s='$series' 'index(\$0, s \" \") == 1 { print \$2; exit }')
    [[ -n \"\$v\" && \${v%.*} $op $want ]]"
}

http_code() { curl -s -o /dev/null --max-time 10 -w '%{http_code}' "$1"; }

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  source "$(dirname "$0")/lib.sh"
  t=$'# HELP a b\nsqlvault_x{type="a"} 3\nsqlvault_x{type="ab"} 4\nsqlvault_y 5.5'
  assert_eq 3 "$(metric_value "$t" 'sqlvault_x{type="a"}')" "labelled series"
  assert_eq 4 "$(metric_value "$t" 'sqlvault_x{type="ab"}')" "no prefix match"
  assert_eq 5.5 "$(metric_value "$t" sqlvault_y)" "plain series"
  assert_eq "" "$(metric_value "$t" sqlvault_z)" "absent series"
  sv_pass
fi
