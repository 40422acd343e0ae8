import GRDB
import SyncCore

/// The digest tree of the office's rows, kept in the replica between verifications (schema
/// `v9-digest-cache`), so a verification hashes only the rows changed since the last one instead
/// of every row (docs/ARCHITECTURE.md, "Verification").
///
/// - `_sync_digest_row`: each row's leaf and digest, as ``DigestTree`` places it;
/// - `_sync_digest_leaf`: each leaf's digest (a leaf is `table/year/h/h/h`);
/// - `_sync_digest_dirty`: rows changed since. The office's captured writes, by any program, are
///   marked when their outbox entries go (a trigger on `_sync_outbox`); until then the outbox
///   itself names them. What promo-sync writes with capture off (pulled records, recalls, rows
///   kept aside) is marked by ``markChanged(_:_:_:)`` where it is written.
///
/// The cache is built whole by the first verification (state `digests`), and again by
/// `promo-sync verify --full`, which trusts nothing stored: a row changed with the triggers
/// removed, or by a release before `v9`, is found only so.
enum DigestCache {
    /// Written to `_sync_state.digests` when the cache is built; a release that computes digests
    /// differently changes it, and the next verification rebuilds the cache.
    static let version = "1"

    /// What a refresh did.
    struct Refresh: Sendable {
        /// Rows hashed: every row when the cache was built, else the rows changed since.
        var rowsHashed = 0
        /// Whether the cache was built whole.
        var built = false
    }

    /// Marks a row written with capture off (its digest is computed again by the next
    /// verification). Costs nothing while the cache is not built (an initial sync).
    static func markChanged(_ db: Database, _ table: SyncedTable, _ id: String) throws {
        guard try isBuilt(db) else { return }
        try mark(db, table, id)
    }

    /// The same, for a caller that knows the cache is built (``isBuilt(_:)``, read once per page).
    static func mark(_ db: Database, _ table: SyncedTable, _ id: String) throws {
        try db.cachedStatement(sql: "INSERT OR IGNORE INTO _sync_digest_dirty(tbl, id) VALUES (?, ?)").execute(arguments: [table.tableID, id])
    }

    static func isBuilt(_ db: Database) throws -> Bool { try State.get(db, .digests) == version }

    /// Brings the stored digests up to date with the rows: builds them whole when they are not
    /// built (or `full`), else hashes again the rows marked changed and those the outbox names.
    static func refresh(_ db: Database, office: String, full: Bool) throws -> Refresh {
        let built = try isBuilt(db)
        if full || !built { return try build(db, office: office) }
        var changed = try Row.fetchAll(db, sql: "SELECT tbl, id FROM _sync_digest_dirty").map { ($0[0] as Int, $0[1] as String) }
        changed += try Row.fetchAll(db, sql: "SELECT DISTINCT tbl, row_id FROM _sync_outbox").map { ($0[0] as Int, $0[1] as String) }
        guard !changed.isEmpty else { return Refresh() }
        var refresh = Refresh()
        var leaves: Set<Int64> = []
        var seen: Set<SyncedRowKey> = []
        for (tableID, id) in changed {
            guard let table = SyncedTable(tableID: tableID), seen.insert(SyncedRowKey(table, id)).inserted else { continue }
            if let old = try Int64.fetchOne(
                db.cachedStatement(sql: "SELECT leaf FROM _sync_digest_row WHERE tbl = ? AND id = ?"), arguments: [tableID, id])
            {
                leaves.insert(old)
            }
            guard
                let row = try Row.fetchOne(
                    db.cachedStatement(sql: table.selectColumnsByIDSQL + " AND office = ?"),
                    arguments: [id, office])
            else {
                try db.cachedStatement(sql: "DELETE FROM _sync_digest_row WHERE tbl = ? AND id = ?").execute(arguments: [tableID, id])
                continue
            }
            let place = DigestTree.place(table: table, id: id, values: (0..<table.columns.count).map { Replica.fieldValue(row[$0]) })
            let leaf = try leafNumber(db, place.leaf)
            leaves.insert(leaf)
            try db.cachedStatement(sql: "INSERT OR REPLACE INTO _sync_digest_row(tbl, id, leaf, digest) VALUES (?, ?, ?, ?)")
                .execute(arguments: [tableID, id, leaf, Int64(bitPattern: place.digest)])
            refresh.rowsHashed += 1
        }
        for leaf in leaves {
            let rows = try Row.fetchAll(
                db.cachedStatement(sql: "SELECT id, digest FROM _sync_digest_row WHERE leaf = ?"), arguments: [leaf]
            ).map { (id: $0[0] as String, digest: UInt64(bitPattern: $0[1] as Int64)) }
            if rows.isEmpty {
                try db.cachedStatement(sql: "DELETE FROM _sync_digest_leaf WHERE n = ?").execute(arguments: [leaf])
            } else {
                try db.cachedStatement(sql: "UPDATE _sync_digest_leaf SET digest = ? WHERE n = ?")
                    .execute(arguments: [Int64(bitPattern: DigestTree.leafDigest(rows)), leaf])
            }
        }
        try db.execute(sql: "DELETE FROM _sync_digest_dirty")
        return refresh
    }

