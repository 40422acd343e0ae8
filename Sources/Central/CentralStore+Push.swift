import Foundation
import GRDB
import SyncCore
import WireFormat

extension CentralStore {
    /// Applies one changeset of `office` and records its sequence number in the same transaction.
    ///
    /// Re-sending a changeset already applied (same sequence, same hash) is acknowledged as a
    /// duplicate and changes nothing. A gap, or another body under a known sequence, is refused.
    /// `receivedJSON`, the changeset's bytes as they arrived, is stored as its body (compressed,
    /// ``ChangesetBody``); without it the changeset is written out. `limits` bounds what the push
    /// may make the centre refold (the server keeps one for every push, whose allowances are per
    /// office; by default, one push is measured alone).
    public func apply(
        _ changeset: Changeset, receivedJSON: Data? = nil, from office: OfficeCode, now: Date = Date(), limits: WriteLimits = WriteLimits()
    ) throws(CentralError) -> PushResponse {
        // A changeset that does not follow the office's last one is a re-send or refused, never
        // stored: its bytes are not compacted or compressed (copies of a padded body cost seconds each).
        let last = try? database.read { db in
            try Row.fetchOne(db, sql: "SELECT last_sequence, last_hash FROM office WHERE code = ?", arguments: [office.rawValue]).map {
                ($0[0] as Int64, $0[1] as String)
            }
        }
        if let (last, hash) = last ?? nil, changeset.sequence.rawValue != last + 1 || changeset.previousHash != hash {
            return try apply(changeset, body: Data(), from: office, now: now, position: nil, limits: limits)
        }
        // Compressed, and long histories read, before the write transaction, which other offices' pushes wait for.
        let body = ChangesetBody.stored(receivedJSON ?? changeset.jsonData())
        let read = readHistories(of: changeset.changes, office: office, limits: limits)
        return try apply(changeset, body: body, from: office, now: now, position: nil, limits: limits, read: read)
    }

