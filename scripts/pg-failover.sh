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
# The centre keeps serving from SQLite throughout; an office enters and syncs work between passes.
set -euo pipefail
cd "$(dirname "$0")/.."
umask 077

swift build >/dev/null
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
    rm -rf "$work"
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

# A primary and its streaming standby; $1 names the pair, $2 is "sync" or "async".
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
    "$bin/promo-central" store migrate --data-dir "$work/central" --to "postgres://promo@127.0.0.1:$primary_port/promo_copy?sslmode=disable" \
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
echo "pg-failover: ok"
