import Foundation
import GRDB
import Replica
import SyncAgent
import SyncCore
import SyncTesting
import Testing

@testable import Central

/// Databases written by the programs of a shipped release (`Tests/Fixtures/release-X.Y.Z`, made by
/// `scripts/make-fixtures.sh` with that release's binaries) are opened by this release, migrated,
/// and synced: the work each office left waiting reaches the centre, nothing already there is
/// lost, and the centre's store still follows from the journal the old release wrote.
@Suite struct UpgradeTests {

    /// Copies a fixture file to `path`, owner-only as the programs require.
    func install(_ release: String, _ name: String, to path: String) throws {
        let folder = (path as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        try FileManager.default.copyItem(atPath: ReleaseFixtures.path(release, name), toPath: path)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: path)
    }

    /// Rows per synced table and outbox entries, read with plain SQL before anything migrates.
    func census(_ path: String) throws -> (rows: [String: Int], waiting: Int) {
        let db = try DatabaseQueue(
            path: path,
            configuration: {
                var c = Configuration()
                c.readonly = true
                return c
            }())
        return try db.read { db in
            var rows: [String: Int] = [:]
            for table in SyncedTable.allCases { rows[table.rawValue] = try Int.fetchOne(db, sql: "SELECT count(*) FROM \(table.rawValue)") }
            return (rows, try Int.fetchOne(db, sql: "SELECT count(*) FROM _sync_outbox") ?? 0)
        }
    }

    /// Tables, columns, indexes and triggers as SQLite keeps them (the migrations' bookkeeping aside).
    func schema(_ path: String) throws -> [String] {
        try DatabaseQueue(path: path).read { db in
            try String.fetchAll(db, sql: "SELECT type || ' ' || name || ': ' || coalesce(sql, '') FROM sqlite_schema WHERE name NOT LIKE 'grdb%' ORDER BY name")
        }
    }

    @Test(arguments: [
        "release-1.1.0", "release-1.2.0", "release-1.3.0", "release-1.4.0", "release-1.4.1", "release-1.5.0", "release-1.5.1", "release-1.6.0", "release-1.6.1",
        "release-1.6.2", "release-1.6.3", "release-1.7.0", "release-1.8.0", "release-1.9.0",
    ])
    func aShippedReleasesCentralStoreMigratedTodayHasTheSchemaOfANewOne(release: String) throws {
        let folder = try TemporaryDirectory(prefix: "central-schema")
        try install(release, "central.sqlite", to: folder.file("old/central.sqlite"))
        _ = try CentralStore(path: folder.file("old/central.sqlite"))
        try FileManager.default.createDirectory(atPath: folder.file("new"), withIntermediateDirectories: true)
        _ = try CentralStore(path: folder.file("new/central.sqlite"))
        #expect(try schema(folder.file("old/central.sqlite")) == (try schema(folder.file("new/central.sqlite"))))
    }

    @Test(arguments: [
        "release-1.1.0", "release-1.2.0", "release-1.3.0", "release-1.4.0", "release-1.4.1", "release-1.5.0", "release-1.5.1", "release-1.6.0", "release-1.6.1",
        "release-1.6.2", "release-1.6.3", "release-1.7.0", "release-1.8.0", "release-1.9.0",
    ])
    func aShippedReleasesDatabasesMigrateAndSyncWithNothingLost(release: String) async throws {
        let folder = try TemporaryDirectory(prefix: "upgrade")
        let storePath = folder.file("central/central.sqlite")
        try install(release, "central.sqlite", to: storePath)
        var before: [String: (rows: [String: Int], waiting: Int)] = [:]
        for office in ["79", "80"] {
            try install(release, "replica-\(office).sqlite", to: folder.file("office-\(office)/replica.sqlite"))
            try install(release, "office-\(office).token", to: folder.file("office-\(office)/office.token"))
            before[office] = try census(folder.file("office-\(office)/replica.sqlite"))
            #expect(before[office]!.waiting > 0, "the fixture leaves work waiting at \(office)")
        }
        try await withLiveCentral(directory: folder, storePath: storePath) { [before] central in
            var offices: [String: OfficeFixture] = [:]
            for office in ["79", "80"] {
                offices[office] = try OfficeFixture.attach(
                    replicaPath: folder.file("office-\(office)/replica.sqlite"), office: office, central: central,
                    tokenPath: folder.file("office-\(office)/office.token"))
            }
            // The first release with _sync_deferred pulls the log again once: nothing an older
            // release dropped is missed.
            if release == "release-1.1.0" {
                for office in ["79", "80"] { #expect(try offices[office]!.replica.syncPosition().cursor == .start) }
            }
            for office in ["79", "80", "79"] { try await offices[office]!.engine.runCycle() }
            for office in ["79", "80"] {
                let replica = offices[office]!.replica
                #expect(try replica.pendingSummary().changes == 0)
                // Migrating added nothing and dropped nothing.
                let after = try census(replica.path)
                for (table, count) in before[office]!.rows { #expect(after.rows[table] == count, "\(table) at \(office)") }
                // The office and the centre hold the same rows, field by field.
                #expect(try await offices[office]!.engine.verify().identical)
            }
            // What was waiting at 79 when the old release stopped is at the centre now.
            let projects = try central.store.projects(office: "79")
            #expect(projects.first(where: { $0.fields["code"]?.text == "HCM-2025-02" })?.fields["beneficiary"]?.text == "Hiệp hội doanh nghiệp Củ Chi")
            try central.store.refreshTotals()
            let totals = try central.store.totals()
            #expect(totals.first { $0.province == "79" && $0.year == 2025 && $0.fund == "local" }?.disbursed == 804_000_000)
            #expect(totals.first { $0.province == "79" && $0.year == 2026 && $0.fund == "local" }?.plan == 13_000_000_000)
            #expect(totals.first { $0.province == "80" && $0.year == 2025 && $0.fund == "local" }?.disbursed == 150_000_000)
            // Since 1.2.0: tax codes, synced (79) and left waiting (80).
            if release != "release-1.1.0" {
                for (office, code, taxCode) in [("79", "HCM-2025-01", "0312345678"), ("80", "TN-2025-01", "3901234567")] {
                    let fields = try central.store.projects(office: office).first { $0.fields["code"]?.text == code }?.fields
                    #expect(fields?["tax_code"] == .text(taxCode), "\(code)")
                }
            }
            // The office saw 80's figures through the centre.
            #expect(try offices["79"]!.replica.data.consolidatedTotals().contains { $0.province == "80" && $0.disbursedAmount == 150_000_000 })
        }
    }
}
