#!/usr/bin/env bash
# make mixed-fleet: the previous release's programs and this one's, as real processes on loopback,
# through a rollout done the documented way (docs/OPERATIONS.md, "Rolling out a release"):
#
#   1. the previous release everywhere: its centre, offices 79 and 80 enter and sync work;
#   2. this release's office 80 against the previous centre: it migrates its replica, syncs what
#      the previous centre understands, and a tax code (new in this release) is held back with
#      "upgrade the centre first" (centre_too_old), nothing lost;
#   3. the centre upgraded (the same store, this release's binary): 80's held change goes through
#      by itself; 79, still on the previous release, syncs with the new centre; then 79 upgrades,
#      enters a tax code, and is rolled back the documented way (replica aside, resync --rebuild
#      with the previous program): its edits and whole-row re-sends never erase the tax code;
#   4. 79 upgraded again: its replica gets the tax code back (the migration pulls the log again),
#      both offices verify identical with the centre, the centre's store replays from its journal
#      (audit verify), and the totals equal what was entered.
#
# The previous release is built once into .build-previous by scripts/previous-release.sh, from
# its sources kept beside its fixtures (no tag or history needed). PROMO_PREVIOUS_RELEASE=X.Y.Z
# picks another kept release.
set -euo pipefail
cd "$(dirname "$0")/.."
umask 077

current="$(sed -n 's/.*static let current = "\(.*\)"/\1/p' Sources/WireFormat/Version.swift)"
echo "== building the previous release into .build-previous (once) and this release ($current)"
old_bin="$(bash scripts/previous-release.sh)"
previous="$("$old_bin/promo-sync" --version | awk '{ print $2 }')"
build_log="$(mktemp)"
swift build >/dev/null 2>"$build_log" || { cat "$build_log" >&2; exit 1; }
new_bin="$(swift build --show-bin-path)"
echo "   previous: $("$old_bin/promo-sync" --version); this: $("$new_bin/promo-sync" --version)"

data="$(mktemp -d)"
central_pid=""
stop_centre() {
    if [ -n "$central_pid" ]; then
        kill -TERM "$central_pid" 2>/dev/null || true
        wait "$central_pid" 2>/dev/null || true
        central_pid=""
    fi
}
trap 'stop_centre; rm -rf "$data"' EXIT
fail() {
    echo "mixed-fleet: FAILED: $*" >&2
    echo "--- centre log" >&2
    tail -n 20 "$data/central.log" >&2 || true
    echo "--- office log" >&2
    tail -n 20 "$data/sync.log" >&2 || true
    exit 1
}

start_centre() { # $1: bin dir
    rm -f "$data/central.port"
    PROMO_CENTRAL_LOG_LEVEL=warning "$1/promo-central" serve --data-dir "$data/central" --port "${port:-0}" --port-file "$data/central.port" \
        2>>"$data/central.log" &
    central_pid=$!
    for _ in $(seq 1 100); do [ -s "$data/central.port" ] && break; sleep 0.1; done
    [ -s "$data/central.port" ] || fail "promo-central ($1) did not start"
    port="$(cat "$data/central.port")"
}
office() { # $1: office, $2: bin dir, then promo-sync arguments
    local code="$1" bin="$2"
    shift 2
    "$bin/promo-sync" "$@" --data-dir "$data/office-$code"
}
sync_ok() { # $1: office, $2: bin dir
    office "$1" "$2" sync >>"$data/sync.log" 2>&1 || fail "office $1 ($2) did not sync; see above"
}
sql() { sqlite3 "$data/$1" "$2"; }

echo "== 1. $previous everywhere"
start_centre "$old_bin"
url="http://127.0.0.1:$port"
for code in 79 80; do
    mkdir -p "$data/office-$code"
    "$old_bin/promo-central" office add "$code" --data-dir "$data/central" --token-file "$data/office-$code/office.token" >/dev/null
    "$old_bin/promo-sync" init --data-dir "$data/office-$code" --office "$code" --central "$url" --token-file "$data/office-$code/office.token" >/dev/null
done
office 79 "$old_bin" plan add --year 2025 --fund local --amount 12000000000 >/dev/null
office 79 "$old_bin" project add --code HCM-01 --name "Mô hình trình diễn máy sấy" --category MH_TRINHDIEN --fund local --year 2025 \
    --total-cost 2400000000 --requested 720000000 >/dev/null
office 80 "$old_bin" plan add --year 2025 --fund local --amount 6500000000 >/dev/null
office 80 "$old_bin" project add --code TN-01 --name "Chuyển đổi số" --category CDS --fund local --year 2025 \
    --total-cost 1000000000 --requested 300000000 >/dev/null
for step in submitted appraised_locally approved; do
    office 79 "$old_bin" project status HCM-01 --to "$step" >/dev/null
    office 80 "$old_bin" project status TN-01 --to "$step" >/dev/null
done
office 79 "$old_bin" disburse --project HCM-01 --kind advance --amount 504000000 --voucher KB-79-1 --date 2025-06-12 >/dev/null
sync_ok 79 "$old_bin"
sync_ok 80 "$old_bin"

