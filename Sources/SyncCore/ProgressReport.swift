import Foundation

/// A planned amount of a province for a year and fund source.
public struct PlanFact: Sendable, Equatable {
    /// The province's code, e.g. `79`; a former province's figures count under its successor.
    public var province: String
    /// The plan year.
    public var year: Int
    /// The fund source the plan is for.
    public var fund: FundSource
    /// The planned amount in VND.
    public var amount: Int64

    /// Creates a plan fact from its parts; the amount is VND.
    public init(province: String, year: Int, fund: FundSource, amount: Int64) {
        self.province = province
        self.year = year
        self.fund = fund
        self.amount = amount
    }
}

/// A disbursed amount of a province for a year, fund source, reporting group and payment date.
public struct DisbursedFact: Sendable, Equatable {
    /// The province's code, e.g. `79`; a former province's figures count under its successor.
    public var province: String
    /// The plan year of the projects paid, not the year of the payment.
    public var year: Int
    /// The fund source of the projects paid.
    public var fund: FundSource
    /// The reporting group (1–6) of the projects' activity category; 0 when the category is unknown.
    public var group: Int
    /// `YYYY-MM-DD`.
    public var paidOn: String
    /// The net amount in VND paid that day: recoveries subtract, so it may be negative.
    public var amount: Int64

    /// Creates a disbursed fact from its parts; the amount is VND.
    public init(province: String, year: Int, fund: FundSource, group: Int, paidOn: String, amount: Int64) {
        self.province = province
        self.year = year
        self.fund = fund
        self.group = group
        self.paidOn = paidOn
        self.amount = amount
    }
}

/// What a report breaks down by.
public enum ReportDimension: String, CaseIterable, Codable, Sendable {
    case region
    case province
    case fund
    case group
}

/// Which figures a report covers.
public struct ReportQuery: Sendable, Equatable {
    /// The plan year reported on.
    public var year: Int
    /// Payments made on or before this date (`YYYY-MM-DD`) count; nil counts all.
    public var cutoff: String?
    /// Only the provinces of this region; nil counts every region.
    public var region: Region?
    /// Only this province in force (a former province's figures count under it); nil counts every province.
    public var province: String?
    /// Only this fund source; nil counts both.
    public var fund: FundSource?
    /// The dimensions to break down by, in column order; empty for the total row alone.
    public var groupBy: [ReportDimension]

    /// A query for `year`; the defaults count everything in one total row.
    public init(
        year: Int, cutoff: String? = nil, region: Region? = nil, province: String? = nil, fund: FundSource? = nil,
        groupBy: [ReportDimension] = []
    ) {
        self.year = year
        self.cutoff = cutoff
        self.region = region
        self.province = province
        self.fund = fund
        self.groupBy = groupBy
    }
}

/// One line of a plan-versus-disbursed report. Amounts are whole VND; the text forms are rounded.
public struct ReportRow: Sendable, Equatable, Codable {
    /// The values of the breakdown dimensions (`region`, `province`, `fund`, `group`), or `total`.
    public var keys: [String: String]
    /// nil when the breakdown has no plan (plans are not split by reporting group).
    public var plan: Int64?
    /// Disbursed in whole VND, net of recoveries.
    public var disbursed: Int64
    /// The plan in billions of VND, rounded to the report's decimals; nil when ``plan`` is.
    public var planBillions: String?
    /// Disbursed in billions of VND, rounded to the report's decimals.
    public var disbursedBillions: String
    /// Disbursed as a share of plan, from the unrounded amounts.
    public var percent: String?
}

