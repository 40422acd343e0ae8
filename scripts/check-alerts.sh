#!/usr/bin/env bash
# make check-alerts: the Prometheus alert rules (promtool check rules, and the cases of
# promo-sync.rules.test.yml with promtool test rules) and the Grafana dashboard (valid JSON), and
# every metric either names is one the programs export (a misspelt metric never alerts).
set -euo pipefail
cd "$(dirname "$0")/.."
promtool check rules config/prometheus/promo-sync.rules.yml
(cd config/prometheus && promtool test rules promo-sync.rules.test.yml)
python3 -m json.tool config/grafana/promo-sync-dashboard.json >/dev/null
# The metrics the built programs really export: a centre on loopback and one office's replica.
swift build >/dev/null 2>&1
bin="$(swift build --show-bin-path)"
work="$(mktemp -d)"
chmod 700 "$work"
central_pid=""
trap '[ -n "$central_pid" ] && kill "$central_pid" 2>/dev/null; rm -rf "$work"' EXIT
"$bin/promo-central" serve --data-dir "$work/central" --port 0 --port-file "$work/port" 2>/dev/null &
central_pid=$!
for _ in $(seq 1 100); do [ -s "$work/port" ] && break; sleep 0.1; done
url="http://127.0.0.1:$(cat "$work/port")"
mkdir -m 700 "$work/office"
"$bin/promo-central" office add 79 --data-dir "$work/central" --token-file "$work/office/office.token" >/dev/null
"$bin/promo-sync" init --data-dir "$work/office" --office 79 --central "$url" --token-file "$work/office/office.token" >/dev/null
"$bin/promo-sync" sync --data-dir "$work/office" >/dev/null 2>&1
exported="$( (curl -fsS "$url/metrics"; "$bin/promo-sync" metrics --data-dir "$work/office") | grep -o '^promo_[a-z_]*' | sort -u)"
missing=0
for metric in $(grep -ho 'promo_\(sync\|central\)_[a-z_]*' config/prometheus/promo-sync.rules.yml config/grafana/promo-sync-dashboard.json | sort -u); do
    if ! grep -qx "$metric" <<<"$exported"; then
        echo "check-alerts: $metric is not a metric promo-sync or promo-central exports" >&2
        missing=1
    fi
done
[ "$missing" -eq 0 ]
echo "check-alerts: rules, their tests and the dashboard agree with the $(wc -l <<<"$exported") metrics the programs export"
