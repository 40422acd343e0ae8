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

/// A writer for an office on another release: it keeps running that release's own
/// `promo-sync plan add` and remembers what each line holds. Its replica is never opened by this
/// build's code, which would migrate it to this release's schema.
public final class CommandWriter: @unchecked Sendable {
    public let program: String
    public let folder: OfficeFolder
    public let office: String
    private let state = Mutex<(expected: [String: Int64], errors: [String], running: Bool)>(([:], [], false))
    private var thread: Thread?
    /// The seed of the amounts, printed with the campaign so a run can be replayed.
    public let seed: UInt64 = .random(in: 1...UInt64.max)

    public init(program: String, folder: OfficeFolder, office: String) {
        self.program = program
        self.folder = folder
        self.office = office
    }

    /// Plan line id to amount, for every line a command reported added.
    public var expected: [String: Int64] { state.withLock { $0.expected } }
    /// What failed commands said.
    public var errors: [String] { state.withLock { $0.errors } }

    public func start() {
        state.withLock { $0.running = true }
        let seed = self.seed &+ UInt64(expected.count)
        let thread = Thread { [self] in
            var random = SeededRandom(seed: seed)
            var counter = expected.count
            while state.withLock({ $0.running }) {
                counter += 1
                let amount = Int64.random(in: 1...1_000_000_000, using: &random)
                do {
                    let id = try Harness.run(
                        program,
                        [
                            "plan", "add", "--data-dir", folder.directory, "--year", String(2020 + counter % 7), "--fund", "local", "--amount", String(amount),
                            "--note", "chaos \(counter)",
                        ]
                    ).trimmingCharacters(in: .whitespacesAndNewlines)
                    state.withLock { $0.expected[id] = amount }
                } catch {
                    state.withLock { $0.errors.append("\(error)") }
                }
            }
        }
        self.thread = thread
        thread.start()
    }

    /// Stops after the command under way, which may still add its line.
    public func stop() {
        state.withLock { $0.running = false }
        while let thread, !thread.isFinished { usleep(10_000) }
    }
}

/// A promo-sync daemon process for one office folder.
public final class DaemonProcess {
    public let folder: OfficeFolder
    public private(set) var process: ChildProcess
    public let environment: [String: String]

    public let logFile: String
    /// The promo-sync it runs: this build's, or a path to another release's.
    public let program: String

    public init(folder: OfficeFolder, environment: [String: String] = [:], logFile: String? = nil, program: String = "promo-sync") throws {
        self.folder = folder
        self.environment = environment
        self.logFile = logFile ?? folder.directory + "/daemon.log"
        self.program = program
        process = try Self.launch(folder, environment, self.logFile, program)
    }

    public static func launch(_ folder: OfficeFolder, _ environment: [String: String], _ logFile: String, _ program: String = "promo-sync") throws
        -> ChildProcess
    {
        var env = environment
        env["PROMO_SYNC_SYNC_INITIAL_BACKOFF_MS"] = env["PROMO_SYNC_SYNC_INITIAL_BACKOFF_MS"] ?? "50"
        env["PROMO_SYNC_SYNC_MAX_BACKOFF_SECONDS"] = env["PROMO_SYNC_SYNC_MAX_BACKOFF_SECONDS"] ?? "1"
        return try Harness.start(
            program, ["daemon", "--data-dir", folder.directory, "--interval", "1"], environment: env,
            stderrFile: logFile)
    }

