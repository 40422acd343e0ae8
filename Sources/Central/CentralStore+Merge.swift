import Foundation
import GRDB
import SyncCore

/// What `promo-central office merge` did.
public struct MergeOutcome: Sendable, Equatable {
    public var retired: [OfficeCode]
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
    public func merge(_ retired: [OfficeCode], into receiving: OfficeCode, now: Date = Date()) throws(CentralError) -> MergeOutcome {
        do {
            return try database.write { db in try Self.merge(db, retired, into: receiving, now: now, position: Self.nextPosition(db)) }
        } catch {
            throw CentralError.storage(error, during: "merging offices into \(receiving)")
        }
    }

    static func merge(_ db: Database, _ retired: [OfficeCode], into receiving: OfficeCode, now: Date, position: Int64) throws -> MergeOutcome {
        guard !retired.isEmpty else { throw CentralError.badRequest("name at least one office to merge") }
        guard !retired.contains(receiving) else {
            throw CentralError.badRequest("office \(receiving) cannot be merged into itself", hint: "List the retiring offices before --into.")
        }
        for code in retired + [receiving] {
            guard let row = try Row.fetchOne(db, sql: "SELECT merged_into FROM office WHERE code = ?", arguments: [code.rawValue]) else {
                throw CentralError(.notFound, "not_found", "office \(code) is not registered", hint: "See: promo-central office list")
            }
            if let into = row["merged_into"] as String? {
                throw CentralError(.conflict, "office_merged", "office \(code) was already merged into office \(into)",
                                   hint: code == receiving ? "Merge into office \(into) instead." : "Nothing to do for it.")
            }
        }
        for code in retired {
            try db.execute(sql: "UPDATE office SET merged_into = ?, merged_at = ? WHERE code = ?",
                           arguments: [receiving.rawValue, Timestamps.format(now), code.rawValue])
        }
        let rehomed = try rehomedOffices(db)
        let placeholders = retired.map { _ in "?" }.joined(separator: ",")
        let aggregates = try String.fetchAll(
            db, sql: "SELECT DISTINCT aggregate FROM record WHERE office IN (\(placeholders)) AND aggregate IS NOT NULL ORDER BY aggregate",
            arguments: StatementArguments(retired.map(\.rawValue)))
        var positions = try LogPositions(db)
        for aggregate in aggregates {
            _ = try refold(db, aggregate: aggregate, rehomed: rehomed, positions: &positions)
        }
        for office in retired + [receiving] { try markTotalsPending(db, office: office) }
        try journal(db, .officesMerged(.init(retired: retired.map(\.rawValue), into: receiving.rawValue)), at: now, position: position)
        return MergeOutcome(retired: retired, into: receiving, aggregates: aggregates.count)
    }

    /// Retired office code → the office that now holds its records (following merges of merges).
    static func rehomedOffices(_ db: Database) throws -> [String: String] {
        var direct: [String: String] = [:]
        for row in try Row.fetchAll(db, sql: "SELECT code, merged_into FROM office WHERE merged_into IS NOT NULL") {
            direct[row["code"]] = row["merged_into"]
        }
        return direct.mapValues { target in
            var home = target
            var seen: Set<String> = [home]
            while let next = direct[home], seen.insert(next).inserted { home = next }
            return home
        }
    }

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
            .gone, "office_merged",
            "office \(office) was merged into office \(into) on \((row["merged_at"] as String?)?.prefix(10) ?? "?"); its records now belong to office \(into)",
            hint: "This replica is retired. Changes still pending here are accepted and go to office \(into); once promo-sync status shows none pending, stop this daemon (systemctl disable --now promo-sync) and work from office \(into)'s replica.")
    }
}
