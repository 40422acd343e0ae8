#!/usr/bin/env bash
# Writes Sources/PromoSyncCLI/promo-sync.order: the functions of promo-sync that its daemon and
# `promo-sync status` (which monitoring runs often) execute, for the release link to place next to
# each other (Package.swift, `releaseLinking`; docs/BENCHMARKS.md, eighth round). The daemon's
# resident code is then a few MB of pages it uses instead of 64 KB read-around windows spread over
# 20 MB of text. Names that later disappear from the code are skipped by the linker, so a stale file
# only costs memory: run `make link-order` after changes to the daemon's code, then `make bench`
# for the idle footprint.
#
# How: on the release build whose bin folder is the argument (`make link-order` builds it with the
# Makefile's RELEASE flags, as installed and benchmarked), a centre and two offices on loopback;
# office 79's daemon runs under valgrind's callgrind while it pushes pending edits, wakes on a local
# write and pulls another office's records; then `status` under callgrind. Every function of the
# binary that ran is listed, by name: which functions are together counts, not their order (by name,
# by instructions run and by instructions including calls gave the same idle footprint), and a
# rewrite's diff then shows only the functions that came or went. Needs valgrind, python3, sqlite3
# and binutils (Debian packages of those names; `make link-order` installs them).
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in valgrind python3 sqlite3 objcopy nm; do
    command -v "$tool" >/dev/null || { echo "link-order.sh: needs $tool (apt-get install valgrind python3 sqlite3 binutils)" >&2; exit 1; }
done

bin="${1:-}"
if [ ! -x "$bin/promo-sync" ] || [ ! -x "$bin/promo-central" ]; then
    echo "usage: scripts/link-order.sh BIN_FOLDER (a release build's bin path); run it as: make link-order" >&2
    exit 2
fi
work="$(mktemp -d)"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    [ "$keep" = 1 ] || rm -rf "$work"
}
keep=0
trap cleanup EXIT

# Valgrind 3.19 cannot read the toolchain's DWARF 5: profile a copy without debug information
# (the same code and symbols).
objcopy --strip-debug "$bin/promo-sync" "$work/promo-sync"
sync_cmd="$work/promo-sync"
central_cmd="$bin/promo-central"
grind=(valgrind --tool=callgrind --demangle=no)

mkdir -p "$work/central" "$work/o79" "$work/o80"
for office in 79 80; do
    "$central_cmd" office add "$office" --data-dir "$work/central" --token-file "$work/o$office/office.token" >/dev/null
done
PROMO_CENTRAL_LOG_LEVEL=warning "$central_cmd" serve --data-dir "$work/central" --host 127.0.0.1 --port 0 \
    --port-file "$work/central/port" 2>"$work/central/log" &
pids+=($!)
for _ in $(seq 1 100); do [ -s "$work/central/port" ] && break; sleep 0.1; done
url="http://127.0.0.1:$(cat "$work/central/port")"
for office in 79 80; do
    "$sync_cmd" init --data-dir "$work/o$office" --office "$office" --central "$url" --token-file "$work/o$office/office.token" >/dev/null
done

# Office 80's records, for office 79 to pull.
o80=(--data-dir "$work/o80")
"$sync_cmd" plan add "${o80[@]}" --year 2025 --fund local --amount 6500000000 >/dev/null
"$sync_cmd" project add "${o80[@]}" --code TN-2025-01 --name "Chuyển đổi số cơ sở chế biến mủ cao su" \
    --category CDS --fund local --year 2025 --total-cost 1000000000 --requested 300000000 >/dev/null
# Payments are entered from approval on.
for step in submitted appraised_locally approved; do
    "$sync_cmd" project status "${o80[@]}" TN-2025-01 --to "$step" >/dev/null
done
"$sync_cmd" disburse "${o80[@]}" --project TN-2025-01 --kind payment --amount 150000000 --voucher KB-80-0001 --date 2025-08-30 >/dev/null
"$sync_cmd" sync "${o80[@]}" >/dev/null 2>&1