    public func kill9() {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    public func restart() throws { process = try Self.launch(folder, environment, logFile, program) }

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
    /// Waits until the office has nothing pending and a cycle that started after now succeeded
    /// and pulled (a daemon's cycle for a local write may only push; its pull follows).
    public static func waitUntilQuiet(_ replica: Replica, timeout: Double = 60) throws {
        let start = Date()
        while Date().timeIntervalSince(start) < timeout {
            let status = try replica.status()
            if status.pending.changes == 0, status.pending.unacknowledgedChangesets == 0, status.lastError == nil,
                let attempt = status.lastAttemptAt, attempt > start.addingTimeInterval(0.2),
                let pulled = status.lastPullAt, pulled > start.addingTimeInterval(0.2)
            {
                return
            }
            usleep(50_000)
        }
        let status = try replica.status()
        throw BenchError(
            "the office did not become quiet within \(Int(timeout)) s: \(status.pending.changes) pending, last error \(status.lastError ?? "none")")
    }

    /// What another release's `promo-sync status --json` says; only members every release since
    /// 1.0.0 writes.
    struct PreviousStatus: Decodable {
        struct Pending: Decodable {
            let changes: Int
            let changesets: Int
        }
        let pending: Pending
        let lastSequence: Int64
        let lastAcknowledgedSequence: Int64
    }

    static func status(program: String, folder: OfficeFolder) throws -> PreviousStatus {
        // `status` exits non-zero for a degraded office; its JSON is what counts here.
        let process = try Harness.start(program, ["status", "--json", "--data-dir", folder.directory], stdout: true)
        let data = process.output?.readDataToEndOfFile() ?? Data()
        process.waitUntilExit()
        return try JSONDecoder().decode(PreviousStatus.self, from: data)
    }

    /// Waits until an office on another release has pushed everything and had it acknowledged, as
    /// that release's own `status` tells.
    public static func waitUntilQuiet(program: String, folder: OfficeFolder, timeout: Double = 60) throws {
        let start = Date()
        var last: PreviousStatus?
        while Date().timeIntervalSince(start) < timeout {
            let status = try status(program: program, folder: folder)
            if status.pending.changes == 0, status.pending.changesets == 0, status.lastAcknowledgedSequence == status.lastSequence { return }
            last = status
            usleep(100_000)
        }
        throw BenchError(
            "the office did not become quiet within \(Int(timeout)) s: \(last?.pending.changes ?? -1) changes pending, \(last.map { $0.lastSequence - $0.lastAcknowledgedSequence } ?? -1) changesets unacknowledged"
        )
    }

    /// Compares what an office on another release committed with its replica (read-only SQL, no
    /// migration) and the centre's store; its own `verify` (a digest comparison made by that
    /// release against this centre) stands for the digests.
    public static func compare(expected: [String: Int64], program: String, folder: OfficeFolder, centralPath: String, office: String) throws
        -> Comparison
    {
        var readOnly = Configuration()
        readOnly.readonly = true
        let replica = try DatabaseQueue(path: folder.replicaPath, configuration: readOnly)
        defer { try? replica.close() }
        let local: [String: Int64] = try replica.read { db in
            var out: [String: Int64] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT id, amount FROM plan_line WHERE office = ?", arguments: [office]) { out[row["id"]] = row["amount"] }
            return out
        }
        let acked = try status(program: program, folder: folder).lastAcknowledgedSequence
        var result = try compareAtCentre(expected: expected, local: local, acknowledged: acked, centralPath: centralPath, office: office)
        result.digestsEqual = (try? Harness.run(program, ["verify", "--data-dir", folder.directory])) != nil
        let replicaOK = try replica.read { try String.fetchOne($0, sql: "PRAGMA integrity_check") } == "ok"
        result.integrityOK = result.integrityOK && replicaOK
        return result
    }

    /// Compares what the writer committed, the replica and the centre's store, row by row and by digest.
    public static func compare(expected: [String: Int64], replica: Replica, centralPath: String, office: String) throws -> Comparison {
        let local: [String: Int64] = try replica.database.read { db in
            var out: [String: Int64] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT id, amount FROM plan_line WHERE office = ?", arguments: [office]) { out[row["id"]] = row["amount"] }
            return out
        }
        var result = try compareAtCentre(
            expected: expected, local: local, acknowledged: try replica.syncPosition().lastAcked, centralPath: centralPath, office: office)
        let store = try CentralStore(path: centralPath, threads: 1)
        result.digestsEqual = try store.digestTree(for: OfficeCode(unchecked: office)).root == replica.digestTree().root
        let replicaOK = try replica.database.read { try String.fetchOne($0, sql: "PRAGMA integrity_check") } == "ok"
        result.integrityOK = result.integrityOK && replicaOK
        return result
    }

    /// What the writer committed against the office's plan lines (`local`) and the centre's store:
    /// rows lost, stale, unexpected or differing at the office; changesets applied twice, or an
    /// acknowledged sequence the centre does not hold as the office's last; the store's integrity.
    static func compareAtCentre(expected: [String: Int64], local: [String: Int64], acknowledged: Int64, centralPath: String, office: String) throws
        -> Comparison
    {
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
            return dupChangesets + (last == acknowledged ? 0 : 1)
        }
        result.integrityOK = try central.read { try String.fetchOne($0, sql: "PRAGMA integrity_check") } == "ok"
        return result
    }
}
