import CentralPostgres
import Foundation
import GRDB
import ProcessHarness
import Replica
import SyncAgent
import SyncCore
import SyncTesting
import Testing
import Transport

/// The short variant of `make chaos` (docs/RELIABILITY.md): the built promo-central and promo-sync
/// processes on loopback, killed, cut off and fed bad input, then compared row by row.
@Suite(.serialized) struct ChaosSmokeTests {
    @Test func killedProcessesLoseAndRepeatNothing() throws {
        var central = try CentralProcess(directory: try Harness.temporaryDirectory("smoke-central"))
        defer { central.stop() }
        let folder = try OfficeFolder.make("79", central: central, name: "smoke-office")
        let daemon = try DaemonProcess(folder: folder)
        defer { daemon.stop() }
        let writer = try Writer(replicaPath: folder.replicaPath, office: "79")
        for victim in ["daemon", "central", "both"] {
            let comparison = try Self.kill(victim, central: &central, daemon: daemon, writer: writer)
            #expect(comparison.clean, "after killing the \(victim): \(comparison); writer seed \(writer.seed)")
        }
        #expect(writer.errors.isEmpty)
    }

    /// While `writer` writes, kills the daemon, the centre or both (`victim`) with SIGKILL,
    /// starts them again, waits until the office is quiet and compares it with the centre.
    static func kill(_ victim: String, central: inout CentralProcess, daemon: DaemonProcess, writer: Writer) throws -> Comparison {
        writer.start()
        usleep(UInt32.random(in: 200_000...500_000))
        if victim != "central" { daemon.kill9() }
        if victim != "daemon" { central.kill9() }
        writer.stop()
        if !central.process.isRunning { try central.restart() }
        if !daemon.process.isRunning { try daemon.restart() }
        try Campaigns.waitUntilQuiet(writer.replica)
        return try Campaigns.compare(expected: writer.expected, replica: writer.replica, centralPath: central.directory + "/central.sqlite", office: "79")
    }

    /// The same kills with the centre serving through its PostgreSQL record (`store.postgres_url`):
    /// a centre killed in the middle of a pass starts again from the copy's marks and serves with
    /// its record (the copy, made before the first changeset, holds every acknowledged one after
    /// each kill), and at the end the copy equals the store table for table. That an
    /// acknowledgement waits for PostgreSQL is DurableRecordTests' to show: here the restarted
    /// centre's first pass would copy a missing changeset before the check.
    @Test(.enabled(if: TestPostgres.url != nil, "PostgreSQL is not installed here (apt install postgresql); CI runs this"))
    func killedProcessesLeaveTheRecordWhole() async throws {
        let logger = TestPostgres.recordLogger
        try await TestPostgres.withDatabase { url in
            let directory = try Harness.temporaryDirectory("smoke-record-central")
            // The store and its office first, then its copy, then the centre serving with it.
            let first = try CentralProcess(directory: directory)
            let folder = try OfficeFolder.make("79", central: first, name: "smoke-record-office")
            first.stop()
            var central = try CentralProcess(
                directory: directory, port: first.port, environment: try CentralProcess.durableRecord(directory: directory, url: url))
            defer { central.stop() }
            let daemon = try DaemonProcess(folder: folder)
            defer { daemon.stop() }
            let writer = try Writer(replicaPath: folder.replicaPath, office: "79")
            let location = try PostgresLocation(url: url, password: nil)
            for victim in ["central", "both", "daemon"] {
                let comparison = try Self.kill(victim, central: &central, daemon: daemon, writer: writer)
                #expect(comparison.clean, "after killing the \(victim): \(comparison); writer seed \(writer.seed)")
                // The copy was made before the first changeset: what it holds, the record's passes brought.
                // (Trivially > 0 after the writer's rounds; it keeps the next check from passing on nothing.)
                let acknowledged = try writer.replica.syncPosition().lastAcked
                #expect(acknowledged > 0)
                #expect(try await TestPostgres.changesets(of: "79", at: location, logger: logger) >= acknowledged, "after killing the \(victim)")
            }
            central.stop()  // the last pass below is the test's own
            let differing = try await TestPostgres.differingTables(storePath: directory + "/central.sqlite", in: url, logger: logger)
            #expect(differing.isEmpty, "the copy differs from the store in \(differing)")
            #expect(writer.errors.isEmpty)
        }
    }

