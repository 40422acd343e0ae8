import Foundation
import GRDB
import ProcessHarness
import Replica
import SyncAgent
import SyncCore
import SyncTesting
import Transport

#if canImport(Glibc)
    import Glibc
#endif

/// `make chaos`: the reliability campaigns of docs/RELIABILITY.md against real promo-central and
/// promo-sync processes on loopback. Stops by itself; exits 1 when any campaign loses, duplicates
/// or damages anything. Writes a Markdown report to standard output and Benchmarks/results/chaos-latest.md.
/// `--quick` (about 3 minutes), the default (about 15) and `--long` (about an hour on 2 cores:
/// 1,000 kill runs, 200 network fault schedules, 20 centre rollbacks and restores, 200 power cuts).
struct Options {
    var crashRuns = 200
    var networkSchedules = 24
    var centreRuns = 4
    var powerCuts = 20
    var badRequests = 10_000
    var badFiles = 2_000
    var output = "Benchmarks/results/chaos-latest.md"
    /// The folder of the previous release's programs, for the mixed-fleet campaign (`make chaos`
    /// builds that release into .build-previous and passes it); without it the campaign is skipped.
    var previousBin: String?
    /// The campaigns to run (`--only crash,power`); all when empty.
    var only: Set<String> = []
    static let campaigns = ["crash", "network", "centre", "power", "disk", "input", "concurrent", "mixed"]

    func selected(_ campaign: String) -> Bool { only.isEmpty || only.contains(campaign) }

    init(_ arguments: [String]) throws {
        var rest = arguments.dropFirst()[...]
        /// The value after an option: a missing or malformed one is an error, not a default.
        func value(of option: String) throws -> String {
            guard let next = rest.popFirst(), !next.hasPrefix("--") else { throw BenchError("\(option) needs a value") }
            return next
        }
        func count(of option: String) throws -> Int {
            let text = try value(of: option)
            guard let n = Int(text), n >= 0 else { throw BenchError("\(option) takes a whole number, not '\(text)'") }
            return n
        }
        while let option = rest.popFirst() {
            switch option {
            case "--quick":
                crashRuns = 10
                networkSchedules = 6
                centreRuns = 2
                powerCuts = 4
                badRequests = 1_000
                badFiles = 200
            case "--long":
                crashRuns = 1_000
                networkSchedules = 200
                centreRuns = 20
                powerCuts = 200
            case "--runs": crashRuns = try count(of: option)
            case "--schedules": networkSchedules = try count(of: option)
            case "--centre-runs": centreRuns = try count(of: option)
            case "--power-cuts": powerCuts = try count(of: option)
            case "--output": output = try value(of: option)
            case "--previous-bin":
                let folder = try value(of: option)
                guard FileManager.default.isExecutableFile(atPath: folder + "/promo-sync") else {
                    throw BenchError("--previous-bin \(folder) holds no promo-sync program; make chaos builds the previous release into .build-previous")
                }
                previousBin = folder
            case "--only":
                only = Set(try value(of: option).split(separator: ",").map(String.init))
                if let unknown = only.first(where: { !Self.campaigns.contains($0) }) {
                    throw BenchError("unknown campaign \(unknown); --only takes \(Self.campaigns.joined(separator: ", ")) (comma-separated)")
                }
            default:
                throw BenchError(
                    "unknown option \(option); use --quick, --long, --only LIST, --runs N, --schedules N, --centre-runs N, --power-cuts N, --output FILE, --previous-bin DIR"
                )
            }
        }
    }
}

var report: [String] = []
var failures: [String] = []
@MainActor func say(_ line: String = "") {
    print(line)
    fflush(nil)
    report.append(line)
}

let options: Options
do {
    options = try Options(CommandLine.arguments)
} catch {
    FileHandle.standardError.write(Data("promo-chaos: \(error)\n".utf8))
    exit(2)
}
let started = Date()
say("# promo-chaos results")
say()
say("- date: \(ISO8601DateFormatter().string(from: started))")
say("- machine: \(ProcessInfo.processInfo.activeProcessorCount) cores")
say()

// MARK: 1. Crash campaign

