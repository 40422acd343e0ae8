import Foundation
import GRDB
import SyncCore
import SyncTesting
import Testing
import WireFormat

@testable import Replica

/// The digests the replica keeps between verifications (`v9-digest-cache`) must equal its rows
/// hashed whole after every kind of write: captured (by any program, acknowledged or not, its
/// outbox entry deleted by hand), applied from the centre with capture off, and kept aside.
@Suite struct DigestCacheTests {
    /// The stored tree, brought up to date, has the root of the rows hashed whole.
    func expectCurrent(_ replica: Replica, hashed: Int? = nil, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let stored = try replica.storedDigestTree()
        #expect(stored.tree.root == (try replica.digestTree().root), sourceLocation: sourceLocation)
        if let hashed { #expect(stored.rowsHashed == hashed, sourceLocation: sourceLocation) }
    }

    /// A page from the centre carrying plan line `id` with another amount (applied with capture off).
    static func centresAmount(_ amount: Int64, for id: RowID) -> PullResponse {
        PullResponse(
            epoch: Epoch("e1"),
            records: [
                PulledRecord(
                    cursor: PullCursor(1), table: "plan_line", id: id.rawValue, office: OfficeCode(unchecked: "79"), deleted: false,
                    fields: ["office": .text("79"), "year": .integer(2025), "fund_source": .text("local"), "amount": .integer(amount)])
            ], nextCursor: PullCursor(1), hasMore: false)
    }

    @Test func theStoredDigestsFollowEveryWrite() throws {
        let dir = try TemporaryDirectory()
        let replica = try makeReplica(dir)
        let lines = try (1...40).map { try replica.data.addPlanLine(year: 2024 + $0 % 3, fundSource: .local, amount: Int64($0) * 1_000, note: nil) }
        let project = try replica.data.addProject(sampleProject())
        let rows = try replica.digestTree().rowCount
        // Built whole the first time: every row hashed. Rows the outbox still names are hashed
        // again each time, until their changes are acknowledged.
        try expectCurrent(replica, hashed: rows)
        try expectCurrent(replica, hashed: rows)
        while let changeset = try replica.nextChangeset() { try replica.acknowledge(changeset.sequence) }
        try expectCurrent(replica, hashed: rows)
        try expectCurrent(replica, hashed: 0)

        // Captured writes, still in the outbox: an update, a move to another year's leaf, a delete.
        try replica.database.write { db in
            try db.execute(sql: "UPDATE plan_line SET amount = 7 WHERE id = ?", arguments: [lines[0].rawValue])
            try db.execute(sql: "UPDATE plan_line SET year = 2031 WHERE id = ?", arguments: [lines[1].rawValue])
            try db.execute(sql: "DELETE FROM plan_line WHERE id = ?", arguments: [lines[2].rawValue])
        }
        try expectCurrent(replica)

        // Acknowledged: the outbox entries go, and the rows stay marked until the next refresh.
        while let changeset = try replica.nextChangeset() { try replica.acknowledge(changeset.sequence) }
        try replica.database.write { db in try db.execute(sql: "UPDATE plan_line SET note = 'x' WHERE id = ?", arguments: [lines[3].rawValue]) }
        while let changeset = try replica.nextChangeset() { try replica.acknowledge(changeset.sequence) }
        #expect(try replica.database.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM _sync_outbox") } == 0)
        try expectCurrent(replica)

        // Changed, and its outbox entry deleted by hand (a divergence `verify` exists to find).
        try replica.database.write { db in
            try db.execute(sql: "UPDATE plan_line SET amount = 99 WHERE id = ?", arguments: [lines[4].rawValue])
            try db.execute(sql: "DELETE FROM _sync_outbox")
        }
        try expectCurrent(replica, hashed: 1)

        // Applied from the centre with capture off: a new row, a changed row, a tombstone.
        let page = PullResponse(
            epoch: Epoch("e1"),
            records: [
                PulledRecord(
                    cursor: PullCursor(1), table: "plan_line", id: "01a220b8-0000-7000-8000-0000000000b1", office: OfficeCode(unchecked: "79"),
                    deleted: false, fields: ["office": .text("79"), "year": .integer(2025), "fund_source": .text("local"), "amount": .integer(5)]),
                PulledRecord(
                    cursor: PullCursor(2), table: "plan_line", id: lines[5].rawValue, office: OfficeCode(unchecked: "79"), deleted: false,
                    fields: ["office": .text("79"), "year": .integer(2025), "fund_source": .text("local"), "amount": .integer(6)]),
                PulledRecord(cursor: PullCursor(3), table: "plan_line", id: lines[6].rawValue, office: OfficeCode(unchecked: "79"), deleted: true, fields: [:]),
            ],
            nextCursor: PullCursor(3), hasMore: false)
        _ = try replica.applyPulledPage(page)
        try expectCurrent(replica, hashed: 2)  // the deleted row is dropped, not hashed

        // Kept aside (`outbox withdraw`, a recall): the row is deleted with capture off.
        try replica.database.write { db in try db.execute(sql: "UPDATE project SET name = 'Đổi' WHERE id = ?", arguments: [project.rawValue]) }
        try replica.database.write { db in
            _ = try CaptureTriggers.suspended(db) { try Replica.keepAside(db, table: .project, id: project.rawValue, reason: "test", now: Date()) }
        }
        try expectCurrent(replica)
    }

    /// A write the triggers never saw (they were removed, or the file was edited by a tool that
    /// turns them off) is found only by hashing every row again: `verify --full`.
    @Test func aWriteTheTriggersDidNotSeeIsFoundByAFullVerification() throws {
        let dir = try TemporaryDirectory()
        let replica = try makeReplica(dir)
        let line = try replica.data.addPlanLine(year: 2025, fundSource: .local, amount: 1_000, note: nil)
        while let changeset = try replica.nextChangeset() { try replica.acknowledge(changeset.sequence) }
        try expectCurrent(replica, hashed: 1)
        try replica.database.write { db in
            try db.execute(sql: "DROP TRIGGER _sync_plan_line_update")
            try db.execute(sql: "UPDATE plan_line SET amount = 2 WHERE id = ?", arguments: [line.rawValue])
        }
        let whole = try replica.digestTree().root
        #expect(try replica.storedDigestTree().tree.root != whole)
        let full = try replica.storedDigestTree(full: true)
        #expect(full.tree.root == whole && full.rowsHashed == 1)
    }

    /// The rows are hashed outside the write lock: what is written between the read and the
    /// store (a pulled record, a change acknowledged) is hashed again before the tree is used.
    @Test func writesWhileTheRowsAreHashedAreNotMissed() throws {
        let dir = try TemporaryDirectory()
        let replica = try makeReplica(dir)
        let lines = try (1...5).map { try replica.data.addPlanLine(year: 2025, fundSource: .local, amount: Int64($0), note: nil) }
        while let changeset = try replica.nextChangeset() { try replica.acknowledge(changeset.sequence) }
        let build = try #require(try replica.database.write { db in try DigestCache.beginBuild(db, full: false) })
        let read = try replica.database.read { db in try Replica.digestTree(db, office: "79") }
        // Meanwhile: a record from the centre (capture off) and an edit, acknowledged.
        _ = try replica.applyPulledPage(Self.centresAmount(500, for: lines[0]))
        try replica.database.write { db in try db.execute(sql: "UPDATE plan_line SET amount = 9 WHERE id = ?", arguments: [lines[1].rawValue]) }
        while let changeset = try replica.nextChangeset() { try replica.acknowledge(changeset.sequence) }
        let stored = try replica.database.write { db in
            #expect(try DigestCache.isCurrent(db, build: build))
            try DigestCache.store(db, read)
            _ = try DigestCache.refresh(db, office: "79")
            return try DigestCache.tree(db).root
        }
        #expect(stored != read.root)
        #expect(stored == (try replica.digestTree().root))
    }

    /// Two verifications building at once (a `--full` one and another): the one begun first may
    /// not store its tree, since the later one cleared the marks it relied on; it answers with
    /// its own tree, and the stored digests are the later build's, kept true.
    @Test func ofTwoBuildsAtOnceOnlyTheLaterIsStored() throws {
        let dir = try TemporaryDirectory()
        let replica = try makeReplica(dir)
        let lines = try (1...5).map { try replica.data.addPlanLine(year: 2025, fundSource: .local, amount: Int64($0), note: nil) }
        while let changeset = try replica.nextChangeset() { try replica.acknowledge(changeset.sequence) }
        let first = try #require(try replica.database.write { db in try DigestCache.beginBuild(db, full: true) })
        let firstRead = try replica.database.read { db in try Replica.digestTree(db, office: "79") }
        _ = try replica.applyPulledPage(Self.centresAmount(500, for: lines[0]))
        // The second verification runs whole meanwhile.
        let second = try replica.storedDigestTree(full: true)
        #expect(second.tree.root == (try replica.digestTree().root))
        let isCurrent = try replica.database.write { db in try DigestCache.isCurrent(db, build: first) }
        #expect(!isCurrent)
        #expect(firstRead.root != second.tree.root)
        try expectCurrent(replica, hashed: 0)
    }

    /// A daemon of an earlier release wrote to the replica with capture off and marked nothing:
    /// when a daemon of this release starts after it, the stored digests are dropped.
    @Test func aDaemonOfAnotherReleaseDropsTheStoredDigests() throws {
        let dir = try TemporaryDirectory()
        let replica = try makeReplica(dir)
        _ = try replica.data.addPlanLine(year: 2025, fundSource: .local, amount: 1, note: nil)
        try replica.recordDaemonRelease("1.7.0")
        _ = try replica.storedDigestTree()
        try replica.recordDaemonRelease("1.7.0")
        #expect(try replica.storedDigestTree().rowsHashed == 1)  // still stored: only the outbox's row again
        try replica.recordDaemonRelease("1.6.3")
        #expect(try replica.database.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM _sync_digest_row") } == 0)
        let rebuilt = try replica.storedDigestTree()
        #expect(rebuilt.tree.root == (try replica.digestTree().root) && rebuilt.rowsHashed == 1)
    }

    /// Acknowledged changes mark nothing while no digests are kept (a replica never verified
    /// does not grow a list of every row ever written).
    @Test func nothingIsMarkedUntilTheDigestsAreKept() throws {
        let dir = try TemporaryDirectory()
        let replica = try makeReplica(dir)
        for n in 1...3 { _ = try replica.data.addPlanLine(year: 2025, fundSource: .local, amount: Int64(n), note: nil) }
        while let changeset = try replica.nextChangeset() { try replica.acknowledge(changeset.sequence) }
        #expect(try replica.database.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM _sync_digest_dirty") } == 0)
    }

    /// The rows of a leaf read from the stored digests are the tree's.
    @Test func theRowsOfALeafAreTheTrees() throws {
        let dir = try TemporaryDirectory()
        let replica = try makeReplica(dir)
        for n in 1...30 { _ = try replica.data.addPlanLine(year: 2025, fundSource: .local, amount: Int64(n), note: nil) }
        let whole = try replica.digestTree()
        let stored = try replica.storedDigestTree().tree
        var leaves: [String: [String: String]] = [:]
        whole.forEachRow { path, id, digest in leaves[path, default: [:]][id] = digest }
        #expect(try replica.storedDigestRows(leaves: leaves.keys.sorted()) == leaves)
        for path in ["", "plan_line", "plan_line/2025"] { #expect(stored.children(of: path) == whole.children(of: path)) }
    }
}
