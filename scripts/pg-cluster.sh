#!/usr/bin/env bash
# A throwaway PostgreSQL cluster on loopback for the tests (make test, .ci/run):
#
#   scripts/pg-cluster.sh start DIR   initdb into DIR, start on a free port, print the URL
#   scripts/pg-cluster.sh stop DIR    stop it and delete DIR
#
# The URL names the superuser `promo` with trust authentication on 127.0.0.1 only: for tests,
# never for a deployment (docs/OPERATIONS.md, "The centre in PostgreSQL"). As root, the server runs
# as the `postgres` user, which Debian's package creates (PostgreSQL refuses to run as root).
# Tests run it with fsync off (nothing in them survives a power cut); PROMO_PG_DURABLE=1 keeps
# PostgreSQL's durable defaults, for benchmarks (make bench).
set -euo pipefail
action="$1"
dir="$2"
bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)"
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
    echo "pg-cluster: PostgreSQL's server is not installed (Debian: apt install postgresql)" >&2
    exit 3
fi
if ! command -v python3 >/dev/null; then
    echo "pg-cluster: python3 is needed to pick a free port (Debian: apt install python3)" >&2
    exit 3
fi
as_owner() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
case "$action" in
start)
    rm -rf "$dir"
    mkdir -p "$dir"
    [ "$(id -u)" -eq 0 ] && chown postgres "$dir"
    as_owner "$bin/initdb" -D "$dir/data" -U promo --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
        { cat "$dir/initdb.log" >&2; exit 1; }
    # In the cluster's own settings rather than on the command line, so that a standby copied from
    # it (scripts/pg-failover.sh) has them too: a hot standby refuses to start with fewer
    # connections than its primary. 200: make test's second run of the centre's tests gives each
    # live centre a database and a record of its own, many at once.
    echo "max_connections = 200" >>"$dir/data/postgresql.conf"
    port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    fsync="-c fsync=off"
    [ "${PROMO_PG_DURABLE:-}" = 1 ] && fsync=""
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
        -o "-p $port -k $dir -c listen_addresses=127.0.0.1 $fsync" start >/dev/null ||
        { cat "$dir/server.log" >&2; exit 1; }
    echo "postgres://promo@127.0.0.1:$port/postgres?sslmode=disable"
    ;;
stop)
    [ -d "$dir/data" ] && as_owner "$bin/pg_ctl" -D "$dir/data" -m fast stop >/dev/null 2>&1 || true
    rm -rf "$dir"
    ;;
*)
    echo "usage: scripts/pg-cluster.sh start|stop DIR" >&2
    exit 2
    ;;
esac
