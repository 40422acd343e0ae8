import Central
import Foundation
import GRDB
import Replica
import SyncCore
import SyncTesting
import Synchronization
import WireFormat

/// What one comparison of an office with the centre found.
public struct Comparison: CustomStringConvertible {
    public var expectedRows = 0
    public var lost = 0
    public var stale = 0
    public var phantom = 0
    public var replicaMismatch = 0
    public var digestsEqual = false
    public var integrityOK = false
    public var appliedTwice = 0

    public var clean: Bool { lost == 0 && stale == 0 && phantom == 0 && replicaMismatch == 0 && digestsEqual && integrityOK && appliedTwice == 0 }
    public var description: String {
        "\(expectedRows) rows: \(lost) lost, \(stale) stale, \(phantom) unexpected, \(replicaMismatch) differing at the office, digests \(digestsEqual ? "equal" : "DIFFER"), integrity \(integrityOK ? "ok" : "DAMAGED"), \(appliedTwice) applied twice"
    }
}

/// A writer that keeps committing plan lines (new ones and changes to earlier ones) to the
/// replica from this process, as staff and other programs do, and remembers what it wrote.
public final class Writer: @unchecked Sendable {
    public let replica: Replica
    public let office: String
    private let state = Mutex<(expected: [String: Int64], errors: [String], running: Bool)>(([:], [], false))
    private var thread: Thread?

    /// The seed of the writes' values and timing, printed by the campaigns so a run can be replayed.
    public let seed: UInt64 = .random(in: 1...UInt64.max)

    public init(replicaPath: String, office: String) throws {
        replica = try Replica.open(at: replicaPath)
        self.office = office
    }

    public var expected: [String: Int64] { state.withLock { $0.expected } }
    public var errors: [String] { state.withLock { $0.errors } }

    public func start() {
        state.withLock { $0.running = true }
        let thread = Thread { [self] in
            var random = SeededRandom(seed: seed)
            var counter: Int64 = 0
            while state.withLock({ $0.running }) {
                counter += 1
                do {
                    let known = state.withLock { Array($0.expected.keys.prefix(50)) }
                    if counter % 4 == 0, let id = known.randomElement(using: &random) {
                        // A change to an earlier row.
                        let amount = Int64.random(in: 1...1_000_000_000, using: &random)
                        try replica.database.write { db in
                            try db.execute(sql: "UPDATE plan_line SET amount = ? WHERE id = ?", arguments: [amount, id])
                        }
                        state.withLock { $0.expected[id] = amount }
                    } else {
                        let amount = Int64.random(in: 1...1_000_000_000, using: &random)
                        let id = try replica.data.addPlanLine(year: 2020 + Int(counter % 7), fundSource: .local, amount: amount, note: "chaos \(counter)")
                        state.withLock { $0.expected[id.rawValue] = amount }
                    }
                } catch {
                    state.withLock { $0.errors.append("\(error)") }
                }
                usleep(UInt32.random(in: 1_000...8_000, using: &random))
            }
        }
        self.thread = thread
        thread.start()
    }

    public func stop() {
        state.withLock { $0.running = false }
        usleep(20_000)
    }
}

/// A promo-sync daemon process for one office folder.
public final class DaemonProcess {
    public let folder: OfficeFolder
    public private(set) var process: Process
    public let environment: [String: String]

    public let logFile: String

    public init(folder: OfficeFolder, environment: [String: String] = [:], logFile: String? = nil) throws {
        self.folder = folder
        self.environment = environment
        self.logFile = logFile ?? folder.directory + "/daemon.log"
        process = try Self.launch(folder, environment, self.logFile)
    }

    public static func launch(_ folder: OfficeFolder, _ environment: [String: String], _ logFile: String) throws -> Process {
        var env = environment
        env["PROMO_SYNC_SYNC_INITIAL_BACKOFF_MS"] = env["PROMO_SYNC_SYNC_INITIAL_BACKOFF_MS"] ?? "50"
        env["PROMO_SYNC_SYNC_MAX_BACKOFF_SECONDS"] = env["PROMO_SYNC_SYNC_MAX_BACKOFF_SECONDS"] ?? "1"
        return try Harness.start(
            "promo-sync", ["daemon", "--data-dir", folder.directory, "--interval", "1"], environment: env,
            stderrFile: logFile)
    }

