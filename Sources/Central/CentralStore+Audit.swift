import Foundation
import GRDB
import SyncCore

/// A break found in an office's stored changeset chain.
public struct ChainProblem: Sendable, Equatable, CustomStringConvertible {
    /// The office whose chain is broken.
    public var office: String
    /// The changeset where it breaks (for a recorded head that does not match: the sequence the office row records).
    public var sequence: Int64
    /// What is wrong there: a gap, a changeset that does not chain on, a body altered after it was received…
    public var problem: String
    /// The office, the changeset and the problem, on one line.
    public var description: String { "office \(office) changeset \(sequence): \(problem)" }
}

/// One entry of the audit trail: who changed which record, and when.
public struct AuditEntry: Sendable, Equatable {
    /// The changed row's table.
    public var table: String
    /// The changed row's id.
    public var id: String
    /// The office whose token pushed the changeset that carried the change, or `central` for
    /// the centre's own changes (for a change stored before schema v4: the node of its clock).
    public var writer: String
    /// The writer's changeset that carried it, if an office's.
    public var changeset: Int64?
    /// The journal entry that made it, if the centre's.
    public var journalPosition: Int64?
    /// The change's hybrid logical clock, as text; the trail is ordered by it.
    public var hlc: String
    /// `upsert` or `delete`.
    public var op: String
    /// The fields the change wrote, as the JSON object stored in the history.
    public var fields: String
}

extension CentralStore {
    /// Re-verifies the stored changeset history: every body hashes to its recorded hash, the
    /// sequence has no gap, and each changeset chains onto the one before.
    public func verifyChains(office: String? = nil) throws(CentralError) -> [ChainProblem] {
        do {
            return try database.read { db in try Self.chainProblems(db, office: office) }
        } catch {
            throw CentralError.storage(error, during: "verifying changeset chains")
        }
    }

    static func chainProblems(_ db: Database, office: String?) throws -> [ChainProblem] {
        var problems: [ChainProblem] = []
        let offices = try Row.fetchAll(
            db, sql: "SELECT code, last_sequence, last_hash FROM office WHERE ?1 IS NULL OR code = ?1 ORDER BY code",
            arguments: [office])
        for officeRow in offices {
            let code: String = officeRow["code"]
            var expectedPrevious = Changeset.genesisHash
            var expectedSequence: Int64 = 1
            let cursor = try Row.fetchCursor(
                db, sql: "SELECT sequence, hash, previous_hash, body FROM changeset WHERE office = ? ORDER BY sequence", arguments: [code])
            while let row = try cursor.next() {
                let sequence: Int64 = row["sequence"]
                func report(_ text: String) { problems.append(ChainProblem(office: code, sequence: sequence, problem: text)) }
                if sequence != expectedSequence { report("expected changeset \(expectedSequence) here (a gap)") }
                let recorded: String = row["hash"]
                if (row["previous_hash"] as String) != expectedPrevious { report("does not chain onto the changeset before it") }
                if let json = ChangesetBody.json(row["body"]), let changeset = try? Changeset(jsonData: json) {
                    if changeset.computeHash() != recorded || changeset.hash != recorded {
                        report("its stored body does not hash to its recorded hash (altered after it was received)")
                    }
                } else {
                    report("its stored body cannot be read")
                }
                expectedPrevious = recorded
                expectedSequence = sequence + 1
            }
            if (officeRow["last_sequence"] as Int64) != expectedSequence - 1 || (officeRow["last_hash"] as String) != expectedPrevious {
                problems.append(
                    ChainProblem(
                        office: code, sequence: officeRow["last_sequence"], problem: "the office's recorded chain head does not match its stored changesets"))
            }
        }
        // A changeset of an office the store does not list (its office row was removed).
        for row in try Row.fetchAll(
            db,
            sql: """
                SELECT office, min(sequence) AS sequence FROM changeset WHERE (?1 IS NULL OR office = ?1) AND office NOT IN (SELECT code FROM office)
                GROUP BY office ORDER BY office
                """, arguments: [office])
        {
            problems.append(ChainProblem(office: row["office"], sequence: row["sequence"], problem: "belongs to an office the store does not list"))
        }
        return problems
    }

    /// The audit trail, newest first: every change the centre holds, with the writer it
    /// authenticated (read from the changeset or journal entry that carried the change, not from
    /// the change's clock) and the clock.
    public func auditTrail(office: String? = nil, record: String? = nil, limit: Int = 100) throws(CentralError) -> [AuditEntry] {
        do {
            return try database.read { db in
                try Row.fetchAll(
                    db,
                    sql: """
                        SELECT h.tbl, h.id, h.hlc, h.op, h.fields, h.writer, c.office AS pushed_by, c.sequence, j.position AS journal_position
                        FROM history h
                        LEFT JOIN changeset c ON c.position = h.position
                        LEFT JOIN journal j ON j.position = h.position
                        WHERE (?1 IS NULL OR h.aggregate IN (SELECT aggregate FROM record WHERE office = ?1))
                          AND (?2 IS NULL OR h.id = ?2 OR h.aggregate = ?2)
                        ORDER BY h.hlc DESC LIMIT ?3
                        """,
                    arguments: [office, record, limit]
                ).map { row in
                    let hlc: String = row["hlc"]
                    let journalPosition: Int64? = row["journal_position"]
                    let writer: String =
                        row["pushed_by"] ?? (journalPosition != nil ? OfficeCode.central.rawValue : nil)
                        ?? row["writer"] ?? String(hlc.split(separator: "-").last ?? "")
                    return AuditEntry(
                        table: row["tbl"], id: row["id"], writer: writer, changeset: row["sequence"],
                        journalPosition: journalPosition, hlc: hlc, op: row["op"], fields: row["fields"])
                }
            }
        } catch {
            throw CentralError.storage(error, during: "reading the audit trail")
        }
    }
}
