#!/usr/bin/env bash
# The observability files of deploy/ agree with each other and with the code:
#   - deploy/prometheus/prometheus.yml passes `promtool check config` (skipped without
#     Debian's prometheus package);
#   - deploy/grafana/psd-dashboard.json is valid JSON, equals what make_dashboard.py writes,
#     and every psd_* metric it queries is documented in docs/observability.md.
# (That the code exports them is checked by //tests:metrics_cluster_test and the unit tests.)
set -uo pipefail
source "$(dirname "$0")/testlib.sh"
root=$(repo_root)
tmp=$(scratch_dir)

if command -v promtool >/dev/null; then
  if out=$(promtool check config "$root/deploy/prometheus/prometheus.yml" 2>&1); then
    pass "prometheus.yml passes promtool check config"
  else
    fail "prometheus.yml passes promtool check config" "$out"
  fi
else
  skip "prometheus.yml passes promtool check config" "no promtool (apt-get install prometheus)"
fi

dash=$root/deploy/grafana/psd-dashboard.json
if python3 -c 'import json, sys; json.load(open(sys.argv[1]))' "$dash" 2>"$tmp/json.err"; then
  pass "the dashboard is valid JSON"
else
  fail "the dashboard is valid JSON" "$(cat "$tmp/json.err")"
fi
if python3 "$root/deploy/grafana/make_dashboard.py" | cmp -s - "$dash"; then
  pass "the dashboard is what make_dashboard.py writes"
else
  fail "the dashboard is what make_dashboard.py writes" "run: python3 deploy/grafana/make_dashboard.py > $dash"
fi

doc=$root/docs/observability.md
strip() { sed -E 's/_(bucket|sum|count)$//' | sort -u; }
missing=""
for m in $(grep -oE 'psd_[a-z_]+' "$dash" | strip); do
  grep -q "\`$m\`" "$doc" || missing+=" $m"
done
if [[ -z "$missing" ]]; then
  pass "every metric of the dashboard is documented"
else
  fail "every metric of the dashboard is documented" "not in docs/observability.md:$missing"
fi

summary
