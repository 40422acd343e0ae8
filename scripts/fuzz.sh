#!/usr/bin/env bash
# `make fuzz`: builds the libFuzzer targets of Fuzz/ (declared in Package.swift only when
# PROMO_FUZZ is set) with libFuzzer and AddressSanitizer in .build-fuzz, then runs each for
# FUZZ_SECONDS (default 60) from its seed corpus in Fuzz/corpus/<name>. New inputs go to
# .build-fuzz/corpus/<name>, crashes, hangs and memory blow-ups to .build-fuzz/artifacts/<name>/,
# the log to .build-fuzz/logs/<name>.log. Exits 1 if any target found anything.
#
#   FUZZ_SECONDS=600 make fuzz                  longer runs
#   FUZZ_TARGETS="FuzzWire FuzzCSV" make fuzz   some targets only
#   FUZZ_ARGS="-only_ascii=1" make fuzz         more libFuzzer flags
#   .build-fuzz/release/FuzzWire CRASH-FILE      replay one input (prints the failure)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/opt/swift/usr/bin"

seconds="${FUZZ_SECONDS:-60}"
targets=(${FUZZ_TARGETS:-FuzzWire FuzzGzip FuzzCSV FuzzConfig})
scratch=.build-fuzz
# Which corpus folder each target reads.
declare -A corpus=([FuzzWire]=wire [FuzzGzip]=gzip [FuzzCSV]=csv [FuzzConfig]=config)

# The fuzzer runtime ships with the Swift toolchain's clang; without it nothing links.
resource_dir="$(dirname "$(command -v swift)")/../lib/clang"
if ! compgen -G "$resource_dir/*/lib/linux/libclang_rt.fuzzer-*.a" >/dev/null; then
    echo "fuzz: this Swift toolchain has no libFuzzer runtime (libclang_rt.fuzzer) under $resource_dir" >&2
    exit 1
fi

# Release (optimised: several times the executions of a debug build; overflow and bounds checks
# stay) with -sanitize=fuzzer for coverage and the driver, address for memory errors. Only the
# fuzz products and what they import are built.
build=(swift build -c release --scratch-path "$scratch" -Xswiftc -sanitize=fuzzer,address)
for t in "${targets[@]}"; do
    PROMO_FUZZ=1 nice -n 19 "${build[@]}" --product "$t" 2>&1 | grep -v "Cannot export local symbol" || true
    [ -x "$scratch/release/$t" ] || { echo "fuzz: $t did not build" >&2; exit 1; }
done

# Swift's own crash reporter would hold the process while libFuzzer wants to write the input.
export SWIFT_BACKTRACE=enable=no
# Swift's runtime keeps caches for the life of the process, which LeakSanitizer reports as leaks;
# memory that grows without bound is caught by -rss_limit_mb and -malloc_limit_mb instead.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0:allocator_may_return_null=1}"
symbolizer="$(dirname "$(command -v swift)")/llvm-symbolizer"
[ -x "$symbolizer" ] && export ASAN_SYMBOLIZER_PATH="$symbolizer"

failed=()
summary=()
for t in "${targets[@]}"; do
    name="${corpus[$t]}"
    mkdir -p "$scratch/corpus/$name" "$scratch/artifacts/$name" "$scratch/logs"
    log="$scratch/logs/$name.log"
    echo "fuzz: $t for ${seconds}s (seeds Fuzz/corpus/$name, log $log)"
    # The first folder is the one libFuzzer adds new inputs to; the committed seeds stay as they are.
    # -timeout: one input taking 10 s is a hang; -rss_limit_mb/-malloc_limit_mb: memory blow-ups.
    set +e
    nice -n 19 "$scratch/release/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=1024 \
        -print_final_stats=1 -artifact_prefix="$scratch/artifacts/$name/" ${FUZZ_ARGS:-} \
        "$scratch/corpus/$name" "Fuzz/corpus/$name" >"$log" 2>&1
    status=$?
    set -e
    runs="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')"
    last="$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)"
    cov="$(echo "$last" | grep -o 'cov: [0-9]*' || echo 'cov: ?')"
    ft="$(echo "$last" | grep -o 'ft: [0-9]*' || echo 'ft: ?')"
    units="$(echo "$last" | grep -o 'corp: [0-9]*/[0-9]*[a-zA-Z]*' || echo 'corp: ?')"
    if [ "$status" -ne 0 ]; then
        failed+=("$t")
        summary+=("$t: FOUND SOMETHING after $runs executions (exit $status); see $log and $scratch/artifacts/$name/")
        grep -E 'ERROR|property failed|Fatal error|Test unit written|SUMMARY' "$log" | head -n 8 | sed 's/^/    /' >&2 || true
    else
        summary+=("$t: nothing in ${seconds}s, $runs executions, $cov, $ft, $units")
    fi
done

echo
printf '%s\n' "${summary[@]}"
if ((${#failed[@]})); then
    echo "fuzz: found something in ${failed[*]}; replay a crash with $scratch/release/<target> <file>" >&2
    exit 1
fi
