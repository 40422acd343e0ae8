import Foundation
import GRDB
import SyncCore

extension CentralStore {
    /// The release whose rules the `v7-rules-1.9` migration applies to what earlier ones stored.
    static let rulesRelease = "1.9.0"

    /// What the counted ledger of project `p` (a `record` row of the query) adds up to as stored,
    /// recoveries subtracting: SQL for the migrations' selections.
    static let countedLedger = """
        (SELECT total(CASE json_extract(d.fields, '$.kind') WHEN 'recovery' THEN -json_extract(d.fields, '$.amount')
                           ELSE json_extract(d.fields, '$.amount') END)
         FROM record AS d WHERE d.tbl = 'disbursement' AND d.aggregate = p.id AND d.held = 0 AND d.deleted_at IS NULL)
        """

    /// The aggregates whose stored rows an earlier release's fold decided otherwise than this
    /// release's does (docs/CONFLICTS.md; CHANGELOG 1.9.0), a handful on any real store, usually
    /// none:
    /// - a project, plan line or programme stored as the centre's though no change of the
    ///   centre's is in it (a row an office deleted before the centre held it);
    /// - a project whose first change carried no fund source (judged now by the national rules,
    ///   and given none later);
    /// - a national project with no approved support whose ledger counts;
    /// - a project not of the local fund in which an office accepted a conflict of its own (only
    ///   the centre may now: a national project's duplicate voucher or edited entry, anything on a
    ///   project without a fund source, or its own move of a project to the national fund);
    /// - a project whose counted ledger adds up past its total cost (accepted over-disbursements
    ///   no longer take it there);
    /// - an aggregate with a conflict resolved more than once (the centre's resolution now stands
    ///   over an office's, and an acceptance by the wrong side no longer opens it again);
    /// - a project with a ledger entry or event in its history naming another project (no longer
    ///   part of it).
    static func aggregatesJudgedOtherwiseNow(_ db: Database) throws -> [String] {
        try String.fetchAll(
            db,
            sql: """
                SELECT aggregate FROM record AS r
                WHERE tbl IN ('project', 'plan_line', 'program') AND id = aggregate AND office = 'central'
                  AND NOT EXISTS (SELECT 1 FROM history WHERE history.aggregate = r.aggregate AND writer = 'central')
                UNION
                SELECT id FROM history AS h
                WHERE tbl = 'project' AND id = aggregate AND op = 'upsert' AND json_extract(fields, '$.fund_source') IS NULL
                  AND hlc = (SELECT min(hlc) FROM history WHERE tbl = 'project' AND id = h.id AND op = 'upsert')
                UNION
                SELECT id FROM record AS p
                WHERE tbl = 'project' AND json_extract(fields, '$.fund_source') = 'national'
                  AND json_extract(fields, '$.approved_support') IS NULL
                  AND EXISTS (SELECT 1 FROM record WHERE tbl = 'disbursement' AND aggregate = p.id AND held = 0 AND deleted_at IS NULL)
                UNION
                SELECT c.aggregate FROM record AS c JOIN record AS p ON p.tbl = 'project' AND p.id = c.aggregate
                WHERE c.tbl = 'conflict' AND c.deleted_at IS NULL AND json_extract(c.fields, '$.resolution') = 'accept'
                  AND json_extract(c.fields, '$.resolved_by') <> 'central'
                  AND json_extract(p.fields, '$.fund_source') IS NOT 'local'
                UNION
                SELECT id FROM record AS p
                WHERE tbl = 'project' AND abs(\(countedLedger)) > coalesce(json_extract(p.fields, '$.total_cost'), 1e15)
                UNION
                SELECT aggregate FROM history WHERE tbl = 'conflict_resolution' AND op = 'upsert'
                GROUP BY aggregate, json_extract(fields, '$.conflict_id') HAVING count(*) > 1
                UNION
                SELECT aggregate FROM history
                WHERE tbl IN ('disbursement', 'project_event') AND json_extract(fields, '$.project_id') <> aggregate
                ORDER BY 1
                """)
    }

    /// SQL that gives two vouchers one value when ``ValueRules/voucherKey(_:)`` takes them for
    /// one, and for some others (a voucher without separators, zeros and ASCII case): what
    /// `v8-rules-1.9.1` folds again is a superset of what 1.9.1 decides otherwise, not every
    /// project with two vouchers.
    static let voucherLikeness = """
        lower(replace(replace(replace(replace(replace(replace(json_extract(fields, '$.voucher'), ' ', ''), '-', ''), '.', ''), '/', ''), '_', ''), '0', ''))
        """

