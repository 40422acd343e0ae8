#!/usr/bin/env bash
# The walking skeleton end to end on loopback: one promo-central and the daemons of two offices
# (79 Hồ Chí Minh and 80 Tây Ninh) with fresh data folders under ./demo-data. Staff enter projects,
# plan lines and payments at each office; the daemons push them and pull back the consolidated
# totals. Everything started here is stopped when the script ends, whatever happens.
set -euo pipefail
cd "$(dirname "$0")/.."
# As the systemd units do (UMask=0077): the data folders made here are their owner's only, which
# the two programs' permission checks require (docs/SECURITY.md) whatever the caller's umask.
umask 077

swift build >/dev/null
bin="$(swift build --show-bin-path)"
sync_cmd="$bin/promo-sync"
central_cmd="$bin/promo-central"

data="$PWD/demo-data"
rm -rf "$data"
mkdir -p "$data"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT

echo "== starting promo-central on 127.0.0.1 (a free port)"
PROMO_CENTRAL_LOG_LEVEL=warning "$central_cmd" serve --data-dir "$data/central" --port 0 --port-file "$data/central.port" \
    2>"$data/central.log" &
pids+=($!)
for _ in $(seq 1 100); do [ -s "$data/central.port" ] && break; sleep 0.1; done
port="$(cat "$data/central.port")"
url="http://127.0.0.1:$port"
echo "   $url"

for office in 79 80; do
    dir="$data/office-$office"
    mkdir -p "$dir"
    "$central_cmd" office add "$office" --data-dir "$data/central" --token-file "$dir/office.token" >/dev/null
    "$sync_cmd" init --data-dir "$dir" --office "$office" --central "$url" --token-file "$dir/office.token" >/dev/null
    PROMO_SYNC_LOG_LEVEL=warning "$sync_cmd" daemon --data-dir "$dir" --interval 2 2>"$dir/daemon.log" &
    pids+=($!)
    echo "== office $office: replica $dir/replica.sqlite, daemon pid ${pids[-1]}"
done

echo "== entering data offline at each office"
o79=(--data-dir "$data/office-79")
o80=(--data-dir "$data/office-80")
"$sync_cmd" plan add "${o79[@]}" --year 2025 --fund local --amount 12000000000 --note "Kế hoạch khuyến công địa phương 2025" >/dev/null
"$sync_cmd" plan add "${o79[@]}" --year 2025 --fund national --amount 1500000000 >/dev/null
"$sync_cmd" project add "${o79[@]}" --code HCM-2025-01 --name "Mô hình trình diễn máy sấy nông sản" \
    --category MH_TRINHDIEN --fund local --year 2025 --total-cost 2400000000 --requested 720000000 --beneficiary "HTX Củ Chi" >/dev/null
"$sync_cmd" project add "${o79[@]}" --code HCM-2025-02 --name "Hội chợ sản phẩm công nghiệp nông thôn tiêu biểu" \
    --category SP_CNNT --fund local --year 2025 --total-cost 900000000 --requested 450000000 >/dev/null
# A local project takes payments once the province has approved it (its own steps).
for step in submitted appraised_locally approved; do
    "$sync_cmd" project status "${o79[@]}" HCM-2025-01 --to "$step" >/dev/null
    "$sync_cmd" project status "${o79[@]}" HCM-2025-02 --to "$step" >/dev/null
done
"$sync_cmd" disburse "${o79[@]}" --project HCM-2025-01 --kind advance --amount 504000000 --voucher KB-79-0001 --date 2025-06-12 >/dev/null
"$sync_cmd" disburse "${o79[@]}" --project HCM-2025-02 --kind payment --amount 300000000 --voucher KB-79-0002 --date 2025-09-20 >/dev/null
"$sync_cmd" plan add "${o80[@]}" --year 2025 --fund local --amount 6500000000 >/dev/null
"$sync_cmd" project add "${o80[@]}" --code TN-2025-01 --name "Chuyển đổi số cơ sở chế biến mủ cao su" \
    --category CDS --fund local --year 2025 --total-cost 1000000000 --requested 300000000 >/dev/null
for step in submitted appraised_locally approved; do
    "$sync_cmd" project status "${o80[@]}" TN-2025-01 --to "$step" >/dev/null
done
"$sync_cmd" disburse "${o80[@]}" --project TN-2025-01 --kind payment --amount 150000000 --voucher KB-80-0001 --date 2025-08-30 >/dev/null

echo "== waiting for both daemons to push and pull"
synced() {
    for office in 79 80; do
        json="$("$sync_cmd" status --data-dir "$data/office-$office" --json)" || return 1
        echo "$json" | grep -q '"changes" : 0' || return 1
    done
    # Each office also holds the other's consolidated total.
    [ "$(sqlite3 "$data/office-79/replica.sqlite" "SELECT count(*) FROM province_total")" -ge 3 ] || return 1
    [ "$(sqlite3 "$data/office-80/replica.sqlite" "SELECT count(*) FROM province_total")" -ge 3 ] || return 1
}
for i in $(seq 1 60); do
    if synced; then break; fi
    if [ "$i" -eq 60 ]; then echo "demo: not synced after 60 s; see $data/*/daemon.log" >&2; exit 1; fi
    sleep 1
done

for office in 79 80; do
    echo
    echo "== promo-sync status (office $office)"
    "$sync_cmd" status --data-dir "$data/office-$office" || true
done
echo
echo "== projects at office 79"
"$sync_cmd" project list "${o79[@]}"
echo
echo "== what promo-central holds"
"$central_cmd" summary --data-dir "$data/central"
echo
echo "== audit: the centre's store follows from its logs (replayed and compared; exit 1 on any difference)"
"$central_cmd" audit verify --data-dir "$data/central"
echo
echo "== consolidated totals as office 80 sees them (pulled from the centre)"
sqlite3 -header -column "$data/office-80/replica.sqlite" \
    "SELECT province, year, fund_source, plan_amount, disbursed_amount FROM province_total ORDER BY province, fund_source"
echo
echo "== the 2025 report at office 80, offline, from the consolidated records it pulled"
"$sync_cmd" report "${o80[@]}" --year 2025 --by province,fund
echo
echo "demo: done; the central and both daemons are stopped. Data stays in $data for a look."
