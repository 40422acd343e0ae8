import CentralPostgres
import Foundation
import GRDB
import Logging
import PostgresNIO
import Replica
import SyncAgent
import SyncCore
import SyncTesting
import Testing

@testable import Central

/// The whole country at once (issue 25, "same guarantees"): the 34 provinces' offices enter plan
/// lines, projects and payments and push them through one live centre at the same moment, round
/// after round, some of them losing the acknowledgement of what they pushed and sending it again.
/// Nothing is lost, nothing is applied twice, the consolidated totals equal both what was entered
/// and a recomputation from the records, every office verifies identical, and the centre's store
/// replays from its logs (withLiveCentral's audit). Run twice: on the SQLite store alone, and with
/// the store's durable record in PostgreSQL, where every acknowledged changeset must be in the
/// copy too (the passes carry many offices' pushes at once).
@Suite struct ConcurrentFleetTests {
    @Test func thirtyFourOfficesPushAtOnceAndNothingIsLostOrAppliedTwice() async throws {
        try await Self.fleet(record: nil)
    }

    @Test(.enabled(if: postgresURL != nil, "PostgreSQL is not installed here (apt install postgresql); CI runs this"))
    func thirtyFourOfficesPushAtOnceThroughTheDurableRecord() async throws {
        try await withDatabase { url in try await Self.fleet(record: try PostgresLocation(url: url, password: nil)) }
    }

