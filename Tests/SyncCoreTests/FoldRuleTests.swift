import Testing

@testable import SyncCore

/// One table test per conflict rule, on the pure fold.
@Suite struct FoldRuleTests {
    static let project = RowID(unchecked: "01a220b8-0000-7000-8000-000000000001")

    /// Clocks from 1 October 2025 on: a ledger entry is dated no later than the day its clock says it was recorded.
    static let base: UInt64 = 1_759_276_800_000
    static func hlc(_ ms: UInt64, _ node: String) -> HLCTimestamp { HLCTimestamp(milliseconds: base + ms, counter: 0, node: node) }

    static func create(fund: FundSource, status: ProjectStatus = .draft, requested: Int64 = 800, at ms: UInt64 = 1) -> Change {
        Change(
            table: .project, id: project, op: .upsert, hlc: hlc(ms, "79"),
            fields: [
                "office": .text("79"), "province": .text("79"), "code": .text("P1"), "name": .text("Dự án"),
                "category": .text("MH_TRINHDIEN"), "fund_source": .text(fund.rawValue), "beneficiary": .null, "year": .integer(2025),
                "total_cost": .integer(3_000), "requested_support": .integer(requested), "approved_support": .null,
                "status": .text(status.rawValue),
            ])
    }

    static func update(_ fields: [String: FieldValue], at ms: UInt64, by node: String) -> Change {
        Change(table: .project, id: project, op: .upsert, hlc: hlc(ms, node), fields: fields)
    }

    static func payment(_ n: Int, amount: Int64, voucher: String?, at ms: UInt64, kind: DisbursementKind = .payment) -> Change {
        Change(
            table: .disbursement, id: RowID(unchecked: "01a220b8-0000-7000-8000-1000000000\(String(format: "%02d", n))"), op: .upsert,
            hlc: hlc(ms, "79"),
            fields: [
                "office": .text("79"), "project_id": .text(project.rawValue), "kind": .text(kind.rawValue), "amount": .integer(amount),
                "voucher": voucher.map(FieldValue.text) ?? .null, "paid_on": .text("2025-09-01"),
            ])
    }

    static func resolution(_ conflict: String, _ choice: ResolutionChoice, by node: String, at ms: UInt64) -> Change {
        Change(
            table: .conflictResolution, id: RowID.make(), op: .upsert, hlc: hlc(ms, node),
            fields: [
                "office": .text("79"), "conflict_id": .text(conflict), "aggregate_id": .text(project.rawValue),
                "choice": .text(choice.rawValue), "resolved_by": .text(node), "note": .null,
            ])
    }

    func fold(_ changes: [Change]) -> FoldResult { AggregateFold.fold(aggregateID: Self.project.rawValue, changes: changes) }
    func projectRow(_ r: FoldResult) -> MergedRow? { r.rows.first { $0.table == .project }?.state }

    /// A project made without a fund source (the centre refuses such a row now, but the fold
    /// judges what it is given): its moves and its support are judged as a national project's, and
    /// the fund source cannot be given later, after moves judged without it.
    @Test func aProjectWithoutAFundSourceIsJudgedAsNationalAndCannotTakeOneLater() {
        var create = Self.create(fund: .local)
        create.fields["fund_source"] = nil
        let r = fold([
            create,
            Self.update(["status": .text("submitted")], at: 2, by: "79"),
            Self.update(["status": .text("appraised_locally")], at: 3, by: "79"),
            Self.update(["status": .text("approved")], at: 4, by: "79"),
            Self.update(["approved_support": .integer(700)], at: 5, by: "79"),
            Self.update(["fund_source": .text("national")], at: 6, by: "79"),
            Self.payment(1, amount: 700, voucher: "KB-1", at: 7),
        ])
        #expect(projectRow(r)?.fields["status"] == .text("appraised_locally"))
        #expect((projectRow(r)?.fields["approved_support"] ?? .null) == .null)
        #expect(projectRow(r)?.fields["fund_source"] == nil)
        #expect(Set(r.conflicts.map(\.rule)) == [.statusTransition, .ownership, .immutableField, .paymentNotAllowed])
        #expect(r.rows.first { $0.table == .disbursement }?.held == true)
        // Its office may not accept those conflicts itself: the centre decides them.
        let own = [create, Self.update(["approved_support": .integer(700)], at: 5, by: "79")]
        let accepted = fold(own + [Self.resolution(fold(own).conflicts[0].id, .accept, by: "79", at: 9)])
        #expect((projectRow(accepted)?.fields["approved_support"] ?? .null) == .null)
        #expect(accepted.conflicts.first?.resolution == nil)
    }

