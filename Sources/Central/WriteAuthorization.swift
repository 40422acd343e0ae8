import GRDB
import SyncCore

/// Decides whether an office may write each change of a changeset, from what the centre stores
/// and never from what the changeset claims (docs/SECURITY.md, the trust boundary).
///
/// The writer is the office of the token (``Change/identityProblem(pushedBy:)`` has already made
/// the changes' clocks and identity fields agree with it). An office may write a row when:
///
/// - the row, if the centre holds it, belongs to the office;
/// - the aggregate the row belongs to (its project, plan line or programme), as the centre stores
///   it, belongs to the office, or is created or deleted by the office in the same changeset; a
///   change whose parent the centre does not know is refused (`unknown_parent`), so it can never
///   take effect against another office's records;
/// - a project's programme, likewise;
/// - a row the centre holds is not sent stamped before the row's first recorded change
///   (back-dated, it would become the row the fold takes for its creation), nor before the
///   writer's own latest change of it (judged at that stamp, a delete or an edit of a project the
///   centre had approved since was judged against its draft), nor naming another parent than the
///   aggregate it was recorded in;
/// - a conflict resolution resolves a conflict the centre published to the office, in the
///   aggregate the resolution names (which may be another office's: a held entry the office made
///   there while that office was merged into it).
///
/// Owners are compared after merges (`promo-central office merge`): a retired office and its
/// successor answer as one. A merge can be undone, and the fold then gives each aggregate back to
/// the office that created it (named by the earliest stamped change of its root row), so while
/// offices answer as one neither may write what would change that: a retired office writes only
/// the aggregates it created, and no office sends a root row stamped before the aggregate's
/// creation naming another office.
struct WriteAuthorization {
    let writer: OfficeCode
    let merges: MergeMap
    let rehomed: [String: String]
    /// Projects, plan lines and programmes this changeset creates for the writer, by id.
    let created: [String: SyncedTable]
    /// Projects, plan lines and programmes this changeset deletes. A project an office made and
    /// deleted before it pushed arrives as its delete alone, with what was recorded under it (its
    /// "created" event): those stay the writer's, and a deleted project's entries count nothing.
    /// They were refused as rows of an unknown project, and the office's pushes stopped there.
    let deleted: Set<String>
    /// The table of each project, plan line and programme id this changeset sends, the first met:
    /// one changeset gave a project, a plan line and a programme one id, and the project's office
    /// could change it no more (the stored roots answered its id with the plan line; round 18, F2).
    private let batchRoots: [String: SyncedTable]
    /// The root row of each aggregate met so far, as stored (nil: the centre has none).
    private var roots: [String: (table: String, office: String)?] = [:]
    private let selectRoot: DirectStatement
    /// Each aggregate's creation met so far: its root row's earliest stamped change that names an
    /// office, the one the fold takes for the creator.
    private var creations: [String: (hlc: HLCTimestamp, office: String)?] = [:]
    /// The writer and the offices merged into it, as a JSON array. Not the office a retired
    /// writer was merged into: its pending changes, stamped before the receiving office changed
    /// the same rows, are honest (the receiving office pulled the rows after they were made).
    private let sameOffice: String
    private let selectStamps: DirectStatement

    init(_ db: Database, writer: OfficeCode, merges: MergeMap, batch: [Change]) throws {
        selectRoot = try DirectStatement(
            db, "SELECT tbl, office FROM record WHERE aggregate = ?1 AND id = ?1 AND tbl IN ('project', 'plan_line', 'program')")
        selectStamps = try DirectStatement(
            db,
            "SELECT min(hlc), max(CASE WHEN writer IN (SELECT value FROM json_each(?3)) THEN hlc END) FROM history WHERE tbl = ?1 AND id = ?2")
        self.writer = writer
        self.merges = merges
        self.rehomed = merges.rehomed
        let offices = ([writer.rawValue] + merges.rehomed.filter { $0.value == writer.rawValue }.map(\.key)).sorted()
        sameOffice = "[" + offices.map { "\"\($0)\"" }.joined(separator: ",") + "]"
        var created: [String: SyncedTable] = [:]
        for change in batch where change.table.isAggregateRoot && change.op == .upsert && change.fields["office"] == .text(writer.rawValue) {
            created[change.id.rawValue] = change.table
        }
        self.created = created
        var batchRoots: [String: SyncedTable] = [:]
        for change in batch where change.table.isAggregateRoot && batchRoots[change.id.rawValue] == nil {
            batchRoots[change.id.rawValue] = change.table
        }
        self.batchRoots = batchRoots
        deleted = Set(batch.lazy.filter { $0.table.isAggregateRoot && $0.op == .delete }.map(\.id.rawValue))
    }