if options.selected("crash") {
    let central = try CentralProcess(directory: try Harness.temporaryDirectory("chaos-central"))
    let folder = try OfficeFolder.make("79", central: central, name: "chaos-office")
    let daemon = try DaemonProcess(folder: folder)
    let writer = try Writer(replicaPath: folder.replicaPath, office: "79")
    var kills: [String: Int] = [:]
    var dirty = 0
    for run in 1...options.crashRuns {
        writer.start()
        usleep(UInt32.random(in: 100_000...700_000))
        let victim = ["daemon", "daemon", "daemon", "central", "central", "both", "resync"].randomElement()!
        kills[victim, default: 0] += 1
        switch victim {
        case "daemon": daemon.kill9()
        case "central": central.kill9()
        case "both":
            central.kill9()
            daemon.kill9()
        default:
            // A forced resync killed halfway (the daemon is stopped first, as an operator would).
            daemon.kill9()
            let resync = try Harness.start("promo-sync", ["resync", "--force", "--data-dir", folder.directory])
            usleep(UInt32.random(in: 20_000...400_000))
            kill(resync.processIdentifier, SIGKILL)
            resync.waitUntilExit()
        }
        usleep(UInt32.random(in: 0...150_000))
        writer.stop()
        if !central.process.isRunning { try central.restart() }
        if !daemon.process.isRunning { try daemon.restart() }
        do {
            try Campaigns.waitUntilQuiet(writer.replica)
            let comparison = try Campaigns.compare(
                expected: writer.expected, replica: writer.replica,
                centralPath: central.directory + "/central.sqlite", office: "79")
            if !comparison.clean {
                dirty += 1
                failures.append("crash run \(run) (\(victim)): \(comparison)")
            }
        } catch {
            dirty += 1
            failures.append("crash run \(run) (\(victim)): \(error)")
        }
    }
    let final = try Campaigns.compare(
        expected: writer.expected, replica: writer.replica,
        centralPath: central.directory + "/central.sqlite", office: "79")
    say("## 1. Crash campaign")
    say()
    say(
        "\(options.crashRuns) runs. In each, the office keeps committing plan lines (new rows and changes to earlier ones) while the daemon syncs; at a random moment a process is killed with SIGKILL; it is restarted, writes stop, the office syncs until quiet, and the writer's rows, the replica and the centre are compared row by row and by digest."
    )
    say()
    say("| killed | runs |")
    say("|---|---|")
    for (victim, count) in kills.sorted(by: { $0.key < $1.key }) { say("| \(victim == "resync" ? "promo-sync resync --force, halfway" : victim) | \(count) |") }
    say()
    say("Runs with any loss, duplicate, difference or damage: **\(dirty)**. Final state: \(final).")
    say("Writer errors (a write refused, e.g. \"database is locked\"): \(writer.errors.count).")
    if !writer.errors.isEmpty { failures.append("crash campaign writer errors: \(writer.errors.prefix(3))") }
    if !final.clean { failures.append("crash campaign final state: \(final)") }
    say()
    daemon.stop()
    central.stop()
}

// MARK: 2. Network fault schedules

if options.selected("network") {
    let central = try CentralProcess(directory: try Harness.temporaryDirectory("chaos-net-central"))
    let proxy = try FaultProxy(upstreamPort: central.port)
    proxy.setFaults(false)
    let folder = try OfficeFolder.make("80", central: central, name: "chaos-net-office")
    let daemon = try DaemonProcess(folder: folder, environment: ["PROMO_SYNC_CENTRAL_URL": "http://127.0.0.1:\(proxy.port)"])
    let writer = try Writer(replicaPath: folder.replicaPath, office: "80")
    // Each schedule: one kind of fault (or all of them mixed) on every connection for 0.5 to 2.5 s
    // while the office writes; then the faults stop and the office must converge by itself.
    let kinds = FaultProxy.Fault.allCases.filter { $0 != .pass }
    var random = SeededRandom(seed: proxy.seed)
    var bySchedule: [String: (runs: Int, converged: Int, slowest: Double)] = [:]
    for n in 0..<options.networkSchedules {
        let faults = n % (kinds.count + 1) == kinds.count ? FaultProxy.Fault.allCases : [kinds[n % (kinds.count + 1)]]
        let name = faults.count == 1 ? faults[0].rawValue : "mixed"
        let milliseconds = 500 + Int(random.next() % 2_001)
        proxy.setFaults(faults)
        writer.start()
        usleep(UInt32(milliseconds * 1_000))
        writer.stop()
        proxy.setFaults(false)
        let stopped = Date()
        var entry = bySchedule[name] ?? (0, 0, 0)
        entry.runs += 1
        do {
            try Campaigns.waitUntilQuiet(writer.replica, timeout: 120)
            let comparison = try Campaigns.compare(
                expected: writer.expected, replica: writer.replica,
                centralPath: central.directory + "/central.sqlite", office: "80")
            if comparison.clean { entry.converged += 1 } else { failures.append("network schedule \(n) (\(name), \(milliseconds) ms): \(comparison)") }
        } catch {
            failures.append("network schedule \(n) (\(name), \(milliseconds) ms): did not converge: \(error)")
        }
        entry.slowest = max(entry.slowest, Date().timeIntervalSince(stopped))
        bySchedule[name] = entry
    }
    let log = (try? String(contentsOfFile: folder.directory + "/daemon.log", encoding: .utf8)) ?? ""
    say("## 2. Network fault schedules")
    say()
    say(
        "\(options.networkSchedules) schedules through a fault-injecting proxy on loopback (seed \(proxy.seed)). Each puts one kind of fault (or all kinds mixed) on every connection for 0.5–2.5 s while the office keeps writing, then stops the faults; the office must then converge by itself, and the writer's rows, the replica and the centre are compared row by row and by digest."
    )
    say()
    say("| fault | schedules | converged, nothing lost or doubled | slowest convergence after the faults stopped |")
    say("|---|---|---|---|")
    for (name, entry) in bySchedule.sorted(by: { $0.key < $1.key }) {
        say("| \(name) | \(entry.runs) | \(entry.converged) | \(String(format: "%.1f", entry.slowest)) s |")
    }
    say()
    say(
        "Connections by fault drawn: \(proxy.counts.sorted(by: { $0.key < $1.key }).map { "\($0.key) \($0.value)" }.joined(separator: ", ")). Failed cycles logged by the daemon: \(log.components(separatedBy: "sync cycle failed").count - 1)."
    )
    say()
    daemon.stop()
    central.stop()
}

