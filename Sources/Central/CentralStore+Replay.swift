import Foundation
import GRDB
import Logging
import SyncCore
import WireFormat

/// A row where the store and the state its logs produce differ (`audit verify`). It names the
/// table, the row's key and the column, never the values (they may be amounts).
public struct StateDifference: Sendable, Equatable, CustomStringConvertible {
    /// The table the row belongs to (`office`, `record`, `changeset`…).
    public var table: String
    /// The row's key, its key columns joined by `/` (a record: `project/ID`).
    public var key: String
    /// The first column that differs; nil when the row is on one side only.
    public var column: String?
    /// How they differ, in words that name no value.
    public var problem: String
    /// The table, the key and the problem, on one line.
    public var description: String { "\(table) \(key): \(problem)" }
}

/// The step at which replaying the logs failed: the logs do not produce a state at all.
public struct ReplayFailure: Sendable, Equatable, CustomStringConvertible {
    /// The position, in the one order of changesets and journal entries, of the step that failed.
    public var position: Int64
    /// `changeset OFFICE/SEQUENCE` or `journal entry POSITION (KIND)`.
    public var step: String
    /// Why the step could not be replayed.
    public var message: String
    /// The position, the step and why, on one line.
    public var description: String { "position \(position), \(step): cannot be replayed: \(message)" }
}

/// A changeset the centre accepted when it arrived that this release's rules refuse: a rule
/// tightened since, or a forgery an earlier release let through (a row of another office, a
/// back-dated stamp). The replay applies it as the centre then did, and names it for review.
public struct RefusedNow: Sendable, Equatable, CustomStringConvertible {
    /// Its position in the one order of changesets and journal entries.
    public var position: Int64
    /// The office that pushed it.
    public var office: String
    /// Its sequence in that office's chain.
    public var sequence: Int64
    /// When the centre received it (ISO 8601, as stored).
    public var receivedAt: String
    /// The refusal's code (`forbidden_owner`, `bad_request`…).
    public var code: String
    /// What this release's rules say of it.
    public var message: String
    /// `OFFICE/SEQUENCE`, as `audit verify --reviewed` takes it.
    public var changeset: String { "\(office)/\(sequence)" }
    /// The changeset, when it came and why this release refuses it, on one line.
    public var description: String {
        "position \(position), changeset \(changeset), received \(receivedAt): accepted then, refused by this release's rules (\(code)): \(message)"
    }
}

/// The head of one chain, as `audit verify` prints it for the operator to keep elsewhere:
/// `journal/POSITION=HASH` or `OFFICE/SEQUENCE=HASH`. Given back (`--expect`), a head no longer
/// in the store shows that the logs were rewritten, even consistently.
public struct ChainHead: Sendable, Equatable, CustomStringConvertible {
    /// `journal`, or an office code.
    public var chain: String
    /// The journal entry's position, or the office's changeset sequence.
    public var position: Int64
    /// The head's SHA-256 in lowercase hex (64 digits).
    public var hash: String
    /// The head as `audit verify` prints it and `--expect` reads it: `CHAIN/POSITION=HASH`.
    public var description: String { "\(chain)/\(position)=\(hash)" }

    /// Creates a head from its parts; the hash is taken as given.
    public init(chain: String, position: Int64, hash: String) {
        self.chain = chain
        self.position = position
        self.hash = hash
    }

    /// Reads `CHAIN/POSITION=HASH`.
    public init?(_ text: String) {
        let parts = text.split(separator: "=", maxSplits: 1).map(String.init)
        guard parts.count == 2, let slash = parts[0].lastIndex(of: "/"), let position = Int64(parts[0][parts[0].index(after: slash)...]),
            parts[1].count == 64, parts[1].allSatisfy(\.isHexDigit)
        else { return nil }
        self.init(chain: String(parts[0][..<slash]), position: position, hash: parts[1].lowercased())
    }
}