    /// `body` is what the store keeps of the changeset (``ChangesetBody``). `position` is the changeset's place in the order shared with the journal: the next one,
    /// or in a replay the one it was stored at. With `refusals`, what the value rules and the
    /// owners' checks (``WriteAuthorization``) refuse is recorded there and the changeset is
    /// applied all the same: only `audit verify` does so, to replay a changeset an earlier release
    /// accepted and this one refuses. Who writes (the changes' clocks and identity fields) is
    /// enforced even then: that check is older than the centre's journal. `limits`: a push as it
    /// arrives (``WriteLimits``); a replay has none.
    func apply(
        _ changeset: Changeset, body: Data, from office: OfficeCode, now: Date, position recorded: Int64?, refusals: RuleRefusals? = nil,
        limits: WriteLimits? = nil, read: ReadHistories? = nil
    ) throws(CentralError) -> PushResponse {
        // 1. Checks that need no database: whose changeset it is, its size, its hash.
        guard changeset.office == office else {
            throw CentralError(
                .forbidden, .forbiddenWriter, "the changeset says office \(changeset.office) but the token is office \(office)",
                hint: "An office pushes only its own changesets.")
        }
        guard changeset.sequence.rawValue >= 1 else {
            throw CentralError.badRequest("changeset sequence \(changeset.sequence) is not 1 or more", hint: "Changesets are numbered from 1.")
        }
        guard changeset.changes.count <= WireProtocol.maxChangesPerChangeset else {
            throw CentralError(
                .contentTooLarge, .tooManyChanges,
                "changeset \(changeset.sequence) has \(changeset.changes.count) changes; at most \(WireProtocol.maxChangesPerChangeset) are accepted",
                hint: "Lower the changeset size in the office configuration.")
        }
        do { try changeset.verifyHash() } catch {
            throw CentralError(.unprocessableContent, .brokenChain, error.message, hint: error.hint)
        }
        do {
            let response = try database.write { db -> PushResponse in
                guard let officeRow = try Row.fetchOne(db, sql: "SELECT last_sequence, last_hash FROM office WHERE code = ?", arguments: [office.rawValue])
                else {
                    throw CentralError.unauthorized
                }
                let last = ChangesetSequence(officeRow["last_sequence"])
                let lastHash: String = officeRow["last_hash"]

                // 2. Idempotency: a changeset already applied is acknowledged, never applied twice.
                if changeset.sequence <= last {
                    let stored = try String.fetchOne(
                        db, sql: "SELECT hash FROM changeset WHERE office = ? AND sequence = ?",
                        arguments: [office.rawValue, changeset.sequence.rawValue])
                    guard stored == changeset.hash else {
                        throw CentralError(
                            .conflict, .sequenceConflict,
                            "changeset \(changeset.sequence) of office \(office) was already received with other content",
                            hint: "The office replica may have been restored from an old backup. Try: promo-sync resync --force")
                    }
                    return PushResponse(epoch: epoch, sequence: changeset.sequence, outcome: .duplicate, appliedChanges: 0)
                }
                guard changeset.sequence == last.next else {
                    throw CentralError(
                        .conflict, .sequenceGap,
                        "changeset \(changeset.sequence) of office \(office) arrived but the last applied is \(last)",
                        hint: "Changesets must arrive in order; the centre may have been restored. Try: promo-sync resync --force")
                }
                guard changeset.previousHash == lastHash else {
                    throw CentralError(
                        .conflict, .brokenChain,
                        "changeset \(changeset.sequence) of office \(office) does not chain onto changeset \(last)",
                        hint: "Try: promo-sync resync --force")
                }

                // 3. Every change is written by the token's office as itself (who, checked first), and
                //    holds values the protocol and the domain rules allow (what: ValueRules). Checked
                //    after the idempotency check: a changeset already applied is acknowledged again
                //    even if a later release of the centre would refuse it.
                // Offices merged into this one (by the official map or not): their records, now its
                // own, keep their provinces (a project sent again whole names it as stored).
                let absorbed = try Self.rehomedOffices(db).filter { $0.value == office.rawValue }.keys.sorted().map(OfficeCode.init(unchecked:))
                // From the receipt time as the store keeps it (whole seconds), which the audit's
                // replay passes back: from the millisecond, a stamp under the lead by less than a
                // second was taken live and refused by the replay (round 15).
                let latestAccepted = HybridLogicalClock.wallMilliseconds(now) / 1000 * 1000 &+ Self.maxClockLeadMilliseconds
                for change in changeset.changes {
                    // The writer is the office of the token: a clock or a field that claims another
                    // writer (another office, or the centre) is a forgery, not a conflict.
                    if let problem = change.identityProblem(pushedBy: office) {
                        throw CentralError(
                            .forbidden, .forbiddenWriter, problem,
                            hint: "An office writes only as itself; nothing of this changeset was applied. See promo-sync status.",
                            row: SyncedRowKey(change.table, change.id.rawValue))
                    }
                    // Nor stamped ahead of the centre's time: the centre's clock takes in every
                    // stamp, and every office's clock takes in the centre's (a stamp at the end of
                    // time would stop every office's next one; a stamp a day ahead would put the
                    // centre's next decisions after a day of everyone's changes; a payment dated by
                    // a stamp next year would pass as recorded then).
                    if change.hlc.milliseconds > latestAccepted {
                        let refusal = Self.clockAhead(change, now: now)
                        guard let refusals else { throw refusal }
                        refusals.all.append(refusal)
                    }
                    let provincesKept = try Self.keptProvince(db, change, absorbed: absorbed)
                    do throws(SyncCoreError) { try change.validate(writer: office, absorbed: provincesKept) } catch {
                        let refusal = CentralError.badRequest(
                            error.message, hint: "The changeset was refused whole; nothing of it was applied.",
                            row: SyncedRowKey(change.table, change.id.rawValue))
                        guard let refusals else { throw refusal }
                        refusals.all.append(refusal)
                    }
                }
                let capped = try Self.capFiguresBefore(db, changeset.changes)

                // 4. Keep every change in its aggregate's history and fold the aggregates it touched:
                //    the rules decide in clock order, so the outcome does not depend on arrival order.
                //    Each history row names the changeset that carried it (its position), for the audit log.
                let position = try recorded ?? Self.nextPosition(db)
                let applied = try Self.ingest(
                    db, changes: changeset.changes, from: office, sequence: changeset.sequence, position: position, at: now, refusals: refusals,
                    limits: limits, read: read)
                // The support caps, on the projects as the push left them (a refusal rolls it back).
                for (change, violation) in try Self.capViolations(db, before: capped) {
                    let refusal = CentralError.badRequest(
                        "\(change.table.rawValue) \(change.id): \(violation)",
                        hint:
                            "The changeset was refused whole; nothing of it was applied. Keep the support and what is counted within the cap, or ask the centre about it.",
                        row: SyncedRowKey(change.table, change.id.rawValue))
                    guard let refusals else { throw refusal }
                    refusals.all.append(refusal)
                }

                // 5. Keep it, with its receipt in the centre's log: its place and time, chained
                //    onto the position before (one hash per changeset, none per change).
                let receivedAt = Timestamps.format(now)
                let chainHash = Self.receiptHash(
                    previous: try Self.chainHash(db, before: position), position: position, office: office.rawValue,
                    sequence: changeset.sequence.rawValue, hash: changeset.hash, receivedAt: receivedAt)
                try db.execute(
                    sql: """
                        INSERT INTO changeset(office, sequence, hash, previous_hash, change_count, body, received_at, position, chain_hash)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [
                        office.rawValue, changeset.sequence.rawValue, changeset.hash, changeset.previousHash,
                        changeset.changes.count, body, receivedAt, position, chainHash,
                    ])
                try db.execute(
                    sql: "UPDATE office SET last_sequence = ?, last_hash = ? WHERE code = ?",
                    arguments: [changeset.sequence.rawValue, changeset.hash, office.rawValue])
                return PushResponse(epoch: epoch, sequence: changeset.sequence, outcome: .applied, appliedChanges: applied)
            }
            try faults.check(.centralAfterApplyBeforeResponse)
            return response
        } catch {
            throw CentralError.storage(error, during: "applying changeset \(changeset.sequence) of office \(office)")
        }
    }

    /// How far ahead of the centre's wall clock an office's stamp may be: ten minutes, more than
    /// a server's clock drifts between two NTP corrections. The centre's clock takes in what it
    /// accepts, and stamps its decisions after it: a stamp a day ahead would order a halt made now
    /// after the payments every office makes in that day.
    static let maxClockLeadMilliseconds: UInt64 = 10 * 60_000

    /// The refusal of a change stamped more than ``maxClockLeadMilliseconds`` ahead of `now`.
    static func clockAhead(_ change: Change, now: Date) -> CentralError {
        let stamped = Date(timeIntervalSince1970: Double(change.hlc.milliseconds) / 1000)
        let lead = "\(maxClockLeadMilliseconds / 60_000) minutes"
        return CentralError(
            .unprocessableContent, .clockAhead,
            "\(change.table.rawValue) \(change.id) is stamped \(Timestamps.format(stamped)), more than \(lead) after the centre's time (\(Timestamps.format(now)))",
            hint:
                "This office server's clock is ahead: set it right (timedatectl set-ntp true). Nothing of this changeset was applied; the office keeps it, and once its clock is set right it stamps it again and sends it.",
            row: SyncedRowKey(change.table, change.id.rawValue))
    }

    /// What this release's domain rules refused of changesets applied all the same (`audit verify`'s
    /// replay of what an earlier release accepted).
    final class RuleRefusals {
        var all: [CentralError] = []
    }

    /// The figures the support caps read (``SupportCap``) of a project.
    static let capFigures = ["requested_support", "approved_support", "total_cost", "category", "fund_source", "province"]

    /// The projects a push may move the cap figures of (it changes one, or resolves a conflict of
    /// the project, which may let a refused change apply), with those figures as stored before it
    /// (nil: a project new to the centre), and the push's last such change of each (to name in a
    /// refusal). Read before the push is folded, for ``capViolations(_:before:)`` after.
    static func capFiguresBefore(_ db: Database, _ changes: [Change]) throws -> [String: (figures: [String: FieldValue]?, change: Change)] {
        var out: [String: (figures: [String: FieldValue]?, change: Change)] = [:]
        for change in changes {
            let project: String
            if change.table == .project && change.op == .upsert && capFigures.contains(where: change.fields.keys.contains) {
                project = change.id.rawValue
            } else if change.table == .conflictResolution,
                let aggregate = try change.fields["aggregate_id"]?.text
                    ?? String.fetchOne(
                        db.cachedStatement(sql: "SELECT aggregate FROM record WHERE tbl = 'conflict_resolution' AND id = ?"), arguments: [change.id.rawValue])
            {
                // A resolution re-sent in part names its aggregate as stored.
                project = aggregate
            } else {
                continue
            }
            if let known = out[project] {
                out[project] = (known.figures, change)
                continue
            }
            let stored = try String.fetchOne(db.cachedStatement(sql: "SELECT fields FROM record WHERE tbl = 'project' AND id = ?"), arguments: [project])
            out[project] = (try stored.map { try FieldCoding.decode($0).filter { capFigures.contains($0.key) } }, change)
        }
        return out
    }

    /// What the projects a push moved break of the support caps in force (`promo-central cap`), as
    /// the office checks before (`OfficeData.capViolation`): a project's requested support and,
    /// for a local project, the support its office approved, against each cap of its fund,
    /// category and province (a former province's code counts as the province in force). Judged
    /// on each project as the push has left it, folded and stored, inside the push's transaction:
    /// judged on the changes instead, a push passed that moved a project to an uncapped category
    /// with 900 m of support and back (round 10), that sent another fund source beside a raise
    /// (the fold refuses it, round 15), a category change under a stamp the store keeps only once,
    /// or a national project's category the centre owns (round 16). Only a project whose figures
    /// the push moved is judged: a value the centre holds was checked when it was set, and a cap
    /// lowered since binds what is set after.
    static func capViolations(_ db: Database, before: [String: (figures: [String: FieldValue]?, change: Change)]) throws -> [(Change, String)] {
        guard !before.isEmpty else { return [] }
        let caps = try supportCaps(db)
        var violations: [(Change, String)] = []
        for (id, (figures, change)) in before.sorted(by: { $0.key < $1.key }) {
            guard
                let stored = try String.fetchOne(
                    db.cachedStatement(sql: "SELECT fields FROM record WHERE tbl = 'project' AND id = ? AND deleted_at IS NULL"), arguments: [id])
            else { continue }
            let project = try FieldCoding.decode(stored)
            guard capFigures.contains(where: { project[$0] != figures?[$0] }),
                let fund = project["fund_source"]?.text.flatMap(FundSource.init(rawValue:)), let category = project["category"]?.text,
                let written = project["province"]?.text, let totalCost = project["total_cost"]?.integer
            else { continue }
            let province = ReferenceData.provinceInForce(written)
            let supports = [project["requested_support"]?.integer, fund == .local ? project["approved_support"]?.integer : nil].compactMap { $0 }
            let broken = caps.lazy.filter { $0.applies(fund: fund, category: category, province: province) }
                .compactMap { cap in supports.lazy.compactMap { cap.violation(requested: $0, totalCost: totalCost) }.first }.first
            if let broken { violations.append((change, broken)) }
        }
        return violations
    }

    /// The support caps in force, as published to the offices.
    static func supportCaps(_ db: Database) throws -> [SupportCap] {
        try String.fetchAll(db, sql: "SELECT fields FROM record WHERE tbl = 'support_cap' AND deleted_at IS NULL ORDER BY id").compactMap {
            let fields = try FieldCoding.decode($0)
            guard let fund = fields["fund_source"]?.text.flatMap(FundSource.init(rawValue:)), let category = fields["category"]?.text else { return nil }
            return SupportCap(
                fund: fund, category: category, province: fields["province"]?.text, maxPercentOfCost: fields["max_percent_of_cost"]?.integer,
                maxAmount: fields["max_amount"]?.integer)
        }
    }

    /// `absorbed` when `change` names, for a project the centre holds, the province the centre
    /// holds for it: a record received from an office merged into the writer keeps that office's
    /// province when it is sent again whole. Empty otherwise: a new project, or a province moved,
    /// is held to the writer's own provinces.
    static func keptProvince(_ db: Database, _ change: Change, absorbed: [OfficeCode]) throws -> [OfficeCode] {
        guard !absorbed.isEmpty, change.table == .project, case .text(let province)? = change.fields["province"],
            let stored = try String.fetchOne(
                db.cachedStatement(sql: "SELECT fields FROM record WHERE tbl = 'project' AND id = ?"), arguments: [change.id.rawValue]),
            try FieldCoding.decode(stored)["province"] == .text(province)
        else { return [] }
        return absorbed
    }
}