// MARK: 2b. The centre rolled back or restored

if options.selected("centre") {
    let centralDir = try Harness.temporaryDirectory("chaos-restore-central")
    let central = try CentralProcess(directory: centralDir)
    let folder = try OfficeFolder.make("83", central: central, name: "chaos-restore-office")
    let daemon = try DaemonProcess(folder: folder)
    let writer = try Writer(replicaPath: folder.replicaPath, office: "83")
    let store = centralDir + "/central.sqlite"
    let snapshots = try Harness.temporaryDirectory("chaos-restore-snapshots")
    var outcomes: [String: (runs: Int, healed: Int)] = [:]
    for run in 0..<options.centreRuns {
        // Alternate: a raw copy of the centre's folder put back (same epoch: a power cut on a disk
        // that lied, a snapshot rollback) or a documented restore from a backup (new epoch); and
        // the office online through it or offline (daemon stopped) until after.
        let rollback = run % 2 == 0
        let offline = run % 4 >= 2
        let name = "\(rollback ? "folder rolled back, same epoch" : "restored from a backup, new epoch"), office \(offline ? "offline" : "online")"
        var entry = outcomes[name] ?? (0, 0)
        entry.runs += 1
        do {
            writer.start()
            usleep(300_000)
            writer.stop()
            try Campaigns.waitUntilQuiet(writer.replica)
            let snapshot = snapshots + "/\(run)"
            if rollback {
                central.kill9()  // a crash-consistent copy, as a disk snapshot would be
                try FileManager.default.createDirectory(atPath: snapshot, withIntermediateDirectories: true)
                for suffix in ["", "-wal", "-shm"] where FileManager.default.fileExists(atPath: store + suffix) {
                    try FileManager.default.copyItem(atPath: store + suffix, toPath: snapshot + "/central.sqlite" + suffix)
                }
                try central.restart()
            } else {
                try Harness.run("promo-central", ["backup", "--data-dir", centralDir, "--to", snapshot + ".backup"])
            }
            // Work the centre acknowledges and then loses.
            writer.start()
            usleep(400_000)
            writer.stop()
            try Campaigns.waitUntilQuiet(writer.replica)
            if offline { daemon.stop() }
            if rollback {
                central.kill9()
                for suffix in ["", "-wal", "-shm"] {
                    try? FileManager.default.removeItem(atPath: store + suffix)
                    if FileManager.default.fileExists(atPath: snapshot + "/central.sqlite" + suffix) {
                        try FileManager.default.copyItem(atPath: snapshot + "/central.sqlite" + suffix, toPath: store + suffix)
                    }
                }
            } else {
                central.stop()
                try Harness.run("promo-central", ["restore", "--data-dir", centralDir, "--from", snapshot + ".backup"])
            }
            try central.restart()
            // More work at the office, then it syncs by itself.
            writer.start()
            usleep(200_000)
            writer.stop()
            if offline { try daemon.restart() }
            try Campaigns.waitUntilQuiet(writer.replica, timeout: 120)
            let comparison = try Campaigns.compare(expected: writer.expected, replica: writer.replica, centralPath: store, office: "83")
            let status = try writer.replica.status()
            let report = StatusReport.evaluate(status, now: Date(), thresholds: .init(), isRunning: { kill($0, 0) == 0 })
            if comparison.clean && report.health == .ok {
                entry.healed += 1
            } else {
                failures.append("centre run \(run) (\(name)): \(comparison); status \(report.health.rawValue) \(report.reasons)")
            }
        } catch {
            failures.append("centre run \(run) (\(name)): \(error)")
            if !central.process.isRunning { try? central.restart() }
            if !daemon.process.isRunning { try? daemon.restart() }
        }
        outcomes[name] = entry
    }
    let repairs = try writer.replica.counters()["repairs"] ?? 0
    say("## 2b. The centre rolled back or restored")
    say()
    say(
        "\(options.centreRuns) runs. In each, the office writes and syncs; the centre is copied (killed with SIGKILL first, so the copy is what a power cut or a disk snapshot leaves) or backed up with `promo-central backup`; the office writes more, which the centre acknowledges; then the copy is put back under the same epoch, or the backup restored with `promo-central restore` (new epoch), with the office's daemon running through it or stopped until after. No person acts at the office: it must end with status OK and equal to the centre, nothing lost or applied twice."
    )
    say()
    say("| case | runs | healed by the office alone |")
    say("|---|---|---|")
    for (name, entry) in outcomes.sorted(by: { $0.key < $1.key }) { say("| \(name) | \(entry.runs) | \(entry.healed) |") }
    say()
    say("Repairs the office recorded (`promo_sync_repairs_total`): \(repairs).")
    say()
    daemon.stop()
    central.stop()
}