/// What `audit verify` found.
public struct AuditReport: Sendable {
    /// Breaks in the offices' changeset chains.
    public var chainProblems: [ChainProblem] = []
    /// Breaks in the centre's log: a missing, doubled or altered position, entry or changeset receipt.
    public var journalProblems: [JournalProblem] = []
    /// Recorded heads (`--expect`) the store no longer holds.
    public var headProblems: [String] = []
    /// The step at which the replay stopped; nil when every step replayed (or none was tried).
    public var replayFailure: ReplayFailure?
    /// Changesets accepted when they arrived that this release's rules refuse, in their order:
    /// replayed as accepted, and named for a person to review (they are not breaks).
    public var refusedNow: [RefusedNow] = []
    /// At most one per table: its first row (in key order) that differs.
    public var differences: [StateDifference] = []
    /// Why the state could not be replayed at all (a store that held data before the journal).
    public var notReplayable: String?
    /// The last entry of every chain (the journal's, then each office's that pushed), for the operator to keep.
    public var heads: [ChainHead] = []
    /// How many changesets the replay applied to the scratch store.
    public var replayedChangesets = 0
    /// How many journal entries the replay performed on the scratch store.
    public var replayedJournalEntries = 0

    /// A break, a difference or a changed head was found.
    public var problemsFound: Bool {
        !chainProblems.isEmpty || !journalProblems.isEmpty || !headProblems.isEmpty || replayFailure != nil || !differences.isEmpty
    }
    /// The store's state is proven to follow from its logs.
    public var isProven: Bool { !problemsFound && notReplayable == nil }
}

extension CentralStore {
    /// Proves that the store's state follows from its logs: verifies the changeset chains and the
    /// journal, replays both in their one order into a scratch store (the same functions as the
    /// live pushes and commands, with the recorded times, tokens' hashes, clocks and ids), and
    /// compares the two table by table. `expectedHeads` are chain heads printed by an earlier run
    /// and kept elsewhere. The scratch store goes in a new folder under `scratchDirectory`
    /// (default: the system's temporary folder) and is removed afterwards; it takes about as
    /// much room as the store.
    ///
    /// Safe while serving: the logs and the state are read from one snapshot.
    public func auditVerify(expectedHeads: [ChainHead] = [], scratchDirectory: String? = nil) throws(CentralError) -> AuditReport {
        do {
            // Totals are computed lazily (`totals_pending`): bring them up to date first, then
            // audit a snapshot in which none is pending but those of offices whose totals cannot
            // be computed (``totalsProblems()``; the replay meets the same). A push between the
            // two asks for another try.
            for _ in 0..<5 {
                try refreshTotals()
                let stuck = Set(totalsProblems().keys)
                let report = try database.read { db -> AuditReport? in
                    guard Set(try String.fetchAll(db, sql: "SELECT office FROM totals_pending")).isSubset(of: stuck) else { return nil }
                    return try Self.audit(db, expectedHeads: expectedHeads, scratchDirectory: scratchDirectory)
                }
                if let report { return report }
            }
            throw CentralError(
                .serviceUnavailable, .busy, "the store kept changing while it was audited",
                hint: "Run audit verify again in a quieter moment, or with the server stopped.")
        } catch let error as CentralError {
            throw error
        } catch {
            throw CentralError(.internalServerError, .storage, "the audit failed: \(error)", hint: "Check the store and the scratch folder's free space.")
        }
    }