# Office 79's edits, pending when its daemon starts.
o79=(--data-dir "$work/o79")
for i in $(seq 1 20); do
    "$sync_cmd" plan add "${o79[@]}" --year 2025 --fund local --amount $((1000000000 + i)) >/dev/null
done
"$sync_cmd" project add "${o79[@]}" --code HCM-2025-01 --name "Mô hình trình diễn máy sấy nông sản" \
    --category MH_TRINHDIEN --fund local --year 2025 --total-cost 2400000000 --requested 720000000 >/dev/null
for step in submitted appraised_locally approved; do
    "$sync_cmd" project status "${o79[@]}" HCM-2025-01 --to "$step" >/dev/null
done

pushed() { "$sync_cmd" status "${o79[@]}" --json | grep -q '"changes" : 0'; }
wait_for() {
    for _ in $(seq 1 240); do "$@" && return 0; sleep 0.5; done
    echo "link-order.sh: the profiled daemon did not get there in 120 s; see $work/o79/daemon.log" >&2
    keep=1
    exit 1
}
PROMO_SYNC_LOG_LEVEL=warning "${grind[@]}" --callgrind-out-file="$work/daemon.cg" "$sync_cmd" daemon "${o79[@]}" --interval 5 2>"$work/o79/daemon.log" &
daemon=$!
pids+=("$daemon")
wait_for pushed
# A local write wakes the daemon.
"$sync_cmd" disburse "${o79[@]}" --project HCM-2025-01 --kind advance --amount 504000000 --voucher KB-79-0001 --date 2025-06-12 >/dev/null
wait_for pushed
# A newer record of office 80 arrives with a scheduled pull.
"$sync_cmd" plan add "${o80[@]}" --year 2026 --fund local --amount 7000000000 >/dev/null
"$sync_cmd" sync "${o80[@]}" >/dev/null 2>&1
has_2026() { [ "$(sqlite3 "$work/o79/replica.sqlite" "SELECT count(*) FROM province_total WHERE year = 2026")" -ge 1 ]; }
wait_for has_2026
kill -TERM "$daemon"
wait "$daemon" || true   # callgrind writes its profile as the daemon exits
"${grind[@]}" --callgrind-out-file="$work/status.cg" "$sync_cmd" status "${o79[@]}" >/dev/null 2>&1 || true

# The binary's functions that ran, each once, by name. A name defined more than once in the
# binary (local helpers such as value witnesses, repeated in every module) is left out: the linker
# would move every section that defines it.
nm --defined-only "$bin/promo-sync" | awk '{ print $3 }' | sort | uniq -u > "$work/unique"
python3 - "$work/unique" "$work/daemon.cg" "$work/status.cg" > "$work/order" <<'EOF'
import re, sys
# Callgrind's files name each object (ob=) and function (fn=) once with its number, later by the
# number alone; a function appears under fn= only if it ran.
unique = set(line.strip() for line in open(sys.argv[1]))
ran = set()
for path in sys.argv[2:]:
    objects, functions, obj = {}, {}, ""
    for line in open(path, errors="replace"):
        m = re.match(r"^(c?)(ob|fn)=\((\d+)\)(?: (.*))?$", line.rstrip("\n"))
        if not m:
            continue
        called, kind, number, name = m.groups()
        table = objects if kind == "ob" else functions
        if name is not None:
            table[number] = re.sub(r"'\d+$", "", name)  # 'N marks a recursion level
        if called:
            continue
        if kind == "ob":
            obj = objects[number]
        elif obj.endswith("/promo-sync") and functions[number] in unique:
            ran.add(functions[number])
if len(ran) < 1000:
    sys.exit(f"link-order.sh: only {len(ran)} functions in the profiles; the file is left as it was")
print("\n".join(sorted(ran)))
EOF
mv "$work/order" Sources/PromoSyncCLI/promo-sync.order
# The linker reads the file, but the build does not know it does: make the next build link again.
rm -f "$bin/promo-sync"
echo "link-order.sh: $(wc -l < Sources/PromoSyncCLI/promo-sync.order) functions in Sources/PromoSyncCLI/promo-sync.order"
