import Foundation
import GRDB
import SyncCore
import WireFormat

/// A project of a province with its ledger, as the dashboard's drill-down shows it.
public struct ProvinceProject: Sendable, Equatable {
    /// One entry of the project's disbursement ledger.
    public struct Entry: Sendable, Equatable {
        /// What the entry is; a recovery subtracts from what was disbursed.
        public var kind: DisbursementKind
        /// The entry's amount in VND, as written (a recovery's too); ``LedgerRules/signed(_:_:)`` gives its sign.
        public var amount: Int64
        /// The payment voucher's number, if the entry has one.
        public var voucher: String?
        /// The day it was paid (`YYYY-MM-DD`); empty when the record has none.
        public var paidOn: String
        /// Held by a conflict (a duplicate voucher, past the limit, …): listed, never counted,
        /// as the consolidated totals leave it out.
        public var held: Bool
    }

    /// The office that owns the project (the receiving office, for a merged province's project).
    public var office: String
    /// The project's code; "?" when the record has none.
    public var code: String
    /// The project's name; empty when the record has none.
    public var name: String
    /// Its fund source (`national` or `local`); empty when the record has none.
    public var fund: String
    /// Its status as stored (`approved`, `halted`, …); empty when the record has none.
    public var status: String
    /// The support approved for it, in VND; nil while none is set.
    public var approvedSupport: Int64?
    /// Its ledger entries, by day paid and voucher, held ones included.
    public var ledger: [Entry]

    /// What the ledger adds up to on or before `cutoff` (recoveries subtract, held entries do
    /// not count), as the consolidated totals add it up.
    public func disbursed(through cutoff: String?) -> Int64 {
        ledger.filter { $0.counts(through: cutoff) }.reduce(0) { Money.sum($0, LedgerRules.signed($1.kind, $1.amount)) }
    }
}

extension CentralStore {
    /// The projects of a province (and of the provinces merged into it) for a year, with their
    /// ledgers, by project code.
    public func provinceProjects(province: String, year: Int) throws(CentralError) -> [ProvinceProject] {
        do {
            return try database.read { db in
                var projects: [String: ProvinceProject] = [:]
                let rows = try Row.fetchAll(
                    db, sql: "SELECT id, office, fields FROM record WHERE tbl = 'project' AND deleted_at IS NULL AND json_extract(fields, '$.year') = ?",
                    arguments: [year])
                for row in rows {
                    let f = try FieldCoding.decode(row["fields"] as String)
                    guard let recorded = f["province"]?.text, ReferenceData.provinceInForce(recorded) == province else { continue }
                    projects[row["id"]] = ProvinceProject(
                        office: row["office"], code: f["code"]?.text ?? "?", name: f["name"]?.text ?? "", fund: f["fund_source"]?.text ?? "",
                        status: f["status"]?.text ?? "", approvedSupport: f["approved_support"]?.integer, ledger: [])
                }
                guard !projects.isEmpty else { return [] }
                let entries = try Row.fetchAll(
                    db,
                    sql: """
                        SELECT aggregate, fields, held FROM record WHERE tbl = 'disbursement' AND deleted_at IS NULL
                        AND aggregate IN (SELECT value FROM json_each(?))
                        """, arguments: [String(decoding: try JSONEncoder().encode(Array(projects.keys)), as: UTF8.self)])
                for row in entries {
                    let f = try FieldCoding.decode(row["fields"] as String)
                    guard let kind = f["kind"]?.text.flatMap(DisbursementKind.init(rawValue:)), let amount = f["amount"]?.integer else { continue }
                    projects[row["aggregate"]]?.ledger.append(
                        .init(kind: kind, amount: amount, voucher: f["voucher"]?.text, paidOn: f["paid_on"]?.text ?? "", held: row["held"] != 0))
                }
                return projects.values.map { p in
                    var p = p
                    p.ledger.sort { ($0.paidOn, $0.voucher ?? "") < ($1.paidOn, $1.voucher ?? "") }
                    return p
                }.sorted { ($0.code, $0.office) < ($1.code, $1.office) }
            }
        } catch {
            throw CentralError.storage(error, during: "reading a province's projects")
        }
    }
}

extension ProvinceProject.Entry {
    /// Whether the entry counts in a total through `cutoff`.
    public func counts(through cutoff: String?) -> Bool { !held && (cutoff.map { paidOn <= $0 } ?? true) }
}