    static func fleet(record location: PostgresLocation?) async throws {
        let logger = Logger(label: "test-fleet")
        let record: @Sendable (CentralStore) async throws -> (any DurableRecord)? = { store in
            guard let location else { return nil }
            _ = try await location.withClient(logger: logger) { client in try await PostgresStoreCopy.copy(storePath: store.path, to: client, logger: logger) }
            let record = PostgresRecord(location: location, storePath: store.path, logger: logger, interval: .seconds(3_600))
            try await record.start()
            return record
        }
        try await withLiveCentral(record: record) { central in
            let provinces = ReferenceData.provinces.map(\.code)
            #expect(provinces.count == 34)
            var offices: [(code: String, office: OfficeFixture, faults: FaultInjector)] = []
            for code in provinces {
                let faults = FaultInjector()
                offices.append((code, try OfficeFixture(office: code, central: central, faults: faults), faults))
            }
            var plan: [String: Int64] = [:]
            var paid: [String: Int64] = [:]
            var rows: [String: Int] = [:]
            let rounds = 3
            for round in 0..<rounds {
                for (i, entry) in offices.enumerated() {
                    let data = entry.office.replica.data
                    let amount = Int64(i + 1) * 1_000_000_000 + Int64(round)
                    try data.addPlanLine(year: 2025, fundSource: .local, amount: amount, note: "Kế hoạch đợt \(round)")
                    plan[entry.code, default: 0] += amount
                    let project = "KC-\(round)"
                    try data.addProject(
                        NewProject(
                            code: project, name: "Dự án \(round) của \(entry.code)", category: "MH_TRINHDIEN", fundSource: .local,
                            year: 2025, totalCost: 2_000_000_000, requestedSupport: 600_000_000))
                    try data.approveLocally(project)
                    for n in 0..<3 {
                        let payment = 100_000_000 + Int64(i * 1_000 + round * 10 + n)
                        try data.addDisbursement(
                            NewDisbursement(project: project, kind: .payment, amount: payment, voucher: "KB-\(round)-\(n)", paidOn: "2025-0\(n + 4)-1\(round)"))
                        paid[entry.code, default: 0] += payment
                    }
                    rows[entry.code, default: 0] += 5
                    // Every fifth office loses the acknowledgement of its first changeset this round.
                    if i % 5 == round { entry.faults.arm(.afterPushBeforeAck) }
                }
                // All 34 at the same moment; a cycle stopped by the lost acknowledgement runs again
                // and the centre answers that it has that changeset already.
                let duplicates = try await withThrowingTaskGroup(of: Int.self) { group in
                    for entry in offices {
                        group.addTask {
                            for _ in 0..<3 {
                                do { return try await entry.office.engine.runCycle().duplicatesAcknowledged } catch let error as SyncAgentError
                                    where error.code == .injectedFault
                                {}
                            }
                            throw SyncAgentError(.injectedFault, "office \(entry.code) did not get through", transient: false)
                        }
                    }
                    return try await group.reduce(0, +)
                }
                #expect(duplicates == offices.indices.filter { $0 % 5 == round }.count, "round \(round)")
            }
            // Everyone pulls what the others pushed last.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for entry in offices { group.addTask { _ = try await entry.office.engine.runCycle() } }
                try await group.waitForAll()
            }

            // Nothing lost, nothing twice: each office's rows and changesets, once each.
            let store = central.store
            let counts = try await store.database.read { (db: Database) -> [String: Int] in
                try Row.fetchAll(
                    db,
                    sql: """
                        SELECT office, count(*) AS n FROM record
                        WHERE tbl IN ('plan_line', 'project', 'disbursement') AND deleted_at IS NULL GROUP BY office
                        """
                ).reduce(into: [String: Int]()) { $0[$1["office"]] = $1["n"] }
            }
            let changesets = try await store.database.read { (db: Database) -> [Row] in
                try Row.fetchAll(
                    db,
                    sql:
                        "SELECT c.office, count(*) AS n, max(c.sequence) AS last, o.last_sequence FROM changeset c JOIN office o ON o.code = c.office GROUP BY c.office"
                )
            }
            let heldEntries = try await store.database.read { (db: Database) -> Int in
                try Int.fetchOne(db, sql: "SELECT count(*) FROM record WHERE held <> 0") ?? -1
            }
            let held = (counts: counts, changesets: changesets, heldEntries: heldEntries)
            #expect(held.counts == rows)
            #expect(held.heldEntries == 0)
            for row in held.changesets {
                #expect(row["n"] as Int64 == row["last"] as Int64 && row["last"] as Int64 == row["last_sequence"] as Int64, "office \(row["office"] as String)")
            }
            // The totals: what was entered, and what the records add up to when summed again here.
            try store.refreshTotals()
            let totals = try store.totals().filter { $0.year == 2025 && $0.fund == "local" }
            #expect(Dictionary(uniqueKeysWithValues: totals.map { ($0.province, $0.plan) }) == plan)
            #expect(Dictionary(uniqueKeysWithValues: totals.map { ($0.province, $0.disbursed) }) == paid)
            let recomputed = try await store.database.read { (db: Database) -> [String: Int64] in
                try Row.fetchAll(
                    db,
                    sql: """
                        SELECT office, sum(json_extract(fields, '$.amount')) AS amount FROM record
                        WHERE tbl = 'disbursement' AND deleted_at IS NULL AND held = 0 GROUP BY office
                        """
                ).reduce(into: [String: Int64]()) { $0[$1["office"]] = $1["amount"] }
            }
            #expect(recomputed == paid)
            // Every office holds what the centre holds of it, and the consolidated totals of all.
            for entry in offices {
                let report = try await entry.office.engine.verify()
                #expect(report.identical, "office \(entry.code): \(report.summary)")
                let facts = try entry.office.replica.data.reportFacts()
                #expect(Dictionary(facts.plans.map { ($0.province, $0.amount) }, uniquingKeysWith: +) == plan, "office \(entry.code)")
            }
            // With the durable record: every changeset an office had acknowledged is in PostgreSQL.
            if let location {
                let copied = try await location.withClient(logger: logger) { client in
                    var copied: [String: Int64] = [:]
                    for try await (office, count) in try await client.query("SELECT office, count(*) FROM promo.changeset GROUP BY office", logger: logger)
                        .decode((String, Int64).self)
                    {
                        copied[office] = count
                    }
                    return copied
                }
                for entry in offices {
                    #expect(copied[entry.code] == (try entry.office.replica.syncPosition().lastAcked), "office \(entry.code)")
                }
            }
        }
    }
}
