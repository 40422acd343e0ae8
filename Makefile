# promo-sync: the two commands a new user needs are `make demo` and `make test`.
SWIFT ?= swift
export PATH := $(PATH):/opt/swift/usr/bin
# The release build that is installed, benchmarked and put through the chaos campaigns: the Swift
# runtime and Foundation linked in, so the binaries need no Swift toolchain on the server.
RELEASE := -c release --static-swift-stdlib

.PHONY: setup build test demo lint clean check-units install-office install-central bench chaos chaos-model mixed-fleet check-alerts dashboard-test pg-failover link-order fuzz deb deb-test

setup:
	@bash scripts/setup.sh

build: setup
	$(SWIFT) build

## Set up, build and run every test (unit, real SQLite, real central on loopback, real libcurl,
## and a throwaway PostgreSQL cluster when PostgreSQL is installed: scripts/test.sh).
test: setup
	@bash scripts/test.sh

## Set up, then run a central and two office daemons on loopback and show them syncing.
demo: setup
	@bash scripts/demo.sh

## The benchmarks of docs/BENCHMARKS.md on a release build (real processes on loopback).
bench:
	@bash scripts/setup.sh bench postgres
	$(SWIFT) build $(RELEASE)
	@PROMO_PG_DURABLE=1 bash scripts/with-pg-cluster.sh .build/release/promo-bench

## Rewrite promo-sync's link order file from a profile of its daemon (scripts/link-order.sh, on the
## release build; installs valgrind), after changes to the daemon's code; `make bench` then shows
## the idle footprint.
link-order:
	@bash scripts/setup.sh link-order
	$(SWIFT) build $(RELEASE)
	@bash scripts/link-order.sh "$$($(SWIFT) build $(RELEASE) --show-bin-path)"

## The reliability campaigns of docs/RELIABILITY.md (crashes, network fault schedules, centre
## rollbacks and restores, power cuts, full disks, bad input, concurrent writers, an office on the
## previous release beside one on this release under network faults); exits 1 on any
## loss. Full and read-only disks need root for tmpfs. CHAOS_ARGS=--long for the long campaign
## (about an hour: 1,000 kills, 200 schedules, 200 power cuts), --quick, --only crash,power, …
chaos: setup
	$(SWIFT) build $(RELEASE)
	.build/release/promo-chaos --previous-bin "$$(bash scripts/previous-release.sh)" $(CHAOS_ARGS)

## The previous release's programs (built once into .build-previous from its sources kept in Tests/Fixtures) and this one's
## through a rollout on loopback: centre first, an office rolled back and forward; exits 1 on any
## loss (scripts/mixed-fleet.sh, docs/OPERATIONS.md "Rolling out a release"). CI runs it.
mixed-fleet: setup
	@bash scripts/mixed-fleet.sh

## The convergence model (docs/RELIABILITY.md) with thousands of random cases from a random first
## seed (printed): PROMO_MODEL_CASES=N to change how many, PROMO_MODEL_SEED=S to start from a given one.
chaos-model: setup
	$(SWIFT) build --build-tests
	PROMO_MODEL_CASES=$${PROMO_MODEL_CASES:-5000} PROMO_MODEL_SEED=$${PROMO_MODEL_SEED:-random} $(SWIFT) test --skip-build --filter ConvergenceModelTests

## libFuzzer with AddressSanitizer on the decoders of pushed bodies, pull pages, gzip, CSV imports and
## configuration files (docs/RELIABILITY.md, "Fuzzing"): FUZZ_SECONDS (default 60) per target from
## Fuzz/corpus, findings under .build-fuzz; exits 1 if anything was found. Not run by CI.
fuzz: setup
	@bash scripts/fuzz.sh

## The Prometheus alert rules and their test cases (promtool), the Grafana dashboard, and every metric
## they name checked against what the built programs export (scripts/check-alerts.sh). CI runs it.
check-alerts: build
	@bash scripts/setup.sh alerts
	@bash scripts/check-alerts.sh

## The PostgreSQL copy (store migrate + store follow) through a failover of its database: a primary
## and a streaming standby on loopback, synchronous and then asynchronous replication that lost its
## tail; the copy equals the store after one pass into the promoted standby (scripts/pg-failover.sh).
## CI runs it.
pg-failover: build
	@bash scripts/setup.sh postgres
	@bash scripts/pg-failover.sh

## The dashboard in headless Chromium (Debian's chromium, chromium-driver, python3-selenium) against a
## centre that office daemons sync with: login, the report's figures, the fleet's colours
## (scripts/dashboard-test.sh). CI runs it. SCREENSHOTS=docs/screenshots saves the pages.
dashboard-test: build
	@bash scripts/setup.sh browser
	@bash scripts/dashboard-test.sh

## systemd-analyze verify and security (exposure ≤ 2.0) of both units.
check-units: build
	@bash scripts/check-units.sh

## Debian packages of both programs in dist/ (docs/OPERATIONS.md, "Install"): release build,
## dpkg-shlibdeps, lintian; SHA256SUMS beside them (signed when PROMO_DEB_SIGN_KEY is set).
deb: setup
	@bash scripts/setup.sh deb
	@bash scripts/deb.sh

## As root: install, run, upgrade, remove and purge the packages on this machine (CI runs it).
deb-test: setup
	@bash scripts/setup.sh deb
	@bash scripts/deb-test.sh

## Install the office daemon or the central server on this machine (DESTDIR= for a staging tree).
install-office: setup
	@bash scripts/install.sh office

install-central: setup
	@bash scripts/install.sh central

## swift-format with the committed .swift-format (4 spaces, 160 columns); CI runs it.
## `$(SWIFT) format format --in-place --recursive Sources Tests Benchmarks Package.swift` fixes most findings.
lint:
	$(SWIFT) format lint --strict --recursive Sources Tests Benchmarks Package.swift
	@# The product's public API carries doc comments: the same rules, with documentation required, on Sources.
	@docs="$$(mktemp)"; sed 's/"AllPublicDeclarationsHaveDocumentation": false/"AllPublicDeclarationsHaveDocumentation": true/' .swift-format >"$$docs"; \
	    grep -q '"AllPublicDeclarationsHaveDocumentation": true' "$$docs" || { echo "lint: .swift-format no longer names AllPublicDeclarationsHaveDocumentation" >&2; exit 1; }; \
	    $(SWIFT) format lint --strict --configuration "$$docs" --recursive Sources; status=$$?; rm -f "$$docs"; exit $$status

clean:
	rm -rf .build .build-fuzz .build-previous demo-data
