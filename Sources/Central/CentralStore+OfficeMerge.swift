import Foundation
import GRDB
import SyncCore
import WireFormat

/// What `promo-central office merge` did.
public struct MergeOutcome: Sendable, Equatable {
    /// The offices merged away; each keeps its records' province codes, now under the receiving office.
    public var retired: [OfficeCode]
    /// The receiving office, which now owns and may edit the retired offices' records.
    public var into: OfficeCode
    /// Aggregates (projects with their ledgers and logs, plan lines, programmes) re-homed.
    public var aggregates: Int
}

extension CentralStore {
    /// Merges offices into another, as provinces were merged in 2025: every record of a retired
    /// office is refolded as the receiving office's and republished, so the receiving office pulls
    /// them and may edit them; records keep their province code (a former province's), and the
    /// history keeps who wrote what. A retired office may still push what it had pending (it lands
    /// under the receiving office); everything else it asks for is answered 410 `office_merged`.
    ///
    /// A merge follows the official map (Decision 19/2025: each former province's successor):
    /// merging an office into any other is refused unless `overrideReason` says why, and the reason
    /// is kept in the centre's journal. ``unmerge(_:reason:now:)`` undoes a merge.
    public func merge(
        _ retired: [OfficeCode], into receiving: OfficeCode, overrideReason: String? = nil,
        now: Date = Date()
    ) throws(CentralError) -> MergeOutcome {
        do {
            return try database.write { db in
                try Self.merge(db, retired, into: receiving, overrideReason: overrideReason, now: now, position: Self.nextPosition(db))
            }
        } catch {
            throw CentralError.storage(error, during: "merging offices into \(receiving)")
        }
    }

    static func merge(
        _ db: Database, _ retired: [OfficeCode], into receiving: OfficeCode, overrideReason: String?,
        now: Date, position: Int64
    ) throws -> MergeOutcome {
        guard !retired.isEmpty else { throw CentralError.badRequest("name at least one office to merge") }
        guard !retired.contains(receiving) else {
            throw CentralError.badRequest("office \(receiving) cannot be merged into itself", hint: "List the retiring offices before --into.")
        }
        for code in retired + [receiving] {
            guard let row = try Row.fetchOne(db, sql: "SELECT merged_into FROM office WHERE code = ?", arguments: [code.rawValue]) else {
                throw CentralError(.notFound, .notFound, "office \(code) is not registered", hint: "See: promo-central office list")
            }
            if let into = row["merged_into"] as String? {
                throw CentralError(
                    .conflict, .officeMerged, "office \(code) was already merged into office \(into)",
                    hint: code == receiving ? "Merge into office \(into) instead." : "Nothing to do for it.")
            }
        }
        let reason = overrideReason?.trimmingCharacters(in: .whitespacesAndNewlines)
        if reason?.isEmpty != false {
            for code in retired {
                let successor = ReferenceData.formerProvinces.first { $0.code == code.rawValue && $0.successor != code.rawValue }?.successor
                guard successor == receiving.rawValue else {
                    throw CentralError(
                        .conflict, .mergeNotInMap,
                        "the official map (Decision 19/2025) merges \(code) \(successor.map { "into \($0)" } ?? "into no other province: it is in force"), not into \(receiving)",
                        hint: (successor.map { "Merge it into \($0), or give" } ?? "Give")
                            + " --override-reason \"…\" (kept in the audit journal) if this office truly goes elsewhere.")
                }
            }
        }
        for code in retired {
            try db.execute(
                sql: "UPDATE office SET merged_into = ?, merged_at = ? WHERE code = ?",
                arguments: [receiving.rawValue, Timestamps.format(now), code.rawValue])
        }
        let rehomed = try rehomedOffices(db)
        let placeholders = retired.map { _ in "?" }.joined(separator: ",")
        let aggregates = try String.fetchAll(
            db, sql: "SELECT DISTINCT aggregate FROM record WHERE office IN (\(placeholders)) AND aggregate IS NOT NULL ORDER BY aggregate",
            arguments: StatementArguments(retired.map(\.rawValue)))
        var records = try RecordWriter(db)
        try cancelRecalls(db, of: retired, records: &records)
        let caps = try supportCaps(db)
        for aggregate in aggregates {
            _ = try refold(db, aggregate: aggregate, rehomed: rehomed, caps: caps, records: &records)
        }
        for office in retired + [receiving] { try markTotalsPending(db, office: office) }
        try journal(
            db, .officesMerged(.init(retired: retired.map(\.rawValue), into: receiving.rawValue, overrideReason: reason?.isEmpty == false ? reason : nil)),
            at: now, position: position)
        return MergeOutcome(retired: retired, into: receiving, aggregates: aggregates.count)
    }