    static func audit(_ db: Database, expectedHeads: [ChainHead], scratchDirectory: String?) throws -> AuditReport {
        var report = AuditReport()
        // 1. The chains: every office's changesets, and the journal with the positions.
        report.chainProblems = try chainProblems(db, office: nil)
        report.journalProblems = try journalProblems(db)
        report.heads = try chainHeads(db)
        report.headProblems = try headProblems(db, expectedHeads)

        // 2. A store upgraded with data in it starts its journal with a baseline: what came
        //    before was never journaled, so there is nothing to replay it from.
        if let first = try Row.fetchOne(db, sql: "SELECT kind, at, payload FROM journal ORDER BY position LIMIT 1"),
            (first["kind"] as String) == "baseline"
        {
            report.notReplayable =
                "the store held data when it was upgraded to the centre journal (schema v4) at \(first["at"] as String); "
                + "what happened before was never journaled, so its state cannot be rebuilt from its logs (the chains were verified)"
            return report
        }

        // 3. Replay into a scratch store.
        let folder = ((scratchDirectory ?? NSTemporaryDirectory()) as NSString).appendingPathComponent("promo-central-audit-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(atPath: folder) }
        // Quiet: what the replay's store would log (a totals overflow, say) the store already did.
        var quiet = Logger(label: "promo-central.audit-replay")
        quiet.logLevel = .critical
        let scratch = try CentralStore(path: (folder as NSString).appendingPathComponent(fileName), threads: 1, logger: quiet, purpose: .replay)
        try replay(db, into: scratch, report: &report)
        if report.replayFailure != nil { return report }

        // 4. Compare, table by table.
        try scratch.refreshTotals()
        report.differences = try scratch.database.read { replayed in
            var differences = try comparedTables.compactMap { try firstDifference($0, store: db, replay: replayed) }
            // The records' order in the change log, once their contents agree (otherwise every
            // later record's place would differ too, and say nothing more).
            if !differences.contains(where: { $0.table == "record" }), let order = try firstOrderDifference(store: db, replay: replayed) {
                differences.append(order)
            }
            return differences
        }
        return report
    }

    /// The last entry of every chain.
    static func chainHeads(_ db: Database) throws -> [ChainHead] {
        var heads: [ChainHead] = []
        if let row = try Row.fetchOne(db, sql: "SELECT position, hash FROM journal ORDER BY position DESC LIMIT 1") {
            heads.append(ChainHead(chain: "journal", position: row["position"], hash: row["hash"]))
        }
        for row in try Row.fetchAll(db, sql: "SELECT code, last_sequence, last_hash FROM office WHERE last_sequence > 0 ORDER BY code") {
            heads.append(ChainHead(chain: row["code"], position: row["last_sequence"], hash: row["last_hash"]))
        }
        return heads
    }

    static func headProblems(_ db: Database, _ expected: [ChainHead]) throws -> [String] {
        try expected.compactMap { head in
            let stored =
                head.chain == "journal"
                ? try String.fetchOne(db, sql: "SELECT hash FROM journal WHERE position = ?", arguments: [head.position])
                : try String.fetchOne(db, sql: "SELECT hash FROM changeset WHERE office = ? AND sequence = ?", arguments: [head.chain, head.position])
            guard let stored else { return "\(head.chain)/\(head.position): the recorded head is no longer in the store" }
            return stored == head.hash
                ? nil : "\(head.chain)/\(head.position): the store holds another hash there than the recorded head (its logs were rewritten)"
        }
    }

    /// Applies every changeset and journal entry, in their one order, to `scratch`.
    static func replay(_ db: Database, into scratch: CentralStore, report: inout AuditReport) throws {
        let items = try Row.fetchCursor(
            db,
            sql: """
                SELECT position, 0 AS source, office AS name, sequence, body AS content, received_at AS at FROM changeset
                UNION ALL
                SELECT position, 1, kind, NULL, payload, at FROM journal
                ORDER BY position
                """)
        while let row = try items.next() {
            let position: Int64 = row["position"] ?? 0
            let isChangeset = (row["source"] as Int64) == 0
            let name: String = row["name"]
            let step = isChangeset ? "changeset \(name)/\(row["sequence"] as Int64)" : "journal entry \(position) (\(name))"
            do {
                guard let now = Timestamps.parse(row["at"] as String?) else {
                    throw CentralError(.unprocessableContent, .badTime, "its time cannot be read")
                }
                if isChangeset {
                    let body: Data = row["content"]
                    let changeset: Changeset
                    do { changeset = try Changeset(jsonData: ChangesetBody.json(body) ?? body) } catch {
                        throw CentralError(.unprocessableContent, .unreadable, "its stored body cannot be read")
                    }
                    // What the rules refuse of a changeset accepted when it arrived: replayed as
                    // then, and every refusal named.
                    let refusals = RuleRefusals()
                    let answer = try scratch.apply(
                        changeset, body: body, from: OfficeCode(unchecked: name), now: now, position: position, refusals: refusals)
                    for refusal in refusals.all {
                        report.refusedNow.append(
                            RefusedNow(
                                position: position, office: name, sequence: row["sequence"], receivedAt: row["at"], code: refusal.code.rawValue,
                                message: refusal.message))
                    }
                    guard answer.outcome == .applied else {
                        throw CentralError(.conflict, .duplicate, "the replay took it for a re-send of a changeset already applied")
                    }
                    report.replayedChangesets += 1
                } else {
                    let action = try CentreAction(kind: name, payload: row["content"])
                    try scratch.database.write { replayed in try perform(replayed, action, at: now, position: position) }
                    report.replayedJournalEntries += 1
                }
            } catch {
                report.replayFailure = ReplayFailure(position: position, step: step, message: (error as? CentralError)?.message ?? "\(error)")
                return
            }
        }
    }

    /// A table compared between the store and its replay: its key and the columns that must match.
    struct ComparedTable: Sendable {
        var name: String
        var keys: [String]
        var columns: [String]
        /// A row found on one side only that is no difference.
        var aloneIsFine: (@Sendable (Row, Int) -> Bool)? = nil
        /// A column an earlier release stored in another form, and that form as this release
        /// writes it: the store's value is compared in the form the replay writes.
        var earlierForm: (column: String, current: @Sendable (String) -> String)? = nil
    }

    /// `record.seq` itself depends on when totals were recomputed (at the first read after a
    /// change; pulls are not logged), but the order of the offices' records and conflicts in the
    /// change log does not. Both are stepped in that order; at the first place they part, the
    /// record that was moved is named (one whose place was lowered would not be pulled again by an
    /// office already past it).
    static func firstOrderDifference(store: Database, replay: Database) throws -> StateDifference? {
        // Withdrawn conflicts say nothing of the order (one an earlier release's rules made and
        // this release's withdrew is in the store alone: ``isConflictTombstone(_:deletedAt:)``).
        let sql = "SELECT tbl || '/' || id FROM record WHERE office <> 'central' AND NOT (tbl = 'conflict' AND deleted_at IS NOT NULL) ORDER BY seq"
        let stored = try String.fetchCursor(store, sql: sql)
        let replayed = try String.fetchCursor(replay, sql: sql)
        var a = try stored.next()
        var b = try replayed.next()
        while let here = a, let there = b {
            if here != there {
                // `here` stands where the logs put `there`: it was moved earlier, unless the logs
                // put it next (then `there` was moved later).
                let nextStored = try stored.next()
                let nextReplayed = try replayed.next()
                let moved = nextStored == there || nextReplayed != here ? here : there
                return StateDifference(
                    table: "record", key: moved, column: "seq",
                    problem: "its place in the change log (among the offices' records) is not what its logs produce")
            }
            a = try stored.next()
            b = try replayed.next()
        }
        return nil
    }

    /// Every table of the store, every column but `record.seq` (see ``recordOrder``).
    static let comparedTables: [ComparedTable] = [
        ComparedTable(
            name: "office", keys: ["code"],
            columns: ["token_hash", "created_at", "revoked_at", "last_sequence", "last_hash", "merged_into", "merged_at"]),
        ComparedTable(name: "journal", keys: ["position"], columns: ["kind", "payload", "at", "previous_hash", "hash"]),
        ComparedTable(
            name: "changeset", keys: ["office", "sequence"],
            columns: ["hash", "previous_hash", "change_count", "body", "received_at", "position", "chain_hash"]),
        ComparedTable(name: "history", keys: ["tbl", "id", "hlc"], columns: ["aggregate", "op", "fields", "writer", "position"]),
        // A total that fell back to zero stays as a zero row where the totals were computed in
        // between (at a pull), and does not exist where they were not: both say nothing was paid.
        ComparedTable(
            name: "record", keys: ["tbl", "id"],
            columns: ["office", "fields", "clocks", "deleted_at", "held", "aggregate", "echo_office", "echo_sequence"],
            aloneIsFine: { row, keys in isZeroTotal(row, fieldsAt: keys + 1) || isConflictTombstone(row, deletedAt: keys + 3) },
            // Before 1.8.0 a row's clocks were an object even when all were one.
            earlierForm: ("clocks", FieldCoding.currentForm(ofClocks:))),
        ComparedTable(name: "meta", keys: ["key"], columns: ["value"]),
        ComparedTable(name: "totals_pending", keys: ["office"], columns: []),
    ]

    /// A conflict withdrawn says what no conflict says: an earlier release's fold made it and this
    /// release's, applying its rules to the store (``applyRules(_:release:aggregates:now:position:)``), withdrew it,
    /// while the replay, folding under this release's rules from the start, never made it.
    static func isConflictTombstone(_ row: Row, deletedAt index: Int) -> Bool {
        (row[0] as String) == "conflict" && (row[index] as String?) != nil
    }

    static func isZeroTotal(_ row: Row, fieldsAt index: Int) -> Bool {
        let amounts: [String] =
            switch row[0] as String {
            case ConsolidatedTable.provinceTotal.rawValue: ["plan_amount", "disbursed_amount"]
            case ConsolidatedTable.disbursedTotal.rawValue: ["amount"]
            default: []
            }
        guard !amounts.isEmpty, let fields = try? FieldCoding.decode(row[index] as String) else { return false }
        return amounts.allSatisfy { fields[$0] == .integer(0) }
    }

    /// The first row, in key order, where the two stores differ. Both are stepped in key order
    /// side by side, so the cost is one pass over each and no memory per row.
    static func firstDifference(_ table: ComparedTable, store: Database, replay: Database) throws -> StateDifference? {
        let sql = "SELECT \((table.keys + table.columns).joined(separator: ", ")) FROM \(table.name) ORDER BY \(table.keys.joined(separator: ", "))"
        let stored = try Row.fetchCursor(store, sql: sql)
        let replayed = try Row.fetchCursor(replay, sql: sql)
        let keyCount = table.keys.count
        func key(_ row: Row) -> String {
            (0..<keyCount).map { (row[$0] as DatabaseValue).description(unquoted: true) }.joined(separator: "/")
        }
        var a = try stored.next()
        var b = try replayed.next()
        while a != nil || b != nil {
            let order: Int
            if let a, let b { order = compareKeys(a, b, count: keyCount) } else { order = a == nil ? 1 : -1 }
            if order < 0, let row = a {
                if table.aloneIsFine?(row, keyCount) != true {
                    return StateDifference(table: table.name, key: key(row), column: nil, problem: "is in the store, but its logs do not produce it")
                }
                a = try stored.next()
            } else if order > 0, let row = b {
                if table.aloneIsFine?(row, keyCount) != true {
                    return StateDifference(table: table.name, key: key(row), column: nil, problem: "its logs produce it, but it is missing from the store")
                }
                b = try replayed.next()
            } else if let row = a, let other = b {
                for (offset, column) in table.columns.enumerated()
                where !same(
                    row[keyCount + offset], other[keyCount + offset], earlierForm: table.earlierForm?.column == column ? table.earlierForm?.current : nil)
                {
                    return StateDifference(
                        table: table.name, key: key(row), column: column,
                        problem: "its \(column) differs from what its logs produce")
                }
                a = try stored.next()
                b = try replayed.next()
            }
        }
        return nil
    }

    /// Whether a column holds the same in the store (`x`) and the replay (`y`), as SQLite stores
    /// them: text byte for byte (not by Unicode equivalence), the store's text also taken in its
    /// `earlierForm` when the two differ.
    static func same(_ x: DatabaseValue, _ y: DatabaseValue, earlierForm: (@Sendable (String) -> String)? = nil) -> Bool {
        switch (x.storage, y.storage) {
        case (.string(let p), .string(let q)): p.utf8.elementsEqual(q.utf8) || earlierForm.map { $0(p).utf8.elementsEqual(q.utf8) } == true
        default: x == y
        }
    }

    /// Keys in SQLite's order (BINARY collation): numbers before text, text by its bytes.
    static func compareKeys(_ x: Row, _ y: Row, count: Int) -> Int {
        for index in 0..<count {
            let p: DatabaseValue = x[index]
            let q: DatabaseValue = y[index]
            switch (p.storage, q.storage) {
            case (.int64(let l), .int64(let r)):
                if l != r { return l < r ? -1 : 1 }
            case (.string(let l), .string(let r)):
                if !l.utf8.elementsEqual(r.utf8) { return l.utf8.lexicographicallyPrecedes(r.utf8) ? -1 : 1 }
            default:
                func rank(_ v: DatabaseValue) -> Int {
                    switch v.storage {
                    case .null: 0
                    case .int64, .double: 1
                    case .string: 2
                    case .blob: 3
                    }
                }
                if rank(p) != rank(q) { return rank(p) < rank(q) ? -1 : 1 }
            }
        }
        return 0
    }
}

extension DatabaseValue {
    /// A key value as text, without quotes.
    fileprivate func description(unquoted: Bool) -> String {
        switch storage {
        case .null: "NULL"
        case .int64(let i): "\(i)"
        case .double(let d): "\(d)"
        case .string(let s): s
        case .blob(let data): "<\(data.count) bytes>"
        }
    }
}
