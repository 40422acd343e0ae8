#!/usr/bin/env bash
# make test: every test, with a throwaway PostgreSQL cluster on loopback for the PostgreSQL tests
# when PostgreSQL's server is installed (scripts/pg-cluster.sh). Without it those tests are skipped
# and say so; PROMO_REQUIRE_POSTGRES=1 (set by .ci/run) makes its absence a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build --build-tests
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
        echo "test: PostgreSQL tests against $url"
    elif [ "$status" -eq 3 ] && [ "${PROMO_REQUIRE_POSTGRES:-}" != "1" ]; then
        rm -rf "$base"
        echo "test: PostgreSQL's server is not installed: the PostgreSQL tests are skipped (apt install postgresql to run them; CI does)"
    else
        echo "test: the PostgreSQL cluster for the tests did not start:" >&2
        cat "$base/start.log" >&2
        exit 1
    fi
fi
swift test --skip-build --skip ChaosSmokeTests
# The chaos smoke tests run real processes flat out: alone, so they do not starve the timed tests.
swift test --skip-build --filter ChaosSmokeTests