    /// Undoes a merge: the office is active again and every record it made is refolded as its own
    /// and republished, and the office pulls them back; so are the records of offices merged into
    /// it, which now go back with it. Every office that held a row that changes hands is sent a
    /// `recall` for it: it deletes its copy, and what it had not yet pushed of the row is kept aside
    /// as withdrawn changes (an edit of it that reaches the centre first is refused
    /// `forbidden_owner`, and the recall then makes it again without the edit). Rows that stay the holder's
    /// (a payment it made that is now held as another office's entry) are not recalled. The
    /// history is kept: what the receiving office wrote to those records meanwhile stays, and is
    /// judged again under the rules as another office's change. The reason is kept in the
    /// centre's journal.
    public func unmerge(_ office: OfficeCode, reason: String, now: Date = Date()) throws(CentralError) -> MergeOutcome {
        do {
            return try database.write { db in
                try Self.unmerge(db, office, reason: reason, now: now, position: Self.nextPosition(db), recalls: true)
            }
        } catch {
            throw CentralError.storage(error, during: "undoing the merge of office \(office)")
        }
    }

    /// `recalls`: as since 1.6.3 (the records of offices merged into this one are refolded too, and
    /// the rows that change hands are recalled from the offices that held them); false replays an
    /// unmerge journaled by an older release as that release made it.
    static func unmerge(_ db: Database, _ office: OfficeCode, reason: String, now: Date, position: Int64, recalls: Bool) throws -> MergeOutcome {
        guard !reason.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw CentralError.badRequest("say why the merge is undone", hint: "Give --reason \"…\"; it is kept in the audit journal.")
        }
        guard
            let into = try String.fetchOne(
                db, sql: "SELECT merged_into FROM office WHERE code = ? AND merged_into IS NOT NULL",
                arguments: [office.rawValue])
        else {
            throw CentralError(.conflict, .notMerged, "office \(office) is not merged into another", hint: "See: promo-central office list")
        }
        let before = try rehomedOffices(db)
        try db.execute(sql: "UPDATE office SET merged_into = NULL, merged_at = NULL WHERE code = ?", arguments: [office.rawValue])
        let rehomed = try rehomedOffices(db)
        // The offices whose records change hands: this one, and those merged into it before.
        let moving = recalls ? before.keys.filter { before[$0] != rehomed[$0] }.sorted() : [office.rawValue]
        // The aggregates whose root row one of them created: the fold gives them to its new home.
        // Since 1.9.1 also those one of them wrote into (a payment into another office's project
        // made while both answered as a third): left out, that payment stayed the third office's,
        // counted in its totals, after the merge was undone (round 17).
        let placeholders = moving.map { _ in "?" }.joined(separator: ",")
        let aggregates = try String.fetchAll(
            db,
            sql: """
                SELECT DISTINCT aggregate FROM history
                WHERE tbl IN ('project', 'plan_line', 'program') AND id = aggregate AND json_extract(fields, '$.office') IN (\(placeholders))
                \(recalls ? "UNION SELECT DISTINCT aggregate FROM history WHERE writer IN (\(placeholders))" : "")
                ORDER BY aggregate
                """, arguments: StatementArguments(recalls ? moving + moving : moving))
        var records = try RecordWriter(db)
        var offices: Set<String> = [office.rawValue, into]
        let caps = try supportCaps(db)
        for aggregate in aggregates {
            let held = recalls ? try owners(db, aggregate, liveOnly: true) : [:]
            _ = try refold(db, aggregate: aggregate, republish: try republishAll(db, aggregate), rehomed: rehomed, caps: caps, records: &records)
            guard recalls else { continue }
            let now = try owners(db, aggregate, liveOnly: false)
            for (row, holder) in held.sorted(by: { $0.key < $1.key }) {
                guard let owner = now[row], owner != holder else { continue }
                try recall(db, row: row, from: holder, to: owner, reason: reason, records: &records)
                offices.formUnion([holder, owner])
            }
        }
        for code in offices.sorted() { try markTotalsPending(db, office: OfficeCode(unchecked: code)) }
        try journal(db, .officeUnmerged(.init(office: office.rawValue, reason: reason, recalls: recalls ? true : nil)), at: now, position: position)
        return MergeOutcome(retired: [office], into: OfficeCode(unchecked: into), aggregates: aggregates.count)
    }

    /// A record's table (a synced table or `conflict`) and id.
    struct RecordKey: Hashable, Comparable {
        let table: String
        let id: String
        static func < (a: Self, b: Self) -> Bool { (a.table, a.id) < (b.table, b.id) }
    }

    /// The owner of each row of an aggregate (conflict records included).
    static func owners(_ db: Database, _ aggregate: String, liveOnly: Bool) throws -> [RecordKey: String] {
        var owners: [RecordKey: String] = [:]
        let sql = "SELECT tbl, id, office FROM record WHERE aggregate = ?" + (liveOnly ? " AND deleted_at IS NULL" : "")
        for row in try Row.fetchAll(db, sql: sql, arguments: [aggregate]) {
            owners[RecordKey(table: row["tbl"], id: row["id"])] = row["office"]
        }
        return owners
    }

    /// Tells `holder`, which held a row that is now `owner`'s, that it went back: a
    /// `recall` record published to the holder only (docs/PROTOCOL.md), so it deletes its copy and
    /// keeps aside what it had not pushed of it, instead of holding it as its own until a person
    /// rebuilds its replica.
    static func recall(_ db: Database, row: RecordKey, from holder: String, to owner: String, reason: String, records: inout RecordWriter) throws {
        _ = try records.put(
            table: ConsolidatedTable.recall.rawValue, id: "\(row.table)/\(row.id)", office: holder, aggregate: nil,
            fields: ["table": .text(row.table), "row_id": .text(row.id), "office": .text(owner), "reason": .text(reason)],
            clocks: [:], deletedAt: nil, held: false, force: true)
    }

    /// Withdraws the recall records of rows that went back to offices now merged again: an office
    /// that kept one unapplied (a release before recalls, or one waiting for a changeset in flight)
    /// must not apply it after pulling the rows as its own once more. Runs before the refold, so
    /// the tombstones come before the rows in the log.
    static func cancelRecalls(_ db: Database, of retired: [OfficeCode], records: inout RecordWriter) throws {
        let placeholders = retired.map { _ in "?" }.joined(separator: ",")
        let ids = try String.fetchAll(
            db,
            sql: """
                SELECT id FROM record WHERE tbl = 'recall' AND deleted_at IS NULL AND json_extract(fields, '$.office') IN (\(placeholders))
                ORDER BY id
                """, arguments: StatementArguments(retired.map(\.rawValue)))
        for id in ids {
            try db.execute(
                sql: "UPDATE record SET deleted_at = ?, seq = ? WHERE tbl = 'recall' AND id = ?",
                arguments: [HLCTimestamp.zero.description, records.nextPosition(), id])
        }
    }

    /// Every row of an aggregate, so a refold republishes them all (their office changed back).
    static func republishAll(_ db: Database, _ aggregate: String) throws -> Set<SyncedRowKey> {
        Set(
            try Row.fetchAll(db, sql: "SELECT tbl, id FROM record WHERE aggregate = ? AND tbl != 'conflict'", arguments: [aggregate])
                .compactMap { row in SyncedTable(rawValue: row["tbl"]).map { SyncedRowKey($0, row["id"]) } })
    }

    /// Retired office code → the office that now holds its records (following merges of merges).
    static func rehomedOffices(_ db: Database) throws -> [String: String] { try MergeMap(db).rehomed }

    /// Refuses a retired office's requests other than pushes, saying where its records went.
    public func checkNotRetired(_ office: OfficeCode) throws(CentralError) {
        let row: Row?
        do {
            row = try database.read { db in
                try Row.fetchOne(db, sql: "SELECT merged_into, merged_at FROM office WHERE code = ? AND merged_into IS NOT NULL", arguments: [office.rawValue])
            }
        } catch {
            throw CentralError.storage(error, during: "checking office \(office)")
        }
        guard let row, let into = row["merged_into"] as String? else { return }
        throw CentralError(
            .gone, .officeMerged,
            "office \(office) was merged into office \(into) on \((row["merged_at"] as String?)?.prefix(10) ?? "?"); its records now belong to office \(into)",
            hint:
                "This replica is retired. Changes still pending here are accepted and go to office \(into); once promo-sync status shows none pending, stop this daemon (systemctl disable --now promo-sync) and work from office \(into)'s replica."
        )
    }
}

/// Which offices were merged into which (`promo-central office merge`), as the centre stores it.
struct MergeMap {
    /// Each retired office → the office it was merged into.
    let direct: [String: String]
    /// Each retired office → the office that holds its records now, at the end of its chain of
    /// merges (26 into 79 and 79 into 80: 26 → 80).
    let rehomed: [String: String]

    init(_ db: Database) throws {
        var direct: [String: String] = [:]
        for row in try Row.fetchAll(db, sql: "SELECT code, merged_into FROM office WHERE merged_into IS NOT NULL") {
            direct[row["code"]] = row["merged_into"]
        }
        self.direct = direct
        rehomed = direct.mapValues { target in
            var home = target
            var seen: Set<String> = [target]
            while let next = direct[home], seen.insert(next).inserted { home = next }
            return home
        }
    }

    /// Whether `office` was merged into `target`, directly or through offices merged in turn.
    func isMerged(_ office: String, into target: String) -> Bool {
        var current = office
        var seen: Set<String> = [office]
        while let next = direct[current], seen.insert(next).inserted {
            if next == target { return true }
            current = next
        }
        return false
    }
}