    /// A national project made already in progress (an import) takes no entry before the centre
    /// sets its approved support: its requested support is no limit. A local one's is.
    @Test func aNationalProjectWithoutApprovedSupportTakesNoEntry() {
        let national = fold([Self.create(fund: .national, status: .inProgress), Self.payment(1, amount: 100, voucher: nil, at: 2)])
        #expect(national.rows.first { $0.table == .disbursement }?.held == true)
        #expect(national.conflicts.map(\.rule) == [.paymentNotAllowed])
        #expect(national.conflicts.first?.theirs == ["approved_support": .null])
        let local = fold([Self.create(fund: .local, status: .inProgress), Self.payment(1, amount: 100, voucher: nil, at: 2)])
        #expect(local.rows.first { $0.table == .disbursement }?.held == false)
        let approved = fold([
            Self.create(fund: .national, status: .inProgress), Self.payment(1, amount: 100, voucher: nil, at: 2),
            Self.update(["approved_support": .integer(500)], at: 3, by: "central"),
        ])
        #expect(approved.rows.first { $0.table == .disbursement }?.held == false)
    }

    /// A delete of a project nobody else's change names an office for is its writer's, never the centre's.
    /// Another office's entry in a local project (what an office recorded in a project it held
    /// while merged, once the merge is undone) is an ownership conflict of that office; only the
    /// project's office or the centre may accept it, though it is the office side's rule.
    @Test func onlyTheProjectsOfficeAcceptsAnotherOfficesEntryInIt() {
        var foreign = Self.payment(1, amount: 100, voucher: "KB-77", at: 3)
        foreign.hlc = Self.hlc(3, "77")
        foreign.fields["office"] = .text("77")
        let history = [Self.create(fund: .local, status: .approved), foreign]
        let conflict = try! #require(fold(history).conflicts.first)
        #expect(conflict.rule == .ownership && conflict.office == "77")
        let byWriter = fold(history + [Self.resolution(conflict.id, .accept, by: "77", at: 4)])
        #expect(byWriter.conflicts.first { $0.id == conflict.id }?.resolution == nil)
        #expect(byWriter.rows.first { $0.id == foreign.id.rawValue }?.held == true)
        let byOwner = fold(history + [Self.resolution(conflict.id, .accept, by: "79", at: 4)])
        #expect(byOwner.conflicts.first { $0.id == conflict.id }?.resolution == .accept, "\(byOwner.conflicts)")
        #expect(byOwner.rows.first { $0.id == foreign.id.rawValue }?.held == false)
    }

    @Test func aDeleteAloneBelongsToItsWriter() {
        let r = fold([Change(table: .project, id: Self.project, op: .delete, hlc: Self.hlc(1, "79"), fields: [:])])
        #expect(r.rows.map(\.office) == ["79"])
        #expect(r.conflicts.isEmpty)
    }

    @Test func theCentreOwnsANationalProjectsApprovedSupport() {
        let r = fold([
            Self.create(fund: .national), Self.update(["approved_support": .integer(500)], at: 2, by: "79"),
            Self.update(["approved_support": .integer(400)], at: 3, by: "central"),
        ])
        #expect(projectRow(r)?.fields["approved_support"] == .integer(400))
        #expect(r.conflicts.map(\.rule) == [.ownership])
        #expect(r.conflicts[0].mine == ["approved_support": .integer(500)] && r.conflicts[0].writer == "79")
    }

    /// Regression (convergence model, seed 7439490320903531565): a national project whose first
    /// version already carries an approved amount gets an ownership conflict; the centre's
    /// acceptance takes effect. The fold judged who may accept before the project row existed, so
    /// it took the project for a local one and ignored the centre.
    @Test func theCentreMayAcceptAConflictOnAProjectsFirstVersion() {
        var create = Self.create(fund: .national)
        create.fields["approved_support"] = .integer(500)
        let first = fold([create])
        #expect(first.conflicts.map(\.rule) == [.ownership])
        let accepted = fold([create, Self.resolution(first.conflicts[0].id, .accept, by: "central", at: 5)])
        #expect(accepted.conflicts.first?.resolution == .accept)
        #expect(projectRow(accepted)?.fields["approved_support"] == .integer(500))
        // The office may not accept it for a national project.
        let byOffice = fold([create, Self.resolution(first.conflicts[0].id, .accept, by: "79", at: 5)])
        #expect(byOffice.conflicts.first?.resolution == nil)
    }

