import CSQLite
import Foundation
import GRDB
import SyncCore

/// The digest tree of the office's rows, kept in the replica between verifications (schema
/// `v9-digest-cache`), so a verification hashes only the rows changed since the last one instead
/// of every row (docs/ARCHITECTURE.md, "Verification").
///
/// - `_sync_digest_row`: each row's digest by leaf and id, as ``DigestTree`` places it;
/// - `_sync_digest_leaf`: each leaf's number, path (`table/year/h/h/h`), table, bucket and
///   digest. A changed row's old entry is looked for in the leaves of its table and bucket (its
///   year may have changed), so rows need no second index;
/// - `_sync_digest_dirty`: rows changed since. The office's captured writes, by any program, are
///   marked when their outbox entries go (a trigger on `_sync_outbox`); until then the outbox
///   itself names them. What promo-sync writes with capture off (pulled records, recalls, rows
///   kept aside) is marked by ``markChanged(_:_:_:)`` where it is written.
///
/// The digests are stored whole by the first verification (state `digests`), and again by
/// `promo-sync verify --full`, which trusts nothing stored: a row changed with the triggers
/// removed is found only so. The rows are hashed in a read transaction; rows changed meanwhile
/// are marked (state `building`) and hashed again when the result is stored.
enum DigestCache {
    /// Written to `_sync_state.digests` when the digests are stored; a release that computes
    /// them differently changes it, and its first verification stores them again.
    static let version = "1"

    /// Marks a row written with capture off (its digest is computed again by the next
    /// verification). Costs nothing while the digests are not stored (an initial sync).
    static func markChanged(_ db: Database, _ table: SyncedTable, _ id: String) throws {
        guard try marksChanges(db) else { return }
        try mark(db, table, id)
    }

    /// The same, for a caller that knows rows are marked (``marksChanges(_:)``, read once per page).
    static func mark(_ db: Database, _ table: SyncedTable, _ id: String) throws {
        try db.cachedStatement(sql: "INSERT OR IGNORE INTO _sync_digest_dirty(tbl, id) VALUES (?, ?)").execute(arguments: [table.tableID, id])
    }

    /// Whether changed rows are marked: the digests are stored, or being built (any state).
    static func marksChanges(_ db: Database) throws -> Bool { try State.get(db, .digests) != nil }

    /// Starts a build when the digests are not stored, when so many rows changed since that
    /// hashing them one by one would cost more than hashing them all (after `resync --force`),
    /// or when `full`: from now on changed rows are marked, so that whatever changes after the
    /// rows are read is hashed again once the build is stored. Returns the build's token (its
    /// state while it reads the rows outside the write lock), or nil when no build is needed.
    static func beginBuild(_ db: Database, full: Bool) throws -> String? {
        if !full, try State.get(db, .digests) == version {
            let changed = try Int.fetchOne(db, sql: "SELECT (SELECT count(*) FROM _sync_digest_dirty) + (SELECT count(*) FROM _sync_outbox)") ?? 0
            let stored = try Int.fetchOne(db, sql: "SELECT count(*) FROM _sync_digest_row") ?? 0
            if changed <= max(10_000, stored / 4) { return nil }
        }
        let token = "building " + UUID().uuidString
        try db.execute(sql: "DELETE FROM _sync_digest_dirty")
        try State.set(db, .digests, token)
        return token
    }

    /// Whether the build with `token` is the latest begun: a build begun after it (another
    /// `verify`) cleared the marks it relies on, so only that one may be stored.
    static func isCurrent(_ db: Database, build token: String) throws -> Bool { try State.get(db, .digests) == token }

