import CSQLite
import Foundation
import GRDB
import SyncCore
import WireFormat

extension CentralStore {
    /// The page of the change log after `cursor` that `office` may see: its own records and the
    /// centre's consolidated ones, in log order.
    ///
    /// With `own` (changeset sequences, lower bound exclusive), rows this office sent whole in one
    /// of those changesets and that the centre published unchanged are skipped: the office made
    /// them and holds them already. The cursor still moves past them.
    public func page(
        for office: OfficeCode, after cursor: PullCursor, limit: Int,
        own: (since: Int64, through: Int64)? = nil
    ) throws(CentralError) -> PullResponse {
        let page = try pageJSON(for: office, after: cursor, limit: limit, own: own)
        do { return try PullResponse(jsonData: page.data) } catch { throw CentralError.storage(error, during: "reading the change log") }
    }

    /// How many log positions a page may pass over per record it may hold, when echoes are
    /// skipped: after a push of 100,000 changes the office's pull covers their echoes in two or
    /// three pages, not twenty round trips, and a page still costs a bounded scan.
    static let echoScanFactor = 10

    /// The rows after a cursor that an office may see. Two ordered index ranges merged as they are
    /// stepped (SQLite's MERGE of a compound select): `office IN (…) ORDER BY seq` would sort
    /// every later row of both on each page, and ordered subqueries would be sorted again into a
    /// temporary b-tree, up to the limit, however few rows the page then takes.
    static let pageSQL = """
        SELECT tbl, id, office, fields, deleted_at, seq, echo_office, echo_sequence FROM record
        WHERE office = ?1 AND seq > ?2
        UNION ALL
        SELECT tbl, id, office, fields, deleted_at, seq, echo_office, echo_sequence FROM record
        WHERE office = 'central' AND seq > ?2
        ORDER BY seq LIMIT ?3
        """

    /// What a page's records may weigh: the record that takes it past this ends it (so a page
    /// holds one record at least). A page of 5,000 rows of 6 KB, legal text in every field, was
    /// 31 MB, and an office that pulled it again and again without reading the answers took the
    /// centre's memory up by 465 MB a second (round 19, E2).
    static let pageBytes = 4 << 20

    /// The page as the JSON body served, built from the stored field text without decoding it.
    /// It holds at most `limit` records, and ends past ``pageBytes``; skipped echoes do not count,
    /// up to `echoScanFactor` times `limit` log positions.
    /// `through` caps the page at a log position (the durable record's): what lies past it is
    /// served by a later pull, and the page does not say it has more.
    public func pageJSON(
        for office: OfficeCode, after cursor: PullCursor, limit: Int,
        own: (since: Int64, through: Int64)? = nil, through: Int64? = nil
    ) throws(CentralError) -> (data: Data, records: Int) {
        let scan = own == nil ? limit : limit * Self.echoScanFactor
        do {
            return try database.read { db in
                let statement = try db.cachedStatement(sql: Self.pageSQL)
                try statement.setArguments([office.rawValue, cursor.rawValue, scan + 1])
                // The rows are stepped here and their text handed to the writer as SQLite holds
                // it: no Row, no String per column (a page is up to 5,000 records).
                let handle = statement.sqliteStatement
                defer { sqlite3_reset(handle) }
                func text(_ column: Int32) -> UnsafeBufferPointer<UInt8> {
                    UnsafeBufferPointer(start: sqlite3_column_text(handle, column), count: Int(sqlite3_column_bytes(handle, column)))
                }
                let officeBytes = Array(office.rawValue.utf8)
                var writer = PullPageWriter(expectedRecords: limit)
                var last = cursor.rawValue
                var seen = 0
                var hasMore = false
                while true {
                    let code = sqlite3_step(handle)
                    if code == SQLITE_DONE { break }
                    guard code == SQLITE_ROW else {
                        throw DatabaseError(resultCode: ResultCode(rawValue: code), message: String(cString: sqlite3_errmsg(db.sqliteConnection)))
                    }
                    // A row beyond what this page may cover: the next page starts at it.
                    if seen == scan || writer.recordCount == limit || writer.byteCount >= Self.pageBytes {
                        hasMore = true
                        break
                    }
                    if let through, sqlite3_column_int64(handle, 5) > through { break }
                    seen += 1
                    last = sqlite3_column_int64(handle, 5)
                    if let own, sqlite3_column_type(handle, 7) != SQLITE_NULL, text(6).elementsEqual(officeBytes) {
                        let sent = sqlite3_column_int64(handle, 7)
                        if sent > own.since, sent <= own.through { continue }
                    }
                    writer.append(
                        cursor: last, table: text(0), id: text(1), office: text(2),
                        deleted: sqlite3_column_type(handle, 4) != SQLITE_NULL, fieldsJSON: text(3))
                }
                return (writer.finish(epoch: epoch, nextCursor: last, hasMore: hasMore), writer.recordCount)
            }
        } catch {
            throw CentralError.storage(error, during: "reading the change log")
        }
    }