    @Test func theCentreOwnsNothingOfALocalProject() {
        let r = fold([Self.create(fund: .local), Self.update(["approved_support": .integer(1), "name": .text("x")], at: 2, by: "central")])
        #expect(projectRow(r)?.fields["name"] == .text("Dự án"))
        #expect(r.conflicts.count == 1 && r.conflicts[0].rule == .ownership && r.conflicts[0].mine.count == 2)
    }

    /// The office writes its proposal's text whenever it likes; its figures (cost, support asked,
    /// counterpart funds, year, category) until it sends the project to the centre, and again once
    /// the centre returns it. In between they are what the centre appraises and approves.
    @Test func theOfficeOwnsItsProposalsTextButItsFiguresOnlyUntilTheCentreHasThem() {
        let create = Self.create(fund: .national, status: .appraisedCentrally)
        let r = fold([
            create,
            Self.update(["status": .text("approved"), "approved_support": .integer(500)], at: 2, by: "central"),
            Self.update(["requested_support": .integer(900), "name": .text("Mới")], at: 3, by: "79"),
        ])
        #expect(projectRow(r)?.fields["name"] == .text("Mới"))
        #expect(projectRow(r)?.fields["requested_support"] == create.fields["requested_support"])
        #expect(projectRow(r)?.fields["status"] == .text("approved"))
        #expect(r.conflicts.count == 1 && r.conflicts[0].rule == .ownership && r.conflicts[0].mine == ["requested_support": .integer(900)])
        let returned = fold([
            create,
            Self.update(["status": .text("returned")], at: 2, by: "central"),
            Self.update(["requested_support": .integer(900)], at: 3, by: "79"),
        ])
        #expect(returned.conflicts.isEmpty && projectRow(returned)?.fields["requested_support"] == .integer(900))
        let local = fold([
            Self.create(fund: .local, status: .approved), Self.update(["requested_support": .integer(900)], at: 3, by: "79"),
        ])
        #expect(local.conflicts.isEmpty && projectRow(local)?.fields["requested_support"] == .integer(900))
    }

    @Test func fundSourceAndOfficeCannotChange() {
        let r = fold([Self.create(fund: .local), Self.update(["fund_source": .text("national")], at: 2, by: "79")])
        #expect(projectRow(r)?.fields["fund_source"] == .text("local"))
        #expect(r.conflicts.map(\.rule) == [.immutableField])
    }

    @Test func statusMovesFollowTheMachineAndItsOwners() {
        // The office cannot approve a national project; the centre cannot approve before appraisal.
        let r = fold([
            Self.create(fund: .national, status: .submittedToCentre),
            Self.update(["status": .text("approved")], at: 2, by: "79"),
            Self.update(["status": .text("approved")], at: 3, by: "central"),
            Self.update(["status": .text("appraised_centrally")], at: 4, by: "central"),
            Self.update(["status": .text("approved")], at: 5, by: "central"),
        ])
        #expect(projectRow(r)?.fields["status"] == .text("approved"))
        #expect(r.conflicts.map(\.rule) == [.statusTransition, .statusTransition])
        #expect(Set(r.conflicts.map(\.writer)) == ["79", "central"])
    }

    @Test func concurrentStatusMovesAreDecidedByClockOrder() {
        // The office starts the contract (t=5) while the centre halts the project (t=4): the halt
        // came first, so the contract step is refused and kept as a conflict.
        let base = [
            Self.create(fund: .national, status: .appraisedCentrally),
            Self.update(["status": .text("approved"), "approved_support": .integer(500)], at: 2, by: "central"),
        ]
        let r = fold(
            base + [
                Self.update(["status": .text("contracted")], at: 5, by: "79"),
                Self.update(["status": .text("halted")], at: 4, by: "central"),
            ])
        #expect(projectRow(r)?.fields["status"] == .text("halted"))
        #expect(r.conflicts.count == 1 && r.conflicts[0].mine["status"] == .text("contracted"))
        #expect(r.conflicts[0].theirs["status"] == .text("halted"))
    }

