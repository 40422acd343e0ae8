import Foundation
import GRDB
import SyncCore

/// A break found in the centre's journal, or in the one order of changesets and journal entries.
public struct JournalProblem: Sendable, Equatable, CustomStringConvertible {
    /// The position where the log breaks (the first missing one, for a gap); 0 when a changeset has no position at all.
    public var position: Int64
    /// What is wrong there.
    public var problem: String
    /// The position and the problem, on one line.
    public var description: String { "journal position \(position): \(problem)" }
}

extension CentralStore {
    /// The next position in the one order that pushed changesets and journal entries share, so
    /// that a replay interleaves them exactly as they happened. Two index look-ups.
    static func nextPosition(_ db: Database) throws -> Int64 {
        try Int64.fetchOne(
            db.cachedStatement(
                sql: """
                    SELECT max(coalesce((SELECT max(position) FROM changeset), 0), coalesce((SELECT max(position) FROM journal), 0)) + 1
                    """)) ?? 1
    }

    /// Appends what the centre did to its journal, chained onto the position before; called
    /// inside the transaction that did it, so the two are stored together or not at all.
    static func journal(_ db: Database, _ action: CentreAction, at now: Date, position: Int64) throws {
        let payload = try action.payload()
        let previous = try chainHash(db, before: position)
        let at = Timestamps.format(now)
        try db.execute(
            sql: "INSERT INTO journal(position, kind, payload, at, previous_hash, hash) VALUES (?, ?, ?, ?, ?, ?)",
            arguments: [
                position, action.kind, payload, at, previous,
                JournalEntry.hash(previous: previous, position: position, kind: action.kind, at: at, payload: payload),
            ])
    }

    /// The hash of the centre's log at the last position before `position`: a journal entry's
    /// hash or a changeset's `chain_hash` (a changeset from before the journal has none: the
    /// chain starts again after it). Two index look-ups.
    static func chainHash(_ db: Database, before position: Int64) throws -> String {
        let entry = try Row.fetchOne(
            db.cachedStatement(sql: "SELECT position, hash FROM journal WHERE position < ? ORDER BY position DESC LIMIT 1"),
            arguments: [position])
        let changeset = try Row.fetchOne(
            db.cachedStatement(sql: "SELECT position, chain_hash FROM changeset WHERE position < ? ORDER BY position DESC LIMIT 1"), arguments: [position])
        switch (entry, changeset) {
        case (let entry?, let changeset?): return ((entry[0] as Int64) > (changeset[0] as Int64) ? entry[1] : changeset[1]) ?? Changeset.genesisHash
        case (let entry?, nil): return entry[1]
        case (nil, let changeset?): return changeset[1] ?? Changeset.genesisHash
        case (nil, nil): return Changeset.genesisHash
        }
    }

