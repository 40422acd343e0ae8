#!/usr/bin/env bash
# Runs a command with a throwaway PostgreSQL cluster on loopback (scripts/pg-cluster.sh) named in
# PROMO_TEST_POSTGRES_URL, for make test's PostgreSQL tests and make bench's PostgreSQL figures;
# the cluster is stopped and removed afterwards. Without PostgreSQL's server installed the command
# runs without it, saying so; PROMO_REQUIRE_POSTGRES=1 (set by .ci/run) makes that a failure. A
# PROMO_TEST_POSTGRES_URL already set is used as it is.
#
#   scripts/with-pg-cluster.sh COMMAND [ARGUMENT…]
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${PROMO_TEST_POSTGRES_URL:-}" ]; then
    # The server runs as the postgres user when this is root: its folder must be reachable.
    base="$(mktemp -d)"
    chmod 755 "$base"
    cluster="$base/pg"
    status=0
    url="$(bash scripts/pg-cluster.sh start "$cluster" 2>"$base/start.log")" || status=$?
    if [ "$status" -eq 0 ]; then
        export PROMO_TEST_POSTGRES_URL="$url"
        trap 'bash scripts/pg-cluster.sh stop "$cluster"; rm -rf "$base"' EXIT
        echo "PostgreSQL for this run: $url"
    elif [ "$status" -eq 3 ] && [ "${PROMO_REQUIRE_POSTGRES:-}" != "1" ]; then
        rm -rf "$base"
        echo "PostgreSQL's server is not installed: what needs it is skipped (apt install postgresql to run it; CI does)"
    else
        echo "the throwaway PostgreSQL cluster did not start:" >&2
        cat "$base/start.log" >&2
        exit 1
    fi
fi
"$@"