    @Test func paymentsBeyondApprovedSupportAreHeld() {
        let r = fold([
            Self.create(fund: .national, status: .appraisedCentrally),
            Self.update(["status": .text("approved"), "approved_support": .integer(500)], at: 2, by: "central"),
            Self.payment(1, amount: 300, voucher: "A", at: 3), Self.payment(2, amount: 300, voucher: "B", at: 4),
            Self.payment(3, amount: 150, voucher: "C", at: 5),
        ])
        let held = r.rows.filter { $0.table == .disbursement && $0.held }.map(\.id)
        #expect(held == [Self.payment(2, amount: 0, voucher: nil, at: 0).id.rawValue])
        #expect(r.conflicts.map(\.rule) == [.overDisbursement])
        #expect(r.conflicts[0].theirs == ["limit": .integer(500), "disbursed_before": .integer(300)])
    }

    /// Accepting an entry held for its date or the project's status waives that, not the amount:
    /// past the limit it is an over-disbursement of its own, for its own acceptance. The centre
    /// accepted a date exception on a project approved at 200 m and 1 bn counted (round 12, P5).
    @Test func acceptingAnEntrysDateDoesNotWaiveItsAmount() {
        var early = Self.payment(1, amount: 1_000, voucher: "KB-E", at: 3)
        early.fields["paid_on"] = .text("2024-12-31")  // before the 2025 plan year
        let history = [
            Self.create(fund: .national, status: .appraisedCentrally),
            Self.update(["status": .text("approved"), "approved_support": .integer(200)], at: 2, by: "central"), early,
        ]
        let dated = fold(history)
        #expect(dated.conflicts.map(\.rule) == [.paymentNotAllowed])
        let dateAccepted = fold(history + [Self.resolution(dated.conflicts[0].id, .accept, by: "central", at: 4)])
        #expect(dateAccepted.rows.first { $0.table == .disbursement }?.held == true)
        let over = try! #require(dateAccepted.conflicts.first { $0.rule == .overDisbursement })
        #expect(over.theirs == ["limit": .integer(200), "disbursed_before": .integer(0)])
        let both = fold(
            history + [Self.resolution(dated.conflicts[0].id, .accept, by: "central", at: 4), Self.resolution(over.id, .accept, by: "central", at: 5)])
        #expect(both.rows.first { $0.table == .disbursement }?.held == false)
        // Within the limit, accepting the date is all it takes.
        var within = early
        within.fields["amount"] = .integer(150)
        let small = fold(Array(history.dropLast()) + [within])
        let smallAccepted = fold(Array(history.dropLast()) + [within, Self.resolution(small.conflicts[0].id, .accept, by: "central", at: 4)])
        #expect(smallAccepted.rows.first { $0.table == .disbursement }?.held == false && smallAccepted.conflicts.count == 1)
    }

    /// A deleted project counts nothing, whatever was accepted of its ledger (round 13: an office
    /// accepted its own payment on a draft, deleted the project, and the money counted with no
    /// project for the centre to see).
    @Test func aDeletedProjectCountsNothing() {
        let history = [Self.create(fund: .local, status: .draft, requested: 800), Self.payment(1, amount: 500, voucher: "KB-D", at: 3)]
        let held = fold(history)
        let accepted = history + [Self.resolution(held.conflicts[0].id, .accept, by: "79", at: 4)]
        #expect(fold(accepted).rows.first { $0.table == .disbursement }?.held == false)
        let deleted = fold(accepted + [Change(table: .project, id: Self.project, op: .delete, hlc: Self.hlc(5, "79"), fields: [:])])
        #expect(projectRow(deleted)?.isDeleted == true)
        #expect(deleted.rows.first { $0.table == .disbursement }?.held == true)
        #expect(deleted.conflicts.first?.message.contains("deleted") == true)
        // Moves its office stamps after the delete do not bring it back: deleted as a draft, moved
        // on to approved on the tombstone, it still counts nothing (round 15).
        let revived = fold(
            history + [
                Change(table: .project, id: Self.project, op: .delete, hlc: Self.hlc(2, "79"), fields: [:]),
                Self.update(["status": .text("submitted")], at: 3, by: "79"), Self.update(["status": .text("appraised_locally")], at: 4, by: "79"),
                Self.update(["status": .text("approved")], at: 5, by: "79"),
                Self.payment(2, amount: 300, voucher: "KB-R", at: 6),
            ])
        #expect(projectRow(revived)?.isDeleted == true)
        let revivedEntries = revived.rows.filter { $0.table == .disbursement }
        #expect(revivedEntries.count == 2 && revivedEntries.allSatisfy { $0.held })
    }

