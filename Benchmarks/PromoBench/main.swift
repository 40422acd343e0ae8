import Foundation
import ProcessHarness

/// `make bench`: every scenario of docs/BENCHMARKS.md, each against a baseline measured in the
/// same run, medians over `--runs` runs. Writes a Markdown report to standard output and to
/// Benchmarks/results/latest.md.
struct Options {
    var runs = 3
    /// Runs of the capture scenario: a single pair's ratio moves by ±0.2 with the machine's speed
    /// (its CPU ratio as much as its wall-clock one), so the median is taken over more pairs
    /// (each about 8 s).
    var captureRuns = 7
    /// Runs of the million-row scenarios (3 and 4), which take most of the time.
    var largeRuns = 2
    var captureRows = 200_000
    var pushChanges = 100_000
    var initialRows = [100_000, 1_000_000]
    var differing = 10
    var idleSeconds = 60
    var writes = 1_000
    var output = "Benchmarks/results/latest.md"
    /// Scenario numbers to run (`--only 1,3`); 3 includes 4 and 5 includes 6. All when nil.
    var only: Set<Int>?

    func wants(_ scenario: Int) -> Bool { only?.contains(scenario) ?? true }

    init(_ arguments: [String]) throws {
        var i = 1
        var outputChosen = false
        func value() throws -> String {
            i += 1
            guard i < arguments.count else { throw BenchError("\(arguments[i - 1]) needs a value") }
            return arguments[i]
        }
        while i < arguments.count {
            switch arguments[i] {
            case "--runs":
                runs = Int(try value()) ?? runs
                largeRuns = runs
                captureRuns = runs
            case "--quick":
                // A smoke run of every scenario at small sizes (minutes → seconds); not for figures.
                runs = 1
                largeRuns = 1
                captureRuns = 1
                captureRows = 10_000
                pushChanges = 10_000
                initialRows = [10_000, 50_000]
                idleSeconds = 5
                writes = 50
            case "--output":
                output = try value()
                outputChosen = true
            case "--only":
                let text = try value()
                let numbers = text.split(separator: ",").compactMap { Int($0) }
                guard !numbers.isEmpty, numbers.count == text.split(separator: ",").count, numbers.allSatisfy((1...6).contains) else {
                    throw BenchError("--only takes scenario numbers 1–6 separated by commas, e.g. --only 1,3 (not \(text))")
                }
                // Scenario 4 runs on the data of 3, and 6 beside 5.
                only = Set(numbers.map { $0 == 4 ? 3 : $0 == 6 ? 5 : $0 })
            default: throw BenchError("unknown option \(arguments[i]); use --runs N, --quick, --only N,N, --output FILE")
            }
            i += 1
        }
        // A partial run does not replace the full report.
        if only != nil, !outputChosen { output = "Benchmarks/results/partial.md" }
    }
}

var report: [String] = []
@MainActor func say(_ line: String = "") {
    print(line)
    fflush(nil)
    report.append(line)
}
func f(_ x: Double, _ digits: Int = 2) -> String { String(format: "%.\(digits)f", x) }

let options = try Options(CommandLine.arguments)
let started = Date()
say("# promo-bench results")
say()
say("- date: \(ISO8601DateFormatter().string(from: started))")
say(
    "- machine: \(ProcessInfo.processInfo.activeProcessorCount) cores, \(ProcessInfo.processInfo.physicalMemory / 1_048_576) MB RAM, \(((try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? "").split(separator: "\n").first { $0.hasPrefix("model name") }.map { String($0.split(separator: ":").last ?? "").trimmingCharacters(in: .whitespaces) } ?? "?")"
)
say("- runs per scenario: \(options.runs), \(options.largeRuns) at \(options.initialRows.last!) rows, \(options.captureRuns) for capture (medians shown)")
say()

