import GRDB
import SyncCore
import SyncTesting
import Synchronization
import Testing
import WireFormat

@testable import Replica

/// Regression (reliability campaign, full disk): a full or read-only disk was a permanent error,
/// so the daemon waited five minutes after space came back before it tried again.
@Suite struct StorageErrorTests {
    @Test(arguments: [ResultCode.SQLITE_FULL, .SQLITE_READONLY, .SQLITE_IOERR, .SQLITE_BUSY])
    func storageTroubleIsRetried(code: ResultCode) {
        let error = ReplicaError.wrap(DatabaseError(resultCode: code), during: "applying a pulled page")
        #expect(error.isTransient)
    }

    @Test func damageAndBadInputAreNot() {
        #expect(!ReplicaError.wrap(DatabaseError(resultCode: .SQLITE_CORRUPT), during: "x").isTransient)
        #expect(!ReplicaError.wrap(DatabaseError(resultCode: .SQLITE_CONSTRAINT), during: "x").isTransient)
        #expect(ReplicaError.wrap(DatabaseError(resultCode: .SQLITE_FULL), during: "x").message.contains("the disk is full"))
    }
}

/// A write promo-sync reports done survives a power cut: the writer connection commits with
/// `synchronous = FULL` (GRDB's WAL pools default to NORMAL). Only what the office gets again
/// after a cut commits without waiting for the disk: a pulled page, an acknowledgement (its
/// changeset, made durably, is sent again) and the daemon's state. Told from SQLite's own trace
/// of the statements the writer connection runs, between the `synchronous` pragmas.
@Suite struct DurableCommitTests {
    /// The writer connection's statements, each with whether it ran under `synchronous = NORMAL`.
    final class StatementLog: Sendable {
        let entries = Mutex<(normal: Bool, statements: [(normal: Bool, sql: String)])>((false, []))

        func note(_ sql: String) {
            entries.withLock {
                if sql.contains("PRAGMA synchronous = NORMAL") {
                    $0.normal = true
                } else if sql.contains("PRAGMA synchronous = FULL") {
                    $0.normal = false
                } else {
                    $0.statements.append(($0.normal, sql))
                }
            }
        }

        /// Whether every statement containing `text` ran under NORMAL (true) or FULL (false); nil when none ran, or some of each.
        func ranWithoutWaiting(_ text: String) -> Bool? {
            let matching = entries.withLock { $0.statements.filter { $0.sql.contains(text) }.map(\.normal) }
            guard let first = matching.first, matching.allSatisfy({ $0 == first }) else { return nil }
            return first
        }
    }

    @Test func onlyWhatTheOfficeGetsAgainCommitsWithoutWaitingForTheDisk() throws {
        let dir = try TemporaryDirectory()
        let replica = try makeReplica(dir)
        func level() throws -> Int { try replica.database.writeWithoutTransaction { try Int.fetchOne($0, sql: "PRAGMA synchronous") ?? -1 } }
        #expect(try level() == 2)
        let reopened = try Replica.open(at: replica.path)
        #expect(try reopened.database.writeWithoutTransaction { try Int.fetchOne($0, sql: "PRAGMA synchronous") } == 2)

        let log = StatementLog()
        try replica.database.writeWithoutTransaction { db in db.trace { log.note($0.expandedDescription) } }
        try replica.data.addPlanLine(year: 2026, fundSource: .local, amount: 1_000, note: nil)
        let changeset = try #require(try replica.nextChangeset())
        try replica.acknowledge(changeset.sequence)
        try replica.recordAttempt(.success, counting: ["cycles_ok": 1])
        try replica.recordAgentState("idle", pid: 1)
        try replica.applyPulledPage(PullResponse(epoch: Epoch("e"), records: [], nextCursor: PullCursor(0), hasMore: false))
        try replica.database.writeWithoutTransaction { db in db.trace(nil) }

        // Waits for the disk: the captured write, the changeset made from it, the counters.
        #expect(log.ranWithoutWaiting("INSERT INTO plan_line") == false)
        #expect(log.ranWithoutWaiting("INSERT INTO _sync_changeset") == false)
        #expect(log.ranWithoutWaiting("'counter.cycles_ok'") == false)
        // Does not: the acknowledgement, the daemon's state, the pulled page.
        #expect(log.ranWithoutWaiting("DELETE FROM _sync_outbox") == true)
        #expect(log.ranWithoutWaiting("DELETE FROM _sync_changeset") == true)
        #expect(log.ranWithoutWaiting("'agent_state'") == true)
        #expect(log.ranWithoutWaiting("'cursor'") == true)
        #expect(try level() == 2)
        #expect(try replica.pendingSummary().changes == 0 && replica.counters()["cycles_ok"] == 1)
    }

    /// A page that may apply a recall waits for the disk: a recall may make the changesets waiting
    /// again, and those are pushed next, so losing the page after the centre took them would
    /// leave the office pushing the old ones under the same numbers. So does an acknowledgement
    /// that clears a refusal: back after a power cut, the refusal would let a person make again a
    /// changeset the centre holds.
    @Test func aPageThatMayApplyARecallWaitsForTheDisk() throws {
        let dir = try TemporaryDirectory()
        let replica = try makeReplica(dir)
        let log = StatementLog()
        try replica.database.writeWithoutTransaction { db in db.trace { log.note($0.expandedDescription) } }
        let recall = PulledRecord(
            cursor: PullCursor(7), table: ConsolidatedTable.recall.rawValue, id: "plan_line/x", office: OfficeCode(unchecked: "79"), deleted: false,
            fields: ["table": .text(SyncedTable.planLine.rawValue), "row_id": .text("x"), "office": .text("77")])
        try replica.applyPulledPage(PullResponse(epoch: Epoch("e"), records: [recall], nextCursor: PullCursor(7), hasMore: false))
        try replica.applyPulledPage(PullResponse(epoch: Epoch("e"), records: [], nextCursor: PullCursor(8), hasMore: false))
        // A recall waiting (kept in `_sync_deferred`): the next page, though it carries none.
        try replica.database.write { db in
            try db.execute(
                sql: "INSERT INTO _sync_deferred(tbl, row_id, office, deleted, fields, cursor, whole) VALUES (?, 'plan_line/y', '79', 0, '{}', 8, 1)",
                arguments: [ConsolidatedTable.recall.rawValue])
        }
        try replica.applyPulledPage(PullResponse(epoch: Epoch("e"), records: [], nextCursor: PullCursor(9), hasMore: false))
        // An acknowledgement that clears a refusal.
        try replica.data.addPlanLine(year: 2026, fundSource: .local, amount: 1_000, note: nil)
        let refused = try #require(try replica.nextChangeset())
        try replica.recordRefusal(ChangesetRefusal(sequence: refused.sequence, code: "bad_request", message: "refused", table: nil, id: nil))
        try replica.acknowledge(refused.sequence)
        try replica.database.writeWithoutTransaction { db in db.trace(nil) }
        #expect(log.ranWithoutWaiting("'7'") == false)
        #expect(log.ranWithoutWaiting("'8'") == true)
        #expect(log.ranWithoutWaiting("'9'") == false)
        #expect(log.ranWithoutWaiting("DELETE FROM _sync_changeset") == false)
        #expect(try replica.database.writeWithoutTransaction { try Int.fetchOne($0, sql: "PRAGMA synchronous") } == 2)
    }
}
