import Testing

@testable import SyncCore

@Suite struct StatusMachineTests {
    typealias S = ProjectStatus

    /// Every legal transition and its owner, written out by hand from DESIGN.md §3.
    static let national: [(S, S, Side)] = [
        (.draft, .submitted, .office), (.returned, .draft, .office), (.returned, .submitted, .office),
        (.submitted, .appraisedLocally, .office), (.submitted, .returned, .office),
        (.appraisedLocally, .submittedToCentre, .office), (.appraisedLocally, .returned, .office),
        (.submittedToCentre, .appraisedCentrally, .centre), (.submittedToCentre, .returned, .centre), (.submittedToCentre, .rejected, .centre),
        (.appraisedCentrally, .approved, .centre), (.appraisedCentrally, .returned, .centre), (.appraisedCentrally, .rejected, .centre),
        (.approved, .contracted, .office), (.approved, .halted, .centre),
        (.contracted, .inProgress, .office), (.contracted, .halted, .centre),
        (.inProgress, .accepted, .office), (.inProgress, .halted, .centre),
        (.accepted, .settled, .office), (.accepted, .halted, .centre),
        (.settled, .closed, .office), (.settled, .halted, .centre), (.closed, .halted, .centre),
    ]
    static let local: [(S, S, Side)] = [
        (.draft, .submitted, .office), (.returned, .draft, .office), (.returned, .submitted, .office),
        (.submitted, .appraisedLocally, .office), (.submitted, .returned, .office), (.submitted, .rejected, .office),
        (.appraisedLocally, .approved, .office), (.appraisedLocally, .returned, .office), (.appraisedLocally, .rejected, .office),
        (.approved, .contracted, .office), (.approved, .halted, .office),
        (.contracted, .inProgress, .office), (.contracted, .halted, .office),
        (.inProgress, .accepted, .office), (.inProgress, .halted, .office),
        (.accepted, .settled, .office), (.accepted, .halted, .office),
        (.settled, .closed, .office), (.settled, .halted, .office), (.closed, .halted, .office),
    ]

    @Test(arguments: [FundSource.national, .local])
    func everyPairIsAllowedExactlyAsListed(fund: FundSource) {
        let expected = fund == .national ? Self.national : Self.local
        var allowed: [String: Side] = [:]
        for (from, to, side) in expected { allowed["\(from.rawValue)>\(to.rawValue)"] = side }
        // All 14 × 14 pairs: the listed ones with their owner, every other one forbidden.
        for from in S.allCases {
            for to in S.allCases {
                #expect(
                    StatusMachine.owner(from: from, to: to, fund: fund) == allowed["\(from.rawValue)>\(to.rawValue)"],
                    "\(fund) \(from) → \(to)")
            }
        }
        #expect(StatusMachine.transitions(fund).count == expected.count)
    }

    @Test func terminalStatesHaveNoWayOut() {
        for fund in [FundSource.national, .local] {
            for terminal in [S.rejected, .halted] {
                #expect(StatusMachine.transitions(fund).allSatisfy { $0.from != terminal })
            }
            // A closed project is halted still (a payment after closing is a correction, and the
            // side that halts may stop it); nothing else.
            #expect(StatusMachine.transitions(fund).filter { $0.from == .closed }.map(\.to) == [.halted])
        }
    }

    /// Every status in which a project takes a payment is one from which it is halted, by the
    /// side that halts its fund's projects: otherwise an office could move a project the centre
    /// halted, stamped before the halt, into a status the halt does not reach and pay again.
    @Test(arguments: [FundSource.national, .local])
    func everyStatusThatTakesPaymentsIsHalted(fund: FundSource) {
        for status in LedgerRules.statuses(for: .payment) {
            #expect(StatusMachine.owner(from: status, to: .halted, fund: fund) == (fund == .national ? .centre : .office), "\(status)")
        }
    }
}