/// Plan versus disbursed, computed from the rows, never typed in.
public enum ProgressReport {
    /// The rows of the breakdown in key order, then a total row.
    public static func compute(plans: [PlanFact], disbursed: [DisbursedFact], query: ReportQuery, fractionDigits: Int = 1) -> [ReportRow] {
        func regionOf(_ province: String) -> Region? {
            ReferenceData.province(code: ReferenceData.provinceInForce(province))?.region
        }
        func matches(province: String, year: Int, fund: FundSource) -> Bool {
            year == query.year && (query.province == nil || query.province == ReferenceData.provinceInForce(province))
                && (query.fund == nil || query.fund == fund) && (query.region == nil || regionOf(province) == query.region)
        }
        func key(province: String, fund: FundSource, group: Int?) -> [String: String] {
            var k: [String: String] = [:]
            for d in query.groupBy {
                switch d {
                case .region: k["region"] = regionOf(province)?.rawValue ?? "unknown"
                // A retired province's figures show under its successor (they report there).
                case .province: k["province"] = ReferenceData.provinceInForce(province)
                case .fund: k["fund"] = fund.rawValue
                case .group: k["group"] = group.map(String.init) ?? "-"
                }
            }
            return k
        }
        let byGroup = query.groupBy.contains(.group)
        var planSums: [[String: String]: Int64] = [:]
        var paidSums: [[String: String]: Int64] = [:]
        var totalPlan: Int64 = 0
        var totalPaid: Int64 = 0
        for p in plans where matches(province: p.province, year: p.year, fund: p.fund) {
            totalPlan = Money.sum(totalPlan, p.amount)
            if !byGroup {
                let k = key(province: p.province, fund: p.fund, group: nil)
                planSums[k] = Money.sum(planSums[k] ?? 0, p.amount)
            }
        }
        for d in disbursed where matches(province: d.province, year: d.year, fund: d.fund) && (query.cutoff.map { d.paidOn <= $0 } ?? true) {
            totalPaid = Money.sum(totalPaid, d.amount)
            let k = key(province: d.province, fund: d.fund, group: d.group)
            paidSums[k] = Money.sum(paidSums[k] ?? 0, d.amount)
        }
        func row(_ keys: [String: String], plan: Int64?, paid: Int64) -> ReportRow {
            ReportRow(
                keys: keys, plan: plan, disbursed: paid,
                planBillions: plan.map { Money.billions($0, fractionDigits: fractionDigits) },
                disbursedBillions: Money.billions(paid, fractionDigits: fractionDigits),
                percent: plan.flatMap { $0 > 0 ? Money.percent(paid, of: $0, fractionDigits: 1) : nil })
        }
        var rows: [ReportRow] = []
        if !query.groupBy.isEmpty {
            let keys = Set(planSums.keys).union(paidSums.keys).sorted { a, b in
                query.groupBy.map { a[$0.rawValue] ?? "" }.lexicographicallyPrecedes(query.groupBy.map { b[$0.rawValue] ?? "" })
            }
            for k in keys { rows.append(row(k, plan: byGroup ? nil : (planSums[k] ?? 0), paid: paidSums[k] ?? 0)) }
        }
        rows.append(row(["total": "total"], plan: totalPlan, paid: totalPaid))
        return rows
    }

    /// A text table for people, with the rounding stated.
    public static func table(_ rows: [ReportRow], query: ReportQuery, fractionDigits: Int = 1) -> String {
        let dims = query.groupBy.map(\.rawValue)
        var header = dims + ["plan (bn VND)", "disbursed (bn VND)", "%"]
        if dims.isEmpty { header.insert("", at: 0) }
        var lines: [[String]] = [header]
        for r in rows {
            var cells = r.keys["total"] != nil ? (["TOTAL"] + Array(repeating: "", count: max(0, dims.count - 1))) : dims.map { r.keys[$0] ?? "" }
            if dims.isEmpty { cells = ["TOTAL"] }
            cells += [r.planBillions ?? "-", r.disbursedBillions, r.percent ?? "-"]
            lines.append(cells)
        }
        let widths = (0..<header.count).map { i in lines.map { $0[i].count }.max() ?? 0 }
        var out = lines.map { cells in
            cells.enumerated().map { i, c in
                i < cells.count - 3
                    ? c.padding(toLength: widths[i], withPad: " ", startingAt: 0)
                    : String(repeating: " ", count: widths[i] - c.count) + c
            }.joined(separator: "  ")
        }
        var scope = "year \(query.year)"
        if let cutoff = query.cutoff { scope += ", paid by \(cutoff)" }
        if let region = query.region { scope += ", region \(region.displayName)" }
        if let province = query.province { scope += ", province \(province)" }
        if let fund = query.fund { scope += ", \(fund.rawValue) fund" }
        out.insert("Plan versus disbursed — \(scope)", at: 0)
        out.append("Amounts in billions of VND (tỷ đồng), rounded half away from zero to \(fractionDigits) decimal(s); percentages from the unrounded amounts.")
        return out.joined(separator: "\n")
    }

