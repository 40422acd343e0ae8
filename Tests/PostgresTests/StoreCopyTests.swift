import CentralPostgres
import Foundation
import Logging
import PostgresNIO
import Replica
import SyncAgent
import SyncCore
import SyncTesting
import Testing

@testable import Central

/// The PostgreSQL cluster `make test` starts (scripts/pg-cluster.sh); without PostgreSQL on the
/// machine these tests are skipped, and say so. CI installs it and requires them.
let postgresURL = TestPostgres.url

/// A new, empty database in the test cluster, dropped afterwards.
func withDatabase<T: Sendable>(_ body: @Sendable (_ url: String) async throws -> T) async throws -> T {
    try await TestPostgres.withDatabase(body)
}

@Suite(.enabled(if: postgresURL != nil, "PostgreSQL is not installed here (apt install postgresql); CI runs these"))
struct StoreCopyTests {
    let logger = Logger(label: "test-postgres")

    @Test func aCentreFedByRealOfficesIsCopiedExactlyAndReadableThroughTheReportingViews() async throws {
        try await withLiveCentral { central in
            // Two offices sync real work: plans, projects (one with a tax code), payments, a recovery.
            let hcm = try OfficeFixture(office: "79", central: central)
            let tayNinh = try OfficeFixture(office: "80", central: central)
            try hcm.replica.data.addPlanLine(year: 2025, fundSource: .local, amount: 12_000_000_000, note: "Kế hoạch 2025")
            try tayNinh.replica.data.addPlanLine(year: 2025, fundSource: .local, amount: 6_500_000_000, note: nil)
            try hcm.replica.data.addProject(
                NewProject(
                    code: "HCM-01", name: "Máy sấy nông sản", category: "MH_TRINHDIEN", fundSource: .local, year: 2025, totalCost: 2_400_000_000,
                    requestedSupport: 720_000_000, taxCode: "0312345678"))
            try hcm.replica.data.approveLocally("HCM-01")
            try hcm.replica.data.addDisbursement(NewDisbursement(project: "HCM-01", kind: .advance, amount: 504_000_000, voucher: "KB-1", paidOn: "2025-06-12"))
            try hcm.replica.data.addDisbursement(NewDisbursement(project: "HCM-01", kind: .recovery, amount: 4_000_000, voucher: "KB-2", paidOn: "2025-07-01"))
            try tayNinh.addProject(code: "TN-01")
            for office in [hcm, tayNinh, hcm] { try await office.engine.runCycle() }
            try central.store.refreshTotals()

            try await withDatabase { url in
                let target = try PostgresLocation(url: url, password: nil)
                let report = try await target.withClient(logger: logger) { client in
                    try await PostgresStoreCopy.copy(storePath: central.store.path, to: client, logger: logger)
                }
                #expect(report.differing.isEmpty)
                #expect(report.rows.first { $0.table == "record" }?.count == (try central.store.recordCounts().reduce(0) { $0 + $1.live + $1.deleted }))

                try await target.withClient(logger: logger) { client in
                    // The views' typed figures are the store's.
                    var totals: [String: (Int64, Int64)] = [:]
                    for try await (province, plan, paid) in try await client.query(
                        "SELECT province, plan_amount, disbursed_amount FROM reporting.province_totals WHERE year = 2025 AND fund_source = 'local'",
                        logger: logger
                    ).decode((String, Int64, Int64).self) {
                        totals[province] = (plan, paid)
                    }
                    let store = try central.store.totals().filter { $0.year == 2025 && $0.fund == "local" }
                    #expect(totals.count == store.count)
                    for total in store { #expect(totals[total.province]! == (total.plan, total.disbursed), "\(total.province)") }
                    #expect(totals["79"]! == (12_000_000_000, 500_000_000))
                    var signed: Int64 = 0
                    for try await amount in try await client.query("SELECT signed_amount FROM reporting.disbursements WHERE office = '79'", logger: logger)
                        .decode(Int64.self)
                    {
                        signed += amount
                    }
                    #expect(signed == 500_000_000)
                    var taxCodes: [String] = []
                    for try await code in try await client.query("SELECT tax_code FROM reporting.projects WHERE tax_code IS NOT NULL", logger: logger).decode(
                        String.self)
                    {
                        taxCodes.append(code)
                    }
                    #expect(taxCodes == ["0312345678"])

                    // Readers get the views and nothing else.
                    try await client.query("CREATE ROLE report_reader LOGIN IN ROLE promo_reporting", logger: logger)
                }
                let readerURL = url.replacingOccurrences(of: "promo@", with: "report_reader@")
                try await PostgresLocation(url: readerURL, password: nil).withClient(logger: logger) { reader in
                    let rows = try await reader.query("SELECT count(*) FROM reporting.projects", logger: logger).decode(Int64.self).reduce(0, +)
                    #expect(rows == 2)
                    await #expect(throws: (any Error).self) { try await reader.query("SELECT count(*) FROM promo.record", logger: logger) }
                    await #expect(throws: (any Error).self) { try await reader.query("DELETE FROM promo.record", logger: logger) }
                }
                try await target.withClient(logger: logger) { client in
                    try await client.query("DROP OWNED BY report_reader", logger: logger)
                    try await client.query("DROP ROLE report_reader", logger: logger)
                }

                // A second copy into the same database is refused, and changes nothing there.
                let again = await #expect(throws: CentralError.self) {
                    try await target.withClient(logger: logger) { client in
                        try await PostgresStoreCopy.copy(storePath: central.store.path, to: client, logger: logger)
                    }
                }
                #expect(again?.message.contains("already holds a centre") == true)
            }
        }
    }