    /// A project that was approved is never deleted, not even by its office's acceptance of the
    /// refusal, nor after an accepted move back to draft: deleted, it left every listing while what
    /// it paid still counted (round 14).
    @Test func aProjectThatWasApprovedIsNeverDeleted() {
        let approved = [Self.create(fund: .local, status: .approved, requested: 800), Self.payment(1, amount: 500, voucher: "KB-A", at: 3)]
        let delete = Change(table: .project, id: Self.project, op: .delete, hlc: Self.hlc(8, "79"), fields: [:])
        let refused = fold(approved + [delete])
        let refusal = try! #require(refused.conflicts.first { $0.rule == .statusTransition })
        #expect(refusal.message.contains("never deleted"))
        let forced = fold(approved + [delete, Self.resolution(refusal.id, .accept, by: "79", at: 9)])
        #expect(projectRow(forced)?.isDeleted == false)
        #expect(forced.rows.first { $0.table == .disbursement }?.held == false)
        // Moved back to draft by an accepted illegal move first, then deleted: still not deleted.
        let back = approved + [Self.update(["status": .text("draft")], at: 5, by: "79")]
        let moved = fold(back)
        let backward = try! #require(moved.conflicts.first { $0.rule == .statusTransition })
        let drafted = back + [Self.resolution(backward.id, .accept, by: "79", at: 6), delete]
        #expect(projectRow(fold(drafted))?.fields["status"] == .text("draft"))
        let second = try! #require(fold(drafted).conflicts.first { $0.rule == .statusTransition && $0.hlc == delete.hlc })
        let both = fold(drafted + [Self.resolution(second.id, .accept, by: "79", at: 9)])
        #expect(projectRow(both)?.isDeleted == false)
        #expect(both.rows.first { $0.table == .disbursement }?.held == false)
    }

    /// Entries stamped alike fold in the order of their ids, in every fold: they came in the
    /// order of a dictionary, and the one counted and the one held past the limit swapped from one
    /// refold to the next (round 15).
    @Test func entriesStampedAlikeFoldInTheOrderOfTheirIds() {
        var a = Self.payment(1, amount: 600, voucher: nil, at: 3)
        var b = Self.payment(2, amount: 500, voucher: nil, at: 3)
        a.id = RowID(unchecked: "01a220b8-0000-7000-8000-2000000000aa")
        b.id = RowID(unchecked: "01a220b8-0000-7000-8000-2000000000bb")
        let history = [Self.create(fund: .local, status: .approved, requested: 800), a, b]
        for _ in 0..<40 {
            let r = fold(history.shuffled())
            #expect(r.rows.first { $0.id == a.id.rawValue }?.held == false)
            #expect(r.rows.first { $0.id == b.id.rawValue }?.held == true)
        }
    }

    /// A voucher is one whatever its case, invisible characters, separators and a number's
    /// padding: a zero-width space (round 15), other separators and padded numbers (round 16) made
    /// the same voucher new, and it counted again. Vouchers whose numbers are split otherwise are
    /// two, whatever the order they come in: compared by two keys in turn, which of three was
    /// held depended on that order (round 17). The characters a voucher may hold are the
    /// centre's to check (ValidationTests).
    @Test func aVoucherWrittenOtherwiseIsStillTheSameVoucher() {
        let same = ["kb-2025-001\u{200B}", "KB 2025 001", "KB.2025.001", "KB/2025/001", "KB_2025_001", "KB-2025-1", "KB-2025-0001", "kb2025 1"]
        let others = ["KB-2025-002", "KB-2026-001", "KB-2025-010", "KB2025001", "KB-20-25001"]
        for order in [same + others, others.reversed() + same, (same + others).shuffled()] {
            let entries = ["KB-2025-001"] + order
            let r = fold(
                [Self.create(fund: .local, status: .approved, requested: 800)]
                    + entries.enumerated().map { Self.payment($0.offset + 1, amount: 10, voucher: $0.element, at: UInt64($0.offset) + 3) })
            let held = r.rows.filter { $0.table == .disbursement }.sorted { $0.id < $1.id }.map(\.held)
            #expect(held == entries.map { $0 != "KB-2025-001" && same.contains($0) }, "\(entries)")
        }
        // Round 17's order: the padded writing first, the split one second, the plain one last.
        let u1 = fold(
            [Self.create(fund: .national, status: .approved, requested: 800), Self.update(["approved_support": .integer(800)], at: 2, by: "central")]
                + ["KB2025001", "KB-2025-1", "KB-2025-001"].enumerated().map {
                    Self.payment($0.offset + 1, amount: 10, voucher: $0.element, at: UInt64($0.offset) + 3)
                })
        #expect(u1.rows.filter { $0.table == .disbursement }.sorted { $0.id < $1.id }.map(\.held) == [false, false, true])
        #expect(ValueRules.voucherKey(" - ").isEmpty)
        #expect(ValueRules.voucherKey("KB-12-3") != ValueRules.voucherKey("KB-1-23"))
        #expect(ValueRules.voucherKey("UNC 2025/10") != ValueRules.voucherKey("UNC 20251/0"))
        #expect(ValueRules.voucherKey("007") == ValueRules.voucherKey("7") && ValueRules.voucherKey("000") == ValueRules.voucherKey("0"))
    }