if options.wants(1) {
    // 1. Capture overhead
    var captured: [Double] = []
    var plain: [Double] = []
    var capturedCPU: [Double] = []
    var plainCPU: [Double] = []
    for run in 0..<options.captureRuns {
        let r = try Scenarios.capture(rows: options.captureRows, plainFirst: run % 2 == 0)
        captured.append(r.captured.wall)
        plain.append(r.plain.wall)
        capturedCPU.append(r.captured.cpu)
        plainCPU.append(r.plain.cpu)
    }
    let captureRatio = Harness.median(zip(captured, plain).map { $0 / $1 })
    let cpuRatio = Harness.median(zip(capturedCPU, plainCPU).map { $0 / $1 })
    say("## 1. Capture overhead")
    say()
    say("\(options.captureRows) inserts then \(options.captureRows) updates of disbursements, 1,000 rows per transaction.")
    say("The wall-clock ratio is the target's; the CPU ratio (this process's CPU time) leaves out the")
    say("waits for the disk, so when the two agree the overhead is work, not waiting.")
    say()
    say("| | seconds (median) | CPU seconds (median) |")
    say("|---|---|---|")
    say("| replica, capture on | \(f(Harness.median(captured))) | \(f(Harness.median(capturedCPU))) |")
    say("| same schema, no triggers (baseline) | \(f(Harness.median(plain))) | \(f(Harness.median(plainCPU))) |")
    say("| **ratio** (target ≤ 1.5×) | **\(f(captureRatio))×** | \(f(cpuRatio))× |")
    say(
        "| ratios of the \(captured.count) pairs | \(zip(captured, plain).map { f($0 / $1) }.joined(separator: ", ")) | \(zip(capturedCPU, plainCPU).map { f($0 / $1) }.joined(separator: ", ")) |"
    )
    say()
}

if options.wants(2) {
    // 2. Push throughput
    var pushSeconds: [Double] = []
    var pushBytes: [Int64] = []
    var pushBaseline: [Double] = []
    var storage: (centre: Scenarios.Storage, baseline: Double)?
    for _ in 0..<options.runs {
        let r = try Scenarios.push(changes: options.pushChanges)
        pushSeconds.append(r.seconds)
        pushBytes.append(r.bytesSent)
        pushBaseline.append(r.baseline)
        storage = (r.storage, r.baselineBytesPerRow)
    }
    let pushRate = Double(options.pushChanges) / Harness.median(pushSeconds)
    // The production path: the same push over HTTPS (a self-signed certificate the office trusts).
    var tlsSeconds: [Double] = []
    for _ in 0..<options.runs { tlsSeconds.append(try Scenarios.push(changes: options.pushChanges, tls: true).seconds) }
    let tlsRate = Double(options.pushChanges) / Harness.median(tlsSeconds)
    // With the durable record in PostgreSQL (store.postgres_url), when `make bench` has a cluster.
    let cluster = ProcessInfo.processInfo.environment["PROMO_TEST_POSTGRES_URL"]
    var recordSeconds: [Double] = []
    var pgbench: Double?
    if let cluster {
        for _ in 0..<options.runs { recordSeconds.append(try Scenarios.push(changes: options.pushChanges, record: cluster).seconds) }
        pgbench = try Scenarios.pgbenchSimpleUpdate(cluster)
    }
    say("## 2. Push throughput")
    say()
    say("\(options.pushChanges) captured plan-line inserts pushed by `promo-sync sync` to `promo-central` on loopback, acknowledged durably.")
    say()
    say("| | value (median) |")
    say("|---|---|")
    say("| push, seconds | \(f(Harness.median(pushSeconds))) |")
    say("| **changes per second** (target ≥ 100,000) | **\(Int(pushRate))** |")
    let tlsShare = Int((tlsRate / pushRate * 100).rounded())
    say("| over HTTPS (the production path), changes per second (target ≥ 80 % of loopback) | \(Int(tlsRate)) (\(tlsShare) %) |")
    if let pgbench {
        let recordRate = Double(options.pushChanges) / Harness.median(recordSeconds)
        say(
            "| with the durable record in PostgreSQL (`store.postgres_url`), changes per second | \(Int(recordRate)) (\(Int((recordRate / pushRate * 100).rounded())) %) |"
        )
        say("| baseline: pgbench simple-update (`-N`), 1 client, 10 s, same cluster: durable commits per second | \(Int(pgbench)) |")
    } else {
        say("| with the durable record in PostgreSQL | not measured: no PostgreSQL (`make bench` starts one when its server is installed) |")
    }
    say("| bytes on the wire per change (gzip) | \(f(Double(pushBytes.sorted()[pushBytes.count / 2]) / Double(options.pushChanges), 1)) |")
    say("| baseline: the same rows into plain SQLite, one durable transaction, seconds | \(f(Harness.median(pushBaseline))) |")
    say("| ratio to the baseline | \(f(Harness.median(pushSeconds) / Harness.median(pushBaseline)))× |")
    if let storage {
        let parts = storage.centre.byTable.prefix(4).map { "\($0.table) \(Int($0.bytes.rounded()))" }.joined(separator: ", ")
        say(
            "| the centre's store after the push, bytes per change (target ≤ 500), with its largest tables and their indexes | \(Int(storage.centre.total.rounded())) (\(parts)) |"
        )
        say("| baseline: the plain SQLite file, bytes per row | \(Int(storage.baseline.rounded())) |")
    }
    say()
}