    @Test func followingKeepsTheCopyEqualToTheStoreWhileOfficesSyncAndRefusesARestoredStore() async throws {
        try await withLiveCentral { central in
            let hcm = try OfficeFixture(office: "79", central: central)
            try hcm.replica.data.addPlanLine(year: 2025, fundSource: .local, amount: 12_000_000_000, note: nil)
            try hcm.addProject(code: "HCM-01", requested: 700_000_000)
            try hcm.replica.data.approveLocally("HCM-01")
            try await hcm.engine.runCycle()
            try central.store.refreshTotals()
            try await withDatabase { url in
                let target = try PostgresLocation(url: url, password: nil)
                // Following before a copy says what to do.
                let none = await #expect(throws: CentralError.self) {
                    try await target.withClient(logger: logger) { client in
                        try await PostgresStoreFollower.catchUp(storePath: central.store.path, to: client, logger: logger)
                    }
                }
                #expect(none?.hint?.contains("store migrate") == true, "\(String(describing: none))")
                try await target.withClient(logger: logger) { client in
                    _ = try await PostgresStoreCopy.copy(storePath: central.store.path, to: client, logger: logger)
                    // Nothing new: nothing copied.
                    #expect(try await PostgresStoreFollower.catchUp(storePath: central.store.path, to: client, logger: logger).total == 0)
                }
                // The office goes on: new rows, a changed row (a new project status), payments, a
                // second office, the centre's own decision; a dashboard user logs in.
                let tayNinh = try OfficeFixture(office: "80", central: central)
                try tayNinh.addProject(code: "TN-01")
                try hcm.replica.data.addDisbursement(
                    NewDisbursement(project: "HCM-01", kind: .payment, amount: 300_000_000, voucher: "KB-1", paidOn: "2025-06-12"))
                try hcm.replica.data.updateProject("HCM-01", ProjectUpdate(name: "Máy sấy nông sản (mở rộng)"))
                for office in [hcm, tayNinh, hcm] { try await office.engine.runCycle() }
                try central.store.addDashboardUser("analyst", password: "correct horse battery")
                _ = try central.store.login("analyst", password: "correct horse battery", address: "127.0.0.1")
                try central.store.refreshTotals()
                try await target.withClient(logger: logger) { client in
                    let pass = try await PostgresStoreFollower.catchUp(storePath: central.store.path, to: client, logger: logger)
                    #expect(
                        pass.rows["changeset"] == 2 && (pass.rows["record"] ?? 0) > 0 && (pass.rows["history"] ?? 0) >= 3 && pass.rows["dashboard_login"] == 1,
                        "\(pass.rows)")
                    #expect(try await PostgresStoreCopy.differingTables(storePath: central.store.path, to: client, logger: logger).isEmpty)
                    var names: [String] = []
                    for try await name in try await client.query("SELECT name FROM reporting.projects WHERE office = '79'", logger: logger).decode(String.self)
                    {
                        names.append(name)
                    }
                    #expect(names == ["Máy sấy nông sản (mở rộng)"])
                    #expect(try await PostgresStoreFollower.catchUp(storePath: central.store.path, to: client, logger: logger).total == 0)
                }
                // An earlier state of the same store (a file copy put back by hand, same epoch) is a
                // rollback: refused, whatever it holds.
                let earlier = try TemporaryDirectory(prefix: "earlier")
                try central.store.backup(to: earlier.file(CentralStore.fileName))

                // Rows that leave the store leave the copy: totals pending until a totals pass, a
                // fleet limit set then cleared, logins the store prunes. Two followers at once: one
                // waits for the other and finds nothing new.
                try await tayNinh.engine.runCycle()
                try hcm.replica.data.addPlanLine(year: 2026, fundSource: .local, amount: 1_000_000_000, note: nil)
                try await hcm.engine.runCycle()
                try central.store.setFleetLimits(FleetLimits(maxOfficeVersion: "9.9.9"))
                for _ in 0..<3 { _ = try central.store.login("analyst", password: "wrong password!!", address: "127.0.0.2") }
                let pendingBefore = try await central.store.database.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM totals_pending") ?? 0 }
                try await target.withClient(logger: logger) { client in
                    async let one = PostgresStoreFollower.catchUp(storePath: central.store.path, to: client, logger: logger)
                    async let two = PostgresStoreFollower.catchUp(storePath: central.store.path, to: client, logger: logger)
                    let (a, b) = try await (one, two)
                    // Both end well (the second waits for the first's lock, then copies only what came after it).
                    #expect(a.total + b.total > 0, "\(a.rows) \(b.rows)")
                }
                try central.store.refreshTotals()
                try central.store.setFleetLimits(FleetLimits())
                try await central.store.database.write { db in
                    try db.execute(sql: "DELETE FROM dashboard_login WHERE id <= (SELECT min(id) FROM dashboard_login) + 1")
                }
                try await target.withClient(logger: logger) { client in
                    _ = try await PostgresStoreFollower.catchUp(storePath: central.store.path, to: client, logger: logger)
                    let differing = try await PostgresStoreCopy.differingTables(storePath: central.store.path, to: client, logger: logger)
                    #expect(differing.isEmpty, "\(differing)")
                    let pending = try await client.query("SELECT count(*) FROM promo.totals_pending", logger: logger).decode(Int64.self).reduce(0, +)
                    let logins = try await client.query("SELECT count(*) FROM promo.dashboard_login", logger: logger).decode(Int64.self).reduce(0, +)
                    #expect(pending == 0 && logins == 2, "pending \(pending) (before the totals pass: \(pendingBefore)), logins \(logins)")
                }
                let rolledBack = await #expect(throws: CentralError.self) {
                    try await target.withClient(logger: logger) { client in
                        try await PostgresStoreFollower.catchUp(storePath: earlier.file(CentralStore.fileName), to: client, logger: logger)
                    }
                }
                #expect(rolledBack?.message.contains("rolled back") == true && rolledBack?.code == .configuration)

