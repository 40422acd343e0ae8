#!/usr/bin/env bash
# make test: every test, with a throwaway PostgreSQL cluster on loopback for the PostgreSQL tests
# when PostgreSQL's server is installed (scripts/with-pg-cluster.sh). Without it those tests are
# skipped and say so; PROMO_REQUIRE_POSTGRES=1 (set by .ci/run) makes its absence a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build --build-tests
# The chaos smoke tests run real processes flat out: alone, so they do not starve the timed tests.
bash scripts/with-pg-cluster.sh bash -c 'swift test --skip-build --skip ChaosSmokeTests && swift test --skip-build --filter ChaosSmokeTests'