if options.wants(3) {
    // 3. Initial sync and 4. divergence
    say("## 3. Initial sync")
    say()
    say("A fresh office pulls every record with `promo-sync sync` (pages of the configured size).")
    say()
    say(
        "| rows | seconds | peak RSS of promo-sync | replica file | baseline: copying the file, seconds | baseline: the rows loaded into an empty replica from C, one durable transaction, seconds | ratio to the load |"
    )
    say("|---|---|---|---|---|---|---|")
    var divergences: [Scenarios.Divergence] = []
    var largest: Scenarios.InitialSync?
    for rows in options.initialRows {
        var seconds: [Double] = []
        var rss: [Int64] = []
        var copies: [Double] = []
        var loads: [Double] = []
        var size: Int64 = 0
        let runs = rows == options.initialRows.last ? options.largeRuns : options.runs
        for run in 0..<runs {
            let (r, _) = try Scenarios.initialSync(rows: rows)
            seconds.append(r.seconds)
            rss.append(r.peakRSS)
            copies.append(r.copySeconds)
            loads.append(r.bulkLoadSeconds)
            size = r.replicaBytes
            if rows == options.initialRows.last {
                divergences.append(try Scenarios.divergence(r, differing: options.differing))
                if run == runs - 1 { largest = r } else { r.central.stop() }
            } else {
                r.central.stop()
            }
        }
        say(
            "| \(rows) | \(f(Harness.median(seconds))) | \(Harness.megabytes(rss.sorted()[rss.count / 2])) | \(Harness.megabytes(size)) | \(f(Harness.median(copies), 3)) | \(f(Harness.median(loads))) | \(f(Harness.median(seconds) / Harness.median(loads)))× |"
        )
    }
    largest?.central.stop()
    // The same pulls from a centre serving with its durable record in PostgreSQL: each page waits
    // for a pass, and serves nothing the record does not hold.
    if let cluster = ProcessInfo.processInfo.environment["PROMO_TEST_POSTGRES_URL"] {
        let rows = options.initialRows.first!
        var seconds: [Double] = []
        for _ in 0..<options.runs {
            let (r, _) = try Scenarios.initialSync(rows: rows, record: cluster)
            seconds.append(r.seconds)
            r.central.stop()
        }
        say("| \(rows), the centre with its durable record in PostgreSQL (`store.postgres_url`) | \(f(Harness.median(seconds))) | | | | | |")
    } else {
        say("| with the durable record in PostgreSQL | not measured: no PostgreSQL (`make bench` starts one when its server is installed) | | | | | |")
    }
    let (interrupted, stop) = try Scenarios.initialSync(rows: options.initialRows.first!, interrupt: true)
    interrupted.central.stop()
    say()
    if let stop {
        say(
            "Interrupted: a first `sync` of \(options.initialRows.first!) rows killed (SIGKILL) after \(f(stop.afterSeconds)) s, with pages committed up to cursor \(stop.killedAt) of \(stop.endedAt); the second `sync` resumed from there and finished in \(f(interrupted.seconds)) s."
        )
    }
    say()
    say("## 4. Divergence check")
    say()
    let d = divergences
    say(
        "A \(options.initialRows.last!)-row replica equal to the centre, verified once (which hashes every row and stores the digests), then \(options.differing) rows changed behind sync's back and verified again."
    )
    say()
    say("| | value (median) |")
    say("|---|---|")
    say("| `promo-sync verify`, seconds | \(f(Harness.median(d.map(\.seconds)))) |")
    say("| the first `verify` (stores the digests), seconds | \(f(Harness.median(d.map(\.firstSeconds)))) |")
    say("| what the stored digests add to the file, bytes | \(d.map(\.storedDigestBytes).sorted()[d.count / 2]) |")
    say("| `verify --full` after them (every row hashed again; the centre's tree kept), seconds | \(f(Harness.median(d.map(\.fullSeconds)))) |")
    say("| round trips | \(d.map(\.requests).sorted()[d.count / 2]) (target ≤ 8) |")
    say("| bytes exchanged | \(d.map(\.bytes).sorted()[d.count / 2]) (target ≤ 65,536) |")
    say("| rows found | \(d.map(\.found).sorted()[d.count / 2]) of \(options.differing) |")
    if d.allSatisfy({ $0.sqldiffSeconds != nil }) {
        say("| baseline: copy the file + `sqldiff`, seconds | \(f(Harness.median(d.compactMap(\.sqldiffSeconds)))) |")
    } else {
        say("| baseline: copy the file + `sqldiff` | not run: install sqlite3-tools |")
    }
    say("| baseline: bytes moved (the whole file) | \(d.map(\.fileBytes).sorted()[d.count / 2]) |")
    say()
}

