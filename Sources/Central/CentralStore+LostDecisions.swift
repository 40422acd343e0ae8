import Foundation
import GRDB
import SyncCore
import WireFormat

/// A decision of the centre that the centre no longer holds but an office does: made after the
/// backup a restore went back to, then re-sent by the office with everything else it held. Only
/// the centre records decisions, so the fold keeps the office's copy aside as a conflict; the
/// centre's operator re-confirms it (a new decision, journaled) or drops it. Never applied
/// without a person, never lost without one (docs/OPERATIONS.md, "After an outage").
public struct LostDecision: Sendable, Equatable {
    /// The conflict that holds the office's copy.
    public var conflict: String
    /// The office that re-sent the decision.
    public var office: String
    /// The id of the project the decision was on.
    public var projectID: String
    /// The project's code as the centre holds it; nil when the centre holds no such project.
    public var projectCode: String?
    /// The decision as the event log named it; nil when the entry names none the centre knows.
    public var decision: CentreDecision?
    /// The entry's note in the office's copy, such as "approved by the centre"; empty when it has none.
    public var summary: String
    /// The amount in the office's copy, in VND (approvals and adjustments); re-confirming takes the operator's amount, never this one.
    public var amount: Int64?
    /// The reference of the decision document in the office's copy, if it names one.
    public var document: String?
    /// The day the office's copy dates the decision (`YYYY-MM-DD`, Vietnam's calendar), no later than the restore.
    public var occurredOn: String?
    /// When the office reported it (its clock stamp of the re-sent copy).
    public var reportedClock: String
}

extension CentralStore {
    /// The decisions offices hold that the centre lost, oldest first: open conflicts on decision
    /// entries of a project's event log that an office sent.
    public func lostDecisions() throws(CentralError) -> [LostDecision] {
        do {
            return try database.read { db in try Self.lostDecisions(db) }
        } catch {
            throw CentralError.storage(error, during: "listing lost decisions")
        }
    }

    static func lostDecisions(_ db: Database) throws -> [LostDecision] {
        // Only what offices sent after the last restore, dated no later than it: a decision entry
        // an office sends at any other time is an office writing as the centre, and its conflict
        // stays among the others (`promo-central conflicts list`). What an office reports is its
        // claim: the operator checks it against the decision document before re-confirming.
        guard let restore = try Row.fetchOne(db, sql: "SELECT position, at FROM journal WHERE kind = 'restored' ORDER BY position DESC LIMIT 1")
        else { return [] }
        let restoredAt: Int64 = restore["position"]
        // Decisions are dated in Vietnam's calendar (CalendarDate.today), the restore in UTC.
        let restoredOn = CalendarDate.today(Timestamps.parse(restore["at"] as String) ?? Date())
        let rows = try Row.fetchAll(
            db,
            sql: """
                SELECT id, office, fields FROM record
                WHERE tbl = 'conflict' AND deleted_at IS NULL
                  AND json_extract(fields, '$.table') = 'project_event' AND json_extract(fields, '$.resolution') IS NULL
                """)
        return try rows.compactMap { row -> LostDecision? in
            let conflict = try FieldCoding.decode(row["fields"] as String)
            let mine = ConflictRecord.publishedValues(conflict["mine"]?.text)
            guard mine["kind"] == .text(ProjectEventKind.decision.rawValue), let project = mine["project_id"]?.text,
                let event = conflict["row_id"]?.text, (mine["occurred_on"]?.text ?? "9999") <= restoredOn,
                let sent = try Int64.fetchOne(db, sql: "SELECT min(position) FROM history WHERE tbl = 'project_event' AND id = ?", arguments: [event]),
                sent > restoredAt
            else { return nil }
            let code = try String.fetchOne(
                db, sql: "SELECT json_extract(fields, '$.code') FROM record WHERE tbl = 'project' AND id = ?",
                arguments: [project])
            let summary = mine["note"]?.text ?? ""
            let amount = mine["amount"]?.integer
            return LostDecision(
                conflict: row["id"], office: row["office"], projectID: project, projectCode: code,
                decision: CentreDecision(summary: summary, amount: amount), summary: summary, amount: amount,
                document: mine["reference"]?.text, occurredOn: mine["occurred_on"]?.text, reportedClock: conflict["hlc"]?.text ?? "")
        }.sorted { ($0.occurredOn ?? "", $0.reportedClock) < ($1.occurredOn ?? "", $1.reportedClock) }
    }