    private func home(_ office: String) -> String { rehomed.isEmpty ? office : rehomed[office] ?? office }
    private var writerHome: String { home(writer.rawValue) }

    /// Throws `forbidden_owner` (403) or `unknown_parent` (422) when the writer may not write `change`.
    /// `records` reads the rows it names as the centre stores them.
    /// `seenInBatch`: an earlier change of this changeset carried the same row (it is not stored
    /// yet, but it is known: the same rules hold against it).
    mutating func check(
        _ db: Database, _ change: Change, stored: StoredRow?, seenInBatch: Bool = false, aggregate: String, records: RecordLookup
    ) throws {
        var row: String { "\(change.table.rawValue) \(change.id)" }  // for the refusals only
        // 0. A row new to the centre comes whole (one it holds only as deleted, never with a field,
        //    is new): a field it lacks would be judged later under rules its absence chose (a
        //    project without a fund source, moved as a local one).
        if stored?.empty ?? true, change.op == .upsert,
            let missing = change.table.columns.first(where: { !$0.nullable && change.fields[$0.name] == nil })
        {
            throw Self.unknownParent(
                change, "\(row) is new to the centre but lacks its \(missing.name)", hint: "Send the whole row the first time it is pushed.")
        }
        // 1. The row itself.
        if let stored, home(stored.office) != writerHome {
            throw Self.forbidden(change, "\(row) belongs to office \(stored.office), not \(writer)")
        }
        // A row the centre holds stays in the record it was made in, and its past is not
        // rewritten: the fold takes a row's earliest stamped version for the one that made it, so
        // a ledger entry or an event re-sent back-dated naming another project would become an
        // entry of that project (a decision planted on another office's), and a project re-sent
        // back-dated with another fund source a project under other rules (an approved and halted
        // national one turned local, its payments counting). An office's clock never runs
        // backwards: its own changes of a row come after the row's first.
        if stored != nil || seenInBatch {
            let parentField = change.table == .conflictResolution ? "aggregate_id" : "project_id"
            if !change.table.isAggregateRoot, case .text(let parent)? = change.fields[parentField], parent != aggregate {
                throw Self.forbidden(
                    change, "\(row) was recorded under \(aggregate); office \(writer) sent it naming \(parentField) \(parent): a row does not move")
            }
            // A resolution the centre made is published to the conflict's office, so the row names
            // that office; it is still the centre's, and only the centre changes or deletes it.
            if change.table == .conflictResolution,
                try String.fetchOne(
                    db.cachedStatement(sql: "SELECT writer FROM history WHERE tbl = 'conflict_resolution' AND id = ? ORDER BY hlc LIMIT 1"),
                    arguments: [change.id.rawValue]) == OfficeCode.central.rawValue
            {
                throw Self.forbidden(change, "\(row) is the centre's resolution; office \(writer) may not change or delete it")
            }
            let (first, latest) = try stamps(change.table, change.id.rawValue)
            if let first, change.hlc < first {
                throw Self.forbidden(
                    change, "\(row) was first recorded at \(first); office \(writer) sent it stamped earlier (\(change.hlc)): a row's past is not rewritten")
            }
            // Nor stamped before the writer's own latest change of the row: its clock never runs
            // backwards, so such a change was made after that one and back-dated. The fold judges a
            // change at its stamp: a delete of a national project stamped in its draft days, sent
            // after the centre approved it, hid the project from the centre with its payments still
            // counting, and an edit of its cost stamped there took effect (round 9).
            // An office answers for the offices merged into it: after a merge, the receiving office
            // had never changed the absorbed office's rows, and back-dated their delete the same way.
            if let latest, change.hlc < latest {
                throw Self.forbidden(
                    change,
                    "\(row) holds a change stamped \(latest) by office \(latest.node)\(latest.node == writer.rawValue ? "" : ", merged into office \(writer)"); office \(writer) sent this one stamped earlier (\(change.hlc)): an office's clock does not run backwards"
                )
            }
        }
        if change.table.isAggregateRoot, let first = batchRoots[change.id.rawValue], first != change.table {
            throw Self.unknownParent(
                change, "\(row) uses the id of \(first.rawValue) \(change.id), sent in the same changeset", hint: "Every row needs an id of its own.")
        }
        // 2. The aggregate it belongs to, by its root row as stored.
        let root: (table: String, office: String)?
        if let known = roots[aggregate] {
            root = known
        } else {
            try selectRoot.bind(.text(aggregate))
            root = try selectRoot.step() ? (selectRoot.text(0) ?? "", selectRoot.text(1) ?? "") : nil
            selectRoot.finish()
            roots[aggregate] = .some(root)
        }
        if let root {
            // A resolution of the writer's own conflict in another office's aggregate (a held entry
            // the writer made there, after an unmerge) is judged by the conflict it resolves (4.).
            if home(root.office) != writerHome {
                if change.table != .conflictResolution || change.fields["conflict_id"]?.text == nil {
                    throw Self.forbidden(change, "\(row) belongs to \(root.table) \(aggregate) of office \(root.office), not \(writer)")
                }
                // Resolving its own conflicts there takes a few changes, not the other office's
                // room: thousands of resolutions filled office 77's project to the centre's bound
                // per aggregate, and 77 could then change its own project no more (round 9). Its
                // resolutions are counted, not what it wrote there while it held the project (100
                // payments made while merged left it no resolution of their conflicts, round 17).
                let written =
                    try Int64.fetchOne(
                        db.cachedStatement(
                            sql: "SELECT count(*) FROM history WHERE aggregate = ? AND writer = ? AND tbl = 'conflict_resolution'"),
                        arguments: [aggregate, writer.rawValue])
                    ?? 0
                if written >= Self.maxChangesInAnotherOfficesRecord {
                    throw CentralError(
                        .unprocessableContent, .aggregateFull,
                        "\(row) would be office \(writer)'s resolution number \(written + 1) in \(root.table) \(aggregate) of office \(root.office); an office writes at most \(Self.maxChangesInAnotherOfficesRecord) there (resolutions of its own conflicts)",
                        hint:
                            "Nothing of this changeset was applied. Withdraw the change (promo-sync outbox withdraw); ask the centre to resolve the conflict.",
                        row: SyncedRowKey(change.table, change.id.rawValue))
                }
            }
            // An office merged into another answers as that office, to push what it had pending of
            // its own records: not to write the other office's (or, with a stamp before theirs,
            // to claim them once the merge is undone).
            if merges.direct[writer.rawValue] != nil, let creator = try creation(db, of: aggregate, root: root.table)?.office,
                creator != writer.rawValue, !merges.isMerged(creator, into: writer.rawValue)
            {
                throw Self.forbidden(
                    change,
                    "\(row) belongs to \(root.table) \(aggregate) of office \(creator); office \(writer) was merged into office \(writerHome) and may push only its own records"
                )
            }
            // Nor may the office it answers as (or any other) send the root row stamped before
            // the aggregate's creation, naming another office: the fold would take that office
            // for the creator, and give it the aggregate once the merge is undone.
            if !rehomed.isEmpty, change.table.rawValue == root.table, change.id.rawValue == aggregate,
                let named = change.fields["office"]?.text, let creation = try creation(db, of: aggregate, root: root.table),
                change.hlc < creation.hlc, named != creation.office
            {
                throw Self.forbidden(
                    change,
                    "\(row) was created by office \(creation.office) at \(creation.hlc); office \(writer) sent it stamped earlier (\(change.hlc)) naming office \(named)"
                )
            }
            if change.table.isAggregateRoot, change.table.rawValue != root.table {
                throw Self.unknownParent(change, "\(row) uses the id of an existing \(root.table)", hint: "Every row needs an id of its own.")
            }
        } else if created[aggregate] == nil && !deleted.contains(aggregate) {
            throw change.table.isAggregateRoot
                ? Self.unknownParent(
                    change, "\(row) is new to the centre but does not name its office", hint: "Send the whole row the first time it is pushed.")
                : Self.unknownParent(change, "\(row) belongs to \(aggregate), which the centre does not know")
        }
        // 3. A project's programme.
        if change.table == .project, case .text(let program)? = change.fields["program_id"] {
            if let owner = try records.stored(.program, program)?.office {
                if home(owner) != writerHome { throw Self.forbidden(change, "\(row) names programme \(program) of office \(owner), not \(writer)") }
            } else if created[program] != .program {
                throw Self.unknownParent(change, "\(row) names programme \(program), which the centre does not know")
            }
        }
        // 4. A resolution resolves one of the writer's conflicts, in the aggregate it names.
        if change.table == .conflictResolution, case .text(let conflict)? = change.fields["conflict_id"] {
            guard
                let stored = try Row.fetchOne(
                    db.cachedStatement(sql: "SELECT office, aggregate FROM record WHERE tbl = 'conflict' AND id = ?"), arguments: [conflict])
            else { throw Self.unknownParent(change, "\(row) resolves conflict \(conflict), which the centre does not know") }
            if home(stored[0]) != writerHome {
                throw Self.forbidden(change, "\(row) resolves conflict \(conflict) of office \(stored[0] as String), not \(writer)")
            }
            if (stored[1] as String?) != aggregate {
                throw Self.unknownParent(change, "\(row) resolves conflict \(conflict), which belongs to another record than \(aggregate)")
            }
        }
    }