    /// An accepted edit of a recorded entry changes neither its amount nor its kind: the centre
    /// accepted a 50 m overrun, then the office's "correction" of the amount to 1.5 bn, and 1.5 bn
    /// counted under the first acceptance (round 13). A correction is a new entry.
    @Test func anAcceptedEditOfAnEntryKeepsItsAmount() {
        let entry = Self.payment(1, amount: 250, voucher: "KB-E", at: 3)
        var edit = entry
        edit.hlc = Self.hlc(5, "79")
        edit.fields["amount"] = .integer(1_500)
        edit.fields["voucher"] = .text("KB-E2")
        let base = [
            Self.create(fund: .national, status: .appraisedCentrally),
            Self.update(["status": .text("approved"), "approved_support": .integer(200)], at: 2, by: "central"), entry,
        ]
        let over = fold(base).conflicts[0]
        let withEdit = base + [Self.resolution(over.id, .accept, by: "central", at: 4), edit]
        let appendOnly = try! #require(fold(withEdit).conflicts.first { $0.rule == .ledgerAppendOnly })
        let r = fold(withEdit + [Self.resolution(appendOnly.id, .accept, by: "central", at: 6)])
        let row = r.rows.first { $0.table == .disbursement }
        #expect(row?.state.fields["amount"] == .integer(250) && row?.state.fields["voucher"] == .text("KB-E2"))
        #expect(r.conflicts.first { $0.rule == .ledgerAppendOnly }?.message.contains("amount") == true)
        // Nor does an accepted delete take a recorded entry out (round 14).
        let delete = Change(table: .disbursement, id: entry.id, op: .delete, hlc: Self.hlc(7, "79"), fields: [:])
        let deleting = fold(withEdit + [delete])
        let refusal = try! #require(deleting.conflicts.first { $0.rule == .ledgerAppendOnly && $0.hlc == delete.hlc })
        let kept = fold(withEdit + [delete, Self.resolution(refusal.id, .accept, by: "central", at: 8)])
        #expect(kept.rows.first { $0.table == .disbursement }?.state.isDeleted == false)
    }

    /// What an office accepts of its own local project's over-disbursements counts up to the cap
    /// in force and no further (rounds 11 to 13).
    @Test func anOfficesAcceptanceCountsNoFurtherThanTheCap() {
        let history = [
            Self.create(fund: .local, status: .approved, requested: 100), Self.payment(1, amount: 400, voucher: "A", at: 3),
            Self.payment(2, amount: 400, voucher: "B", at: 4),
        ]
        let open = fold(history)
        let accepted = history + open.conflicts.map { Self.resolution($0.id, .accept, by: "79", at: 5) }
        let cap = SupportCap(fund: .local, category: "MH_TRINHDIEN", province: nil, maxPercentOfCost: nil, maxAmount: 600)
        #expect(AggregateFold.fold(aggregateID: Self.project.rawValue, changes: accepted).rows.filter { $0.table == .disbursement && !$0.held }.count == 2)
        let capped = AggregateFold.fold(aggregateID: Self.project.rawValue, changes: accepted, caps: [cap])
        #expect(capped.rows.filter { $0.table == .disbursement && !$0.held }.count == 1)
        #expect(capped.conflicts.contains { $0.message.contains("support cap in force of 600") })
    }

    @Test func aRecoveryMakesRoomAndTheLimitIsRequestedSupportUntilApproval() {
        let r = fold([
            Self.create(fund: .local, status: .approved, requested: 800),
            Self.payment(1, amount: 800, voucher: nil, at: 3), Self.payment(2, amount: 100, voucher: nil, at: 4, kind: .recovery),
            Self.payment(3, amount: 100, voucher: nil, at: 5), Self.payment(4, amount: 1, voucher: nil, at: 6),
        ])
        #expect(r.conflicts.map(\.rule) == [.overDisbursement])
        #expect(r.rows.filter(\.held).count == 1)
    }