    /// Stores a tree built from the rows (about 71 bytes a row in the file), in the stored order (leaf,
    /// then id), replacing what was stored. Rows marked since the build began stay marked.
    static func store(_ db: Database, _ tree: DigestTree) throws {
        try db.execute(sql: "DELETE FROM _sync_digest_row; DELETE FROM _sync_digest_leaf")
        let insertLeaf = try db.makeStatement(sql: "INSERT INTO _sync_digest_leaf(n, path, tbl, bucket, digest) VALUES (?, ?, ?, ?, ?)")
        let insertRow = try db.makeStatement(sql: "INSERT INTO _sync_digest_row(leaf, id, digest) VALUES (?, ?, ?)")
        var number: Int64 = 0
        try tree.forEachLeaf { path, digest, rows in
            number += 1
            try insertLeaf.execute(arguments: [
                number, path, SyncedTable(rawValue: String(path.prefix { $0 != "/" }))?.tableID ?? 0, DigestTree.bucket(ofLeaf: path) ?? 0,
                Int64(bitPattern: digest),
            ])
            // A million rows: bound and stepped through SQLite's C API, not GRDB's arguments.
            let handle = insertRow.sqliteStatement
            for row in rows {
                sqlite3_reset(handle)
                var id = row.id
                var code = sqlite3_bind_int64(handle, 1, number)
                if code == SQLITE_OK {
                    code = id.withUTF8 { bytes in
                        sqlite3_bind_text(handle, 2, bytes.baseAddress, Int32(bytes.count), unsafeBitCast(-1, to: sqlite3_destructor_type.self))
                    }
                }
                if code == SQLITE_OK { code = sqlite3_bind_int64(handle, 3, Int64(bitPattern: row.digest)) }
                if code == SQLITE_OK { code = sqlite3_step(handle) }
                guard code == SQLITE_DONE else {
                    let message = String(cString: sqlite3_errmsg(db.sqliteConnection))
                    sqlite3_reset(handle)
                    throw DatabaseError(resultCode: ResultCode(rawValue: code), message: message, sql: insertRow.sql)
                }
            }
            sqlite3_reset(handle)
        }
        try State.set(db, .digests, version)
    }

    /// Hashes again the rows marked changed and those the outbox names, and the leaves they were
    /// and are in. Returns how many rows were hashed.
    static func refresh(_ db: Database, office: String) throws -> Int {
        var changed = try Row.fetchAll(db, sql: "SELECT tbl, id FROM _sync_digest_dirty").map { ($0[0] as Int, $0[1] as String) }
        changed += try Row.fetchAll(db, sql: "SELECT DISTINCT tbl, row_id FROM _sync_outbox").map { ($0[0] as Int, $0[1] as String) }
        guard !changed.isEmpty else { return 0 }
        var hashed = 0
        var leaves: Set<Int64> = []
        var seen: Set<SyncedRowKey> = []
        // The row's entry, in whichever year's leaf it was: same table, same bucket.
        let findOld = try db.makeStatement(
            sql: "SELECT r.leaf FROM _sync_digest_leaf l JOIN _sync_digest_row r ON r.leaf = l.n AND r.id = ?3 WHERE l.tbl = ?1 AND l.bucket = ?2")
        let deleteOld = try db.makeStatement(sql: "DELETE FROM _sync_digest_row WHERE leaf = ? AND id = ?")
        let insert = try db.makeStatement(sql: "INSERT INTO _sync_digest_row(leaf, id, digest) VALUES (?, ?, ?)")
        let select = Dictionary(
            uniqueKeysWithValues: try SyncedTable.allCases.map { ($0, try db.makeStatement(sql: $0.selectColumnsByIDSQL + " AND office = ?")) })
        for (tableID, id) in changed {
            guard let table = SyncedTable(tableID: tableID), seen.insert(SyncedRowKey(table, id)).inserted else { continue }
            for old in try Int64.fetchAll(findOld, arguments: [tableID, DigestTree.bucket(ofID: id), id]) {
                try deleteOld.execute(arguments: [old, id])
                leaves.insert(old)
            }
            guard let row = try Row.fetchOne(select[table]!, arguments: [id, office]) else { continue }
            let place = DigestTree.place(table: table, id: id, values: (0..<table.columns.count).map { Replica.fieldValue(row[$0]) })
            let leaf = try leafNumber(db, place.leaf, table: table)
            leaves.insert(leaf)
            try insert.execute(arguments: [leaf, id, Int64(bitPattern: place.digest)])
            hashed += 1
        }
        let rowsOfLeaf = try db.makeStatement(sql: "SELECT id, digest FROM _sync_digest_row WHERE leaf = ?")
        for leaf in leaves {
            let rows = try Row.fetchAll(rowsOfLeaf, arguments: [leaf]).map { (id: $0[0] as String, digest: UInt64(bitPattern: $0[1] as Int64)) }
            if rows.isEmpty {
                try db.execute(sql: "DELETE FROM _sync_digest_leaf WHERE n = ?", arguments: [leaf])
            } else {
                try db.execute(
                    sql: "UPDATE _sync_digest_leaf SET digest = ? WHERE n = ?", arguments: [Int64(bitPattern: DigestTree.leafDigest(rows)), leaf])
            }
        }
        try db.execute(sql: "DELETE FROM _sync_digest_dirty")
        return hashed
    }