// MARK: 2c. Power cuts at the centre

if options.selected("power") {
    let centralDir = try Harness.temporaryDirectory("chaos-power-central")
    var cut = try PowerCut(directory: centralDir, filePrefix: "central.sqlite")
    let central = try CentralProcess(directory: centralDir, environment: cut.environment)
    let folder = try OfficeFolder.make("84", central: central, name: "chaos-power-office")
    let daemon = try DaemonProcess(folder: folder)
    let writer = try Writer(replicaPath: folder.replicaPath, office: "84")
    let store = centralDir + "/central.sqlite"
    // `promo-central office add` wrote to the store from another process, without the shim.
    central.kill9()
    try cut.markDurable()
    try central.restart()
    var lostAcknowledged = 0
    var cutRuns = 0
    var bytesCut: Int64 = 0
    var healed = 0
    for run in 1...max(1, options.powerCuts) {
        writer.start()
        usleep(UInt32.random(in: 100_000...700_000))
        // The power goes at the centre; the office is frozen at once, so what it holds as
        // acknowledged is what the centre told it before the cut.
        central.kill9()
        daemon.pause()
        writer.stop()
        do {
            let acknowledged = try writer.replica.syncPosition().lastAcked
            let (files, bytes) = try cut.cut()
            if files > 0 { cutRuns += 1 }
            bytesCut += bytes
            let held = try DatabaseQueue(path: store).read { db in
                try Int64.fetchOne(db, sql: "SELECT coalesce(max(sequence), 0) FROM changeset WHERE office = '84'") ?? 0
            }
            if held < acknowledged {
                lostAcknowledged += 1
                failures.append("power cut \(run): the centre holds changeset \(held) of office 84 after the cut but had acknowledged \(acknowledged)")
            }
            // That look recovered the WAL and, closing last, checkpointed it: durable, unlogged.
            try cut.markDurable()
            try central.restart()
            daemon.resume()
            try Campaigns.waitUntilQuiet(writer.replica, timeout: 120)
            let comparison = try Campaigns.compare(expected: writer.expected, replica: writer.replica, centralPath: store, office: "84")
            if comparison.clean { healed += 1 } else { failures.append("power cut \(run): \(comparison)") }
        } catch {
            failures.append("power cut \(run): \(error)")
            daemon.resume()
            if !central.process.isRunning { try? central.restart() }
        }
    }
    say("## 2c. Power cuts at the centre")
    say()
    say(
        "\(options.powerCuts) runs with the centre under `libPowerCutShim.so` (LD_PRELOAD), which logs the size of every file of its folder at each `fsync`/`fdatasync`. While the office writes and syncs, the centre is killed with SIGKILL and the office frozen (SIGSTOP); every SQLite file of the centre's folder is cut back to the size it last made durable and its `-shm` removed, as a power cut leaves a disk that keeps its promises; then the centre's store is opened and must hold every changeset the office holds as acknowledged. The centre restarts, the office goes on and must converge."
    )
    say()
    say("| | result |")
    say("|---|---|")
    say("| runs in which the cut removed bytes (writes not yet durable) | \(cutRuns) of \(options.powerCuts), \(bytesCut) bytes in all |")
    say("| runs in which the centre had lost an acknowledged changeset | **\(lostAcknowledged)** |")
    say("| runs ending with the office equal to the centre, nothing lost or applied twice | \(healed) |")
    say()
    daemon.stop()
    central.stop()
}