    @Test func aDuplicateVoucherIsHeld() {
        let r = fold([
            Self.create(fund: .local, status: .approved), Self.payment(1, amount: 10, voucher: "KB-1", at: 3),
            Self.payment(2, amount: 10, voucher: "KB-1", at: 4),
        ])
        #expect(r.conflicts.map(\.rule) == [.duplicateVoucher])
        #expect(r.rows.first { $0.held }?.id == Self.payment(2, amount: 0, voucher: nil, at: 0).id.rawValue)
    }

    @Test func ledgerEntriesAreAppendOnly() {
        let entry = Self.payment(1, amount: 10, voucher: "KB-1", at: 3)
        var edit = entry
        edit.hlc = Self.hlc(4, "79")
        edit.fields = ["amount": .integer(99)]
        var delete = entry
        delete.hlc = Self.hlc(5, "79")
        delete.op = .delete
        delete.fields = [:]
        let r = fold([Self.create(fund: .local, status: .approved), entry, edit, delete])
        let row = r.rows.first { $0.table == .disbursement }
        #expect(row?.state.fields["amount"] == .integer(10))
        #expect(row?.state.isDeleted == false)
        #expect(r.conflicts.map(\.rule) == [.ledgerAppendOnly, .ledgerAppendOnly])
    }

    @Test func deleteVersusConcurrentUpdate() {
        // A draft deleted by its office stays deleted; a later edit merges into the tombstone.
        let r1 = fold([
            Self.create(fund: .local), Change(table: .project, id: Self.project, op: .delete, hlc: Self.hlc(2, "79"), fields: [:]),
            Self.update(["name": .text("late")], at: 3, by: "79"),
        ])
        #expect(projectRow(r1)?.isDeleted == true && projectRow(r1)?.fields["name"] == .text("late"))
        #expect(r1.conflicts.isEmpty)
        // A project past draft cannot be deleted: the delete is refused and kept as a conflict.
        let r2 = fold([
            Self.create(fund: .local, status: .submitted),
            Change(table: .project, id: Self.project, op: .delete, hlc: Self.hlc(2, "79"), fields: [:]),
        ])
        #expect(projectRow(r2)?.isDeleted == false)
        #expect(r2.conflicts.map(\.rule) == [.statusTransition])
    }

    @Test func aStatusMustBeKnownAndOnlyAnOfficeCreatesAProject() {
        // A status the machine does not know is refused like a forbidden move.
        let unknown = fold([Self.create(fund: .local), Self.update(["status": .text("finished")], at: 2, by: "79")])
        #expect(projectRow(unknown)?.fields["status"] == .text("draft"))
        #expect(unknown.conflicts.map(\.rule) == [.statusTransition])
        // The centre writing a project that no office made: every field it does not own is refused,
        // its status too, so no project comes out of it; the conflicts keep what it sent.
        var byCentre = Self.create(fund: .national, status: .approved)
        byCentre.hlc = Self.hlc(1, "central")
        let made = fold([byCentre])
        #expect(projectRow(made)?.fields["status"] == nil && projectRow(made)?.fields["name"] == nil)
        #expect(made.conflicts.map(\.rule) == [.ownership, .statusTransition])
        #expect(made.conflicts[1].mine == ["status": .text("approved")] && made.conflicts[1].writer == "central")
    }

    @Test func ledgerEntriesAreMadeByTheirOfficeOnlyAndHeldEntriesDoNotCount() {
        var byCentre = Self.payment(1, amount: 700, voucher: "C-1", at: 2)
        byCentre.hlc = Self.hlc(2, "central")
        var forAnotherOffice = Self.payment(2, amount: 700, voucher: "O-1", at: 3)
        forAnotherOffice.fields["office"] = .text("80")
        let deletedFirst = Change(
            table: .disbursement, id: Self.payment(3, amount: 0, voucher: nil, at: 0).id, op: .delete,
            hlc: Self.hlc(4, "79"), fields: [:])
        let own = Self.payment(4, amount: 700, voucher: "K-1", at: 5)
        let r = fold([Self.create(fund: .local, status: .approved, requested: 800), byCentre, forAnotherOffice, deletedFirst, own])
        #expect(r.conflicts.map(\.rule) == [.ownership, .ownership, .ledgerAppendOnly])
        let held = Set(r.rows.filter(\.held).map(\.id))
        #expect(held == [byCentre.id.rawValue, forAnotherOffice.id.rawValue, deletedFirst.id.rawValue])
        // Held entries are not counted: the office's own 700 fits under 800 and stands.
        #expect(r.rows.first { $0.id == own.id.rawValue }?.held == false)
        #expect(!r.conflicts.contains { $0.rule == .overDisbursement })
    }

