#!/usr/bin/env bash
# Checks the systemd units: `systemd-analyze verify` must be clean and
# `systemd-analyze security --offline` must rate each unit's exposure at 2.0 or lower.
# ExecStart points at the binaries just built, so the check needs no installation.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v systemd-analyze >/dev/null 2>&1; then
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq systemd >/dev/null
fi
bin="$(swift build --show-bin-path)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
status=0
for unit in systemd/*.service; do
    name="$(basename "$unit")"
    sed "s#/usr/local/bin#$bin#" "$unit" > "$work/$name"
    if ! out="$(systemd-analyze verify "$work/$name" 2>&1)" || [ -n "$out" ]; then
        echo "check-units: systemd-analyze verify $name:"; echo "$out"; status=1
    fi
    score="$(systemd-analyze security --offline=yes "$work/$name" 2>/dev/null | sed -n 's/.*Overall exposure level for .*: \([0-9.]*\).*/\1/p')"
    if [ -z "$score" ] || awk "BEGIN {exit !($score > 2.0)}"; then
        echo "check-units: $name exposure ${score:-unknown} is above 2.0"; status=1
    else
        echo "check-units: $name verify clean, exposure $score"
    fi
done
exit $status