    /// The stamps of a row's earliest change, and of the latest change the writer or an office
    /// merged into it made of it, as the history holds them (one index range; nil: none).
    private func stamps(_ table: SyncedTable, _ id: String) throws -> (first: HLCTimestamp?, latest: HLCTimestamp?) {
        try selectStamps.bind(.text(table.rawValue), .text(id), .text(sameOffice))
        defer { selectStamps.finish() }
        guard try selectStamps.step() else { return (nil, nil) }
        return (selectStamps.text(0).flatMap { try? HLCTimestamp(parsing: $0) }, selectStamps.text(1).flatMap { try? HLCTimestamp(parsing: $0) })
    }

    /// The earliest stamped change of an aggregate's root row that names an office, as the fold
    /// orders them: the one that gives the aggregate its owner.
    private mutating func creation(_ db: Database, of aggregate: String, root table: String) throws -> (hlc: HLCTimestamp, office: String)? {
        if let known = creations[aggregate] { return known }
        let earliest = try CentralStore.creation(db, of: aggregate, root: table)
        creations[aggregate] = .some(earliest)
        return earliest
    }

    /// The most changes an office may write into another office's project (resolutions of its own
    /// conflicts there: a held entry it made while that office was merged into it).
    static let maxChangesInAnotherOfficesRecord: Int64 = 100

    static func forbidden(_ change: Change, _ message: String) -> CentralError {
        CentralError(
            .forbidden, .forbiddenOwner, message,
            hint: "An office writes only its own records; nothing of this changeset was applied. See promo-sync status.",
            row: SyncedRowKey(change.table, change.id.rawValue))
    }

    static func unknownParent(
        _ change: Change, _ message: String,
        hint: String = "Nothing of this changeset was applied; promo-sync status names the change and how to withdraw it."
    ) -> CentralError {
        CentralError(.unprocessableContent, .unknownParent, message, hint: hint, row: SyncedRowKey(change.table, change.id.rawValue))
    }
}
