import Foundation
import GRDB
import SyncCore
import SyncTesting
import Testing

@testable import Replica

/// The replica's migrations are frozen SQL (``FrozenMigrations``): they make exactly the schema the
/// shipped releases made, an old replica migrated today ends where a new one starts, and the
/// capture triggers are those of the columns this release declares.
@Suite struct FrozenMigrationTests {

    /// Every table, index and trigger, as `type name: sql`, in name order.
    func schema(_ db: Database) throws -> [String] {
        try Row.fetchAll(
            db, sql: "SELECT type, name, sql FROM sqlite_schema WHERE sql IS NOT NULL AND name NOT IN ('grdb_migrations', 'sqlite_sequence') ORDER BY name"
        ).map { "\($0["type"] as String) \($0["name"] as String): \($0["sql"] as String)" }
    }

    func fixture(_ release: String, _ name: String) throws -> DatabaseQueue {
        // A copy: migrating must not touch the committed file.
        let copy = NSTemporaryDirectory() + "frozen-\(UUID().uuidString).sqlite"
        try FileManager.default.copyItem(atPath: ReleaseFixtures.path(release, name), toPath: copy)
        return try DatabaseQueue(path: copy)
    }

    @Test(arguments: [
        ("release-1.1.0", "v7-withdrawn"), ("release-1.2.0", "v8-tax-code"), ("release-1.3.0", "v8-tax-code"), ("release-1.4.0", "v8-tax-code"),
        ("release-1.4.1", "v8-tax-code"),
        ("release-1.5.0", "v8-tax-code"),
        ("release-1.5.1", "v8-tax-code"),
        ("release-1.6.0", "v8-tax-code"),
        ("release-1.6.1", "v8-tax-code"),
        ("release-1.6.2", "v8-tax-code"),
        ("release-1.6.3", "v8-tax-code"),
        ("release-1.7.0", "v9-digest-cache"),
        ("release-1.8.0", "v9-digest-cache"),
        ("release-1.9.0", "v9-digest-cache"),
    ])
    func aNewReplicaMigratedToAReleasesSchemaHasTheSchemaThatReleaseMade(release: String, migration: String) throws {
        let fresh = try DatabaseQueue()
        try Schema.migrator().migrate(fresh, upTo: migration)
        let shipped = try fixture(release, "replica-79.sqlite")
        #expect(try fresh.read(schema) == (try shipped.read(schema)))
    }

    @Test func aReplicaOfRelease110MigratedTodayEndsWhereANewOneStarts() throws {
        let fresh = try DatabaseQueue()
        try Schema.migrator().migrate(fresh)
        let shipped = try fixture("release-1.1.0", "replica-79.sqlite")
        try Schema.migrator().migrate(shipped)
        #expect(try fresh.read(schema) == (try shipped.read(schema)))
    }

    @Test func theCaptureTriggersAreThoseOfTheDeclaredColumns() throws {
        let db = try DatabaseQueue()
        try Schema.migrator().migrate(db)
        try db.read { db in
            for table in SyncedTable.allCases {
                let columns = try String.fetchAll(db, sql: "SELECT name FROM pragma_table_info(?) ORDER BY cid", arguments: [table.rawValue])
                #expect(columns == ["id"] + table.columns.map(\.name), "the columns of \(table.rawValue)")
                let triggers = try String.fetchAll(
                    db, sql: "SELECT sql FROM sqlite_schema WHERE type = 'trigger' AND tbl_name = ? ORDER BY name", arguments: [table.rawValue])
                #expect(triggers == CaptureTriggers.sql(for: table).sorted { name(of: $0) < name(of: $1) }, "the triggers of \(table.rawValue)")
            }
        }
    }

    func name(of trigger: String) -> String {
        String(trigger.split(separator: " ")[2])
    }
}