    /// Hashes every row of the office and stores the tree (about 90 bytes a row).
    private static func build(_ db: Database, office: String) throws -> Refresh {
        let tree = try Replica.digestTree(db, office: office)
        try db.execute(sql: "DELETE FROM _sync_digest_row; DELETE FROM _sync_digest_leaf; DELETE FROM _sync_digest_dirty")
        let insertLeaf = try db.makeStatement(sql: "INSERT INTO _sync_digest_leaf(n, path, digest) VALUES (?, ?, ?)")
        var numbers: [String: Int64] = [:]
        var failure: (any Error)?
        tree.forEachLeaf { path, digest in
            guard failure == nil else { return }
            let number = Int64(numbers.count + 1)
            numbers[path] = number
            do { try insertLeaf.execute(arguments: [number, path, Int64(bitPattern: digest)]) } catch { failure = error }
        }
        let insertRow = try db.makeStatement(sql: "INSERT INTO _sync_digest_row(tbl, id, leaf, digest) VALUES (?, ?, ?, ?)")
        tree.forEachRowDigest { path, id, digest in
            guard failure == nil else { return }
            let table = SyncedTable(rawValue: String(path.prefix { $0 != "/" }))?.tableID ?? 0
            do { try insertRow.execute(arguments: [table, id, numbers[path], Int64(bitPattern: digest)]) } catch { failure = error }
        }
        if let failure { throw failure }
        try State.set(db, .digests, version)
        return Refresh(rowsHashed: tree.rowCount, built: true)
    }

    /// The number of a leaf, added (with a digest computed later in the refresh) if new.
    private static func leafNumber(_ db: Database, _ path: String) throws -> Int64 {
        if let known = try Int64.fetchOne(db.cachedStatement(sql: "SELECT n FROM _sync_digest_leaf WHERE path = ?"), arguments: [path]) {
            return known
        }
        try db.cachedStatement(sql: "INSERT INTO _sync_digest_leaf(path, digest) VALUES (?, 0)").execute(arguments: [path])
        return db.lastInsertedRowID
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
    /// The office's digest tree, from the stored digests brought up to date (built whole the first
    /// time, or with `full`): the tree above the leaves; a leaf's rows come from
    /// ``storedDigestRows(leaves:)``.
    public func storedDigestTree(full: Bool = false) throws(ReplicaError) -> (tree: DigestTree, rowsHashed: Int) {
        let office = try settings().office
        return try write("bringing the stored digests up to date") { db in
            let refresh = try DigestCache.refresh(db, office: office.rawValue, full: full)
            return (try DigestCache.tree(db), refresh.rowsHashed)
        }
    }

    /// The rows of some leaves of ``storedDigestTree(full:)``: leaf path → row id → digest.
    public func storedDigestRows(leaves: [String]) throws(ReplicaError) -> [String: [String: String]] {
        try read("reading stored digests") { db in try DigestCache.rows(db, leaves: leaves) }
    }
}
