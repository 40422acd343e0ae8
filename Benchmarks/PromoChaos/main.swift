import Foundation
import GRDB
import ProcessHarness
import Replica
import SyncAgent
import SyncCore
import Transport
#if canImport(Glibc)
import Glibc
#endif

/// `make chaos`: the reliability campaigns of docs/RELIABILITY.md against real promo-central and
/// promo-sync processes on loopback. Stops by itself; exits 1 when any campaign loses, duplicates
/// or damages anything. Writes a Markdown report to standard output and Benchmarks/results/chaos-latest.md.
struct Options {
    var crashRuns = 200
    var networkSeconds = 60
    var badRequests = 10_000
    var badFiles = 2_000
    var output = "Benchmarks/results/chaos-latest.md"

    init(_ arguments: [String]) throws {
        var i = 1
        while i < arguments.count {
            switch arguments[i] {
            case "--quick": crashRuns = 10; networkSeconds = 10; badRequests = 1_000; badFiles = 200
            case "--runs": i += 1; crashRuns = Int(arguments[i]) ?? crashRuns
            case "--output": i += 1; output = arguments[i]
            default: throw BenchError("unknown option \(arguments[i]); use --quick, --runs N, --output FILE")
            }
            i += 1
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

let options = try Options(CommandLine.arguments)
let started = Date()
say("# promo-chaos results")
say()
say("- date: \(ISO8601DateFormatter().string(from: started))")
say("- machine: \(ProcessInfo.processInfo.activeProcessorCount) cores")
say()

// MARK: 1. Crash campaign

do {
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
        case "both": central.kill9(); daemon.kill9()
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
            let comparison = try Campaigns.compare(expected: writer.expected, replica: writer.replica,
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
    let final = try Campaigns.compare(expected: writer.expected, replica: writer.replica,
                                      centralPath: central.directory + "/central.sqlite", office: "79")
    say("## 1. Crash campaign")
    say()
    say("\(options.crashRuns) runs. In each, the office keeps committing plan lines (new rows and changes to earlier ones) while the daemon syncs; at a random moment a process is killed with SIGKILL; it is restarted, writes stop, the office syncs until quiet, and the writer's rows, the replica and the centre are compared row by row and by digest.")
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

// MARK: 2. Network faults

do {
    let central = try CentralProcess(directory: try Harness.temporaryDirectory("chaos-net-central"))
    let proxy = try FaultProxy(upstreamPort: central.port)
    let folder = try OfficeFolder.make("80", central: central, name: "chaos-net-office")
    let daemon = try DaemonProcess(folder: folder, environment: ["PROMO_SYNC_CENTRAL_URL": "http://127.0.0.1:\(proxy.port)"])
    let writer = try Writer(replicaPath: folder.replicaPath, office: "80")
    writer.start()
    sleep(UInt32(options.networkSeconds))
    writer.stop()
    proxy.setFaults(false)
    var outcome: String
    do {
        try Campaigns.waitUntilQuiet(writer.replica, timeout: 120)
        let comparison = try Campaigns.compare(expected: writer.expected, replica: writer.replica,
                                               centralPath: central.directory + "/central.sqlite", office: "80")
        outcome = comparison.description
        if !comparison.clean { failures.append("network faults: \(comparison)") }
    } catch {
        outcome = "did not converge: \(error)"
        failures.append("network faults: \(error)")
    }
    let log = (try? String(contentsOfFile: folder.directory + "/daemon.log", encoding: .utf8)) ?? ""
    say("## 2. Network faults")
    say()
    say("A fault-injecting proxy on loopback between the daemon and the centre for \(options.networkSeconds) s, each connection drawing one fault at random, while the office keeps writing; then faults stop.")
    say()
    say("| fault | connections |")
    say("|---|---|")
    for (fault, count) in proxy.counts.sorted(by: { $0.key < $1.key }) { say("| \(fault) | \(count) |") }
    say()
    say("Failed cycles logged by the daemon: \(log.components(separatedBy: "sync cycle failed").count - 1). After the faults stopped: \(outcome).")
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

do {
    say("## 3. Full and read-only storage")
    say()
    let officeDir = try Harness.temporaryDirectory("chaos-disk-office")
    let centralDir = try Harness.temporaryDirectory("chaos-disk-central")
    if mount(["-t", "tmpfs", "-o", "size=1m", "tmpfs", officeDir]), mount(["-t", "tmpfs", "-o", "size=64m", "tmpfs", centralDir]) {
        defer { _ = mount(["-o", "remount,size=64m", officeDir]); _ = Harness.runQuiet("/bin/umount", [officeDir]); _ = Harness.runQuiet("/bin/umount", [centralDir]) }
        let central = try CentralProcess(directory: centralDir)
        let folder = OfficeFolder(directory: officeDir)
        try central.addOffice("82", tokenFile: folder.tokenFile)
        try Harness.run("promo-sync", ["init", "--data-dir", officeDir, "--office", "82", "--central", central.url, "--token-file", folder.tokenFile])
        let daemon = try DaemonProcess(folder: folder, logFile: centralDir + "/../chaos-disk-daemon.log")
        // Fill the office's disk through the command staff use.
        var accepted = 0
        var refusal = ""
        for i in 0..<20_000 {
            let p = try Harness.start("promo-sync", ["plan", "add", "--data-dir", officeDir, "--year", "2025", "--fund", "local", "--amount", String(i + 1), "--note", String(repeating: "x", count: 400)],
                                      stdout: true, stderrFile: officeDir + "/../chaos-disk-stderr.txt")
            p.waitUntilExit()
            if p.terminationStatus != 0 {
                refusal = ((try? String(contentsOfFile: officeDir + "/../chaos-disk-stderr.txt", encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
                break
            }
            accepted += 1
        }
        let replica = try Replica.open(at: folder.replicaPath)
        let intactWhenFull = try replica.database.read { try String.fetchOne($0, sql: "PRAGMA integrity_check") } == "ok"
        let rowsWhenFull = try replica.count(.planLine)
        _ = mount(["-o", "remount,size=64m", officeDir])
        // Read-only storage (space is back; the mount refuses writes). A mount with files open for
        // writing cannot turn read-only, so the daemon and this process let go of the replica first.
        try Campaigns.waitUntilQuiet(replica, timeout: 60)
        daemon.stop()
        try replica.database.close()
        var roMessage = "not run: the tmpfs could not be remounted read-only"
        var intactWhenReadOnly = true
        if mount(["-o", "remount,ro", officeDir]) {
            let ro = try Harness.start("promo-sync", ["plan", "add", "--data-dir", officeDir, "--year", "2025", "--fund", "local", "--amount", "1"],
                                       stdout: true, stderrFile: centralDir + "/ro-stderr.txt")
            ro.waitUntilExit()
            roMessage = ((try? String(contentsOfFile: centralDir + "/ro-stderr.txt", encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
            if ro.terminationStatus == 0 { roMessage = "ACCEPTED a write on a read-only mount" }
            _ = mount(["-o", "remount,rw", officeDir])
        }
        let reopened = try Replica.open(at: folder.replicaPath)
        intactWhenReadOnly = try reopened.count(.planLine) == rowsWhenFull
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
        say("Office data folder on a 1 MB tmpfs: \(accepted) `promo-sync plan add` commands succeeded, then: “\(refusal.split(separator: "\n").first ?? "")”. The replica passed `integrity_check` (\(intactWhenFull ? "ok" : "DAMAGED")) and held exactly the \(rowsWhenFull) accepted rows.")
        say("Space back, then remounted read-only: “\(roMessage.split(separator: "\n").first ?? "")”; nothing stored changed (\(intactWhenReadOnly ? "yes" : "NO")).")
        say("Writable again: a new write succeeded; converged: \(converged).")
        say()
        // The centre's store full: its answers are 503 (retry), and the office catches up once space returns.
        var fs = statvfs()
        statvfs(centralDir, &fs)
        let used = (Int64(fs.f_blocks) - Int64(fs.f_bfree)) * Int64(fs.f_frsize)
        _ = mount(["-o", "remount,size=\(used / 1024 + 64)k", centralDir])
        for i in 0..<2_000 { try replicaAgain.addPlanLine(year: 2027, fundSource: .local, amount: Int64(i + 1), note: String(repeating: "y", count: 300)) }
        sleep(5)
        let centralLog = (try? String(contentsOfFile: centralDir + "/central.log", encoding: .utf8)) ?? ""
        let refusedWhileFull = try replicaAgain.status().lastError ?? "none"
        _ = mount(["-o", "remount,size=64m", centralDir])
        var centreConverged = "no"
        do {
            try Campaigns.waitUntilQuiet(replicaAgain, timeout: 120)
            let comparisonRows = try replicaAgain.count(.planLine)
            let atCentre = try DatabaseQueue(path: centralDir + "/central.sqlite").read {
                try Int.fetchOne($0, sql: "SELECT count(*) FROM record WHERE tbl = 'plan_line' AND office = '82'") ?? 0
            }
            centreConverged = atCentre == comparisonRows ? "yes: \(atCentre) rows at both" : "NO: \(atCentre) at the centre, \(comparisonRows) at the office"
        } catch { centreConverged = "NO: \(error)" }
        if !centreConverged.hasPrefix("yes") { failures.append("central disk full: \(centreConverged)") }
        say("Centre's store on a tmpfs shrunk to its current size while the office pushes 2,000 rows: the office recorded “\(refusedWhileFull)”\(centralLog.contains("storage") ? " (the centre answered 503 storage)" : ""); space back: \(centreConverged).")
        daemon.stop()
        central.stop()
    } else {
        say("Not run: mounting a tmpfs needs root (CAP_SYS_ADMIN) on this machine.")
    }
    say()
}

// MARK: 4. Bad input

do {
    let central = try CentralProcess(directory: try Harness.temporaryDirectory("chaos-input-central"))
    let folder = try OfficeFolder.make("86", central: central, name: "chaos-input-office")
    let replica = try Replica.open(at: folder.replicaPath)
    for i in 0..<20 { try replica.addPlanLine(year: 2025, fundSource: .local, amount: Int64(i + 1), note: nil) }
    try Harness.run("promo-sync", ["sync", "--data-dir", folder.directory])
    let token = try TokenFile.read(path: folder.tokenFile)
    let foreign = try await BadInput.anotherOffice("80", central: central)
    let before = try BadInput.fingerprint(central.directory + "/central.sqlite")
    let result = try await BadInput.requests(url: central.url, token: token, count: options.badRequests, replica: replica, foreign: foreign)
    let after = try BadInput.fingerprint(central.directory + "/central.sqlite")
    let alive = (try? await HTTPClient().send(HTTPRequest(method: "GET", url: central.url + "/health")).status) == 200
    say("## 4. Bad input")
    say()
    say("\(result.total) generated requests to every endpoint of the centre (malformed JSON, wrong types, huge and negative numbers, fractions, invalid UTF-8, oversized bodies, SQL-injection strings, unknown members, wrong protocol versions, forged owners, broken hashes, bad query parameters, bad tokens):")
    say()
    say("| answer | requests |")
    say("|---|---|")
    for (status, count) in result.byStatus.sorted(by: { $0.key < $1.key }) { say("| \(status) | \(count) |") }
    say()
    say("Answers outside 4xx: \(result.not4xx.count)\(result.not4xx.isEmpty ? "" : " (e.g. \(result.not4xx.prefix(3)))"). The centre \(alive ? "still answered /health" : "DID NOT ANSWER /health") and its store was \(before == after ? "unchanged" : "CHANGED") (records, change log position, changesets, office chains).")
    say()
    say("Pushes carry one defect each on an otherwise correct changeset chained onto the office's head, so forged writers and owners reach the trust boundary; each must get its own refusal:")
    say()
    say("| defect | sent | got its own status and code |")
    say("|---|---|---|")
    for (name, count) in result.pushes.sorted(by: { $0.key < $1.key }) { say("| \(name) | \(count.sent) | \(count.right) |") }
    say()
    if !result.wrongRefusal.isEmpty { say("Wrong refusals: \(result.wrongRefusal.prefix(5))") }
    if !result.not4xx.isEmpty || !alive || before != after || !result.wrongRefusal.isEmpty {
        failures.append("bad requests: \(result.not4xx.count) not 4xx, \(result.wrongRefusal.count) wrong refusals, alive \(alive), unchanged \(before == after)")
    }
    let files = try BadInput.files(replica: replica, count: options.badFiles)
    say()
    say("\(files.csv) generated CSV files with a defect each: \(files.csvRefused) refused whole with a line-numbered reason, \(files.csvCrashes) accepted or crashed; the replica was \(files.replicaUnchanged ? "unchanged" : "CHANGED").")
    say("\(files.configs) mutated configuration files: \(files.configsRefused) refused with a message naming the key or line, \(files.configsLoaded) still valid; none crashed.")
    if files.csvCrashes > 0 || !files.replicaUnchanged { failures.append("bad files: \(files)") }
    say()
    central.stop()
}

// MARK: 5. Concurrent writers

do {
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
        let local = try replica.count(.planLine)
        converged = atCentre == result.expected && local == result.expected ? "yes: \(atCentre) rows at the office and the centre" : "NO: \(local) at the office, \(atCentre) at the centre, \(result.expected) written"
    } catch { converged = "NO: \(error)" }
    say("## 5. Concurrent writers")
    say()
    say("While the daemon synced: \(result.commands) `promo-sync plan add` commands in 4 parallel streams, \(result.shell) inserts by the `sqlite3` shell and \(result.inProcess) by another program's connection, all at once.")
    say()
    say("Commands that failed: \(result.failures.count)\(result.failures.isEmpty ? "" : " (\(result.failures.prefix(2)))"); messages mentioning \"locked\": \(result.lockedMessages). Converged: \(converged).")
    if !result.failures.isEmpty || result.lockedMessages > 0 || !converged.hasPrefix("yes") { failures.append("concurrent writers: \(result.failures.count) failed, converged \(converged)") }
    say()
    daemon.stop()
    central.stop()
}

say("## Verdict")
say()
say(failures.isEmpty ? "Nothing lost, nothing applied twice, every replica equal to the centre." : "FAILURES:\n" + failures.map { "- " + $0 }.joined(separator: "\n"))
say()
say("Total time: \(Int(Date().timeIntervalSince(started))) s.")
try? FileManager.default.createDirectory(atPath: URL(fileURLWithPath: options.output).deletingLastPathComponent().path, withIntermediateDirectories: true)
try (report.joined(separator: "\n") + "\n").write(toFile: options.output, atomically: true, encoding: .utf8)
exit(failures.isEmpty ? 0 : 1)
