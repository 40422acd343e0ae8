#!/usr/bin/env bash
# Installs what promo-sync needs to build and test on Debian: the system libraries named by the
# product brief (SQLite, libcurl with OpenSSL), the sqlite3 shell (a test writes the replica with
# it) and pkg-config. Swift 6 itself must already be on the PATH (or in /opt/swift/usr/bin).
set -euo pipefail

packages=(libsqlite3-dev libcurl4-openssl-dev zlib1g-dev sqlite3 pkg-config ca-certificates openssl)
# Each argument adds what one make target needs besides the build (make bench: bench postgres).
for need in "$@"; do
case "$need" in
    # sqldiff (sqlite3-tools), the baseline of the divergence benchmark; nm, to check the link order.
    # pgbench and the cluster for the durable record's figures come with postgres (make bench asks for both).
    bench) packages+=(sqlite3-tools binutils) ;;
    # What scripts/link-order.sh profiles and reads the daemon with.
    link-order) packages+=(valgrind python3 binutils) ;;
    # What scripts/deb.sh builds and checks the packages with.
    deb) packages+=(dpkg-dev binutils lintian adduser init-system-helpers) ;;
    # The throwaway cluster of the PostgreSQL tests (scripts/pg-cluster.sh) and its client.
    postgres) packages+=(postgresql postgresql-client python3) ;;
    # promtool, and curl to read the centre's /metrics (scripts/check-alerts.sh).
    alerts) packages+=(prometheus curl python3) ;;
    # Headless Chromium, its driver and Selenium, for the dashboard's browser test.
    browser) packages+=(chromium chromium-driver python3-selenium fonts-dejavu-core) ;;
    *) echo "setup: unknown need '$need'" >&2; exit 2 ;;
esac
done
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "setup: installing ${missing[*]}"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! command -v swift >/dev/null 2>&1; then
    if [ -x /opt/swift/usr/bin/swift ]; then
        echo "setup: swift is in /opt/swift/usr/bin; add it to PATH (export PATH=/opt/swift/usr/bin:\$PATH)" >&2
    else
        echo "setup: Swift 6 is needed: install the Swift 6.3 toolchain for Debian 12 and put it on PATH" >&2
    fi
    exit 1
fi
echo "setup: ok ($(swift --version 2>/dev/null | head -n 1))"
