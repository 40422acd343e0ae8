#!/usr/bin/env bash
# Keeps a shipped release's sources beside its fixtures, so a clone without tags or history
# (CI's clean clone of main) can still build that release for `make mixed-fleet`:
#
#   scripts/release-source.sh X.Y.Z     # writes Tests/Fixtures/release-X.Y.Z/source.tar.gz from tag vX.Y.Z
#
# Run once per release, when it is cut and tagged, with scripts/make-fixtures.sh; commit the file.
# The archive holds what `swift build` needs (the package, its sources, tests, benchmarks and fuzz
# targets) and leaves out docs, fixtures and the fuzz corpus. It is written with `git archive`
# (fixed timestamps, gzip -n), so the same tag gives the same bytes.
set -euo pipefail
cd "$(dirname "$0")/.."
version="${1:?usage: scripts/release-source.sh X.Y.Z (the release, tagged vX.Y.Z)}"
git rev-parse -q --verify "v$version^{commit}" >/dev/null ||
    { echo "release-source: no tag v$version in this clone; cut the release (git tag -a v$version) first" >&2; exit 1; }
out="Tests/Fixtures/release-$version"
mkdir -p "$out"
git archive --format=tar "v$version" -- Package.swift Sources Tests Benchmarks Fuzz \
    ':(exclude)Tests/Fixtures' ':(exclude)Fuzz/corpus' | gzip -9n >"$out/source.tar.gz"
echo "release-source: $out/source.tar.gz ($(wc -c <"$out/source.tar.gz") bytes, v$version $(git rev-parse --short=12 "v$version^{commit}"))"