                // A store restored from a backup has a new epoch: the copy is not followed into it.
                let backup = central.store.path + ".backup"
                try central.store.backup(to: backup)
                let restored = try TemporaryDirectory(prefix: "restored")
                _ = try CentralStore.restore(from: backup, to: restored.file(CentralStore.fileName))
                let refused = await #expect(throws: CentralError.self) {
                    try await target.withClient(logger: logger) { client in
                        try await PostgresStoreFollower.catchUp(storePath: restored.file(CentralStore.fileName), to: client, logger: logger)
                    }
                }
                #expect(refused?.message.contains("restored from a backup") == true)
            }
        }
    }

    @Test(arguments: [
        "mysql://promo@db/promo", "postgres://promo:secret@db/promo", "postgres://db/promo", "postgres://promo@db/", "postgres://promo@db/promo?sslmode=verify",
        "postgres://promo@/promo", "postgres://promo@db1,,db2/promo", "postgres://promo@db1,db2:port/promo", "postgres://promo:secret@db1,db2/promo",
        // libpq options promo-central does not read, or values that would not do what they say.
        "postgres://promo@db/promo?application_name=centre", "postgres://promo@db1,db2/promo?target_session_attrs=any",
        "postgres://promo@db/promo?target_session_attrs=standby", "postgres://promo@db/promo?connect_timeout=0",
        "postgres://promo@db/promo?connect_timeout=soon", "postgres://promo@db/promo?sslmode=require&sslmode=disable",
        "postgres://promo@db/promo?target_session_attrs", "postgres://promo@db/promo?sslmode=disable&",
    ])
    func anAddressThatIsNotUsableIsRefusedWithTheFormat(url: String) {
        let error = #expect(throws: CentralError.self) { _ = try PostgresLocation(url: url, password: nil) }
        #expect(error?.hint?.contains("postgres://USER@HOST:PORT/DATABASE") == true)
    }

    @Test func theNodesOfAClusterAreReadInOrder() throws {
        let location = try PostgresLocation(url: "postgresql://promo@db1.example:5433,[::1]:5434,db3/promo_copy?sslmode=disable", password: nil)
        #expect(location.nodes.map(\.description) == ["db1.example:5433", "[::1]:5434", "db3:5432"])
        #expect(location.user == "promo" && location.database == "promo_copy" && location.sslMode == "disable")
        #expect(location.description == "postgres://promo@db1.example:5433,[::1]:5434,db3:5432/promo_copy")
        #expect(location.connectTimeout == .seconds(5) && !location.requiresPrimary)
        let options = try PostgresLocation(url: "postgres://promo@db/promo?target_session_attrs=read-write&connect_timeout=12", password: nil)
        #expect(options.connectTimeout == .seconds(12) && options.requiresPrimary)
    }

    /// A node that is down is passed over for the next; when none answers as a primary, the error
    /// names each node and what it did.
    @Test func aClientGoesToTheFirstNodeThatAnswersAsThePrimary() async throws {
        let url = try #require(postgresURL)
        let cluster = try #require(URLComponents(string: url))
        let down = 1  // tcpmux: nothing listens there on a server, so connecting is refused
        let nodes = "127.0.0.1:\(down),127.0.0.1:\(try #require(cluster.port))"
        // The nodes are asked at once and the first in order that answers as primary is taken once
        // every node before it answered: the refused node costs the whole timeout (a client keeps
        // trying a refused port), and the live one must answer within it while the whole suite
        // loads the machine, hence 15 s here.
        let both = try PostgresLocation(
            url: url.replacingOccurrences(of: "127.0.0.1:\(cluster.port!)", with: nodes) + "&connect_timeout=15", password: nil)
        #expect(both.nodes.count == 2)
        let answer = try await both.withClient(logger: logger) { client in
            var answer = 0
            for try await value in try await client.query("SELECT 41 + 1", logger: logger).decode(Int.self) { answer = value }
            return answer
        }
        #expect(answer == 42)
        // One node named with target_session_attrs is asked too, and answers as the primary.
        let asked = try PostgresLocation(url: url + "&target_session_attrs=primary", password: nil)
        #expect(try await asked.primaryNode(logger: logger).port == cluster.port)
        let none = try PostgresLocation(
            url: url.replacingOccurrences(of: "127.0.0.1:\(cluster.port!)", with: "127.0.0.1:\(down),127.0.0.1:\(down)") + "&connect_timeout=2",
            password: nil)
        let error = await #expect(throws: CentralError.self) {
            try await none.withClient(logger: logger) { _ in }
        }
        #expect(error?.message.contains("no primary among the nodes") == true)
        #expect(error?.message.contains("127.0.0.1:\(down) (") == true)
    }
}