    /// What the centre holds of an office's changeset chain (one indexed read: every pull page says it).
    public func officeState(_ office: OfficeCode) throws(CentralError) -> OfficeStateResponse {
        let row: Row?
        do {
            row = try database.read { db in
                try Row.fetchOne(db, sql: "SELECT last_sequence, last_hash FROM office WHERE code = ?", arguments: [office.rawValue])
            }
        } catch {
            throw CentralError.storage(error, during: "reading the chain of office \(office)")
        }
        guard let row else { throw CentralError.unauthorized }
        return OfficeStateResponse(epoch: epoch, office: office, lastSequence: ChangesetSequence(row["last_sequence"]), lastHash: row["last_hash"])
    }

    /// `office`'s own changesets applied after its changeset `after`, in order, as the JSON of an
    /// ``OwnChangesetsResponse``: their bodies as stored (each the changeset's JSON as it arrived),
    /// put side by side without being decoded again, until they hold `bytes` or more (at least
    /// one changeset when any follows). With `throughPosition`, only those the store's durable
    /// record holds (the office acts on them as kept for good).
    public func ownChangesetsJSON(of office: OfficeCode, after: ChangesetSequence, bytes: Int, throughPosition: Int64? = nil) throws(CentralError)
        -> Data
    {
        do {
            return try database.read { db in
                let rows = try Row.fetchCursor(
                    db,
                    sql: "SELECT sequence, body FROM changeset WHERE office = ? AND sequence > ? AND position <= ? ORDER BY sequence",
                    arguments: [office.rawValue, after.rawValue, throughPosition ?? Int64.max])
                var bodies = Data()
                var more = false
                while let row = try rows.next() {
                    if bodies.count >= bytes {
                        more = true
                        break
                    }
                    let stored: Data = row["body"]
                    guard let json = ChangesetBody.json(stored) else {
                        throw CentralError(
                            .internalServerError, .unreadable, "the stored body of changeset \(row["sequence"] as Int64) of office \(office) cannot be read",
                            hint: "Run promo-central audit verify.")
                    }
                    if !bodies.isEmpty { bodies.append(UInt8(ascii: ",")) }
                    bodies.append(json)
                }
                var out = Data(#"{"epoch":"#.utf8)
                out.append(try JSONEncoder().encode(epoch))
                out.append(contentsOf: Data(#","hasMore":\#(more),"changesets":["#.utf8))
                out.append(bodies)
                out.append(contentsOf: Data("]}".utf8))
                return out
            }
        } catch let error as CentralError {
            throw error
        } catch {
            throw CentralError.storage(error, during: "reading the changesets of office \(office)")
        }
    }

    /// Counts of live records per office and table, for the operator's summary.
    public func recordCounts() throws(CentralError) -> [(office: String, table: String, live: Int, deleted: Int)] {
        do {
            return try database.read { db in
                try Row.fetchAll(
                    db,
                    sql: """
                        SELECT office, tbl, sum(deleted_at IS NULL) AS live, sum(deleted_at IS NOT NULL) AS deleted
                        FROM record GROUP BY office, tbl ORDER BY office, tbl
                        """
                ).map { (office: $0["office"], table: $0["tbl"], live: $0["live"], deleted: $0["deleted"]) }
            }
        } catch {
            throw CentralError.storage(error, during: "counting records")
        }
    }
}
