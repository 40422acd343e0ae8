import Foundation
import GRDB
import SyncCore
import WireFormat

extension Replica {
    /// What applying a recall did.
    struct RecallOutcome {
        /// Pending changes moved to `_sync_withdrawn`.
        var keptAside = 0
        /// Whether the refused changesets were made again without them, clearing the refusal.
        var clearedRefusal = false
    }

    /// What a recall may do to changesets not yet acknowledged that carry changes of its rows.
    enum MakingAgain {
        /// Make them again without those changes when the centre refused the oldest: a page of a
        /// sync cycle, which pushes nothing while it applies pages.
        case whenRefused
        /// Make them again: a recall earlier in this transaction did, and none was sent since.
        case alreadyMadeAgain
        /// Wait: the replica is being opened, maybe by a command while the daemon pushes.
        case never
    }

    /// Applies a `recall` record (docs/PROTOCOL.md): a row this office held for an office merged
    /// into it went back to its owner when the merge was undone. The local copy is deleted; what
    /// this office had not pushed of it, or of rows it added under it and never pushed (a payment,
    /// an event, a resolution), is kept aside in `_sync_withdrawn` with its values (`promo-sync
    /// outbox show`): the centre would refuse it (`forbidden_owner`) and hold back every later
    /// change. A project of this office not yet pushed that names a recalled programme leaves it.
    /// Runs with capture suspended, inside the page's transaction. Nil: the recall must wait.
    ///
    /// Pending changes can be kept aside only once no changeset not yet acknowledged carries them.
    /// When the centre refused the oldest, for whichever row (a refusal of another row may wait
    /// days for a person), the changesets are made again without them (a leaving project without
    /// its programme; ``rewriteUnsentChangesets(_:_:)``): none was applied, and none after the
    /// refused one was sent. Otherwise, while a changeset made and not refused carries them (in
    /// flight, or made and not yet sent: the centre may hold it by the time it answers), and while
    /// the replica is being opened (`making` is `.never`), the recall waits, the rows untouched, and
    /// the caller keeps it in `_sync_deferred`; each later page tries it again
    /// (``retryRecalls(_:page:now:making:)``).
    static func applyRecall(_ db: Database, _ record: PulledRecord, now: Date, making: MakingAgain) throws -> RecallOutcome? {
        guard !record.deleted, let name = record.fields["table"]?.text, let id = record.fields["row_id"]?.text else { return RecallOutcome() }
        guard let table = SyncedTable(rawValue: name) else {
            if name == ConsolidatedTable.conflict.rawValue {
                try db.execute(sql: "DELETE FROM conflict WHERE id = ?", arguments: [id])
            } else {
                // A table of a later release, kept unapplied: its row goes with the recall.
                try db.execute(sql: "DELETE FROM _sync_deferred WHERE tbl = ? AND row_id = ?", arguments: [name, id])
            }
            return RecallOutcome()
        }
        func isPending(_ table: SyncedTable, _ id: String) throws -> Bool {
            try Bool.fetchOne(db, sql: "SELECT EXISTS(SELECT 1 FROM _sync_outbox WHERE tbl = ? AND row_id = ?)", arguments: [table.tableID, id]) ?? false
        }
        var pending: [(SyncedTable, String)] = try isPending(table, id) ? [(table, id)] : []
        if table.isAggregateRoot {
            // Rows this office made under the recalled one and never pushed: no recall names them.
            // (Those the centre holds are recalled each, or stay this office's: a payment it made,
            // now held as another office's entry.)
            for child in SyncedTable.parentsFirst where !child.isAggregateRoot {
                guard let column = child.parentColumns.first else { continue }
                for childID in try String.fetchAll(db, sql: "SELECT id FROM \(child.rawValue) WHERE \(column) = ?", arguments: [id]) {
                    if try isPending(child, childID) { pending.append((child, childID)) }
                }
            }
        }
        // This office's projects not yet pushed that name a recalled programme would be refused.
        let leaving =
            table == .program
            ? try String.fetchAll(db, sql: "SELECT id FROM project WHERE program_id = ?", arguments: [id]).filter { try isPending(.project, $0) } : []
        var outcome = RecallOutcome()
        let made = try lastChangesetSeq(db)  // outbox entries up to it are in a changeset not yet acknowledged
        let carried = try (pending + leaving.map { (SyncedTable.project, $0) }).contains { table, id in
            try Bool.fetchOne(
                db, sql: "SELECT EXISTS(SELECT 1 FROM _sync_outbox WHERE tbl = ? AND row_id = ? AND seq <= ?)", arguments: [table.tableID, id, made])
                ?? false
        }
        if carried {
            switch making {
            case .never: return nil
            case .alreadyMadeAgain: break
            case .whenRefused:
                let oldest = try Int64.fetchOne(db, sql: "SELECT min(seq) FROM _sync_changeset")
                guard let refusal = try Self.refusal(db), refusal.sequence.rawValue == oldest else { return nil }
            }
            let recalled = Set(pending.map { SyncedRowKey($0.0, $0.1) })
            let unparented = Set(leaving)
            try rewriteUnsentChangesets(db) { change in
                if recalled.contains(SyncedRowKey(change.table, change.id.rawValue)) { return nil }
                guard change.table == .project, change.op == .upsert, unparented.contains(change.id.rawValue) else { return change }
                var change = change
                change.fields["program_id"] = .null
                return change
            }
            outcome.clearedRefusal = true
        }
        let owner = record.fields["office"]?.text ?? "its office"
        let label = try rowLabel(db, table, id)
        if !pending.isEmpty {
            let why = record.fields["reason"]?.text.map { " (\($0))" } ?? ""
            for (table, rowID) in pending {
                _ = try keepAside(
                    db, table: table, id: rowID,
                    reason: "office_unmerged: \(label) went back to office \(owner) when its merge was undone\(why); this change was not pushed",
                    now: now)
            }
            outcome.keptAside = pending.count
        }
        for project in leaving {
            // Sent whole, without the programme, when it is pushed.
            try db.execute(sql: "UPDATE project SET program_id = NULL WHERE id = ?", arguments: [project])
            try DigestCache.markChanged(db, .project, project)
            try db.execute(sql: "UPDATE _sync_outbox SET cols = -1 WHERE tbl = ? AND row_id = ?", arguments: [SyncedTable.project.tableID, project])
        }
        if !pending.isEmpty || !leaving.isEmpty {
            try State.set(db, .lastRepairAt, Timestamps.format(now))
            try State.set(
                db, .lastRepair,
                "\(label) went back to office \(owner) (its merge was undone): "
                    + [
                        pending.isEmpty ? nil : "\(pending.count) pending changes of it kept aside, not pushed (promo-sync outbox show)",
                        leaving.isEmpty ? nil : "\(leaving.count) projects not yet pushed left the programme",
                    ].compactMap { $0 }.joined(separator: "; "))
        }
        try db.execute(sql: "DELETE FROM \(table.rawValue) WHERE id = ?", arguments: [id])
        try DigestCache.markChanged(db, table, id)
        return outcome
    }

