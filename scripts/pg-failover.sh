#!/usr/bin/env bash
# make pg-failover: the PostgreSQL copy of the centre (store migrate + store follow) through a
# failover of its database, as docs/OPERATIONS.md ("The centre in PostgreSQL") documents it: a
# primary and a streaming standby on loopback (pg_basebackup -R, which writes primary_conninfo),
# the primary killed (pg_ctl stop -m immediate), the standby promoted. The follower is given both
# nodes, the standby first (postgres://…@STANDBY,PRIMARY/…): it writes to whichever is the primary,
# before and after the failover, without being pointed anywhere by hand.
#
#   1. synchronous replication (synchronous_standby_names): every pass the follower finished is on
#      the standby when the primary dies; nothing is copied again.
#   2. asynchronous replication that lost its tail (the standby cut off before the last passes):
#      the promoted standby lacks them, and its marks say so; the follower's next pass copies the
#      missing rows again from the centre's store, and the copy equals the store table for table.
#
#   3. the copy as the serving centre's durable record (store.postgres_url naming both nodes),
#      synchronous: the primary dies under the centre, which goes on acknowledging into the
#      promoted standby by itself; then the centre's machine is lost too, its store restored from
#      PostgreSQL (store restore), and the office goes on with nothing to send again.
#   4. the same, asynchronous, with the standby cut off before the last pushes and the primary and
#      the centre's machine lost together: the restored centre stands behind what it acknowledged,
#      and the office finds that and sends its changesets again by itself; both end equal.
#
# In 1 and 2 the centre serves from SQLite and an office enters and syncs work between passes.
set -euo pipefail
cd "$(dirname "$0")/.."
umask 077

build_log="$(mktemp)"
swift build >/dev/null 2>"$build_log" || { cat "$build_log" >&2; exit 1; }
rm -f "$build_log"
bin="$(swift build --show-bin-path)"
pgbin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)"
[ -x "$pgbin/pg_basebackup" ] || { echo "pg-failover: PostgreSQL's server is not installed (apt install postgresql)" >&2; exit 1; }