    /// The aggregates whose stored rows 1.9.0's fold may have decided otherwise than 1.9.1's (the
    /// `v8-rules-1.9.1` migration); on a store no office forged, only projects with a counted
    /// recovery, which fold again to what they were:
    /// - a project whose counted ledger adds up below zero or past its total cost (accepted
    ///   over-recoveries no longer count past what was paid, and no entry counts past the cost
    ///   when the support set is larger);
    /// - an aggregate with a conflict accepted by an office other than the aggregate's (an office
    ///   that held another's project while merged, once the merge was undone);
    /// - a national project to which an office sent its proposal's figures or its code again
    ///   after the first change (they are the centre's once the project is sent to it; every such
    ///   project is folded again, and only those changed after that are decided otherwise);
    /// - a project with a halt in its history that is not halted as stored (a halt that found it
    ///   accepted, settled or closed was a conflict; it now applies).
    /// - a project with an accepted `payment_not_allowed`, `over_disbursement` or
    ///   `ledger_append_only` conflict (accepting an entry's status or date no longer waives its
    ///   amount; what an office accepts of a capped local project counts no further than the cap;
    ///   an accepted edit of an entry no longer changes its amount, kind or project);
    /// - a deleted project (a project that was approved is no longer deleted, whatever its office
    ///   accepted; a deleted one's entries count nothing);
    /// - a project with two ledger entries stamped alike (they fold in the order of their ids, no
    ///   longer of a dictionary), or with two vouchers that may be one by
    ///   ``ValueRules/voucherKey(_:)`` (``voucherLikeness`` alike, or one outside ASCII);
    /// - a project with a counted recovery (an entry is judged on every day from its date on, not
    ///   only against the total, ``DatedLedger``; without a recovery no day's figure is below
    ///   nothing or above the total).
    static func aggregatesJudgedOtherwiseSince190(_ db: Database) throws -> [String] {
        try String.fetchAll(
            db,
            sql: """
                SELECT id FROM record AS p
                WHERE tbl = 'project' AND \(countedLedger) NOT BETWEEN 0 AND coalesce(json_extract(p.fields, '$.total_cost'), 1e15)
                UNION
                SELECT c.aggregate FROM record AS c JOIN record AS a ON a.id = c.aggregate AND a.tbl IN ('project', 'plan_line', 'program')
                WHERE c.tbl = 'conflict' AND c.deleted_at IS NULL AND json_extract(c.fields, '$.resolution') = 'accept'
                  AND json_extract(c.fields, '$.resolved_by') NOT IN ('central', a.office)
                UNION
                SELECT h.aggregate FROM history AS h JOIN record AS p ON p.tbl = 'project' AND p.id = h.aggregate
                WHERE h.tbl = 'project' AND h.id = h.aggregate AND h.writer <> 'central'
                  AND json_extract(p.fields, '$.fund_source') = 'national'
                  AND (json_extract(h.fields, '$.code') IS NOT NULL
                       OR json_extract(h.fields, '$.total_cost') IS NOT NULL OR json_extract(h.fields, '$.requested_support') IS NOT NULL
                       OR json_extract(h.fields, '$.counterpart_funds') IS NOT NULL OR json_extract(h.fields, '$.year') IS NOT NULL
                       OR json_extract(h.fields, '$.category') IS NOT NULL)
                  AND h.hlc > (SELECT min(hlc) FROM history WHERE tbl = 'project' AND id = h.aggregate)
                UNION
                SELECT h.aggregate FROM history AS h JOIN record AS p ON p.tbl = 'project' AND p.id = h.aggregate
                WHERE h.tbl = 'project' AND h.id = h.aggregate AND json_extract(h.fields, '$.status') = 'halted'
                  AND json_extract(p.fields, '$.status') IS NOT 'halted'
                UNION
                SELECT aggregate FROM record
                WHERE tbl = 'conflict' AND deleted_at IS NULL AND json_extract(fields, '$.resolution') = 'accept'
                  AND json_extract(fields, '$.rule') IN ('payment_not_allowed', 'over_disbursement', 'ledger_append_only')
                UNION
                SELECT id FROM record WHERE tbl = 'project' AND deleted_at IS NOT NULL
                UNION
                SELECT aggregate FROM history WHERE tbl = 'disbursement' GROUP BY aggregate, hlc HAVING count(DISTINCT id) > 1
                UNION
                SELECT aggregate FROM record WHERE tbl = 'disbursement' AND json_extract(fields, '$.voucher') GLOB '*[^ -~]*'
                UNION
                SELECT aggregate FROM record WHERE tbl = 'disbursement' AND json_extract(fields, '$.voucher') IS NOT NULL
                GROUP BY aggregate, \(Self.voucherLikeness) HAVING count(*) > 1
                UNION
                SELECT aggregate FROM record
                WHERE tbl = 'disbursement' AND held = 0 AND deleted_at IS NULL AND json_extract(fields, '$.kind') = 'recovery'
                ORDER BY 1
                """)
    }

    /// Folds `aggregates` again under the rules and caps in force, republishing their rows and
    /// conflicts whether changed or not when `republishing`, and leaves the totals of every
    /// office whose records changed to be computed again.
    static func refold(_ db: Database, aggregates: [String], republishing: Bool) throws {
        guard !aggregates.isEmpty else { return }
        let rehomed = try rehomedOffices(db)
        let caps = try supportCaps(db)
        var records = try RecordWriter(db)
        var offices: Set<String> = []
        for aggregate in aggregates {
            offices.formUnion(
                try refold(
                    db, aggregate: aggregate, republish: republishing ? try republishAll(db, aggregate) : [], republishConflicts: republishing,
                    rehomed: rehomed, caps: caps, records: &records))
        }
        for office in offices.sorted() where office != OfficeCode.central.rawValue {
            try markTotalsPending(db, office: OfficeCode(unchecked: office))
        }
    }

    /// Folds `aggregates` again under this release's rules and republishes their rows and
    /// conflicts (their offices pull them again; a row or conflict the fold no longer produces
    /// becomes a tombstone), and journals it, so that `audit verify` does the same at the same
    /// place: the same rows in the same order, whichever release made them first.
    static func applyRules(_ db: Database, release: String, aggregates: [String], now: Date, position: Int64) throws {
        try refold(db, aggregates: aggregates, republishing: true)
        try journal(db, .rulesApplied(.init(release: release, aggregates: aggregates)), at: now, position: position)
    }
}