echo "== 2. office 80 on $current against the $previous centre"
office 80 "$new_bin" disburse --project TN-01 --kind payment --amount 150000000 --voucher KB-80-1 --date 2025-08-30 >/dev/null
# This release's newest replica migration, as its frozen migrations list it.
newest="$(sed -n 's/^            "\(v[0-9]*-[a-z-]*\)",$/\1/p' Sources/Replica/FrozenMigrations.swift | tail -n1)"
[ "$(sql office-80/replica.sqlite "SELECT identifier FROM grdb_migrations ORDER BY rowid DESC LIMIT 1")" = "$newest" ] ||
    fail "office 80's replica was not migrated to $newest"
sync_ok 80 "$new_bin"
office 80 "$new_bin" project update TN-01 --tax-code 3901234567 >/dev/null
if "$old_bin/promo-sync" project update --help | grep -q -- --tax-code; then
    # The previous release knows the tax code too: nothing to hold back.
    sync_ok 80 "$new_bin"
else
    if office 80 "$new_bin" sync >"$data/held.log" 2>&1; then fail "a tax code went to a $previous centre"; fi
    grep -q "pgrade the centre first" "$data/held.log" || fail "office 80 was not told to upgrade the centre: $(cat "$data/held.log")"
    office 80 "$new_bin" status --json | grep -q '"refused"' && fail "office 80 recorded the old centre's answer as a refused row"
    echo "   held back: $(grep -o "the centre runs[^;]*" "$data/held.log" | head -n1)"
fi

echo "== 3. the centre upgraded to $current (same store)"
stop_centre
start_centre "$new_bin"
sync_ok 80 "$new_bin"
[ "$(sql central/central.sqlite "SELECT json_extract(fields, '$.tax_code') FROM record WHERE tbl = 'project' AND office = '80'")" = "3901234567" ] ||
    fail "80's held tax code did not reach the upgraded centre"
# 79, still on the previous release, keeps syncing with the new centre.
office 79 "$old_bin" project update HCM-01 --beneficiary "HTX Củ Chi" >/dev/null
sync_ok 79 "$old_bin"

echo "== 3b. office 79 upgraded, enters a tax code, then rolled back the documented way"
office 79 "$new_bin" project update HCM-01 --tax-code 0312345678 >/dev/null
sync_ok 79 "$new_bin"
mv "$data/office-79/replica.sqlite" "$data/office-79/replica.sqlite.upgraded"
rm -f "$data/office-79/replica.sqlite-wal" "$data/office-79/replica.sqlite-shm"
"$old_bin/promo-sync" resync --rebuild --data-dir "$data/office-79" --office 79 --central "$url" \
    --token-file "$data/office-79/office.token" >>"$data/sync.log" 2>&1 || fail "79 could not rebuild on $previous"
office 79 "$old_bin" project update HCM-01 --beneficiary "Hiệp hội Củ Chi" >/dev/null
sync_ok 79 "$old_bin"
# Every row re-sent whole by the previous release, which has no tax code column.
"$old_bin/promo-sync" resync --force --data-dir "$data/office-79" >>"$data/sync.log" 2>&1 || fail "79 on $previous could not resync --force"
[ "$(sql central/central.sqlite "SELECT json_extract(fields, '$.tax_code') FROM record WHERE tbl = 'project' AND office = '79'")" = "0312345678" ] ||
    fail "79's tax code was erased by its $previous program"
[ "$(sql central/central.sqlite "SELECT json_extract(fields, '$.beneficiary') FROM record WHERE tbl = 'project' AND office = '79'")" = "Hiệp hội Củ Chi" ] ||
    fail "79's $previous edit did not arrive"

echo "== 4. office 79 upgraded to $current again"
sync_ok 79 "$new_bin"
sync_ok 80 "$new_bin"
sync_ok 79 "$new_bin"
for code in 79 80; do
    office "$code" "$new_bin" verify >"$data/verify-$code.log" 2>&1 || fail "office $code does not verify: $(cat "$data/verify-$code.log")"
    office "$code" "$new_bin" status >/dev/null || fail "office $code is not healthy: $(office "$code" "$new_bin" status || true)"
done
[ "$(sql office-79/replica.sqlite "SELECT tax_code FROM project")" = "0312345678" ] || fail "79's replica lost its tax code"
stop_centre
"$new_bin/promo-central" audit verify --data-dir "$data/central" >"$data/audit.log" 2>&1 || fail "audit verify: $(cat "$data/audit.log")"
plan="$(sql central/central.sqlite "SELECT sum(json_extract(fields, '$.plan_amount')) FROM record WHERE tbl = 'province_total'")"
paid="$(sql central/central.sqlite "SELECT sum(json_extract(fields, '$.disbursed_amount')) FROM record WHERE tbl = 'province_total'")"
[ "$plan" = "18500000000" ] && [ "$paid" = "654000000" ] || fail "totals: plan $plan, disbursed $paid (expected 18500000000 and 654000000)"
echo "mixed-fleet: ok ($previous and $current through a rollout: nothing lost, both offices verify identical, the centre replays)"
