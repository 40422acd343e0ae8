import Foundation
import GRDB
import SyncCore
import WireFormat

/// The consolidated totals (`province_total`, `disbursed_total`): records the centre computes
/// from the offices' plan lines and disbursements and publishes to every office.
///
/// A push only marks its office's totals pending (`totals_pending`, in the push transaction);
/// ``TotalsRefresher`` recomputes them after the push commits, and a pull waits for it, so a
/// read never writes. Commands of the operator that read totals bring them up to date first.
extension CentralStore {
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
            try refreshTotals(of: try database.read { db in try String.fetchAll(db, sql: "SELECT office FROM totals_pending ORDER BY office") })
        } catch {
            throw CentralError.storage(error, during: "recomputing the consolidated totals")
        }
    }

    /// Recomputes the totals of `office` (``refreshTotals()``, for one office: the caller found
    /// them out of date, ``totalsOutOfDate(office:)``).
    public func refreshTotals(of office: OfficeCode) throws(CentralError) {
        do {
            try refreshTotals(of: [office.rawValue])
        } catch {
            throw CentralError.storage(error, during: "recomputing the consolidated totals of office \(office)")
        }
    }

    /// Whether the totals of `office` wait to be recomputed and can be (not an overflow).
    public func totalsOutOfDate(office: OfficeCode) throws(CentralError) -> Bool {
        if totalsFailures.withLock({ $0[office.rawValue] != nil }) { return false }
        do {
            return try database.read { db in
                try Bool.fetchOne(db, sql: "SELECT EXISTS(SELECT 1 FROM totals_pending WHERE office = ?)", arguments: [office.rawValue]) ?? false
            }
        } catch {
            throw CentralError.storage(error, during: "reading whether the totals of office \(office) are out of date")
        }
    }

    /// Each office's totals are computed from a snapshot, outside the write transaction that every
    /// office's pushes wait for, and written in one that only compares and writes what changed,
    /// if nothing they are computed from changed since the snapshot
    /// (``totalsInputsChanged(_:office:since:)``; else computed again, three times at most; then
    /// they stay pending for the next pass, the office pushing all along). An office's pull
    /// recomputed them inside it: one office with 250,000 payments pushing a row at a time and
    /// pulling held every other office's pushes for seconds each (rounds 9 and 10).
    private func refreshTotals(of pending: [String]) throws {
        for office in pending {
            let code = OfficeCode(unchecked: office)
            do {
                var written = false
                for _ in 0..<3 where !written {
                    let (computed, asOf) = try database.read { db in (try Self.computeTotals(db, office: code), try TotalsSnapshot(db)) }
                    written = try database.write { db in
                        guard try !Self.totalsInputsChanged(db, office: code, since: asOf) else { return false }
                        try Self.writeTotals(db, computed, office: code)
                        try db.execute(sql: "DELETE FROM totals_pending WHERE office = ?", arguments: [office])
                        return true
                    }
                }
                if !written {
                    logger.info(
                        "consolidated totals left pending: the office's records changed during each computation", metadata: ["sync.office": "\(office)"])
                    continue
                }
                totalsFailures.withLock { _ = $0.removeValue(forKey: office) }
            } catch let error as TotalsOverflow {
                logger.error("consolidated totals not recomputed", metadata: ["sync.office": "\(office)", "error": "\(error)"])
                totalsFailures.withLock { $0[office] = error.description }
            }
        }
    }

    /// Where the store stood when totals were computed from it: its newest record and journal entry.
    struct TotalsSnapshot {
        var seq: Int64
        var position: Int64

        init(_ db: Database) throws {
            seq = try Int64.fetchOne(db, sql: "SELECT coalesce(max(seq), 0) FROM record") ?? 0
            position = try Int64.fetchOne(db, sql: "SELECT coalesce(max(position), 0) FROM journal") ?? 0
        }
    }

    /// Whether what `office`'s totals are computed from (``computeTotals(_:office:)``) may have
    /// changed since `snapshot`: a record of the office, a project its payments are in (its year,
    /// fund or category, written as another office's or the centre's), or anything the centre did
    /// itself (a merge or unmerge moves records to another office, so none is the office's any
    /// more). Only looking for the office's own records let a refresh computed before a merge
    /// write totals that still counted the records merged away, and clear the mark the merge had
    /// set: the payments then counted in two provinces' totals.
    static func totalsInputsChanged(_ db: Database, office: OfficeCode, since snapshot: TotalsSnapshot) throws -> Bool {
        try Bool.fetchOne(
            db,
            sql: """
                SELECT EXISTS(SELECT 1 FROM record WHERE office = ?1 AND seq > ?2)
                    OR EXISTS(
                        SELECT 1 FROM record p WHERE p.seq > ?2 AND p.tbl = 'project'
                        AND EXISTS(SELECT 1 FROM record d WHERE d.aggregate = p.id AND d.tbl = 'disbursement' AND d.office = ?1))
                    OR (SELECT coalesce(max(position), 0) FROM journal) > ?3
                """, arguments: [office.rawValue, snapshot.seq, snapshot.position]) ?? true
    }

    /// Whether some office's totals wait to be recomputed, leaving out those that failed for a
    /// reason only new figures can change (an overflow, ``totalsProblems()``): one indexed read.
    public func totalsOutOfDate() throws(CentralError) -> Bool {
        let failed = totalsFailures.withLock { Set($0.keys) }
        do {
            return try database.read { db in
                try String.fetchAll(db, sql: "SELECT office FROM totals_pending").contains { !failed.contains($0) }
            }
        } catch {
            throw CentralError.storage(error, during: "reading which totals are out of date")
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
        try writeTotals(db, try computeTotals(db, office: office), office: office)
    }

    /// One office's consolidated figures as computed (``computeTotals(_:office:)``), by record id.
    struct ComputedTotals {
        var provinceTotals: [String: [String: FieldValue]] = [:]
        var disbursedTotals: [String: [String: FieldValue]] = [:]
    }

    /// Writes `computed` as `office`'s totals, those that changed only; a figure the office had
    /// and no longer has rows for drops to zero rather than vanish.
    static func writeTotals(_ db: Database, _ computed: ComputedTotals, office: OfficeCode) throws {
        let province = ReferenceData.provinceInForce(office.rawValue)
        var provinceTotals = computed.provinceTotals
        for id in try String.fetchAll(db, sql: "SELECT id FROM record WHERE tbl = 'province_total' AND id LIKE ?", arguments: ["\(office.rawValue)/%"])
        where provinceTotals[id] == nil {
            let parts = id.split(separator: "/").map(String.init)
            provinceTotals[id] = provinceTotal(province: province, year: Int64(parts[1]) ?? 0, fund: parts[2], plan: 0, paid: 0)
        }
        for (id, fields) in provinceTotals.sorted(by: { $0.key < $1.key }) { try putCentralRecord(db, table: .provinceTotal, id: id, fields: fields) }
        var disbursedTotals = computed.disbursedTotals
        for id in try String.fetchAll(
            db, sql: "SELECT id FROM record WHERE tbl = 'disbursed_total' AND office = 'central' AND id LIKE ?", arguments: ["\(office.rawValue)/%"])
        where disbursedTotals[id] == nil {
            let parts = id.split(separator: "/").map(String.init)
            disbursedTotals[id] = disbursedTotal(
                province: province, year: Int64(parts[1]) ?? 0, fund: parts[2], group: Int64(parts[3]) ?? 0, paidOn: parts[4], amount: 0)
        }
        for (id, fields) in disbursedTotals.sorted(by: { $0.key < $1.key }) { try putCentralRecord(db, table: .disbursedTotal, id: id, fields: fields) }
    }

    static func provinceTotal(province: String, year: Int64, fund: String, plan: Int64, paid: Int64) -> [String: FieldValue] {
        [
            "province": .text(province), "year": .integer(year), "fund_source": .text(fund), "plan_amount": .integer(plan),
            "disbursed_amount": .integer(paid),
        ]
    }

    static func disbursedTotal(province: String, year: Int64, fund: String, group: Int64, paidOn: String, amount: Int64) -> [String: FieldValue] {
        [
            "province": .text(province), "year": .integer(year), "fund_source": .text(fund), "report_group": .integer(group),
            "paid_on": .text(paidOn), "amount": .integer(amount),
        ]
    }

    /// Computes one office's consolidated figures from its records, without writing.
    static func computeTotals(_ db: Database, office: OfficeCode) throws -> ComputedTotals {
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
        var computed = ComputedTotals()
        for key in Set(plan.keys).union(paid.keys) {
            computed.provinceTotals["\(office.rawValue)/\(key.year)/\(key.fund)"] = provinceTotal(
                province: province, year: key.year, fund: key.fund, plan: plan[key] ?? 0, paid: paid[key] ?? 0)
        }
        for (fact, amount) in facts {
            computed.disbursedTotals["\(office.rawValue)/\(fact.year)/\(fact.fund)/\(fact.group)/\(fact.paidOn)"] = disbursedTotal(
                province: province, year: fact.year, fund: fact.fund, group: fact.group, paidOn: fact.paidOn, amount: amount)
        }
        return computed
    }

    /// The consolidated totals per province in force, year and fund source: a retired office's
    /// figures are counted under its successor, and a total with nothing planned or paid (an
    /// office merged away, rows all deleted) is left out.
    public func totals() throws(CentralError) -> [(province: String, year: Int, fund: String, plan: Int64, disbursed: Int64)] {
        do {
            return try database.read { db in
                struct Key: Hashable, Comparable {
                    let province: String, year: Int, fund: String
                    static func < (a: Key, b: Key) -> Bool { (a.province, a.year, a.fund) < (b.province, b.year, b.fund) }
                }
                var sums: [Key: (plan: Int64, paid: Int64)] = [:]
                for row in try Row.fetchAll(db, sql: "SELECT fields FROM record WHERE tbl = 'province_total'") {
                    let f = try FieldCoding.decode(row["fields"] as String)
                    let key = Key(
                        province: ReferenceData.provinceInForce(f["province"]?.text ?? ""), year: Int(f["year"]?.integer ?? 0),
                        fund: f["fund_source"]?.text ?? "")
                    let sum = sums[key] ?? (0, 0)
                    // Each office's figures are bounded and checked; summed over offices they never wrap.
                    sums[key] = (Money.sum(sum.plan, f["plan_amount"]?.integer ?? 0), Money.sum(sum.paid, f["disbursed_amount"]?.integer ?? 0))
                }
                return sums.filter { $0.value.plan != 0 || $0.value.paid != 0 }.sorted { $0.key < $1.key }.map {
                    (province: $0.key.province, year: $0.key.year, fund: $0.key.fund, plan: $0.value.plan, disbursed: $0.value.paid)
                }
            }
        } catch {
            throw CentralError.storage(error, during: "reading totals")
        }
    }

    /// The consolidated figures as report facts.
    public func reportFacts() throws(CentralError) -> (plans: [PlanFact], disbursed: [DisbursedFact]) {
        do {
            return try database.read { db in
                func fields(_ tbl: String) throws -> [[String: FieldValue]] {
                    try String.fetchAll(db, sql: "SELECT fields FROM record WHERE tbl = ? AND deleted_at IS NULL", arguments: [tbl])
                        .map { try FieldCoding.decode($0) }
                }
                let plans = try fields("province_total").compactMap { f -> PlanFact? in
                    guard let fund = f["fund_source"]?.text.flatMap(FundSource.init(rawValue:)) else { return nil }
                    return PlanFact(province: f["province"]?.text ?? "", year: Int(f["year"]?.integer ?? 0), fund: fund, amount: f["plan_amount"]?.integer ?? 0)
                }
                let paid = try fields("disbursed_total").compactMap { f -> DisbursedFact? in
                    guard let fund = f["fund_source"]?.text.flatMap(FundSource.init(rawValue:)) else { return nil }
                    return DisbursedFact(
                        province: f["province"]?.text ?? "", year: Int(f["year"]?.integer ?? 0), fund: fund,
                        group: Int(f["report_group"]?.integer ?? 0), paidOn: f["paid_on"]?.text ?? "", amount: f["amount"]?.integer ?? 0)
                }
                return (plans, paid)
            }
        } catch {
            throw CentralError.storage(error, during: "reading report figures")
        }
    }
}