    /// What the centre's log records of a changeset it applied (its `chain_hash` covers this and
    /// the time it was received): hashed like a journal entry of kind `changeset`.
    static func receiptHash(previous: String, position: Int64, office: String, sequence: Int64, hash: String, receivedAt: String) -> String {
        JournalEntry.hash(
            previous: previous, position: position, kind: "changeset", at: receivedAt,
            payload: #"{"hash":"\#(hash)","office":"\#(office)","sequence":\#(sequence)}"#)
    }

    /// The journal, oldest first, from `position` on.
    public func journalEntries(from position: Int64 = 0, limit: Int = 100) throws(CentralError) -> [JournalEntry] {
        do {
            return try database.read { db in
                try Row.fetchAll(db, sql: "SELECT * FROM journal WHERE position >= ? ORDER BY position LIMIT ?", arguments: [position, limit]).map {
                    JournalEntry(
                        position: $0["position"], kind: $0["kind"], payload: $0["payload"], at: $0["at"],
                        previousHash: $0["previous_hash"], hash: $0["hash"])
                }
            }
        } catch {
            throw CentralError.storage(error, during: "reading the journal")
        }
    }

    /// Re-verifies the centre's log: every position from 1 to the last is held by exactly one
    /// changeset or journal entry, and from the first journal entry on each hashes to its recorded
    /// hash over the one before it (a journal entry also records that one as `previous_hash`). A
    /// removed, added, reordered or altered entry or changeset receipt breaks it there.
    static func journalProblems(_ db: Database) throws -> [JournalProblem] {
        var problems: [JournalProblem] = []
        let firstEntry = try Int64.fetchOne(db, sql: "SELECT min(position) FROM journal")
        if try Bool.fetchOne(db, sql: "SELECT EXISTS(SELECT 1 FROM changeset WHERE position IS NULL)") == true {
            problems.append(JournalProblem(position: 0, problem: "a changeset has no position in the centre's log"))
        }
        let log = try Row.fetchCursor(
            db,
            sql: """
                SELECT position, 'changeset' AS kind, office, sequence, hash AS content, received_at AS at, NULL AS previous_hash, chain_hash AS hash
                FROM changeset WHERE position IS NOT NULL
                UNION ALL
                SELECT position, kind, NULL, NULL, payload, at, previous_hash, hash FROM journal
                ORDER BY position
                """)
        var expected: Int64 = 1
        var previous = Changeset.genesisHash
        var last: Int64?
        while let row = try log.next() {
            let position: Int64 = row["position"]
            let kind: String = row["kind"]
            if position == last {
                problems.append(JournalProblem(position: position, problem: "is held by more than one changeset or journal entry"))
            } else if position > expected {
                let missing = expected == position - 1 ? "\(expected)" : "\(expected) to \(position - 1)"
                problems.append(
                    JournalProblem(position: expected, problem: "position \(missing) is held by no changeset and no journal entry (one was removed)"))
            }
            last = position
            expected = max(expected, position + 1)
            // Before the journal's first entry: changesets of a store upgraded with data (unchained).
            guard let firstEntry, position >= firstEntry else { continue }
            let recorded: String? = row["hash"]
            if kind == "changeset" {
                let computed = receiptHash(
                    previous: previous, position: position, office: row["office"], sequence: row["sequence"],
                    hash: row["content"], receivedAt: row["at"])
                if recorded != computed {
                    problems.append(
                        JournalProblem(
                            position: position,
                            problem:
                                "changeset \(row["office"] as String)/\(row["sequence"] as Int64): its receipt does not hash to its recorded chain hash (its time or place was altered, or a position before it)"
                        ))
                }
            } else {
                if (row["previous_hash"] as String) != previous {
                    problems.append(
                        JournalProblem(
                            position: position, problem: "does not chain onto the position before it (an entry or changeset was removed, added or altered)"))
                }
                if JournalEntry.hash(previous: row["previous_hash"], position: position, kind: kind, at: row["at"], payload: row["content"]) != recorded {
                    problems.append(JournalProblem(position: position, problem: "does not hash to its recorded hash (altered after it was written)"))
                }
            }
            previous = recorded ?? ""
        }
        return problems.sorted { $0.position < $1.position }
    }

    /// Does a journaled action again, in a store being rebuilt from the logs: the same functions
    /// as the live commands, given what they recorded (a token's hash, clock stamps, row ids).
    static func perform(_ db: Database, _ action: CentreAction, at now: Date, position: Int64) throws {
        switch action {
        case .created(let created):
            try createStore(db, epoch: Epoch(created.epoch), reference: created.reference, now: now, position: position)
        case .baseline:
            throw CentralError(
                .conflict, .notReplayable, "the store was upgraded to the journal with its data already in it",
                hint: "Its state before the upgrade was never journaled; see docs/OPERATIONS.md, audit.")
        case .officeAdded(let office):
            try addOffice(db, OfficeCode(unchecked: office.office), tokenHash: office.tokenHash, now: now, position: position)
        case .tokenRotated(let office):
            try setToken(db, OfficeCode(unchecked: office.office), tokenHash: office.tokenHash, now: now, position: position)
        case .officeRevoked(let office):
            try revoke(db, OfficeCode(unchecked: office.office), now: now, position: position)
        case .officeReinstated(let office):
            try reinstate(db, OfficeCode(unchecked: office.office), now: now, position: position)
        case .officesMerged(let merged):
            _ = try merge(
                db, merged.retired.map(OfficeCode.init(unchecked:)), into: OfficeCode(unchecked: merged.into), overrideReason: merged.overrideReason,
                now: now, position: position)
        case .officeUnmerged(let unmerged):
            _ = try unmerge(
                db, OfficeCode(unchecked: unmerged.office), reason: unmerged.reason, now: now, position: position, recalls: unmerged.recalls == true)
        case .decided(let decided):
            guard let decision = CentreDecision(name: decided.decision, amount: decided.amount) else {
                throw CentralError(.internalServerError, .unknownDecision, "the journal holds a decision '\(decided.decision)' this release does not know")
            }
            try decide(db, project: decided.project, decision, document: decided.document, now: now, position: position, recorded: decided)
        case .conflictResolved(let resolved):
            guard let choice = ResolutionChoice(rawValue: resolved.choice) else {
                throw CentralError(.internalServerError, .unknownChoice, "the journal holds a resolution '\(resolved.choice)' this release does not know")
            }
            try resolve(db, conflict: resolved.conflict, choice, note: resolved.note, now: now, position: position, recorded: resolved)
        case .capSet(let cap):
            guard let fund = FundSource(rawValue: cap.fund) else {
                throw CentralError(.internalServerError, .unknownFund, "the journal holds a cap of fund '\(cap.fund)' this release does not know")
            }
            try setCap(
                db,
                SupportCap(
                    fund: fund, category: cap.category, province: cap.province, maxPercentOfCost: cap.maxPercentOfCost,
                    maxAmount: cap.maxAmount), now: now, position: position)
        case .fleetLimitsSet(let limits):
            try setFleetLimits(
                db, FleetLimits(minOfficeVersion: limits.minOfficeVersion, maxOfficeVersion: limits.maxOfficeVersion),
                now: now, position: position)
        case .restored(let restored):
            try restoredEpoch(db, Epoch(restored.epoch), now: now, position: position)
        case .rulesApplied(let applied):
            try applyRules(db, release: applied.release, aggregates: applied.aggregates, now: now, position: position)
        }
    }
}

extension CentralStore {
    /// Where the store at `db` stands in its logs (``LogMark``).
    public static func logMark(_ db: Database) throws -> LogMark {
        LogMark(
            logPosition: try Int64.fetchOne(
                db, sql: "SELECT max(coalesce((SELECT max(position) FROM changeset), 0), coalesce((SELECT max(position) FROM journal), 0))") ?? 0,
            recordPosition: try Int64.fetchOne(db, sql: "SELECT coalesce(max(seq), 0) FROM record") ?? 0)
    }

    /// Where this store stands in its logs now.
    public func logMark() throws(CentralError) -> LogMark {
        do { return try database.read(Self.logMark) } catch { throw CentralError.storage(error, during: "reading the log position") }
    }
}
