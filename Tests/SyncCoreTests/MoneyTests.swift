import Testing

@testable import SyncCore

@Suite struct MoneyTests {
    @Test func southernRegionFiguresRoundAsPublished() {
        // 2025: 8.33 bn disbursed of a 56.3 bn plan by 30 September → 8.3 bn, 14.8 %.
        #expect(Money.billions(8_330_000_000, fractionDigits: 1) == "8.3")
        #expect(Money.percent(8_330_000_000, of: 56_300_000_000) == "14.8 %")
        // 2024: 53.81 bn implemented of 67.43 bn → 79.8 %.
        #expect(Money.percent(53_810_000_000, of: 67_430_000_000) == "79.8 %")
    }

    @Test(arguments: [
        (Int64(0), "0.00"), (1_000_000_000, "1.00"), (1_005_000_000, "1.01"), (-1_005_000_000, "-1.01"),
        (Int64.max, "9223372036.85"),
    ])
    func billionsRoundHalfAwayFromZero(amount: Int64, expected: String) {
        #expect(Money.billions(amount) == expected)
    }

    @Test func percentOfZeroIsADash() {
        #expect(Money.percent(5, of: 0) == "-")
    }
}

@Suite struct InputParsingTests {
    @Test(
        arguments: [
            ("1500000000", 1_500_000_000 as Int64?, ""), ("1_500_000", 1_500_000, ""), ("-250000", -250_000, ""), (" 42 ", 42, ""),
            ("1.500.000.000", nil, "thousand separators"), ("1,500,000,000", nil, "thousand separators"), ("1 500 000", nil, "thousand separators"),
            ("1.5", nil, "decimal part"), ("1,5", nil, "decimal part"), ("12abc", nil, "not a whole number"), ("", nil, "no amount"),
            ("99999999999999999999", nil, "too large"), ("٣", nil, "not a whole number"),
        ] as [(String, Int64?, String)])
    func amounts(text: String, value: Int64?, problem: String) {
        switch Money.parse(text) {
        case .success(let v): #expect(v == value, "\(text)")
        case .failure(let e): #expect(value == nil && e.message.contains(problem), "\(text): \(e.message)")
        }
    }

    @Test func dates() throws {
        #expect(try CalendarDate.parse("2025-09-30").get() == "2025-09-30")
        for dayFirst in ["30/09/2025", "30-09-2025", "30.9.2025"] {
            guard case .failure(let e) = CalendarDate.parse(dayFirst) else {
                Issue.record("\(dayFirst) accepted")
                continue
            }
            #expect(e.message.contains("day/month/year") && e.hint == "Write it year first: 2025-09-30.")
        }
        guard case .failure(let e) = CalendarDate.parse("2025-02-30") else {
            Issue.record("30 February accepted")
            return
        }
        #expect(e.message == "'2025-02-30' is not a date")
        #expect(CalendarDate.vietnamDate(milliseconds: 1_759_251_600_000) == "2025-10-01")  // 2025-09-30T17:00Z is midnight in Hà Nội
        #expect(CalendarDate.vietnamDate(milliseconds: 1_759_251_599_999) == "2025-09-30")
        #expect(CalendarDate.vietnamDate(milliseconds: 951_782_400_000) == "2000-02-29")
    }

    /// Reports show a retired province's figures under its successor and accept its old code as a
    /// filter; JSON has numbers as numbers.
    @Test func reportsFoldRetiredProvincesIntoTheirSuccessor() throws {
        let plans = [
            PlanFact(province: "79", year: 2025, fund: .local, amount: 3_000_000_000),
            PlanFact(province: "77", year: 2025, fund: .local, amount: 1_000_000_000),
        ]
        let paid = [DisbursedFact(province: "77", year: 2025, fund: .local, group: 1, paidOn: "2025-05-01", amount: 592_000_000)]
        var query = try ProgressReport.query(year: 2025, cutoff: nil, region: nil, province: "77", fund: nil, by: "province")
        let rows = ProgressReport.compute(plans: plans, disbursed: paid, query: query)
        #expect(rows.map { $0.keys["province"] } == ["79", nil])
        #expect(rows[0].plan == 4_000_000_000 && rows[0].percent == "14.8 %")
        query.province = nil
        let json = ProgressReport.render(plans: plans, disbursed: paid, query: query, format: .json, fractionDigits: 1)
        #expect(json.contains("\"percent\" : 14.8") && !json.contains("\"14.8 %\""), "\(json)")
    }
}

@Suite struct ConflictDescriptionTests {
    /// The text people read, pinned line by line.
    /// Figures summed over many rows are held at the bounds of Int64, never wrapped or trapped: a
    /// report (or a page of the dashboard) that added them with `+` stopped the process showing it.
    @Test func sumsOverManyRowsStopAtTheBoundsInsteadOfStoppingTheProgram() {
        #expect(Money.sum(.max - 1, 5) == .max)
        #expect(Money.sum(.min + 1, -5) == .min)
        #expect(Money.sum(40, -2) == 38)
        let huge = Int64.max / 2 + 1
        let plans = [PlanFact(province: "79", year: 2025, fund: .local, amount: huge), PlanFact(province: "80", year: 2025, fund: .local, amount: huge)]
        let paid = (0..<3).map { _ in DisbursedFact(province: "79", year: 2025, fund: .local, group: 1, paidOn: "2025-05-01", amount: huge) }
        let rows = ProgressReport.compute(plans: plans, disbursed: paid, query: ReportQuery(year: 2025, groupBy: [.province]))
        #expect(rows.last?.plan == .max && rows.last?.disbursed == .max)
        #expect(rows.first { $0.keys["province"] == "79" }?.disbursed == .max)
    }

    @Test func aHeldPaymentReadsInBusinessTerms() {
        let d = ConflictDescription(
            id: "1a2b3c4d5e6f", rule: "over_disbursement",
            record: ConflictDescription.record(
                table: "disbursement", kind: "payment", voucher: "KB-2", projectCode: "QG-01", planYear: nil,
                planFund: nil, programCode: nil),
            office: "79", writer: "79", hlc: "0019965ef5dd0-0000-79", message: "past the limit",
            mine: ["amount": .integer(250_000_000), "kind": .text("payment")],
            theirs: ["limit": .integer(500_000_000), "disbursed_before": .integer(350_000_000)], state: "open", fund: .national)
        #expect(
            d.lines == [
                "conflict 1a2b3c4d5e6f",
                "  rule:      over_disbursement",
                "  record:    payment (voucher KB-2) of project QG-01 (office 79)",
                "  by:        office 79 at 2025-09-20 14:03 (giờ Việt Nam)",
                "  why:       past the limit",
                "  state:     open; anyone may keep theirs, the centre may keep mine",
                "  field             mine (the losing change)  theirs (what stands)",
                "  amount            250.000.000 VND           -",
                "  disbursed_before  -                         350.000.000 VND",
                "  kind              payment                   -",
                "  limit             -                         500.000.000 VND",
            ])
        #expect(Money.vnd(-1_000) == "-1.000 VND" && Money.vnd(999) == "999 VND")
    }
}
