import Foundation
import GRDB
import SyncCore
import WireFormat

extension Replica {
    /// Applies a `recall` record (docs/PROTOCOL.md): a row this office held for an office merged
    /// into it went back to that office when the merge was undone. The local copy is deleted;
    /// what this office had not pushed of it, or of rows it added under it (a payment, an event, a
    /// resolution), is kept aside in `_sync_withdrawn` with its values (`promo-sync outbox show`):
    /// the centre would refuse it (`forbidden_owner`) and hold back every later change. Runs with
    /// capture suspended, inside the page's transaction. Returns how many changes were kept
    /// aside, or nil when the recall must wait.
    ///
    /// Pending changes can be kept aside only once no changeset not yet acknowledged carries them:
    /// a refused one is unmade first (it was not applied, and none after it was sent). While a
    /// changeset is in flight (made, neither acknowledged nor refused: a cycle cut off mid-push)
    /// the recall waits, the rows untouched, and the caller keeps it in `_sync_deferred`; the next
    /// page tries it again (``retryRecalls(_:now:)``), by when the centre has answered.
    static func applyRecall(_ db: Database, _ record: PulledRecord, now: Date) throws -> Int? {
        guard !record.deleted, let name = record.fields["table"]?.text, let id = record.fields["row_id"]?.text else { return 0 }
        guard let table = SyncedTable(rawValue: name) else {
            if name == ConsolidatedTable.conflict.rawValue { try db.execute(sql: "DELETE FROM conflict WHERE id = ?", arguments: [id]) }
            return 0
        }
        var rows = [(table, id)]
        if table.isAggregateRoot {
            // Rows this office made under the recalled one and never pushed: no recall names them.
            for child in SyncedTable.parentsFirst where !child.isAggregateRoot {
                guard let column = child.parentColumns.first else { continue }
                let sql = "SELECT id FROM \(child.rawValue) WHERE \(column) = ?"
                for childID in try String.fetchAll(db, sql: sql, arguments: [id]) { rows.append((child, childID)) }
            }
        }
        let pending = try rows.filter { table, id in
            try Bool.fetchOne(
                db, sql: "SELECT EXISTS(SELECT 1 FROM _sync_outbox WHERE tbl = ? AND row_id = ?)", arguments: [table.tableID, id]) ?? false
        }
        if !pending.isEmpty {
            if let refusal = try Self.refusal(db),
                try Int64.fetchOne(db, sql: "SELECT min(seq) FROM _sync_changeset").map({ $0 == refusal.sequence.rawValue }) ?? true
            {
                try unmakeRefusedChangesets(db)
            }
            if try Bool.fetchOne(db, sql: "SELECT EXISTS(SELECT 1 FROM _sync_changeset)") ?? false { return nil }
            let owner = record.fields["office"]?.text ?? "its office"
            let why = record.fields["reason"]?.text.map { " (\($0))" } ?? ""
            let label = try rowLabel(db, table, id)
            for (table, rowID) in pending {
                _ = try keepAside(
                    db, table: table, id: rowID,
                    reason: "office_unmerged: \(label) went back to office \(owner) when its merge was undone\(why); this change was not pushed",
                    now: now)
            }
            try State.set(db, .lastRepairAt, Timestamps.format(now))
            try State.set(
                db, .lastRepair,
                "\(label) went back to office \(owner) (its merge was undone): \(pending.count) pending changes of it kept aside, not pushed (promo-sync outbox show)"
            )
        }
        for (table, rowID) in rows.reversed() {
            try db.execute(sql: "DELETE FROM \(table.rawValue) WHERE id = ?", arguments: [rowID])
        }
        return pending.count
    }

    /// Applies the recalls that had to wait for a changeset in flight, oldest first; returns how
    /// many changes they kept aside. Capture is suspended by the caller.
    static func retryRecalls(_ db: Database, now: Date) throws -> Int {
        let waiting = try Row.fetchAll(
            db, sql: "SELECT row_id, office, fields, cursor FROM _sync_deferred WHERE tbl = ? AND deleted = 0 ORDER BY cursor",
            arguments: [ConsolidatedTable.recall.rawValue])
        var keptAside = 0
        for row in waiting {
            let record = PulledRecord(
                cursor: PullCursor(row["cursor"]), table: ConsolidatedTable.recall.rawValue, id: row["row_id"],
                office: OfficeCode(unchecked: row["office"]), deleted: false, fields: try FieldCoding.decode(row["fields"] as String))
            guard let kept = try applyRecall(db, record, now: now) else { continue }
            keptAside += kept
            try db.execute(sql: "DELETE FROM _sync_deferred WHERE tbl = ? AND row_id = ?", arguments: [record.table, record.id])
        }
        return keptAside
    }
}

extension Replica {
    /// A row as people know it, for messages: `project KC-01 (id)`, `disbursement KB-7 of project
    /// KC-01 (id)`, `plan line 2025 local (id)`; `table id` when the row is not here.
    static func rowLabel(_ db: Database, _ table: SyncedTable, _ id: String) throws -> String {
        let named: String? =
            switch table {
            case .project: try String.fetchOne(db, sql: "SELECT 'project ' || code FROM project WHERE id = ?", arguments: [id])
            case .program: try String.fetchOne(db, sql: "SELECT 'programme ' || code FROM program WHERE id = ?", arguments: [id])
            case .planLine: try String.fetchOne(db, sql: "SELECT 'plan line ' || year || ' ' || fund_source FROM plan_line WHERE id = ?", arguments: [id])
            case .disbursement:
                try String.fetchOne(
                    db,
                    sql: """
                        SELECT 'disbursement ' || coalesce(d.voucher || ' ', '') || 'of project ' || coalesce(p.code, d.project_id)
                        FROM disbursement d LEFT JOIN project p ON p.id = d.project_id WHERE d.id = ?
                        """, arguments: [id])
            case .projectEvent:
                try String.fetchOne(
                    db,
                    sql: """
                        SELECT 'event ' || e.kind || ' of project ' || coalesce(p.code, e.project_id)
                        FROM project_event e LEFT JOIN project p ON p.id = e.project_id WHERE e.id = ?
                        """, arguments: [id])
            case .conflictResolution:
                try String.fetchOne(db, sql: "SELECT 'resolution of conflict ' || conflict_id FROM conflict_resolution WHERE id = ?", arguments: [id])
            }
        return named.map { "\($0) (\(id))" } ?? "\(table.rawValue) \(id)"
    }
}
