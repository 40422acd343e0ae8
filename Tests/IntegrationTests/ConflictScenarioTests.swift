import Foundation
import GRDB
import Replica
import SyncAgent
import SyncCore
import SyncTesting
import Testing

@testable import Central

/// DESIGN.md §4 over real HTTP: the centre approves a national project and the office pulls it;
/// then the centre cuts the approval to 500 m VND while the office, offline, names the project's
/// beneficiary and records payments totalling 600 m VND (within the approval it knows of).
@Suite struct ConflictScenarioTests {
    @Test func overDisbursementIsOpenOnBothSidesAndResolvingAtTheOfficeClearsItAtTheCentre() async throws {
        try await withLiveCentral { central in
            let office = try OfficeFixture(office: "79", central: central)
            let id = try office.addProject(code: "QG-01", requested: 550_000_000, fund: .national)
            for step: ProjectStatus in [.submitted, .appraisedLocally, .submittedToCentre] {
                try office.replica.data.setProjectStatus("QG-01", to: step)
            }
            try await office.engine.runCycle()

            // The centre appraises and approves 600 m, and the office learns of it.
            try central.store.decide(project: "79/QG-01", .appraise)
            try central.store.decide(project: id.rawValue, .approve(amount: 600_000_000))
            try await office.engine.runCycle()
            // Then the centre cuts the approval to 500 m while, offline, the office names the
            // beneficiary and pays 600 m in two entries.
            try central.store.decide(project: id.rawValue, .adjust(amount: 500_000_000))
            try await office.replica.database.write { db in
                try db.execute(sql: "UPDATE project SET beneficiary = 'HTX Tân Phú' WHERE id = ?", arguments: [id.rawValue])
            }
            try office.replica.data.addDisbursement(
                NewDisbursement(project: "QG-01", kind: .advance, amount: 350_000_000, voucher: "KB-1", paidOn: "2025-09-10"))
            try office.replica.data.addDisbursement(
                NewDisbursement(project: "QG-01", kind: .payment, amount: 250_000_000, voucher: "KB-2", paidOn: "2025-09-20"))

            try await office.engine.runCycle()

            // Both sides hold the same project: the centre's approval and the office's beneficiary.
            let atCentre = try #require(try central.store.projects(office: "79").first)
            let atOffice = try #require(try office.replica.data.projects().first)
            #expect(atCentre.fields["approved_support"] == .integer(500_000_000))
            #expect(atOffice.approvedSupport == 500_000_000)
            #expect(atCentre.fields["beneficiary"] == .text("HTX Tân Phú"))
            #expect(atOffice.beneficiary == "HTX Tân Phú")
            #expect(atCentre.fields["status"] == .text("approved") && atOffice.status == "approved")
            // The held entry is out of the totals on both sides.
            #expect(atOffice.disbursed == 350_000_000)
            let total = try central.store.totals().first { $0.province == "79" && $0.fund == "national" }
            #expect(total?.disbursed == 350_000_000)

            // One over-disbursement conflict, open at the centre and at the office.
            let centreConflicts = try central.store.conflicts()
            #expect(centreConflicts.map { $0.record["rule"] } == [.text("over_disbursement")])
            let officeConflicts = try office.replica.data.conflicts(openOnly: true)
            #expect(officeConflicts.map(\.id) == centreConflicts.map(\.id))
            #expect(officeConflicts.first?.theirs["limit"] == .integer(500_000_000))
            // Both sides describe it the same way, in business terms: project code, voucher, the
            // writer's office, a time in Vietnam, the two versions in VND, and who may accept it.
            let atOfficeText = officeConflicts[0].description.lines
            #expect(atOfficeText == centreConflicts[0].description.lines)
            #expect(atOfficeText.contains("  record:    payment (voucher KB-2) of project QG-01 (office 79)"), "\(atOfficeText)")
            #expect(atOfficeText.contains { $0.hasPrefix("  by:        office 79 at 20") && $0.hasSuffix("(giờ Việt Nam)") })
            #expect(atOfficeText.contains { $0.hasPrefix("  amount ") && $0.contains("250.000.000 VND") })
            #expect(atOfficeText.contains { $0.hasPrefix("  limit ") && $0.hasSuffix("500.000.000 VND") })
            #expect(atOfficeText.contains { $0.contains("the centre may keep mine") })
            #expect(!atOfficeText.joined().contains(officeConflicts[0].rowID), "rows are named by business keys, not ids")
            let degraded = StatusReport.evaluate(try office.replica.status(), now: Date(), thresholds: .init(), isRunning: { _ in false })
            #expect(degraded.openConflicts == 1 && degraded.exitCode == 1)

            // The office may not simply keep its version of a national project's money…
            #expect(throws: ReplicaError.self) { try office.replica.data.resolveConflict(officeConflicts[0].id, .keepMine, note: nil) }
            // A correction past what the project may still take, or reusing a voucher, is refused.
            let short = String(officeConflicts[0].id.prefix(8))
            let tooMuch = #expect(throws: ReplicaError.self) { try office.replica.data.resolveConflict(short, .corrected(.integer(200_000_000)), note: nil) }
            #expect(tooMuch?.message.contains("would be refused too") == true && tooMuch?.hint?.contains("150000000 VND now") == true)
            #expect(throws: ReplicaError.self) { try office.replica.data.resolveConflict(short, .corrected(.integer(150_000_000)), note: nil, voucher: "KB-2") }
            // …so it corrects it: the held 250 m stays out and a 150 m entry with its own voucher takes its place.
            try office.replica.data.resolveConflict(short, .corrected(.integer(150_000_000)), note: "chỉ chi trong mức được duyệt", voucher: "KB-3")
            #expect(try office.replica.data.ledger("QG-01").compactMap(\.voucher).sorted() == ["KB-1", "KB-2", "KB-3"], "no voucher twice")
            try await office.engine.runCycle()

            #expect(try central.store.conflicts().isEmpty)
            let resolved = try central.store.conflicts(all: true)
            #expect(resolved.first?.record["resolution"] == .text("dismiss"))
            #expect(resolved.first?.record["resolved_by"] == .text("79"))
            #expect(try office.replica.data.conflicts(openOnly: true).isEmpty)
            #expect(try office.replica.data.conflicts().first?.resolution == "dismiss")
            #expect(try office.replica.data.projects().first?.disbursed == 500_000_000)
            #expect(try central.store.totals().first { $0.province == "79" && $0.fund == "national" }?.disbursed == 500_000_000)
            let after = StatusReport.evaluate(try office.replica.status(), now: Date(), thresholds: .init(), isRunning: { _ in false })
            #expect(after.exitCode == 0, "\(after.reasons)")
        }
    }

