#!/usr/bin/env bash
# Builds the previous release's promo-sync and promo-central once into .build-previous (ignored by
# git) and prints the folder that holds them; for make mixed-fleet and make chaos.
#
# The previous release is the highest one below this code's release whose sources are kept
# beside its fixtures (Tests/Fixtures/release-X.Y.Z/source.tar.gz, written from its tag by
# scripts/release-source.sh when it was cut), so no tag or history is needed: CI's clone of main
# has neither. PROMO_PREVIOUS_RELEASE=X.Y.Z
# picks another kept release.
set -euo pipefail
cd "$(dirname "$0")/.."
umask 077

current="$(sed -n 's/.*static let current = "\(.*\)"/\1/p' Sources/WireFormat/Version.swift)"
previous="${PROMO_PREVIOUS_RELEASE:-}"
if [ -z "$previous" ]; then
    # The kept releases below this one, in version order; the last is the previous release.
    previous="$(for archive in Tests/Fixtures/release-*/source.tar.gz; do
        [ -e "$archive" ] || continue
        release="$(basename "$(dirname "$archive")")"
        echo "${release#release-}"
    done | { grep -vxF "$current" || true; } | { cat; echo "$current"; } | sort -V | sed -n "/^$current\$/q;p" | tail -n1)"
fi
archive="Tests/Fixtures/release-$previous/source.tar.gz"
if [ -z "$previous" ] || [ ! -s "$archive" ]; then
    echo "previous-release: no kept release below $current (Tests/Fixtures/release-X.Y.Z/source.tar.gz); cut one with scripts/release-source.sh X.Y.Z, or set PROMO_PREVIOUS_RELEASE" >&2
    exit 1
fi

prev_src=".build-previous/src"
if [ "$(cat .build-previous/release 2>/dev/null || true)" != "$previous" ]; then
    rm -rf "$prev_src"
    mkdir -p "$prev_src"
    tar -xzf "$archive" -C "$prev_src"
    echo "$previous" >.build-previous/release
fi
echo "   building promo-sync $previous into .build-previous (once)" >&2
build_log="$(mktemp)"
trap 'rm -f "$build_log"' EXIT
swift build --package-path "$prev_src" --scratch-path .build-previous/scratch --product promo-sync >/dev/null 2>"$build_log" || { cat "$build_log" >&2; exit 1; }
swift build --package-path "$prev_src" --scratch-path .build-previous/scratch --product promo-central >/dev/null 2>"$build_log" || { cat "$build_log" >&2; exit 1; }
swift build --package-path "$prev_src" --scratch-path .build-previous/scratch --show-bin-path