// MARK: 3. Full and read-only storage

func mount(_ arguments: [String]) -> Bool {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/bin/mount")
    p.arguments = arguments
    p.standardError = FileHandle.nullDevice
    do { try p.run() } catch { return false }
    p.waitUntilExit()
    return p.terminationStatus == 0
}

if options.selected("disk") {
    say("## 3. Full and read-only storage")
    say()
    let officeDir = try Harness.temporaryDirectory("chaos-disk-office")
    let centralDir = try Harness.temporaryDirectory("chaos-disk-central")
    if mount(["-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", officeDir]), mount(["-t", "tmpfs", "-o", "size=64m,mode=0700", "tmpfs", centralDir]) {
        defer {
            _ = mount(["-o", "remount,size=64m", officeDir])
            _ = Harness.runQuiet("/bin/umount", [officeDir])
            _ = Harness.runQuiet("/bin/umount", [centralDir])
        }
        let central = try CentralProcess(directory: centralDir)
        let folder = OfficeFolder(directory: officeDir)
        try central.addOffice("82", tokenFile: folder.tokenFile)
        try Harness.run("promo-sync", ["init", "--data-dir", officeDir, "--office", "82", "--central", central.url, "--token-file", folder.tokenFile])
        let daemon = try DaemonProcess(folder: folder, logFile: centralDir + "/../chaos-disk-daemon.log")
        // Fill the office's disk through the command staff use.
        var accepted = 0
        var refusal = ""
        for i in 0..<20_000 {
            let p = try Harness.start(
                "promo-sync",
                [
                    "plan", "add", "--data-dir", officeDir, "--year", "2025", "--fund", "local", "--amount", String(i + 1), "--note",
                    String(repeating: "x", count: 400),
                ],
                stdout: true, stderrFile: officeDir + "/../chaos-disk-stderr.txt")
            p.waitUntilExit()
            if p.terminationStatus != 0 {
                refusal = ((try? String(contentsOfFile: officeDir + "/../chaos-disk-stderr.txt", encoding: .utf8)) ?? "").trimmingCharacters(
                    in: .whitespacesAndNewlines)
                break
            }
            accepted += 1
        }
        let replica = try Replica.open(at: folder.replicaPath)
        let intactWhenFull = try replica.database.read { try String.fetchOne($0, sql: "PRAGMA integrity_check") } == "ok"
        let rowsWhenFull = try replica.data.count(.planLine)
        _ = mount(["-o", "remount,size=64m", officeDir])
        // Read-only storage (space is back; the mount refuses writes). A mount with files open for
        // writing cannot turn read-only, so the daemon and this process let go of the replica first.
        try Campaigns.waitUntilQuiet(replica, timeout: 60)
        daemon.stop()
        try replica.database.close()
        var roMessage = "not run: the tmpfs could not be remounted read-only"
        var intactWhenReadOnly = true
        if mount(["-o", "remount,ro", officeDir]) {
            let ro = try Harness.start(
                "promo-sync", ["plan", "add", "--data-dir", officeDir, "--year", "2025", "--fund", "local", "--amount", "1"],
                stdout: true, stderrFile: centralDir + "/ro-stderr.txt")
            ro.waitUntilExit()
            roMessage = ((try? String(contentsOfFile: centralDir + "/ro-stderr.txt", encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
            if ro.terminationStatus == 0 { roMessage = "ACCEPTED a write on a read-only mount" }
            _ = mount(["-o", "remount,rw", officeDir])
        }
        let reopened = try Replica.open(at: folder.replicaPath)
        intactWhenReadOnly = try reopened.data.count(.planLine) == rowsWhenFull
        try daemon.restart()
        // Space is back: writes work and everything reaches the centre.
        try Harness.run("promo-sync", ["plan", "add", "--data-dir", officeDir, "--year", "2026", "--fund", "local", "--amount", "7"])
        var converged = "no"
        let replicaAgain = reopened
        do {
            try Campaigns.waitUntilQuiet(replicaAgain, timeout: 120)
            let atCentre = try DatabaseQueue(path: centralDir + "/central.sqlite").read {
                try Int.fetchOne($0, sql: "SELECT count(*) FROM record WHERE tbl = 'plan_line' AND office = '82'") ?? 0
            }
            converged = atCentre == rowsWhenFull + 1 ? "yes: the centre holds all \(atCentre) rows" : "NO: the centre holds \(atCentre) of \(rowsWhenFull + 1)"
        } catch { converged = "NO: \(error)" }
        if !converged.hasPrefix("yes") || !intactWhenFull || rowsWhenFull != accepted || !intactWhenReadOnly || roMessage.hasPrefix("ACCEPTED") {
            failures.append("office disk: \(converged), intact \(intactWhenFull), rows \(rowsWhenFull) of \(accepted), read-only: \(roMessage)")
        }
        say(
            "Office data folder on a 1 MB tmpfs: \(accepted) `promo-sync plan add` commands succeeded, then: “\(refusal.split(separator: "\n").first ?? "")”. The replica passed `integrity_check` (\(intactWhenFull ? "ok" : "DAMAGED")) and held exactly the \(rowsWhenFull) accepted rows."
        )
        say(
            "Space back, then remounted read-only: “\(roMessage.split(separator: "\n").first ?? "")”; nothing stored changed (\(intactWhenReadOnly ? "yes" : "NO"))."
        )
        say("Writable again: a new write succeeded; converged: \(converged).")
        say()
        // The centre's store full: its answers are 503 (retry), and the office catches up once space returns.
        var fs = statvfs()
        statvfs(centralDir, &fs)
        let used = (Int64(fs.f_blocks) - Int64(fs.f_bfree)) * Int64(fs.f_frsize)
        _ = mount(["-o", "remount,size=\(used / 1024 + 64)k", centralDir])
        for i in 0..<2_000 { try replicaAgain.data.addPlanLine(year: 2027, fundSource: .local, amount: Int64(i + 1), note: String(repeating: "y", count: 300)) }
        sleep(5)
        let centralLog = (try? String(contentsOfFile: centralDir + "/central.log", encoding: .utf8)) ?? ""
        let refusedWhileFull = try replicaAgain.status().lastError ?? "none"
        _ = mount(["-o", "remount,size=64m", centralDir])
        var centreConverged = "no"
        do {
            try Campaigns.waitUntilQuiet(replicaAgain, timeout: 120)
            let comparisonRows = try replicaAgain.data.count(.planLine)
            let atCentre = try DatabaseQueue(path: centralDir + "/central.sqlite").read {
                try Int.fetchOne($0, sql: "SELECT count(*) FROM record WHERE tbl = 'plan_line' AND office = '82'") ?? 0
            }
            centreConverged = atCentre == comparisonRows ? "yes: \(atCentre) rows at both" : "NO: \(atCentre) at the centre, \(comparisonRows) at the office"
        } catch { centreConverged = "NO: \(error)" }
        if !centreConverged.hasPrefix("yes") { failures.append("central disk full: \(centreConverged)") }
        say(
            "Centre's store on a tmpfs shrunk to its current size while the office pushes 2,000 rows: the office recorded “\(refusedWhileFull)”\(centralLog.contains("storage") ? " (the centre answered 503 storage)" : ""); space back: \(centreConverged)."
        )
        daemon.stop()
        central.stop()
    } else {
        say("Not run: mounting a tmpfs needs root (CAP_SYS_ADMIN) on this machine.")
    }
    say()
}

// MARK: 4. Bad input

if options.selected("input") {
    let central = try CentralProcess(directory: try Harness.temporaryDirectory("chaos-input-central"))
    let folder = try OfficeFolder.make("86", central: central, name: "chaos-input-office")
    let replica = try Replica.open(at: folder.replicaPath)
    for i in 0..<20 { try replica.data.addPlanLine(year: 2025, fundSource: .local, amount: Int64(i + 1), note: nil) }
    try Harness.run("promo-sync", ["sync", "--data-dir", folder.directory])
    let token = try TokenFile.read(path: folder.tokenFile)
    let foreign = try await BadInput.anotherOffice("80", central: central)
    let before = try BadInput.fingerprint(central.directory + "/central.sqlite")
    let result = try await BadInput.requests(url: central.url, token: token, count: options.badRequests, replica: replica, foreign: foreign)
    let after = try BadInput.fingerprint(central.directory + "/central.sqlite")
    let alive = (try? await HTTPClient().send(HTTPRequest(method: "GET", url: central.url + "/health")).status) == 200
    say("## 4. Bad input")
    say()
    say(
        "\(result.total) generated requests to every endpoint of the centre (malformed JSON, wrong types, huge and negative numbers, fractions, invalid UTF-8, oversized bodies, SQL-injection strings, unknown members, wrong protocol versions, forged owners, broken hashes, bad query parameters, bad tokens):"
    )
    say()
    say("| answer | requests |")
    say("|---|---|")
    for (status, count) in result.byStatus.sorted(by: { $0.key < $1.key }) { say("| \(status) | \(count) |") }
    say()
    say(
        "Answers outside 4xx: \(result.not4xx.count)\(result.not4xx.isEmpty ? "" : " (e.g. \(result.not4xx.prefix(3)))"). The centre \(alive ? "still answered /health" : "DID NOT ANSWER /health") and its store was \(before == after ? "unchanged" : "CHANGED") (records, change log position, changesets, office chains)."
    )
    say()
    say(
        "Pushes carry one defect each on an otherwise correct changeset chained onto the office's head, so forged writers and owners reach the trust boundary; each must get its own refusal:"
    )
    say()
    say("| defect | sent | got its own status and code |")
    say("|---|---|---|")
    for (name, count) in result.pushes.sorted(by: { $0.key < $1.key }) { say("| \(name) | \(count.sent) | \(count.right) |") }
    say()
    if !result.wrongRefusal.isEmpty { say("Wrong refusals: \(result.wrongRefusal.prefix(5))") }
    if !result.not4xx.isEmpty || !alive || before != after || !result.wrongRefusal.isEmpty {
        failures.append(
            "bad requests: \(result.not4xx.count) not 4xx, \(result.wrongRefusal.count) wrong refusals, alive \(alive), unchanged \(before == after)")
    }
    let files = try BadInput.files(replica: replica, count: options.badFiles)
    say()
    say(
        "\(files.csv) generated CSV files with a defect each: \(files.csvRefused) refused whole with a line-numbered reason, \(files.csvCrashes) accepted or crashed; the replica was \(files.replicaUnchanged ? "unchanged" : "CHANGED")."
    )
    say(
        "\(files.configs) mutated configuration files: \(files.configsRefused) refused with a message naming the key or line, \(files.configsLoaded) still valid; none crashed."
    )
    if files.csvCrashes > 0 || !files.replicaUnchanged { failures.append("bad files: \(files)") }
    say()
    central.stop()
}

// MARK: 5. Concurrent writers

if options.selected("concurrent") {
    let central = try CentralProcess(directory: try Harness.temporaryDirectory("chaos-concurrent-central"))
    let folder = try OfficeFolder.make("91", central: central, name: "chaos-concurrent-office")
    let daemon = try DaemonProcess(folder: folder)
    let result = try Concurrent.run(folder: folder)
    let replica = try Replica.open(at: folder.replicaPath)
    var converged = "no"
    do {
        try Campaigns.waitUntilQuiet(replica, timeout: 120)
        let atCentre = try DatabaseQueue(path: central.directory + "/central.sqlite").read {
            try Int.fetchOne($0, sql: "SELECT count(*) FROM record WHERE tbl = 'plan_line' AND office = '91'") ?? 0
        }
        let local = try replica.data.count(.planLine)
        converged =
            atCentre == result.expected && local == result.expected
            ? "yes: \(atCentre) rows at the office and the centre" : "NO: \(local) at the office, \(atCentre) at the centre, \(result.expected) written"
    } catch { converged = "NO: \(error)" }
    say("## 5. Concurrent writers")
    say()
    say(
        "While the daemon synced: \(result.commands) `promo-sync plan add` commands in 4 parallel streams, \(result.shell) inserts by the `sqlite3` shell and \(result.inProcess) by another program's connection, all at once."
    )
    say()
    say(
        "Commands that failed: \(result.failures.count)\(result.failures.isEmpty ? "" : " (\(result.failures.prefix(2)))"); messages mentioning \"locked\": \(result.lockedMessages). Converged: \(converged)."
    )
    if !result.failures.isEmpty || result.lockedMessages > 0 || !converged.hasPrefix("yes") {
        failures.append("concurrent writers: \(result.failures.count) failed, converged \(converged)")
    }
    say()
    daemon.stop()
    central.stop()
}

// MARK: 6. A mixed fleet under network faults

if options.selected("mixed") {
    say("## 6. A mixed fleet under network faults")
    say()
    if let previousBin = options.previousBin {
        let program = previousBin + "/promo-sync"
        let version = try Harness.run(program, ["--version"]).trimmingCharacters(in: .whitespacesAndNewlines)
        let thisRelease = try Harness.run("promo-sync", ["--version"]).trimmingCharacters(in: .whitespacesAndNewlines)
        let central = try CentralProcess(directory: try Harness.temporaryDirectory("chaos-mixed-central"))
        let proxy = try FaultProxy(upstreamPort: central.port)
        proxy.setFaults(false)
        let proxyURL = "http://127.0.0.1:\(proxy.port)"
        // This release's office 80, written to by this process as in campaign 2.
        let current = try OfficeFolder.make("80", central: central, name: "chaos-mixed-current")
        let currentDaemon = try DaemonProcess(folder: current, environment: ["PROMO_SYNC_CENTRAL_URL": proxyURL])
        let writer = try Writer(replicaPath: current.replicaPath, office: "80")
        // The previous release's office 79: its own init, daemon and commands, its replica never
        // opened by this release's code (that would migrate it).
        let previous = OfficeFolder(directory: try Harness.temporaryDirectory("chaos-mixed-previous"))
        try central.addOffice("79", tokenFile: previous.tokenFile)
        try Harness.run(program, ["init", "--data-dir", previous.directory, "--office", "79", "--central", proxyURL, "--token-file", previous.tokenFile])
        let previousDaemon = try DaemonProcess(folder: previous, program: program)
        let previousWriter = CommandWriter(program: program, folder: previous, office: "79")
        let schedules = max(1, options.networkSchedules / 2)
        let kinds = FaultProxy.Fault.allCases.filter { $0 != .pass }
        var random = SeededRandom(seed: proxy.seed)
        var converged = (current: 0, previous: 0)
        var slowest = 0.0
        for n in 0..<schedules {
            let faults = n % (kinds.count + 1) == kinds.count ? FaultProxy.Fault.allCases : [kinds[n % (kinds.count + 1)]]
            let name = faults.count == 1 ? faults[0].rawValue : "mixed"
            let milliseconds = 500 + Int(random.next() % 2_001)
            proxy.setFaults(faults)
            writer.start()
            previousWriter.start()
            usleep(UInt32(milliseconds * 1_000))
            writer.stop()
            previousWriter.stop()
            proxy.setFaults(false)
            let stopped = Date()
            do {
                try Campaigns.waitUntilQuiet(writer.replica, timeout: 120)
                let comparison = try Campaigns.compare(
                    expected: writer.expected, replica: writer.replica, centralPath: central.directory + "/central.sqlite", office: "80")
                if comparison.clean { converged.current += 1 } else { failures.append("mixed fleet schedule \(n) (\(name)), \(thisRelease): \(comparison)") }
            } catch {
                failures.append("mixed fleet schedule \(n) (\(name)), \(thisRelease): did not converge: \(error)")
            }
            do {
                try Campaigns.waitUntilQuiet(program: program, folder: previous, timeout: 120)
                let comparison = try Campaigns.compare(
                    expected: previousWriter.expected, program: program, folder: previous, centralPath: central.directory + "/central.sqlite",
                    office: "79")
                if comparison.clean { converged.previous += 1 } else { failures.append("mixed fleet schedule \(n) (\(name)), \(version): \(comparison)") }
            } catch {
                failures.append("mixed fleet schedule \(n) (\(name)), \(version): did not converge: \(error)")
            }
            slowest = max(slowest, Date().timeIntervalSince(stopped))
        }
        if !previousWriter.errors.isEmpty { failures.append("mixed fleet: \(version)'s commands failed: \(previousWriter.errors.prefix(3))") }
        say(
            "Office 79 on the previous release (\(version): its own daemon, its `plan add` commands, judged at the end by its own `verify`) and office 80 on this one, through one fault-injecting proxy to this release's centre: \(schedules) schedules of one kind of fault (or all mixed) for 0.5–2.5 s while both offices write (seed \(proxy.seed))."
        )
        say()
        say("| office | release | schedules converged, nothing lost or doubled | rows written |")
        say("|---|---|---|---|")
        say("| 79 | \(version) | \(converged.previous) of \(schedules) | \(previousWriter.expected.count) |")
        say("| 80 | \(thisRelease) | \(converged.current) of \(schedules) | \(writer.expected.count) |")
        say()
        say("Slowest convergence of both after the faults stopped: \(String(format: "%.1f", slowest)) s.")
        currentDaemon.stop()
        previousDaemon.stop()
        central.stop()
    } else {
        say("Skipped: no `--previous-bin` (`make chaos` builds the previous release and passes it).")
    }
    say()
}

say("## Verdict")
say()
say(
    failures.isEmpty
        ? "Nothing lost, nothing applied twice, every replica equal to the centre." : "FAILURES:\n" + failures.map { "- " + $0 }.joined(separator: "\n"))
say()
say("Total time: \(Int(Date().timeIntervalSince(started))) s.")
try? FileManager.default.createDirectory(atPath: URL(fileURLWithPath: options.output).deletingLastPathComponent().path, withIntermediateDirectories: true)
try (report.joined(separator: "\n") + "\n").write(toFile: options.output, atomically: true, encoding: .utf8)
exit(failures.isEmpty ? 0 : 1)
