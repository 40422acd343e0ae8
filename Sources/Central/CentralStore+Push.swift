import Foundation
import GRDB
import SyncCore

extension CentralStore {
    /// Applies one changeset of `office` and records its sequence number in the same transaction.
    ///
    /// Re-sending a changeset already applied (same sequence, same hash) is acknowledged as a
    /// duplicate and changes nothing. A gap, or another body under a known sequence, is refused.
    /// `receivedJSON`, the changeset's bytes as they arrived, is stored as its body; without it
    /// the changeset is written out.
    public func apply(_ changeset: Changeset, receivedJSON: Data? = nil, from office: OfficeCode, now: Date = Date()) throws(CentralError) -> PushResponse {
        // 1. Checks that need no database: whose changeset it is, its size, its hash.
        guard changeset.office == office else {
            throw CentralError(.forbidden, "forbidden_writer", "the changeset says office \(changeset.office) but the token is office \(office)",
                               hint: "An office pushes only its own changesets.")
        }
        guard changeset.changes.count <= WireProtocol.maxChangesPerChangeset else {
            throw CentralError(.contentTooLarge, "too_many_changes",
                               "changeset \(changeset.sequence) has \(changeset.changes.count) changes; at most \(WireProtocol.maxChangesPerChangeset) are accepted",
                               hint: "Lower the changeset size in the office configuration.")
        }
        do { try changeset.verifyHash() } catch {
            throw CentralError(.unprocessableContent, "broken_chain", error.message, hint: error.hint)
        }
        do {
            let response = try database.write { db -> PushResponse in
                guard let officeRow = try Row.fetchOne(db, sql: "SELECT last_sequence, last_hash FROM office WHERE code = ?", arguments: [office.rawValue]) else {
                    throw CentralError.unauthorized
                }
                let last = ChangesetSequence(officeRow["last_sequence"])
                let lastHash: String = officeRow["last_hash"]

                // 2. Idempotency: a changeset already applied is acknowledged, never applied twice.
                if changeset.sequence <= last {
                    let stored = try String.fetchOne(
                        db, sql: "SELECT hash FROM changeset WHERE office = ? AND sequence = ?",
                        arguments: [office.rawValue, changeset.sequence.rawValue])
                    guard stored == changeset.hash else {
                        throw CentralError(.conflict, "sequence_conflict",
                                           "changeset \(changeset.sequence) of office \(office) was already received with other content",
                                           hint: "The office replica may have been restored from an old backup. Try: promo-sync resync --force")
                    }
                    return PushResponse(epoch: epoch, sequence: changeset.sequence, outcome: .duplicate, appliedChanges: 0)
                }
                guard changeset.sequence == last.next else {
                    throw CentralError(.conflict, "sequence_gap",
                                       "changeset \(changeset.sequence) of office \(office) arrived but the last applied is \(last)",
                                       hint: "Changesets must arrive in order; the centre may have been restored. Try: promo-sync resync --force")
                }
                guard changeset.previousHash == lastHash else {
                    throw CentralError(.conflict, "broken_chain",
                                       "changeset \(changeset.sequence) of office \(office) does not chain onto changeset \(last)",
                                       hint: "Try: promo-sync resync --force")
                }

                // 3. Every change is one the protocol allows and the token's office may write as
                //    itself. (Checked after the idempotency check: a changeset already applied is
                //    acknowledged again even if a later release of the centre would refuse it.)
                for change in changeset.changes {
                    do throws(SyncCoreError) { try change.validate() } catch {
                        throw CentralError.badRequest(error.message, hint: "The changeset was refused whole; nothing of it was applied.",
                                                      row: SyncedRowKey(change.table, change.id.rawValue))
                    }
                    // The writer is the office of the token: a clock or a field that claims another
                    // writer (another office, or the centre) is a forgery, not a conflict.
                    if let problem = change.identityProblem(pushedBy: office) {
                        throw CentralError(.forbidden, "forbidden_writer", problem,
                                           hint: "An office writes only as itself; nothing of this changeset was applied. See promo-sync status.",
                                           row: SyncedRowKey(change.table, change.id.rawValue))
                    }
                }

                // 4. Keep every change in its aggregate's history and fold the aggregates it touched:
                //    the rules decide in clock order, so the outcome does not depend on arrival order.
                let applied = try Self.ingest(db, changes: changeset.changes, from: office, sequence: changeset.sequence)

                try db.execute(
                    sql: """
                        INSERT INTO changeset(office, sequence, hash, previous_hash, change_count, body, received_at)
                        VALUES (?, ?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [office.rawValue, changeset.sequence.rawValue, changeset.hash, changeset.previousHash,
                                changeset.changes.count, receivedJSON ?? changeset.jsonData(), Timestamps.format(now)])
                try db.execute(
                    sql: "UPDATE office SET last_sequence = ?, last_hash = ? WHERE code = ?",
                    arguments: [changeset.sequence.rawValue, changeset.hash, office.rawValue])
                return PushResponse(epoch: epoch, sequence: changeset.sequence, outcome: .applied, appliedChanges: applied)
            }
            try faults.check(.centralAfterApplyBeforeResponse)
            return response
        } catch {
            throw CentralError.storage(error, during: "applying changeset \(changeset.sequence) of office \(office)")
        }
    }

    static func markTotalsPending(_ db: Database, office: OfficeCode) throws {
        try db.execute(sql: "INSERT OR IGNORE INTO totals_pending(office) VALUES (?)", arguments: [office.rawValue])
    }

    /// Recomputes the consolidated totals of the offices whose records changed since they were
    /// last computed (see ``ingest``); a no-op costing one read when nothing changed.
    public func refreshTotals() throws(CentralError) {
        do {
            guard try database.read({ db in try Bool.fetchOne(db, sql: "SELECT EXISTS(SELECT 1 FROM totals_pending)") }) == true else { return }
            try database.write { db in
                for office in try String.fetchAll(db, sql: "SELECT office FROM totals_pending ORDER BY office") {
                    try Self.recomputeTotals(db, office: OfficeCode(unchecked: office))
                }
                try db.execute(sql: "DELETE FROM totals_pending")
            }
        } catch {
            throw CentralError.storage(error, during: "recomputing the consolidated totals")
        }
    }

    /// Recomputes the disbursed amounts per year, fund, reporting group and payment date, writing
    /// only those that changed; a fact that no longer has entries drops to zero.
    static func recomputeDisbursedFacts(_ db: Database, office: OfficeCode) throws {
        let rows = try Row.fetchAll(
            db,
            sql: """
                SELECT json_extract(p.fields, '$.year') AS year, json_extract(p.fields, '$.fund_source') AS fund,
                       json_extract(p.fields, '$.category') AS category, json_extract(d.fields, '$.paid_on') AS paid_on,
                       sum(CASE json_extract(d.fields, '$.kind') WHEN 'recovery' THEN -json_extract(d.fields, '$.amount')
                                ELSE json_extract(d.fields, '$.amount') END) AS amount
                FROM record d JOIN record p ON p.tbl = 'project' AND p.id = json_extract(d.fields, '$.project_id')
                WHERE d.tbl = 'disbursement' AND d.office = ?1 AND d.deleted_at IS NULL AND d.held = 0
                GROUP BY 1, 2, 3, 4
                """,
            arguments: [office.rawValue])
        var facts: [String: (year: Int64, fund: String, group: Int64, paidOn: String, amount: Int64)] = [:]
        for row in rows {
            guard let year = row["year"] as Int64?, let fund = row["fund"] as String?, let paidOn = row["paid_on"] as String? else { continue }
            let group = Int64(ReferenceData.category(code: row["category"] ?? "")?.reportGroup ?? 0)
            let id = "\(office.rawValue)/\(year)/\(fund)/\(group)/\(paidOn)"
            let amount: Int64 = row["amount"] ?? 0
            facts[id] = (year, fund, group, paidOn, (facts[id]?.amount ?? 0) + amount)
        }
        for id in try String.fetchAll(
            db, sql: "SELECT id FROM record WHERE tbl = 'disbursed_total' AND office = 'central' AND id LIKE ?", arguments: ["\(office.rawValue)/%"])
        where facts[id] == nil {
            let parts = id.split(separator: "/").map(String.init)
            facts[id] = (Int64(parts[1]) ?? 0, parts[2], Int64(parts[3]) ?? 0, parts[4], 0)
        }
        for (id, fact) in facts {
            try putCentralRecord(db, table: .disbursedTotal, id: id, fields: [
                "province": .text(ReferenceData.provinceInForce(office.rawValue)), "year": .integer(fact.year), "fund_source": .text(fact.fund),
                "report_group": .integer(fact.group), "paid_on": .text(fact.paidOn), "amount": .integer(fact.amount),
            ])
        }
    }

    /// Recomputes the plan and disbursed totals per year and fund source of one office's province,
    /// writing only those that changed (so an idle sync moves nothing).
    static func recomputeTotals(_ db: Database, office: OfficeCode) throws {
        let rows = try Row.fetchAll(
            db,
            sql: """
                WITH plan AS (
                    SELECT json_extract(fields, '$.year') AS year, json_extract(fields, '$.fund_source') AS fund,
                           sum(json_extract(fields, '$.amount')) AS amount
                    FROM record WHERE tbl = 'plan_line' AND office = ?1 AND deleted_at IS NULL
                    GROUP BY 1, 2
                ), paid AS (
                    SELECT json_extract(p.fields, '$.year') AS year, json_extract(p.fields, '$.fund_source') AS fund,
                           sum(CASE json_extract(d.fields, '$.kind') WHEN 'recovery' THEN -json_extract(d.fields, '$.amount')
                                    ELSE json_extract(d.fields, '$.amount') END) AS amount
                    FROM record d JOIN record p ON p.tbl = 'project' AND p.id = json_extract(d.fields, '$.project_id')
                    WHERE d.tbl = 'disbursement' AND d.office = ?1 AND d.deleted_at IS NULL AND d.held = 0
                    GROUP BY 1, 2
                ), keys AS (SELECT year, fund FROM plan UNION SELECT year, fund FROM paid)
                SELECT keys.year, keys.fund, coalesce(plan.amount, 0) AS plan_amount, coalesce(paid.amount, 0) AS paid_amount
                FROM keys LEFT JOIN plan USING (year, fund) LEFT JOIN paid USING (year, fund)
                WHERE keys.year IS NOT NULL AND keys.fund IS NOT NULL
                """,
            arguments: [office.rawValue])
        var seen: Set<String> = []
        for row in rows {
            let year: Int64 = row["year"]
            let fund: String = row["fund"]
            let id = "\(office.rawValue)/\(year)/\(fund)"
            seen.insert(id)
            try putCentralRecord(db, table: .provinceTotal, id: id, fields: [
                "province": .text(ReferenceData.provinceInForce(office.rawValue)), "year": .integer(year), "fund_source": .text(fund),
                "plan_amount": .integer(row["plan_amount"]), "disbursed_amount": .integer(row["paid_amount"]),
            ])
        }
        try recomputeDisbursedFacts(db, office: office)
        // Totals whose rows were all deleted drop to zero rather than vanish.
        for id in try String.fetchAll(db, sql: "SELECT id FROM record WHERE tbl = 'province_total' AND id LIKE ?", arguments: ["\(office.rawValue)/%"])
        where !seen.contains(id) {
            let parts = id.split(separator: "/")
            try putCentralRecord(db, table: .provinceTotal, id: id, fields: [
                "province": .text(ReferenceData.provinceInForce(office.rawValue)), "year": .integer(Int64(parts[1]) ?? 0), "fund_source": .text(String(parts[2])),
                "plan_amount": .integer(0), "disbursed_amount": .integer(0),
            ])
        }
    }
}