    /// CSV with whole VND amounts (no rounding) and the rounded forms.
    public static func csv(_ rows: [ReportRow], query: ReportQuery) -> String {
        let dims = query.groupBy.map(\.rawValue)
        var out = [(dims + ["plan_vnd", "disbursed_vnd", "plan_bn", "disbursed_bn", "percent"]).joined(separator: ",")]
        for r in rows {
            let keys = r.keys["total"] != nil ? dims.map { _ in "TOTAL" } : dims.map { r.keys[$0] ?? "" }
            out.append(
                (keys + [
                    r.plan.map(String.init) ?? "", String(r.disbursed), r.planBillions ?? "", r.disbursedBillions,
                    r.percent?.replacingOccurrences(of: " %", with: "") ?? "",
                ]).joined(separator: ","))
        }
        return out.joined(separator: "\n")
    }
}

/// How a report is printed.
public enum ReportFormat: String, CaseIterable, Sendable {
    case table
    case csv
    case json
}

extension ProgressReport {
    /// Builds the query from command-line words, with errors that say what is expected.
    public static func query(year: Int, cutoff: String?, region: String?, province: String?, fund: String?, by: String?) throws(SyncCoreError) -> ReportQuery {
        var q = ReportQuery(year: year)
        if let cutoff {
            guard CalendarDate.isValid(cutoff) else {
                throw SyncCoreError(.invalidValue, "cut-off '\(cutoff)' is not a date", hint: "Write it as YYYY-MM-DD, e.g. 2025-09-30.")
            }
            q.cutoff = cutoff
        }
        if let region {
            guard let r = Region(rawValue: region) else {
                throw SyncCoreError(.invalidValue, "unknown region '\(region)'", hint: "Use north, central_highlands or south.")
            }
            q.region = r
        }
        if let province {
            guard ReferenceData.isKnownProvince(province) else {
                throw SyncCoreError(.invalidValue, "unknown province '\(province)'", hint: "Use a code of Decision 19/2025, e.g. 79, or a former province's.")
            }
            // A former province's code selects the province it merged into, where its figures report.
            q.province = ReferenceData.provinceInForce(province)
        }
        if let fund {
            guard let f = FundSource(rawValue: fund) else { throw SyncCoreError(.invalidValue, "unknown fund '\(fund)'", hint: "Use national or local.") }
            q.fund = f
        }
        for word in (by ?? "").split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !word.isEmpty {
            guard let d = ReportDimension(rawValue: word) else {
                throw SyncCoreError(.invalidValue, "cannot break down by '\(word)'", hint: "Use region, province, fund or group, separated by commas.")
            }
            q.groupBy.append(d)
        }
        return q
    }

    /// The report in the chosen format.
    public static func render(plans: [PlanFact], disbursed: [DisbursedFact], query: ReportQuery, format: ReportFormat, fractionDigits: Int) -> String {
        let rows = compute(plans: plans, disbursed: disbursed, query: query, fractionDigits: fractionDigits)
        switch format {
        case .table: return table(rows, query: query, fractionDigits: fractionDigits)
        case .csv: return csv(rows, query: query)
        case .json:
            // Numbers as numbers: amounts in VND, the share as a percentage with one decimal.
            struct JSONRow: Encodable {
                let keys: [String: String], plan: Int64?, disbursed: Int64, planBillions: String?, disbursedBillions: String, percent: Decimal?
            }
            let out = rows.map {
                JSONRow(
                    keys: $0.keys, plan: $0.plan, disbursed: $0.disbursed, planBillions: $0.planBillions, disbursedBillions: $0.disbursedBillions,
                    percent: $0.percent.flatMap { Decimal(string: $0.replacingOccurrences(of: " %", with: "")) })
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            return String(decoding: (try? encoder.encode(out)) ?? Data(), as: UTF8.self)
        }
    }
}