    /// The number of a leaf, added (with a digest computed later in the refresh) if new.
    private static func leafNumber(_ db: Database, _ path: String, table: SyncedTable) throws -> Int64 {
        if let known = try Int64.fetchOne(db.cachedStatement(sql: "SELECT n FROM _sync_digest_leaf WHERE path = ?"), arguments: [path]) {
            return known
        }
        try db.execute(
            sql: "INSERT INTO _sync_digest_leaf(path, tbl, bucket, digest) VALUES (?, ?, ?, 0)",
            arguments: [path, table.tableID, DigestTree.bucket(ofLeaf: path) ?? 0])
        return db.lastInsertedRowID
    }

    /// Forgets the stored digests: the next verification builds them again.
    static func drop(_ db: Database) throws {
        try db.execute(sql: "DELETE FROM _sync_digest_row; DELETE FROM _sync_digest_leaf; DELETE FROM _sync_digest_dirty")
        try State.set(db, .digests, nil)
    }

    /// The tree above the stored leaves.
    static func tree(_ db: Database) throws -> DigestTree {
        var leaves: [String: UInt64] = [:]
        let cursor = try Row.fetchCursor(db, sql: "SELECT path, digest FROM _sync_digest_leaf")
        while let row = try cursor.next() { leaves[row[0]] = UInt64(bitPattern: row[1] as Int64) }
        return DigestTree(leafDigests: leaves)
    }

    /// The rows of some leaves, by id with their digests in hex (what ``DigestTree/children(of:)``
    /// gives for a leaf).
    static func rows(_ db: Database, leaves: [String]) throws -> [String: [String: String]] {
        var out: [String: [String: String]] = [:]
        for path in leaves {
            var rows: [String: String] = [:]
            for row in try Row.fetchAll(
                db.cachedStatement(
                    sql: "SELECT r.id, r.digest FROM _sync_digest_leaf l JOIN _sync_digest_row r ON r.leaf = l.n WHERE l.path = ?"),
                arguments: [path])
            {
                rows[row[0]] = DigestTree.hex(UInt64(bitPattern: row[1] as Int64))
            }
            out[path] = rows
        }
        return out
    }
}

extension Replica {
    /// The office's digest tree, from the stored digests brought up to date: the tree above the
    /// leaves (a leaf's rows come from ``storedDigestRows(leaves:)``, unless the tree holds its
    /// rows: ``DigestTree/rowCount`` is not 0), and how many rows were hashed. When the digests
    /// are not stored yet (or `full`), every row is hashed, in a read transaction so that the
    /// office's commands and daemon are not held up meanwhile, and the result stored.
    public func storedDigestTree(full: Bool = false) throws(ReplicaError) -> (tree: DigestTree, rowsHashed: Int) {
        let office = try settings().office.rawValue
        let build = try write("preparing the stored digests") { db in try DigestCache.beginBuild(db, full: full) }
        let whole = try build.map { _ throws(ReplicaError) in try read("computing digests") { db in try Self.digestTree(db, office: office) } }
        return try write("bringing the stored digests up to date") { db in
            if let build, let whole {
                // Another verification began a build since: this one's tree is right for its own
                // snapshot, and is used as it is (rows and all); the later build stores its own.
                guard try DigestCache.isCurrent(db, build: build) else { return (whole, whole.rowCount) }
                try DigestCache.store(db, whole)
            }
            let hashed = try DigestCache.refresh(db, office: office)
            return (try DigestCache.tree(db), whole?.rowCount ?? hashed)
        }
    }

    /// Records that a daemon of `release` runs on this replica. A daemon of another release ran
    /// before it (a release before 1.7.0 writes with capture off and marks nothing): the stored
    /// digests are dropped, and the next verification hashes every row.
    public func recordDaemonRelease(_ release: String) throws(ReplicaError) {
        try write("recording the daemon's release") { db in
            guard try State.get(db, .daemonRelease) != release else { return }
            if try State.get(db, .digests) != nil { try DigestCache.drop(db) }
            try State.set(db, .daemonRelease, release)
        }
    }

    /// The rows of some leaves of ``storedDigestTree(full:)``: leaf path → row id → digest.
    public func storedDigestRows(leaves: [String]) throws(ReplicaError) -> [String: [String: String]] {
        try read("reading stored digests") { db in try DigestCache.rows(db, leaves: leaves) }
    }
}
