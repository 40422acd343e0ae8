import Foundation
import Replica
import SyncAgent
import SyncCore
import SyncTesting
import Testing

@testable import Central

/// The southern region's published figures, entered as rows at two southern offices (and a
/// northern one that must not count), synced, and reported at the centre and at an office.
@Suite struct ReportTests {
    static func enter(_ office: OfficeFixture, year: Int, plans: [(FundSource, Int64)], payments: [(Int64, String)]) throws {
        for (fund, amount) in plans {
            try office.replica.data.addPlanLine(year: year, fundSource: fund, amount: amount, note: "Kế hoạch \(year)")
        }
        let code = "KC-\(year)"
        let total = payments.reduce(0) { $0 + $1.0 }
        try office.replica.data.addProject(
            NewProject(
                code: code, name: "Dự án khuyến công \(year)", category: "MH_TRINHDIEN", fundSource: .local,
                year: year, totalCost: total * 2, requestedSupport: total))
        try office.replica.data.approveLocally(code)
        for (n, (amount, date)) in payments.enumerated() {
            try office.replica.data.addDisbursement(NewDisbursement(project: code, kind: .payment, amount: amount, voucher: "\(code)-\(n)", paidOn: date))
        }
    }

    @Test func theSouthernRegionsFiguresComeOutAsPublished() async throws {
        try await withLiveCentral { central in
            let hcm = try OfficeFixture(office: "79", central: central)
            let tayNinh = try OfficeFixture(office: "80", central: central)
            let hanoi = try OfficeFixture(office: "01", central: central)
            // 2025: plan 36.3 + 20.0 = 56.3 bn; paid by 30 September 5.00 + 3.33 = 8.33 bn (and 1 bn in October).
            try Self.enter(
                hcm, year: 2025, plans: [(.local, 30_000_000_000), (.national, 6_300_000_000)],
                payments: [(2_000_000_000, "2025-03-15"), (3_000_000_000, "2025-09-30")])
            try Self.enter(
                tayNinh, year: 2025, plans: [(.local, 20_000_000_000)],
                payments: [(3_330_000_000, "2025-07-01"), (1_000_000_000, "2025-10-02")])
            // 2024: plan 40.00 + 27.43 = 67.43 bn; implemented 30.00 + 23.81 = 53.81 bn.
            try Self.enter(hcm, year: 2024, plans: [(.local, 40_000_000_000)], payments: [(30_000_000_000, "2024-12-20")])
            try Self.enter(tayNinh, year: 2024, plans: [(.local, 27_430_000_000)], payments: [(23_810_000_000, "2024-11-11")])
            // The north does not count in the southern figures.
            try Self.enter(hanoi, year: 2025, plans: [(.local, 10_000_000_000)], payments: [(9_000_000_000, "2025-05-05")])
            for office in [hcm, tayNinh, hanoi, hcm, tayNinh] { try await office.engine.runCycle() }

            let q2025 = try ProgressReport.query(year: 2025, cutoff: "2025-09-30", region: "south", province: nil, fund: nil, by: nil)
            let q2024 = try ProgressReport.query(year: 2024, cutoff: nil, region: "south", province: nil, fund: nil, by: nil)
            let centreFacts = try central.store.reportFacts()
            let officeFacts = try tayNinh.replica.data.reportFacts()
            for facts in [centreFacts, officeFacts] {
                let r2025 = try #require(ProgressReport.compute(plans: facts.plans, disbursed: facts.disbursed, query: q2025).last)
                #expect(r2025.planBillions == "56.3" && r2025.disbursedBillions == "8.3" && r2025.percent == "14.8 %")
                #expect(r2025.plan == 56_300_000_000 && r2025.disbursed == 8_330_000_000)
                let r2024 = try #require(ProgressReport.compute(plans: facts.plans, disbursed: facts.disbursed, query: q2024).last)
                #expect(r2024.planBillions == "67.4" && r2024.disbursedBillions == "53.8" && r2024.percent == "79.8 %")
            }
            // Breakdowns and formats.
            let byProvince = try ProgressReport.query(year: 2025, cutoff: "2025-09-30", region: nil, province: nil, fund: nil, by: "region,province")
            let rows = ProgressReport.compute(plans: centreFacts.plans, disbursed: centreFacts.disbursed, query: byProvince)
            #expect(rows.map { $0.keys["province"] ?? "T" } == ["01", "79", "80", "T"])
            #expect(rows.first?.keys["region"] == "north" && rows.first?.percent == "90.0 %")
            let byGroup = try ProgressReport.query(year: 2025, cutoff: nil, region: "south", province: nil, fund: nil, by: "group")
            let groups = ProgressReport.compute(plans: centreFacts.plans, disbursed: centreFacts.disbursed, query: byGroup)
            #expect(groups.first?.keys["group"] == "1" && groups.first?.disbursed == 9_330_000_000 && groups.first?.plan == nil)
            let table = ProgressReport.render(plans: officeFacts.plans, disbursed: officeFacts.disbursed, query: q2025, format: .table, fractionDigits: 1)
            #expect(table.contains("56.3") && table.contains("14.8 %") && table.contains("rounded half away from zero"))
            let csv = ProgressReport.render(plans: officeFacts.plans, disbursed: officeFacts.disbursed, query: q2025, format: .csv, fractionDigits: 1)
            #expect(csv.contains("56300000000,8330000000,56.3,8.3,14.8"))
        }
    }

    @Test(
        arguments: [
            ("2025-13-01", nil, nil, nil, "not a date"), (nil, "west", nil, nil, "unknown region"),
            (nil, nil, "99", nil, "unknown province"), (nil, nil, nil, "colour", "cannot break down"),
        ] as [(String?, String?, String?, String?, String)])
    func badReportOptionsAreRefused(cutoff: String?, region: String?, province: String?, by: String?, expected: String) {
        let error = #expect(throws: SyncCoreError.self) {
            try ProgressReport.query(year: 2025, cutoff: cutoff, region: region, province: province, fund: nil, by: by)
        }
        #expect(error?.message.contains(expected) == true)
    }
}
