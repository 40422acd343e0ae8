# promo-sync: the two commands a new user needs are `make demo` and `make test`.
SWIFT ?= swift
export PATH := $(PATH):/opt/swift/usr/bin

.PHONY: setup build test demo lint clean check-units install-office install-central

setup:
	@bash scripts/setup.sh

build: setup
	$(SWIFT) build

## Set up, build and run every test (unit, real SQLite, real central on loopback, real libcurl).
test: setup
	$(SWIFT) test

## Set up, then run a central and two office daemons on loopback and show them syncing.
demo: setup
	@bash scripts/demo.sh

## systemd-analyze verify and security (exposure ≤ 2.0) of both units.
check-units: build
	@bash scripts/check-units.sh

## Install the office daemon or the central server on this machine (DESTDIR= for a staging tree).
install-office: setup
	@bash scripts/install.sh office

install-central: setup
	@bash scripts/install.sh central

lint:
	$(SWIFT) format lint --strict --recursive Sources Tests Package.swift

clean:
	rm -rf .build demo-data
