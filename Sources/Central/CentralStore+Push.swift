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
        try apply(changeset, receivedJSON: receivedJSON, from: office, now: now, position: nil)
    }

    /// `position` is the changeset's place in the order shared with the journal: the next one,
    /// or in a replay the one it was stored at.
    func apply(_ changeset: Changeset, receivedJSON: Data?, from office: OfficeCode, now: Date, position recorded: Int64?) throws(CentralError) -> PushResponse
    {
        // 1. Checks that need no database: whose changeset it is, its size, its hash.
        guard changeset.office == office else {
            throw CentralError(
                .forbidden, .forbiddenWriter, "the changeset says office \(changeset.office) but the token is office \(office)",
                hint: "An office pushes only its own changesets.")
        }
        guard changeset.sequence.rawValue >= 1 else {
            throw CentralError.badRequest("changeset sequence \(changeset.sequence) is not 1 or more", hint: "Changesets are numbered from 1.")
        }
        guard changeset.changes.count <= WireProtocol.maxChangesPerChangeset else {
            throw CentralError(
                .contentTooLarge, .tooManyChanges,
                "changeset \(changeset.sequence) has \(changeset.changes.count) changes; at most \(WireProtocol.maxChangesPerChangeset) are accepted",
                hint: "Lower the changeset size in the office configuration.")
        }
        do { try changeset.verifyHash() } catch {
            throw CentralError(.unprocessableContent, .brokenChain, error.message, hint: error.hint)
        }
        do {
            let response = try database.write { db -> PushResponse in
                guard let officeRow = try Row.fetchOne(db, sql: "SELECT last_sequence, last_hash FROM office WHERE code = ?", arguments: [office.rawValue])
                else {
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
                        throw CentralError(
                            .conflict, .sequenceConflict,
                            "changeset \(changeset.sequence) of office \(office) was already received with other content",
                            hint: "The office replica may have been restored from an old backup. Try: promo-sync resync --force")
                    }
                    return PushResponse(epoch: epoch, sequence: changeset.sequence, outcome: .duplicate, appliedChanges: 0)
                }
                guard changeset.sequence == last.next else {
                    throw CentralError(
                        .conflict, .sequenceGap,
                        "changeset \(changeset.sequence) of office \(office) arrived but the last applied is \(last)",
                        hint: "Changesets must arrive in order; the centre may have been restored. Try: promo-sync resync --force")
                }
                guard changeset.previousHash == lastHash else {
                    throw CentralError(
                        .conflict, .brokenChain,
                        "changeset \(changeset.sequence) of office \(office) does not chain onto changeset \(last)",
                        hint: "Try: promo-sync resync --force")
                }

                // 3. Every change is written by the token's office as itself (who, checked first), and
                //    holds values the protocol and the domain rules allow (what: ValueRules). Checked
                //    after the idempotency check: a changeset already applied is acknowledged again
                //    even if a later release of the centre would refuse it.
                for change in changeset.changes {
                    // The writer is the office of the token: a clock or a field that claims another
                    // writer (another office, or the centre) is a forgery, not a conflict.
                    if let problem = change.identityProblem(pushedBy: office) {
                        throw CentralError(
                            .forbidden, .forbiddenWriter, problem,
                            hint: "An office writes only as itself; nothing of this changeset was applied. See promo-sync status.",
                            row: SyncedRowKey(change.table, change.id.rawValue))
                    }
                    do throws(SyncCoreError) { try change.validate(writer: office) } catch {
                        throw CentralError.badRequest(
                            error.message, hint: "The changeset was refused whole; nothing of it was applied.",
                            row: SyncedRowKey(change.table, change.id.rawValue))
                    }
                }

                // 4. Keep every change in its aggregate's history and fold the aggregates it touched:
                //    the rules decide in clock order, so the outcome does not depend on arrival order.
                //    Each history row names the changeset that carried it (its position), for the audit log.
                let position = try recorded ?? Self.nextPosition(db)
                let applied = try Self.ingest(db, changes: changeset.changes, from: office, sequence: changeset.sequence, position: position, at: now)

                // 5. Keep it, with its receipt in the centre's log: its place and time, chained
                //    onto the position before (one hash per changeset, none per change).
                let receivedAt = Timestamps.format(now)
                let chainHash = Self.receiptHash(
                    previous: try Self.chainHash(db, before: position), position: position, office: office.rawValue,
                    sequence: changeset.sequence.rawValue, hash: changeset.hash, receivedAt: receivedAt)
                try db.execute(
                    sql: """
                        INSERT INTO changeset(office, sequence, hash, previous_hash, change_count, body, received_at, position, chain_hash)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [
                        office.rawValue, changeset.sequence.rawValue, changeset.hash, changeset.previousHash,
                        changeset.changes.count, receivedJSON ?? changeset.jsonData(), receivedAt, position, chainHash,
                    ])
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
    ///
    /// Each office is recomputed in a transaction of its own: one office whose totals cannot be
    /// computed (its figures would overflow) is logged, counted (``totalsFailures``) and left
    /// pending with the reason, and every other office's totals and pulls go on.
    public func refreshTotals() throws(CentralError) {
        do {
            let pending = try database.read { db in try String.fetchAll(db, sql: "SELECT office FROM totals_pending ORDER BY office") }
            for office in pending {
                do {
                    try database.write { db in
                        try Self.recomputeTotals(db, office: OfficeCode(unchecked: office))
                        try db.execute(sql: "DELETE FROM totals_pending WHERE office = ?", arguments: [office])
                    }
                    totalsFailures.withLock { _ = $0.removeValue(forKey: office) }
                } catch let error as TotalsOverflow {
                    logger.error("consolidated totals not recomputed", metadata: ["sync.office": "\(office)", "error": "\(error)"])
                    totalsFailures.withLock { $0[office] = error.description }
                }
            }
        } catch {
            throw CentralError.storage(error, during: "recomputing the consolidated totals")
        }
    }

    /// The offices whose consolidated totals could not be recomputed, with the reason (shown by
    /// `/metrics` and logged; their previous totals stand until the figures are fixed).
    public func totalsProblems() -> [String: String] { totalsFailures.withLock { $0 } }

    /// A sum of one office's figures that would not fit in 64 bits.
    struct TotalsOverflow: Error, CustomStringConvertible {
        let office: String
        let what: String
        var description: String { "the \(what) of office \(office) add up past what a 64-bit amount holds" }
    }

    /// Recomputes one office's consolidated figures: plan and disbursed per year and fund source
    /// (`province_total`), and disbursed per year, fund, reporting group and payment date
    /// (`disbursed_total`), writing only those that changed (an idle sync moves nothing); a figure
    /// that no longer has rows drops to zero rather than vanish. Sums are checked: an overflow
    /// throws ``TotalsOverflow`` and writes nothing. Recoveries subtract (``LedgerRules``).
    static func recomputeTotals(_ db: Database, office: OfficeCode) throws {
        struct YearFund: Hashable { let year: Int64, fund: String }
        struct Fact: Hashable { let year: Int64, fund: String, group: Int64, paidOn: String }
        func add(_ value: inout Int64, _ amount: Int64, _ what: String) throws {
            let (sum, overflow) = value.addingReportingOverflow(amount)
            if overflow { throw TotalsOverflow(office: office.rawValue, what: what) }
            value = sum
        }
        var plan: [YearFund: Int64] = [:]
        var paid: [YearFund: Int64] = [:]
        var facts: [Fact: Int64] = [:]
        let plans = try Row.fetchCursor(
            db,
            sql: """
                SELECT json_extract(fields, '$.year'), json_extract(fields, '$.fund_source'), json_extract(fields, '$.amount')
                FROM record WHERE tbl = 'plan_line' AND office = ? AND deleted_at IS NULL
                """, arguments: [office.rawValue])
        while let row = try plans.next() {
            guard let year = row[0] as Int64?, let fund = row[1] as String?, let amount = row[2] as Int64? else { continue }
            try add(&plan[YearFund(year: year, fund: fund), default: 0], amount, "plan lines")
        }
        let entries = try Row.fetchCursor(
            db,
            sql: """
                SELECT json_extract(p.fields, '$.year'), json_extract(p.fields, '$.fund_source'), json_extract(p.fields, '$.category'),
                       json_extract(d.fields, '$.paid_on'), json_extract(d.fields, '$.kind'), json_extract(d.fields, '$.amount')
                FROM record d JOIN record p ON p.tbl = 'project' AND p.id = d.aggregate
                WHERE d.tbl = 'disbursement' AND d.office = ? AND d.deleted_at IS NULL AND d.held = 0
                """, arguments: [office.rawValue])
        while let row = try entries.next() {
            guard let year = row[0] as Int64?, let fund = row[1] as String?, let paidOn = row[3] as String?,
                let kind = (row[4] as String?).flatMap(DisbursementKind.init(rawValue:)), let amount = row[5] as Int64?
            else { continue }
            let signed = LedgerRules.signed(kind, amount)
            try add(&paid[YearFund(year: year, fund: fund), default: 0], signed, "disbursements")
            let group = Int64(ReferenceData.category(code: row[2] ?? "")?.reportGroup ?? 0)
            try add(&facts[Fact(year: year, fund: fund, group: group, paidOn: paidOn), default: 0], signed, "disbursements")
        }

        let province = ReferenceData.provinceInForce(office.rawValue)
        var totals: [String: (YearFund, plan: Int64, paid: Int64)] = [:]
        for key in Set(plan.keys).union(paid.keys) {
            totals["\(office.rawValue)/\(key.year)/\(key.fund)"] = (key, plan[key] ?? 0, paid[key] ?? 0)
        }
        for id in try String.fetchAll(db, sql: "SELECT id FROM record WHERE tbl = 'province_total' AND id LIKE ?", arguments: ["\(office.rawValue)/%"])
        where totals[id] == nil {
            let parts = id.split(separator: "/").map(String.init)
            totals[id] = (YearFund(year: Int64(parts[1]) ?? 0, fund: parts[2]), 0, 0)
        }
        for (id, total) in totals.sorted(by: { $0.key < $1.key }) {
            try putCentralRecord(
                db, table: .provinceTotal, id: id,
                fields: [
                    "province": .text(province), "year": .integer(total.0.year), "fund_source": .text(total.0.fund),
                    "plan_amount": .integer(total.plan), "disbursed_amount": .integer(total.paid),
                ])
        }
        var byID: [String: (Fact, Int64)] = [:]
        for (fact, amount) in facts { byID["\(office.rawValue)/\(fact.year)/\(fact.fund)/\(fact.group)/\(fact.paidOn)"] = (fact, amount) }
        for id in try String.fetchAll(
            db, sql: "SELECT id FROM record WHERE tbl = 'disbursed_total' AND office = 'central' AND id LIKE ?", arguments: ["\(office.rawValue)/%"])
        where byID[id] == nil {
            let parts = id.split(separator: "/").map(String.init)
            byID[id] = (Fact(year: Int64(parts[1]) ?? 0, fund: parts[2], group: Int64(parts[3]) ?? 0, paidOn: parts[4]), 0)
        }
        for (id, (fact, amount)) in byID.sorted(by: { $0.key < $1.key }) {
            try putCentralRecord(
                db, table: .disbursedTotal, id: id,
                fields: [
                    "province": .text(province), "year": .integer(fact.year), "fund_source": .text(fact.fund),
                    "report_group": .integer(fact.group), "paid_on": .text(fact.paidOn), "amount": .integer(amount),
                ])
        }
    }
}