    /// Two centres on one PostgreSQL record (docs/OPERATIONS.md, "A standby centre"): the second
    /// waits without listening while the first serves. The first is killed in the middle of an
    /// office's writes; the second takes over by itself, rebuilds its store from the record and
    /// serves on the same address, and the office converges with nothing lost or applied twice.
    /// Then the lease is given by hand to a third name, as a centre the second cannot see would
    /// take it: the second stops serving at its next pass (it never acknowledges again), and the
    /// first, started again, waits, takes over from that silent holder, moves its own store (now
    /// behind the record) aside, rebuilds it, and the office converges with it.
    @Test(.enabled(if: TestPostgres.url != nil, "PostgreSQL is not installed here (apt install postgresql); CI runs this"))
    func aStandbyCentreTakesOverWithNothingLost() async throws {
        let logger = TestPostgres.recordLogger
        try await TestPostgres.withDatabase { url in
            let first = try Harness.temporaryDirectory("standby-first")
            let setup = try CentralProcess(directory: first)
            let folder = try OfficeFolder.make("79", central: setup, name: "standby-office")
            setup.stop()
            let environment = try CentralProcess.durableRecord(directory: first, url: url).merging([
                "PROMO_CENTRAL_STORE_LEASE_SECONDS": "5", "PROMO_CENTRAL_LOG_LEVEL": "notice",
            ]) { a, _ in a }
            let serving = try CentralProcess(directory: first, port: setup.port, environment: environment)
            defer { serving.stop() }
            // The standby: an empty data folder, the same record and the same address.
            let second = try Harness.temporaryDirectory("standby-second")
            let standby = try CentralProcess(directory: second, port: setup.port, environment: environment, waitUntilServing: false)
            defer { standby.stop() }
            let daemon = try DaemonProcess(folder: folder)
            defer { daemon.stop() }
            let writer = try Writer(replicaPath: folder.replicaPath, office: "79")
            writer.start()
            sleep(3)
            #expect(standby.process.isRunning && !FileManager.default.fileExists(atPath: second + "/central.port"), "the standby must wait")
            #expect(try String(contentsOfFile: second + "/central.log", encoding: .utf8).contains("another centre serves"))
            // An operator asks who serves.
            let name = try String(contentsOfFile: first + "/centre.id", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            let lease = try Harness.run("promo-central", ["store", "lease", "--to", url])
            #expect(lease.hasPrefix("\(name) holds the lease since ") && lease.contains(": serving"), "\(lease)")
            // An operator's command on the standby's machine: a write is refused, naming the centre
            // that serves (the standby's store is rebuilt when it takes over, so the write would be
            // lost); a read runs, told that the store may be out of date. On the serving centre's
            // machine, both run without a word.
            func command(_ arguments: [String], in directory: String) throws -> (status: Int32, errors: String) {
                let log = directory + "/command.log"
                let process = try Harness.start(
                    "promo-central", arguments + ["--data-dir", directory], environment: environment, stdout: true, stderrFile: log)
                _ = process.output?.readDataToEndOfFile()
                process.waitUntilExit()
                return (process.terminationStatus, try String(contentsOfFile: log, encoding: .utf8))
            }
            let refused = try command(["office", "add", "80", "--token-file", second + "/80.token"], in: second)
            #expect(refused.status != 0 && refused.errors.contains("centre \(name) serves from the PostgreSQL record"), "\(refused)")
            #expect(refused.errors.contains("is a standby") && refused.errors.contains("would be lost"), "\(refused)")
            let stale = try command(["office", "list"], in: second)
            #expect(stale.status == 0 && stale.errors.contains("may be out of date"), "\(stale)")
            let added = try command(["office", "add", "80", "--token-file", first + "/80.token"], in: first)
            #expect(added.status == 0 && added.errors.isEmpty, "\(added)")
            serving.kill9()
            // The office says nothing more until the standby's store is checked: what it was told
            // is kept must be there without its sending anything again.
            daemon.stop()
            writer.stop()
            let acknowledgedBeforeTheKill = try writer.replica.syncPosition().lastAcked
            try standby.waitUntilServing(timeout: 60)
            var readOnly = Configuration()
            readOnly.readonly = true
            let held = try DatabaseQueue(path: second + "/central.sqlite", configuration: readOnly).inDatabase { db in
                try Int64.fetchOne(db, sql: "SELECT last_sequence FROM office WHERE code = '79'") ?? 0
            }
            #expect(acknowledgedBeforeTheKill > 0)
            #expect(held >= acknowledgedBeforeTheKill, "the standby's store holds 79's changesets to \(held), the office was told \(acknowledgedBeforeTheKill)")
            try daemon.restart()
            try Campaigns.waitUntilQuiet(writer.replica, timeout: 90)
            let afterKill = try Campaigns.compare(
                expected: writer.expected, replica: writer.replica, centralPath: second + "/central.sqlite", office: "79")
            #expect(afterKill.clean, "after the standby took over: \(afterKill); writer seed \(writer.seed)")
            // A follower on the dead centre's folder would write its stale store into the record
            // without a lease: refused, naming the centre that serves.
            let followLog = first + "/follow.log"
            let follow = try Harness.start(
                "promo-central", ["store", "follow", "--once", "--data-dir", first, "--to", url], stderrFile: followLog)
            follow.waitUntilExit()
            #expect(follow.terminationStatus != 0)
            #expect(try String(contentsOfFile: followLog, encoding: .utf8).contains("serves with"))
            let location = try PostgresLocation(url: url, password: nil)
            let acknowledged = try writer.replica.syncPosition().lastAcked
            #expect(acknowledged > 0)
            #expect(try await TestPostgres.changesets(of: "79", at: location, logger: logger) >= acknowledged)

            // The first, started again, waits: the second serves.
            try serving.restart(waitUntilServing: false)
            sleep(2)
            #expect(serving.process.isRunning && !FileManager.default.fileExists(atPath: first + "/central.port"), "the old centre must wait")
            // A holder the second does not know of takes the lease: the second stops at its next pass.
            try await location.withClient(logger: logger) { client in
                _ = try await client.query("UPDATE promo.serving SET holder = 'elsewhere/0', renewed_at = now()", logger: logger)
            }
            for _ in 0..<100 where standby.process.isRunning { usleep(100_000) }
            #expect(!standby.process.isRunning && standby.process.terminationStatus != 0, "a centre that lost the lease must stop")
            #expect(try String(contentsOfFile: second + "/central.log", encoding: .utf8).contains("took over the PostgreSQL record"))
            // Changes made meanwhile wait at the office; 'elsewhere' never renews, so the first takes over.
            writer.start()
            sleep(1)
            writer.stop()
            try serving.waitUntilServing(timeout: 60)
            try Campaigns.waitUntilQuiet(writer.replica, timeout: 90)
            let afterFence = try Campaigns.compare(
                expected: writer.expected, replica: writer.replica, centralPath: first + "/central.sqlite", office: "79")
            #expect(afterFence.clean, "after the first took over again: \(afterFence); writer seed \(writer.seed)")
            let aside = try FileManager.default.contentsOfDirectory(atPath: first).filter { $0.hasPrefix("central.sqlite.superseded-") }
            #expect(!aside.isEmpty, "the first centre's old store must be kept aside")
            serving.stop()
            let differing = try await TestPostgres.differingTables(storePath: first + "/central.sqlite", in: url, logger: logger)
            #expect(differing.isEmpty, "the record differs from the serving store in \(differing)")
            // A planned switch: the stopped centre gives its lease up, which only it can.
            let released = try command(["store", "lease", "--to", url, "--release"], in: first)
            #expect(released.status == 0, "\(released)")
            let again = try command(["store", "lease", "--to", url, "--release"], in: first)
            #expect(again.status != 0 && again.errors.contains("no centre holds it"), "\(again)")
            #expect(writer.errors.isEmpty)
        }
    }

    @Test func networkFaultsDoNotDamageAndTheOfficeConverges() throws {
        let central = try CentralProcess(directory: try Harness.temporaryDirectory("smoke-net-central"))
        defer { central.stop() }
        let proxy = try FaultProxy(upstreamPort: central.port)
        let folder = try OfficeFolder.make("80", central: central, name: "smoke-net-office")
        let daemon = try DaemonProcess(folder: folder, environment: ["PROMO_SYNC_CENTRAL_URL": "http://127.0.0.1:\(proxy.port)"])
        defer { daemon.stop() }
        let writer = try Writer(replicaPath: folder.replicaPath, office: "80")
        writer.start()
        sleep(4)
        writer.stop()
        proxy.setFaults(false)
        try Campaigns.waitUntilQuiet(writer.replica, timeout: 90)
        let comparison = try Campaigns.compare(
            expected: writer.expected, replica: writer.replica,
            centralPath: central.directory + "/central.sqlite", office: "80")
        #expect(comparison.clean, "\(comparison); writer seed \(writer.seed), fault proxy seed \(proxy.seed)")
        #expect(proxy.counts.values.reduce(0, +) > proxy.counts["pass", default: 0])
    }

    @Test func badRequestsAreRefusedAndChangeNothing() async throws {
        let central = try CentralProcess(directory: try Harness.temporaryDirectory("smoke-input-central"))
        defer { central.stop() }
        let folder = try OfficeFolder.make("86", central: central, name: "smoke-input-office")
        let replica = try Replica.open(at: folder.replicaPath)
        try replica.data.addPlanLine(year: 2025, fundSource: .local, amount: 1, note: nil)
        try Harness.run("promo-sync", ["sync", "--data-dir", folder.directory])
        let foreign = try await BadInput.anotherOffice("80", central: central)
        let before = try BadInput.fingerprint(central.directory + "/central.sqlite")
        let result = try await BadInput.requests(
            url: central.url, token: try TokenFile.read(path: folder.tokenFile), count: 300, replica: replica,
            foreign: foreign)
        #expect(result.not4xx.isEmpty, "\(result.not4xx.prefix(5))")
        // Each defect reached the check it is named for and got its own status and code.
        #expect(result.wrongRefusal.isEmpty, "\(result.wrongRefusal.prefix(5))")
        #expect(result.pushes.count == BadInput.pushKinds, "\(result.pushes.keys.sorted())")
        #expect(try BadInput.fingerprint(central.directory + "/central.sqlite") == before)
        let files = try BadInput.files(replica: replica, count: 60)
        #expect(files.csvCrashes == 0 && files.replicaUnchanged, "\(files)")
        // Mutated configuration files: nearly all refused, each with a message naming the line or the key.
        #expect(files.configsRefused + files.configsLoaded == files.configs)
        #expect(files.configsRefused * 10 >= files.configs * 9, "\(files)")
        #expect(files.configsUnexplained.isEmpty, "\(files.configsUnexplained.prefix(3))")
    }
}