    /// Makes a lost decision again, as a new decision of the centre (journaled, pulled by the
    /// office), and closes its conflict and the conflicts on the project's row that the decision
    /// now answers (the office's copy of the fields it set). An approval or adjustment takes the
    /// amount the operator types from the decision document (`amount`), never the office's copy's.
    /// Refused, with nothing written, when that amount is missing or the project's status does not
    /// allow the decision now (re-confirm an earlier lost decision first).
    public func reconfirm(lost conflict: String, amount: Int64? = nil, now: Date = Date()) throws(CentralError) -> LostDecision {
        do {
            return try database.write { db in
                let lost = try Self.findLost(db, conflict)
                guard var decision = lost.decision else {
                    throw CentralError(
                        .badRequest, .unknownDecision, "conflict \(lost.conflict) holds '\(lost.summary)', which names no decision of the centre",
                        hint: "Drop it: promo-central decisions drop \(lost.conflict) --reason TEXT")
                }
                if decision.amountIsTyped {
                    guard let amount else {
                        throw CentralError(
                            .badRequest, .badRequest,
                            "re-confirming '\(lost.summary)' needs the amount from the decision document (office \(lost.office) reported \(lost.amount.map(Money.vnd) ?? "none"))",
                            hint: "promo-central decisions reconfirm \(lost.conflict) --amount VND")
                    }
                    decision = if case .approve = decision { .approve(amount: amount) } else { .adjust(amount: amount) }
                }
                try Self.decide(db, project: lost.projectID, decision, document: lost.document, now: now, position: Self.nextPosition(db), recorded: nil)
                try Self.resolve(
                    db, conflict: lost.conflict, .dismiss, note: "re-confirmed after the centre's restore as a new decision",
                    now: now, position: Self.nextPosition(db), recorded: nil)
                try Self.closeAnswered(db, project: lost.projectID, now: now)
                return lost
            }
        } catch {
            throw CentralError.storage(error, during: "re-confirming the decision held in conflict \(conflict)")
        }
    }

    /// Drops a lost decision: its conflict is dismissed with the reason, and the office takes the
    /// project as the centre holds it at its next pull.
    public func drop(lost conflict: String, reason: String, now: Date = Date()) throws(CentralError) -> LostDecision {
        do {
            return try database.write { db in
                let lost = try Self.findLost(db, conflict)
                try Self.resolve(
                    db, conflict: lost.conflict, .dismiss, note: "dropped after the centre's restore: \(reason)",
                    now: now, position: Self.nextPosition(db), recorded: nil)
                return lost
            }
        } catch {
            throw CentralError.storage(error, during: "dropping the decision held in conflict \(conflict)")
        }
    }

    static func findLost(_ db: Database, _ conflict: String) throws -> LostDecision {
        let matches = try lostDecisions(db).filter { $0.conflict == conflict || (conflict.count >= 6 && $0.conflict.hasPrefix(conflict)) }
        guard matches.count == 1, let lost = matches.first else {
            throw CentralError(
                .notFound, .notFound, matches.isEmpty ? "no lost decision '\(conflict)'" : "'\(conflict)' names \(matches.count) lost decisions",
                hint: "List them with: promo-central decisions lost")
        }
        return lost
    }

    /// Dismisses the open conflicts on a project's own row whose losing values the project now
    /// has: the office re-sent fields a lost decision had set, and the decision set them again.
    static func closeAnswered(_ db: Database, project: String, now: Date) throws {
        guard let text = try String.fetchOne(db, sql: "SELECT fields FROM record WHERE tbl = 'project' AND id = ?", arguments: [project]) else { return }
        let current = try FieldCoding.decode(text)
        let open = try Row.fetchAll(
            db,
            sql: """
                SELECT id, fields FROM record WHERE tbl = 'conflict' AND deleted_at IS NULL
                  AND json_extract(fields, '$.table') = 'project' AND json_extract(fields, '$.row_id') = ?
                  AND json_extract(fields, '$.resolution') IS NULL
                """, arguments: [project])
        for row in open {
            let conflict = try FieldCoding.decode(row["fields"] as String)
            let mine = ConflictRecord.publishedValues(conflict["mine"]?.text)
            guard !mine.isEmpty, mine.allSatisfy({ current[$0.key] == $0.value })
            else { continue }
            try resolve(
                db, conflict: row["id"], .dismiss, note: "answered: the centre re-confirmed the decision that set these values",
                now: now, position: nextPosition(db), recorded: nil)
        }
    }
}

extension CentreDecision {
    /// The decision an event log entry names (its note is the decision's ``summary``).
    init?(summary: String, amount: Int64?) {
        let all: [CentreDecision] = [.appraise, .approve(amount: amount ?? 0), .returnToOffice, .reject, .adjust(amount: amount ?? 0), .halt]
        guard let match = all.first(where: { $0.summary == summary }) else { return nil }
        if match.amount != nil && amount == nil { return nil }
        self = match
    }

    /// Whether re-confirming it needs the amount typed from the decision document.
    public var amountIsTyped: Bool { amount != nil }

    /// The decision in a few words, with its amount.
    public var description: String {
        amount.map { "\(name) \(Money.vnd($0))" } ?? name
    }
}