    /// Applies the recalls that had to wait, oldest first, except those `page` withdraws (the
    /// office was merged again: its rows come back as this office's). Capture is suspended by the
    /// caller.
    static func retryRecalls(_ db: Database, page: PullResponse, now: Date, making: MakingAgain) throws -> RecallOutcome {
        let withdrawn = page.records.filter { $0.table == ConsolidatedTable.recall.rawValue && $0.deleted }
        for record in withdrawn {
            try db.execute(sql: "DELETE FROM _sync_deferred WHERE tbl = ? AND row_id = ?", arguments: [record.table, record.id])
        }
        let waiting = try Row.fetchAll(
            db, sql: "SELECT row_id, office, fields, cursor FROM _sync_deferred WHERE tbl = ? AND deleted = 0 ORDER BY cursor",
            arguments: [ConsolidatedTable.recall.rawValue])
        var total = RecallOutcome()
        for row in waiting {
            let record = PulledRecord(
                cursor: PullCursor(row["cursor"]), table: ConsolidatedTable.recall.rawValue, id: row["row_id"],
                office: OfficeCode(unchecked: row["office"]), deleted: false, fields: try FieldCoding.decode(row["fields"] as String))
            guard let outcome = try applyRecall(db, record, now: now, making: total.clearedRefusal ? .alreadyMadeAgain : making) else { continue }
            total.keptAside += outcome.keptAside
            total.clearedRefusal = total.clearedRefusal || outcome.clearedRefusal
            try db.execute(sql: "DELETE FROM _sync_deferred WHERE tbl = ? AND row_id = ?", arguments: [record.table, record.id])
        }
        return total
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
