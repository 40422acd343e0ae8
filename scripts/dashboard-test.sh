#!/usr/bin/env bash
# make dashboard-test: the centre's dashboard checked in a real browser. A promo-central and the
# daemons of offices 79 (Hồ Chí Minh) and 80 (Tây Ninh) on loopback; the southern region's 2025
# figures entered at the offices with promo-sync's own commands and synced (plan 56.3 bn VND,
# 8.33 bn paid by 30 September, 14.8 %); a dashboard user added with `promo-central user add`;
# then scripts/dashboard-test.py drives headless Chromium through the pages. With
# SCREENSHOTS=DIR the pages are saved as PNG there (docs/screenshots holds the committed ones).
set -euo pipefail
cd "$(dirname "$0")/.."
umask 077

swift build >/dev/null
bin="$(swift build --show-bin-path)"
sync_cmd="$bin/promo-sync"
central_cmd="$bin/promo-central"

data="$(mktemp -d)"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$data"
}
trap cleanup EXIT
fail() {
    echo "dashboard-test: FAILED: $*" >&2
    tail -n 20 "$data/central.log" >&2 || true
    exit 1
}

silent_after=10
PROMO_CENTRAL_LOG_LEVEL=notice PROMO_CENTRAL_DASHBOARD_SILENT_AFTER_SECONDS=$silent_after \
    "$central_cmd" serve --data-dir "$data/central" --port 0 --port-file "$data/central.port" 2>"$data/central.log" &
pids+=($!)
for _ in $(seq 1 100); do [ -s "$data/central.port" ] && break; sleep 0.1; done
[ -s "$data/central.port" ] || fail "promo-central did not start"
url="http://127.0.0.1:$(cat "$data/central.port")"

password="nhập-liệu-an-toàn-2025"
printf '%s\n' "$password" | "$central_cmd" user add analyst --data-dir "$data/central" >/dev/null 2>"$data/user.log"

declare -A daemon
for office in 79 80; do
    dir="$data/office-$office"
    mkdir -p "$dir"
    "$central_cmd" office add "$office" --data-dir "$data/central" --token-file "$dir/office.token" >/dev/null
    "$sync_cmd" init --data-dir "$dir" --office "$office" --central "$url" --token-file "$dir/office.token" >/dev/null
done

# The southern region's 2025 figures (Tests/IntegrationTests/ReportTests.swift): plan 30 + 6.3 bn
# at 79 and 20 bn at 80; payments 2 + 3 bn at 79 and 3.33 bn at 80 by 30 September, and 1 bn at
# 80 in October, after the cutoff.
enter() { # office, plan lines "fund:amount", payments "amount:date"
    local office="$1" plans="$2" payments="$3" d=(--data-dir "$data/office-$1") total=0 n=0
    for plan in $plans; do "$sync_cmd" plan add "${d[@]}" --year 2025 --fund "${plan%%:*}" --amount "${plan##*:}" >/dev/null; done
    for payment in $payments; do total=$((total + ${payment%%:*})); done
    "$sync_cmd" project add "${d[@]}" --code KC-2025 --name "Dự án khuyến công 2025 của $office" --category MH_TRINHDIEN --fund local \
        --year 2025 --total-cost $((total * 2)) --requested "$total" >/dev/null
    for step in submitted appraised_locally approved; do "$sync_cmd" project status "${d[@]}" KC-2025 --to "$step" >/dev/null; done
    for payment in $payments; do
        n=$((n + 1))
        "$sync_cmd" disburse "${d[@]}" --project KC-2025 --kind payment --amount "${payment%%:*}" --voucher "KB-$office-$n" --date "${payment##*:}" >/dev/null
    done
}
enter 79 "local:30000000000 national:6300000000" "2000000000:2025-03-15 3000000000:2025-09-30"
enter 80 "local:20000000000" "3330000000:2025-07-01 1000000000:2025-10-02"

for office in 79 80; do
    PROMO_SYNC_LOG_LEVEL=warning "$sync_cmd" daemon --data-dir "$data/office-$office" --interval 2 2>"$data/office-$office/daemon.log" &
    pids+=($!)
    daemon[$office]=$!
done
# Synced, and each office has reported itself healthy at least once (its second cycle on).
for i in $(seq 1 60); do
    ok=1
    for office in 79 80; do
        "$sync_cmd" status --data-dir "$data/office-$office" >/dev/null 2>&1 || ok=0
    done
    [ $ok = 1 ] && sleep 5 && break
    [ "$i" -eq 60 ] && fail "the offices are not healthy after 60 s"
    sleep 1
done

echo "== the dashboard in headless Chromium ($url/dashboard)"
DASHBOARD_URL="$url" DASHBOARD_USER=analyst DASHBOARD_PASSWORD="$password" SILENT_AFTER=$silent_after \
    STOP_OFFICE_79="kill -TERM ${daemon[79]}" SCREENSHOTS="${SCREENSHOTS:-}" \
    /usr/bin/python3 scripts/dashboard-test.py || fail "the browser checks failed"
"$central_cmd" user logins --data-dir "$data/central" | grep -q "analyst.*ok" || fail "the login was not recorded"