work="$(mktemp -d)"
chmod 755 "$work"
central_pid=""
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
cleanup() {
    # Under set -e: a server already stopped (the killed primary) must not fail the run here.
    if [ -n "$central_pid" ]; then kill -TERM "$central_pid" 2>/dev/null || true; wait "$central_pid" 2>/dev/null || true; fi
    for data in "$work"/*/data; do
        if [ -d "$data" ]; then as_pg "$pgbin/pg_ctl" -D "$data" -m immediate stop >/dev/null 2>&1 || true; fi
    done
    if [ -n "${PROMO_KEEP_WORK:-}" ]; then echo "pg-failover: kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
fail() {
    echo "pg-failover: FAILED: $*" >&2
    tail -n 5 "$work"/*/server.log >&2 2>/dev/null || true
    exit 1
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
psql_at() { psql "postgresql://promo@127.0.0.1:$1/promo_copy?sslmode=disable" -tAc "$2"; }
mark() { psql_at "$1" "SELECT value FROM promo.follow_mark WHERE key = 'position'"; }

# The centre (SQLite) and office 79.
PROMO_CENTRAL_LOG_LEVEL=warning "$bin/promo-central" serve --data-dir "$work/central" --port 0 --port-file "$work/central.port" \
    2>"$work/central.log" &
central_pid=$!
for _ in $(seq 1 100); do [ -s "$work/central.port" ] && break; sleep 0.1; done
[ -s "$work/central.port" ] || fail "promo-central did not start"
mkdir -p "$work/office"
"$bin/promo-central" office add 79 --data-dir "$work/central" --token-file "$work/office/office.token" >/dev/null
"$bin/promo-sync" init --data-dir "$work/office" --office 79 --central "http://127.0.0.1:$(cat "$work/central.port")" \
    --token-file "$work/office/office.token" >/dev/null
round=0
work_at_office() { # enters a plan line and syncs it
    round=$((round + 1))
    "$bin/promo-sync" plan add --data-dir "$work/office" --year 2026 --fund local --amount $((1000000000 + round)) --note "đợt $round" >/dev/null
    "$bin/promo-sync" sync --data-dir "$work/office" >/dev/null 2>>"$work/sync.log" || fail "office 79 could not sync"
}
follow() { # one pass into the pair's primary, whichever node it is; prints the log position the copy stands at
    "$bin/promo-central" store follow --once --data-dir "$work/central" \
        --to "postgres://promo@127.0.0.1:$standby_port,127.0.0.1:$primary_port/promo_copy?sslmode=disable" |
        sed -n 's/^copy at log position \([0-9]*\).*/\1/p'
}

# A primary and its streaming standby; $1 names the pair, $2 is "sync" or "async"; the store in
# folder $3 (default: the follower's centre) is copied into it.
start_pair() {
    local name="$1"
    primary_port="$(bash scripts/pg-cluster.sh start "$work/$name-primary" | sed 's/.*:\([0-9]*\)\/.*/\1/')"
    if [ "$2" = sync ]; then
        psql "postgresql://promo@127.0.0.1:$primary_port/postgres?sslmode=disable" -qc "ALTER SYSTEM SET synchronous_standby_names = '*'" \
            -c "SELECT pg_reload_conf()" >/dev/null
    fi
    standby="$work/$name-standby"
    mkdir -p "$standby"
    [ "$(id -u)" -eq 0 ] && chown postgres "$standby"
    as_pg "$pgbin/pg_basebackup" -h 127.0.0.1 -p "$primary_port" -U promo -D "$standby/data" -R -X stream -c fast >/dev/null 2>&1 ||
        fail "pg_basebackup of the primary"
    standby_port="$(free_port)"
    as_pg "$pgbin/pg_ctl" -D "$standby/data" -l "$standby/server.log" -w \
        -o "-p $standby_port -k $standby -c listen_addresses=127.0.0.1" start >/dev/null || fail "the standby did not start"
    psql "postgresql://promo@127.0.0.1:$primary_port/postgres?sslmode=disable" -qc "CREATE DATABASE promo_copy" ||
        fail "createdb on the primary"
    "$bin/promo-central" store migrate --data-dir "${3:-$work/central}" --to "postgres://promo@127.0.0.1:$primary_port/promo_copy?sslmode=disable" \
        >/dev/null || fail "store migrate into the primary"
}
wait_replayed() { # until the standby has replayed all the primary sent
    for _ in $(seq 1 100); do
        [ "$(psql_at "$standby_port" "SELECT pg_last_wal_replay_lsn() >= '$(psql_at "$primary_port" "SELECT pg_current_wal_lsn()")'")" = t ] && return
        sleep 0.1
    done
    fail "the standby did not catch up"
}
kill_primary_promote_standby() {
    as_pg "$pgbin/pg_ctl" -D "$work/$1-primary/data" -m immediate stop >/dev/null || fail "could not kill the primary"
    [ -f "$standby/data/postmaster.pid" ] || as_pg "$pgbin/pg_ctl" -D "$standby/data" -l "$standby/server.log" -w \
        -o "-p $standby_port -k $standby -c listen_addresses=127.0.0.1" start >/dev/null
    as_pg "$pgbin/pg_ctl" -D "$standby/data" -w promote >/dev/null || fail "could not promote the standby"
    # The standby was copied with the primary's settings: a promoted node still waiting for a
    # synchronous standby of its own would hold every commit (docs/OPERATIONS.md says so).
    psql "postgresql://promo@127.0.0.1:$standby_port/postgres?sslmode=disable" -qc "ALTER SYSTEM RESET synchronous_standby_names" \
        -c "SELECT pg_reload_conf()" >/dev/null || fail "could not reset synchronous_standby_names on the promoted standby"
}

echo "== 1. synchronous replication: the primary dies, no finished pass is lost"
start_pair one sync
[ "$(psql "postgresql://promo@127.0.0.1:$primary_port/postgres?sslmode=disable" -tAc "SELECT sync_state FROM pg_stat_replication")" = sync ] ||
    fail "the standby is not a synchronous standby"
for _ in 1 2 3; do
    work_at_office
    last="$(follow)" || fail "following into the primary"
done
kill_primary_promote_standby one
[ "$(mark "$standby_port")" = "$last" ] || fail "the promoted standby's copy stands at $(mark "$standby_port"), the follower had finished $last"
work_at_office
follow >/dev/null || fail "following into the promoted standby"
"$bin/promo-central" store check --data-dir "$work/central" --to "postgres://promo@127.0.0.1:$standby_port/promo_copy?sslmode=disable" >/dev/null ||
    fail "the copy on the promoted standby differs from the store"
echo "   every pass finished on the primary ($last) was on the standby; followed on, it equals the store"

echo "== 2. asynchronous replication that lost its tail: the next pass copies it again"
start_pair two async
work_at_office
follow >/dev/null
wait_replayed
kept="$(mark "$standby_port")"
# The standby is cut off; the primary goes on acknowledging passes it will never send.
as_pg "$pgbin/pg_ctl" -D "$standby/data" -m fast stop >/dev/null
for _ in 1 2; do
    work_at_office
    last="$(follow)" || fail "following into the primary"
done
kill_primary_promote_standby two
lost="$(mark "$standby_port")"
[ "$lost" = "$kept" ] && [ "$lost" -lt "$last" ] || fail "expected the standby's copy to stop at $kept (the primary had finished $last); it says $lost"
follow >/dev/null || fail "following into the promoted standby"
store_position="$(sqlite3 "$work/central/central.sqlite" \
    "SELECT max(coalesce((SELECT max(position) FROM changeset), 0), coalesce((SELECT max(position) FROM journal), 0))")"
[ "$(mark "$standby_port")" = "$store_position" ] || fail "after the pass the copy stands at $(mark "$standby_port"), the store at $store_position"
"$bin/promo-central" store check --data-dir "$work/central" --to "postgres://promo@127.0.0.1:$standby_port/promo_copy?sslmode=disable" >/dev/null ||
    fail "the copy on the promoted standby differs from the store after the pass"
echo "   the standby had lost the passes after $lost (the primary had finished $last); one pass copied them again: equal to the store"

# A centre whose store has its durable record in the pair's copy, and office 80 syncing with it.
record_url() { echo "postgres://promo@127.0.0.1:$standby_port,127.0.0.1:$primary_port/promo_copy?sslmode=disable"; }
start_recorded_centre() { # $1: its data folder
    rm -f "$1.port"
    # A centre restored on a new machine waits for the lost one's lease to run out (3 s here, 30 by default).
    PROMO_CENTRAL_LOG_LEVEL=warning PROMO_CENTRAL_STORE_POSTGRES_URL="$(record_url)" PROMO_CENTRAL_STORE_LEASE_SECONDS=3 \
        "$bin/promo-central" serve --data-dir "$1" --port 0 --port-file "$1.port" 2>>"$1.log" &
    central_pid=$!
    for _ in $(seq 1 600); do [ -s "$1.port" ] && break; sleep 0.1; done
    [ -s "$1.port" ] || fail "promo-central did not start with its record: $(tail -n 3 "$1.log")"
    central_url="http://127.0.0.1:$(cat "$1.port")"
}
stop_centre() { kill -TERM "$central_pid"; wait "$central_pid" || true; central_pid=""; }
# The office reaches the centre at its current address (after a restore, the new machine's, as a
# DNS change would give it).
office80() { PROMO_SYNC_CENTRAL_URL="$central_url" "$bin/promo-sync" "$@" --data-dir "$work/office-80"; }
recorded_round=0
work_at_80() { # enters a plan line and syncs it; the sync may be refused while PostgreSQL fails over, then goes through
    recorded_round=$((recorded_round + 1))
    office80 plan add --year 2026 --fund local --amount $((2000000000 + recorded_round)) --note "đợt $recorded_round" >/dev/null
    for _ in $(seq 1 30); do office80 sync >/dev/null 2>>"$work/sync-80.log" && return; sleep 1; done
    fail "office 80 could not sync: $(tail -n 2 "$work/sync-80.log")"
}
acknowledged_80() { office80 status --json | python3 -c 'import json, sys; print(json.load(sys.stdin)["lastAcknowledgedSequence"])'; }
copy_holds_80() { psql_at "$1" "SELECT count(*) FROM promo.changeset WHERE office = '80'"; }
lose_machine_and_restore() { # $1: the lost data folder, $2: the new one, $3: the node to restore from
    stop_centre
    rm -rf "$1"
    "$bin/promo-central" store restore --data-dir "$2" --from "postgres://promo@127.0.0.1:$3/promo_copy?sslmode=disable" >/dev/null ||
        fail "store restore from the copy"
    start_recorded_centre "$2"
}

echo "== 3. the durable record, synchronous: PostgreSQL fails over under a serving centre, then the centre's machine is lost"
stop_centre  # the follower's centre of scenarios 1 and 2
"$bin/promo-central" office add 80 --data-dir "$work/c3" --token-file "$work/office-80.token" >/dev/null
start_pair three sync "$work/c3"
start_recorded_centre "$work/c3"
"$bin/promo-sync" init --data-dir "$work/office-80" --office 80 --central "$central_url" \
    --token-file "$work/office-80.token" >/dev/null
for _ in 1 2 3; do work_at_80; done
[ "$(copy_holds_80 "$primary_port")" = "$(acknowledged_80)" ] || fail "the primary holds $(copy_holds_80 "$primary_port") changesets of 80, the office has $(acknowledged_80) acknowledged"
kill_primary_promote_standby three
for _ in 1 2; do work_at_80; done
[ "$(copy_holds_80 "$standby_port")" = "$(acknowledged_80)" ] || fail "the promoted standby holds $(copy_holds_80 "$standby_port") changesets of 80, the office $(acknowledged_80) acknowledged"
lose_machine_and_restore "$work/c3" "$work/c3b" "$standby_port"
before="$(acknowledged_80)"
work_at_80
[ "$(acknowledged_80)" = "$((before + 1))" ] || fail "after the restore the office stands at $(acknowledged_80), expected $((before + 1))"
office80 verify >/dev/null || fail "office 80 differs from the restored centre"
echo "   5 changesets acknowledged through the failover, each in PostgreSQL first; restored from the promoted standby, the office went on at $before"
stop_centre

echo "== 4. the durable record, asynchronous, the tail lost with the centre's machine: the office sends it again"
rm -rf "$work/office-80"
recorded_round=0
"$bin/promo-central" office add 80 --data-dir "$work/c4" --token-file "$work/office-80.token" >/dev/null
start_pair four async "$work/c4"
start_recorded_centre "$work/c4"
"$bin/promo-sync" init --data-dir "$work/office-80" --office 80 --central "$central_url" \
    --token-file "$work/office-80.token" >/dev/null
for _ in 1 2; do work_at_80; done
wait_replayed
as_pg "$pgbin/pg_ctl" -D "$standby/data" -m fast stop >/dev/null
for _ in 1 2 3; do work_at_80; done
acknowledged="$(acknowledged_80)"
kill_primary_promote_standby four
kept="$(copy_holds_80 "$standby_port")"
[ "$kept" -lt "$acknowledged" ] || fail "expected the promoted standby to lack acknowledged changesets; it holds $kept of $acknowledged"
lose_machine_and_restore "$work/c4" "$work/c4b" "$standby_port"
office80 sync >/dev/null 2>>"$work/sync-80.log" || office80 sync >/dev/null 2>>"$work/sync-80.log" || fail "office 80 could not sync with the restored centre: $(tail -n 2 "$work/sync-80.log")"
office80 verify >/dev/null || fail "office 80 differs from the restored centre after sending again"
# The office re-sent every row it owns as one new changeset after the centre's last: all its plan
# lines are at the centre, its chain and the centre's agree again, and PostgreSQL holds them.
lines="$(sqlite3 "$work/c4b/central.sqlite" "SELECT count(*) FROM record WHERE tbl = 'plan_line' AND office = '80' AND deleted_at IS NULL")"
[ "$lines" = "$recorded_round" ] || fail "the restored centre holds $lines of office 80's $recorded_round plan lines"
held="$(sqlite3 "$work/c4b/central.sqlite" "SELECT last_sequence FROM office WHERE code = '80'")"
[ "$held" = "$(acknowledged_80)" ] || fail "the restored centre stands at 80's changeset $held, the office at $(acknowledged_80)"
[ "$(copy_holds_80 "$standby_port")" = "$held" ] || fail "PostgreSQL holds $(copy_holds_80 "$standby_port") changesets of 80 after the resend, not $held"
echo "   the promoted standby held $kept of $acknowledged acknowledged changesets; the office found the centre behind and re-sent its rows by itself: $lines of $recorded_round plan lines, equal, and in PostgreSQL"
stop_centre
echo "pg-failover: ok"