    @Test func aCentreDecisionThatBreaksTheStatusMachineIsRefusedUpFront() async throws {
        try await withLiveCentral { central in
            let office = try OfficeFixture(office: "80", central: central)
            try office.addProject(code: "QG-02", fund: .national)
            try await office.engine.runCycle()
            let error = #expect(throws: CentralError.self) { try central.store.decide(project: "80/QG-02", .approve(amount: 1)) }
            #expect(error?.code == .statusTransition)
            let local = try office.addProject(code: "DP-01", fund: .local)
            try await office.engine.runCycle()
            #expect(throws: CentralError.self) { try central.store.decide(project: local.rawValue, .halt) }
        }
    }

    /// Support is a part of a project's total cost, and only support already approved is adjusted:
    /// an adjustment of a project in appraisal set its support outside the approval that decides
    /// it, and support past the cost is a typing error in a decision.
    @Test func theCentreAdjustsOnlyApprovedSupportAndNeverPastTheTotalCost() async throws {
        try await withLiveCentral { central in
            let office = try OfficeFixture(office: "80", central: central)
            try office.addProject(code: "QG-04", requested: 300_000_000, fund: .national)
            for step: ProjectStatus in [.submitted, .appraisedLocally, .submittedToCentre] {
                try office.replica.data.setProjectStatus("QG-04", to: step)
            }
            try await office.engine.runCycle()
            let early = #expect(throws: CentralError.self) { try central.store.decide(project: "80/QG-04", .adjust(amount: 200_000_000)) }
            #expect(early?.code == .statusTransition && early?.message.contains("no approved support to adjust") == true)
            try central.store.decide(project: "80/QG-04", .appraise)
            // The total cost is 1.2 bn (four times the requested support).
            let past = #expect(throws: CentralError.self) { try central.store.decide(project: "80/QG-04", .approve(amount: 1_200_000_001)) }
            #expect(past?.code == .badRequest && past?.message.contains("total cost of 1200000000 VND") == true)
            try central.store.decide(project: "80/QG-04", .approve(amount: 250_000_000))
            #expect(throws: CentralError.self) { try central.store.decide(project: "80/QG-04", .adjust(amount: 1_300_000_000)) }
            try central.store.decide(project: "80/QG-04", .adjust(amount: 280_000_000))
            try await office.engine.runCycle()
            #expect(try office.replica.data.projects().first { $0.code == "QG-04" }?.approvedSupport == 280_000_000)
        }
    }

    @Test func anOfficeEditOfACentreOwnedFieldBecomesAConflictAndTheCentreCanAcceptIt() async throws {
        try await withLiveCentral { central in
            let office = try OfficeFixture(office: "96", central: central)
            let id = try office.addProject(code: "QG-03", fund: .national)
            try await office.engine.runCycle()
            // Another program writes a national project's approved support at the office.
            let other = try DatabaseQueue(path: office.replica.path)
            try await other.write { db in
                try db.execute(sql: "UPDATE project SET approved_support = 123 WHERE id = ?", arguments: [id.rawValue])
            }
            try other.close()
            try await office.engine.runCycle()
            let conflict = try #require(try central.store.conflicts().first)
            #expect(conflict.record["rule"] == .text("ownership"))
            // The office's value was not taken; the pull put the centre's (none) back.
            #expect(try office.replica.data.projects().first?.approvedSupport == nil)
            // The centre accepts it after all.
            try central.store.resolve(conflict: conflict.id, .accept, note: "đúng theo quyết định")
            try await office.engine.runCycle()
            #expect(try office.replica.data.projects().first?.approvedSupport == 123)
            #expect(try office.replica.data.conflicts().first?.resolution == "accept")
            #expect(try office.replica.data.conflicts().first?.resolvedBy == "central")
        }
    }
}

@Suite struct CapSyncTests {
    @Test func aCapSetAtTheCentreReachesTheOfficeAndIsEnforcedThere() async throws {
        try await withLiveCentral { central in
            let office = try OfficeFixture(office: "79", central: central)
            try central.store.setCap(SupportCap(fund: .local, category: "MH_TRINHDIEN", province: "79", maxPercentOfCost: nil, maxAmount: 800_000_000))
            try await office.engine.runCycle()
            let error = #expect(throws: ReplicaError.self) {
                try office.replica.data.addProject(
                    NewProject(
                        code: "M-1", name: "Mô hình", category: "MH_TRINHDIEN", fundSource: .local, year: 2025,
                        totalCost: 3_000_000_000, requestedSupport: 900_000_000))
            }
            #expect(error?.message.contains("at most 800000000 VND") == true && error?.message.contains("province 79") == true)
            #expect(throws: CentralError.self) {
                try central.store.setCap(SupportCap(fund: .local, category: "NOPE", province: nil, maxPercentOfCost: 10, maxAmount: nil))
            }
        }
    }
}
