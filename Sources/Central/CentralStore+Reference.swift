import Foundation
import GRDB
import SyncCore
import WireFormat

/// The reference data the centre publishes to every office (provinces, activity categories,
/// support caps), and the one way the centre writes a record of its own.
extension CentralStore {
    /// The seed reference data of this release, which a new store publishes into the change log
    /// so that offices pull it like any record (its journal keeps what was published).
    static func referenceRecords() -> [CentreAction.PublishedRecord] {
        var records: [CentreAction.PublishedRecord] = []
        for p in ReferenceData.provinces {
            records.append(
                .init(
                    table: ConsolidatedTable.province.rawValue, id: p.code,
                    fields: [
                        "name": .text(p.name), "kind": .text(p.kind), "region": .text(p.region.rawValue),
                    ]))
        }
        for cap in ReferenceData.supportCaps { records.append(.init(table: ConsolidatedTable.supportCap.rawValue, id: cap.id, fields: capFields(cap))) }
        for c in ReferenceData.categories {
            records.append(
                .init(
                    table: ConsolidatedTable.activityCategory.rawValue, id: c.code,
                    fields: [
                        "name_vi": .text(c.nameVi), "name_en": .text(c.nameEn),
                        "report_group": .integer(Int64(c.reportGroup)), "basis": .text(c.basis),
                    ]))
        }
        return records
    }

    static func capFields(_ cap: SupportCap) -> [String: FieldValue] {
        [
            "fund_source": .text(cap.fund.rawValue), "category": .text(cap.category), "province": cap.province.map(FieldValue.text) ?? .null,
            "max_percent_of_cost": cap.maxPercentOfCost.map(FieldValue.integer) ?? .null, "max_amount": cap.maxAmount.map(FieldValue.integer) ?? .null,
        ]
    }

    /// Sets a support cap (a new one, or new limits for an existing one); offices receive it with their next pull.
    public func setCap(_ cap: SupportCap, now: Date = Date()) throws(CentralError) {
        guard ReferenceData.category(code: cap.category) != nil else {
            throw CentralError.badRequest("unknown activity category '\(cap.category)'")
        }
        if let province = cap.province, ReferenceData.province(code: province) == nil {
            throw CentralError.badRequest("unknown province '\(province)'")
        }
        if cap.maxPercentOfCost == nil && cap.maxAmount == nil { throw CentralError.badRequest("a cap needs --percent, --max or both") }
        do {
            try database.write { db in try Self.setCap(db, cap, now: now, position: Self.nextPosition(db)) }
        } catch {
            throw CentralError.storage(error, during: "setting a cap")
        }
    }

    static func setCap(_ db: Database, _ cap: SupportCap, now: Date, position: Int64) throws {
        try putCentralRecord(db, table: .supportCap, id: cap.id, fields: capFields(cap))
        // What offices accepted of their own over-disbursements counts no further than a cap of
        // the local fund (the fold's rule): the local projects of its category with an accepted
        // conflict are folded again now, not at their next change.
        if cap.fund == .local { try refoldAcceptedLedgers(db, category: cap.category) }
        try journal(
            db,
            .capSet(
                .init(
                    fund: cap.fund.rawValue, category: cap.category, province: cap.province,
                    maxPercentOfCost: cap.maxPercentOfCost, maxAmount: cap.maxAmount)), at: now, position: position)
    }

    /// Folds again the local projects of `category` in which a conflict was accepted.
    static func refoldAcceptedLedgers(_ db: Database, category: String) throws {
        let aggregates = try String.fetchAll(
            db,
            sql: """
                SELECT DISTINCT c.aggregate FROM record AS c JOIN record AS p ON p.tbl = 'project' AND p.id = c.aggregate
                WHERE c.tbl = 'conflict' AND c.deleted_at IS NULL AND json_extract(c.fields, '$.resolution') = 'accept'
                  AND json_extract(p.fields, '$.fund_source') = 'local' AND json_extract(p.fields, '$.category') = ?
                ORDER BY 1
                """, arguments: [category])
        try refold(db, aggregates: aggregates, republishing: false)
    }

    /// Writes a record owned by the centre, giving it a new log position only if it changed.
    static func putCentralRecord(_ db: Database, table: ConsolidatedTable, id: String, fields: [String: FieldValue]) throws {
        let encoded = FieldCoding.encode(fields)
        if let existing = try String.fetchOne(db, sql: "SELECT fields FROM record WHERE tbl = ? AND id = ?", arguments: [table.rawValue, id]),
            existing == encoded
        {
            return
        }
        try db.execute(
            sql: """
                INSERT INTO record(tbl, id, office, fields, clocks, deleted_at, seq) VALUES (?, ?, 'central', ?, '{}', NULL, ?)
                ON CONFLICT(tbl, id) DO UPDATE SET fields = excluded.fields, seq = excluded.seq
                """,
            arguments: [table.rawValue, id, encoded, try nextSeq(db)])
    }

    static func nextSeq(_ db: Database) throws -> Int64 {
        var positions = try LogPositions(db)
        return positions.next()
    }
}