    public func kill9() {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    public func restart() throws { process = try Self.launch(folder, environment, logFile) }

    /// Freezes the daemon where it stands (SIGSTOP), so that its replica does not move while a
    /// campaign looks at it; ``resume()`` lets it go on.
    public func pause() { kill(process.processIdentifier, SIGSTOP) }
    public func resume() { kill(process.processIdentifier, SIGCONT) }

    public func stop() {
        process.terminate()
        process.waitUntilExit()
    }
}

public enum Campaigns {
    /// Waits until the office has nothing pending and a cycle that started after now succeeded.
    public static func waitUntilQuiet(_ replica: Replica, timeout: Double = 60) throws {
        let start = Date()
        while Date().timeIntervalSince(start) < timeout {
            let status = try replica.status()
            if status.pending.changes == 0, status.pending.unacknowledgedChangesets == 0, status.lastError == nil,
                let attempt = status.lastAttemptAt, attempt > start.addingTimeInterval(0.2)
            {
                return
            }
            usleep(50_000)
        }
        let status = try replica.status()
        throw BenchError(
            "the office did not become quiet within \(Int(timeout)) s: \(status.pending.changes) pending, last error \(status.lastError ?? "none")")
    }

    /// Compares what the writer committed, the replica and the centre's store, row by row and by digest.
    public static func compare(expected: [String: Int64], replica: Replica, centralPath: String, office: String) throws -> Comparison {
        var result = Comparison()
        result.expectedRows = expected.count
        let central = try DatabaseQueue(
            path: centralPath,
            configuration: {
                var c = Configuration()
                c.readonly = true
                return c
            }())
        defer { try? central.close() }
        let centre: [String: Int64] = try central.read { db in
            var out: [String: Int64] = [:]
            for row in try Row.fetchAll(
                db, sql: "SELECT id, fields FROM record WHERE tbl = 'plan_line' AND office = ? AND deleted_at IS NULL", arguments: [office])
            {
                out[row["id"]] = try FieldCoding.decode(row["fields"] as String)["amount"]?.integer
            }
            return out
        }
        let local: [String: Int64] = try replica.database.read { db in
            var out: [String: Int64] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT id, amount FROM plan_line WHERE office = ?", arguments: [office]) { out[row["id"]] = row["amount"] }
            return out
        }
        for (id, amount) in expected {
            guard let held = centre[id] else {
                result.lost += 1
                continue
            }
            if held != amount { result.stale += 1 }
            if local[id] != amount { result.replicaMismatch += 1 }
        }
        result.phantom = centre.keys.filter { expected[$0] == nil }.count + local.keys.filter { expected[$0] == nil }.count
        // Nothing applied twice: one history entry per (row, clock) is the key; each changeset
        // sequence once; the office's last acknowledged changeset is the centre's last applied one.
        result.appliedTwice = try central.read { db in
            let dupChangesets =
                try Int.fetchOne(db, sql: "SELECT count(*) - count(DISTINCT sequence) FROM changeset WHERE office = ?", arguments: [office]) ?? 0
            let last = try Int64.fetchOne(db, sql: "SELECT last_sequence FROM office WHERE code = ?", arguments: [office]) ?? -1
            let acked = try replica.syncPosition().lastAcked
            return dupChangesets + (last == acked ? 0 : 1)
        }
        let store = try CentralStore(path: centralPath, threads: 1)
        result.digestsEqual = try store.digestTree(for: OfficeCode(unchecked: office)).root == replica.digestTree().root
        let replicaOK = try replica.database.read { try String.fetchOne($0, sql: "PRAGMA integrity_check") } == "ok"
        let centralOK = try central.read { try String.fetchOne($0, sql: "PRAGMA integrity_check") } == "ok"
        result.integrityOK = replicaOK && centralOK
        return result
    }
}