    @Test func eventLogEntriesAreAppendOnlyAndWrittenForTheProjectsOffice() {
        func event(_ n: Int, office: String, at ms: UInt64, by node: String = "79") -> Change {
            Change(
                table: .projectEvent, id: RowID(unchecked: "01a220b8-0000-7000-8000-2000000000\(String(format: "%02d", n))"), op: .upsert,
                hlc: Self.hlc(ms, node),
                fields: [
                    "office": .text(office), "project_id": .text(Self.project.rawValue), "kind": .text("inspection"),
                    "occurred_on": .text("2025-09-01"), "amount": .null, "reference": .null, "note": .null,
                ])
        }
        let good = event(1, office: "79", at: 2)
        let byCentre = event(2, office: "79", at: 3, by: "central")  // the centre logs for the project's office: fine
        let elsewhere = event(3, office: "80", at: 4)
        let deleted = Change(table: .projectEvent, id: good.id, op: .delete, hlc: Self.hlc(5, "79"), fields: [:])
        let deletedFirst = Change(table: .projectEvent, id: event(4, office: "79", at: 0).id, op: .delete, hlc: Self.hlc(6, "79"), fields: [:])
        let r = fold([Self.create(fund: .local), good, byCentre, elsewhere, deleted, deletedFirst])
        let events = Dictionary(uniqueKeysWithValues: r.rows.filter { $0.table == .projectEvent }.map { ($0.id, $0) })
        #expect(events[good.id.rawValue]?.held == false && events[good.id.rawValue]?.state.isDeleted == false)
        #expect(events[byCentre.id.rawValue]?.held == false)
        #expect(events[elsewhere.id.rawValue]?.held == true && events[deletedFirst.id.rawValue]?.held == true)
        #expect(r.conflicts.map(\.rule).sorted { $0.rawValue < $1.rawValue } == [.ledgerAppendOnly, .ledgerAppendOnly, .ownership])
    }

    @Test func aRefusedDeleteAcceptedByItsOwnerTakesEffect() {
        let delete = Change(table: .project, id: Self.project, op: .delete, hlc: Self.hlc(2, "79"), fields: [:])
        let refused = fold([Self.create(fund: .local, status: .submitted), delete])
        #expect(projectRow(refused)?.isDeleted == false && refused.conflicts.map(\.rule) == [.statusTransition])
        let accepted = fold([
            Self.create(fund: .local, status: .submitted), delete,
            Self.resolution(refused.conflicts[0].id, .accept, by: "79", at: 3),
        ])
        #expect(projectRow(accepted)?.isDeleted == true && accepted.conflicts[0].resolution == .accept)
    }

    @Test func resolutionsAcceptOrDismissWithTheRightAuthority() {
        let base = [
            Self.create(fund: .national, status: .appraisedCentrally),
            Self.update(["status": .text("approved"), "approved_support": .integer(500)], at: 2, by: "central"),
            Self.payment(1, amount: 600, voucher: "A", at: 3),
        ]
        let open = fold(base)
        let id = open.conflicts[0].id
        #expect(open.conflicts[0].isOpen)
        // The office may not accept an over-disbursement on a national project: it stays open.
        let byOffice = fold(base + [Self.resolution(id, .accept, by: "79", at: 4)])
        #expect(byOffice.conflicts[0].isOpen && byOffice.rows.contains { $0.held })
        // The office may dismiss it ("keep theirs"): resolved, entry stays held.
        let dismissed = fold(base + [Self.resolution(id, .dismiss, by: "79", at: 4)])
        #expect(dismissed.conflicts[0].resolution == .dismiss && dismissed.rows.contains { $0.held })
        // The centre may accept it: the entry counts.
        let accepted = fold(base + [Self.resolution(id, .accept, by: "central", at: 4)])
        #expect(accepted.conflicts[0].resolution == .accept && !accepted.rows.contains { $0.held })
        #expect(accepted.conflicts[0].id == id)
    }
}
