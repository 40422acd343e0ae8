#!/usr/bin/env bash
# make test: every test, with a throwaway PostgreSQL cluster on loopback for the PostgreSQL tests
# when PostgreSQL's server is installed (scripts/with-pg-cluster.sh). Without it those tests are
# skipped and say so; PROMO_REQUIRE_POSTGRES=1 (set by .ci/run) makes its absence a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build --build-tests
# The chaos smoke tests run real processes flat out: alone, so they do not starve the timed tests.
# The PostgreSQL tests time leases and deadlines in seconds: they run by themselves too, after the
# rest (on 2 cores the whole suite at once held PostgreSQL's answers for more than 15 s), and the
# integration tests (live centres and offices, each answering within 30 s) apart from the units,
# and apart from the convergence model, whose four shards compute flat out on threads of their own
# (beside them a fresh-clone run left live centres unanswered for 30 s).
# With PostgreSQL, the centre's tests run a second time with every live centre's acknowledgements
# waiting for its PostgreSQL record, each checked afterwards to equal its store (TestPostgres);
# the convergence model, which serves no live centre, only once.
bash scripts/with-pg-cluster.sh bash -c '
    set -euo pipefail
    swift test --skip-build --skip ChaosSmokeTests --skip PostgresTests --skip IntegrationTests
    swift test --skip-build --filter IntegrationTests --skip ConvergenceModelTests
    swift test --skip-build --filter ConvergenceModelTests
    swift test --skip-build --filter PostgresTests
    if [ -n "${PROMO_TEST_POSTGRES_URL:-}" ]; then
        echo "The centre tests again, every centre serving through its PostgreSQL record:"
        PROMO_TEST_CENTRE_RECORD=1 swift test --skip-build --filter "CentralTests|IntegrationTests" --skip ConvergenceModelTests
    fi
    swift test --skip-build --filter ChaosSmokeTests'