if options.wants(5) {
    // 5. Idle footprint and 6. latency
    let daemon = try await Scenarios.daemon(idleSeconds: options.idleSeconds, writes: options.writes)
    say("## 5. Idle footprint")
    say()
    say(
        "`promo-sync daemon` with nothing to do for \(options.idleSeconds) s, after syncing 1,000 rows; started from its binary on disk (evicted from the page cache first, as after a boot)."
    )
    say()
    say("| | value |")
    say("|---|---|")
    say("| peak RSS (target ≤ 30 MB) | \(Harness.megabytes(daemon.idleRSS)) |")
    say("| of which the daemon's own memory (RssAnon; the rest is mapped code: the binary's and its libraries') | \(Harness.megabytes(daemon.idleAnonymous)) |")
    say("| CPU time | \(f(daemon.idleCPUSeconds, 3)) s (\(f(daemon.idleCPUSeconds / Double(options.idleSeconds) * 100, 3)) %) |")
    say(
        "| context switches (threads alive throughout) | \(daemon.idleWakeups) (\(f(Double(daemon.idleWakeups) / Double(options.idleSeconds), 1)) per second) |"
    )
    say(
        "| code order: functions of `\(Scenarios.linkOrderFile)` found in this promo-sync (`make link-order` rewrites a stale file) | \(Scenarios.linkOrderCoverage()) |"
    )
    say()
    say("## 6. Latency")
    say()
    say(
        "\(options.writes) single-row writes, one after another, each timed from its commit until the centre's acknowledgement is recorded in the replica (daemon running)."
    )
    say()
    say("| | median ms | p99 ms |")
    say("|---|---|---|")
    say("| commit → acknowledged (target median ≤ 100) | \(f(Harness.median(daemon.latencies), 1)) | \(f(Harness.percentile(daemon.latencies, 0.99), 1)) |")
    say(
        "| the same, \(daemon.idleLatencies.count) commits each made after 100 ms idle (the daemon waiting) | \(f(Harness.median(daemon.idleLatencies), 1)) | \(f(Harness.percentile(daemon.idleLatencies, 0.99), 1)) |"
    )
    say(
        "| baseline: GET /health over libcurl | \(f(Harness.median(daemon.baselineLatencies), 1)) | \(f(Harness.percentile(daemon.baselineLatencies, 0.99), 1)) |"
    )
    say()
}

say("Total bench time: \(Int(Date().timeIntervalSince(started))) s.")

try? FileManager.default.createDirectory(atPath: URL(fileURLWithPath: options.output).deletingLastPathComponent().path, withIntermediateDirectories: true)
try (report.joined(separator: "\n") + "\n").write(toFile: options.output, atomically: true, encoding: .utf8)
