import Foundation
import SyncCore
import WireFormat

/// The dashboard's pages as data: each builds its tables from the store (the same reads and the
/// same report code as the command line), and renders them as HTML or one of them as CSV.
struct DashboardPages: Sendable {
    let store: CentralStore
    let silentAfter: TimeInterval

    struct Page {
        var title: String
        var current: String
        /// HTML before and between the tables (filters, summaries, charts), already escaped.
        var intro = ""
        var tables: [DataTable] = []
        var outro = ""
    }

    // MARK: Fleet

    func fleet(now: Date = Date(), record: RecordState? = nil) throws(CentralError) -> Page {
        let entries = try store.fleet()
        let judged = entries.map { ($0, FleetHealth.evaluate($0, epoch: store.epoch, now: now, silentAfter: silentAfter)) }
        // Silent and failing offices first, then by how long since they were last seen.
        let ordered = judged.sorted { a, b in
            let (ra, rb) = (a.1.sortRank, b.1.sortRank)
            if ra != rb { return ra < rb }
            return (a.0.seenAt ?? "", a.0.office.rawValue) < (b.0.seenAt ?? "", b.0.office.rawValue)
        }
        var table = DataTable(
            name: "fleet", caption: "Các văn phòng (\(entries.count))",
            columns: [
                ("Văn phòng", "office"), ("Tên", "name"), ("Tình trạng", "health"), ("Lý do", "reasons"), ("Phiên bản", "software"),
                ("Giao thức", "protocol"), ("Lần đẩy cuối", "last_push_at"), ("Lần kéo cuối", "last_pull_at"),
                ("Thay đổi chờ", "pending_changes"), ("Chờ từ", "pending_since"), ("Xung đột mở", "open_conflicts"),
                ("Kiểm tra cuối", "last_verify"), ("Epoch", "epoch_agrees"), ("Dữ liệu hôm nay (byte)", "bytes_today"),
            ])
        let today = String(Timestamps.format(now).prefix(10))
        for (entry, health) in ordered {
            let report = entry.report
            let epochCell: DataTable.Cell =
                report?.epoch.map { .text($0 == store.epoch.rawValue ? "khớp (agrees)" : "KHÁC (differs): \($0)") } ?? .text("chưa báo (not reported)")
            table.append(
                [
                    .text(entry.office.rawValue), .text(ReferenceData.province(code: entry.office.rawValue)?.name ?? ""),
                    .text(health.label), .text(health.reasons.joined(separator: "; ")),
                    .text(entry.software ?? (entry.seenAt == nil ? "-" : "trước 1.1.0")), entry.protocolVersion.map { .integer(Int64($0)) } ?? .empty,
                    .text(Self.local(entry.lastPushAt)), .text(Self.local(entry.lastPullAt ?? entry.seenAt)),
                    report.map { .integer(Int64($0.pendingChanges)) } ?? .empty,
                    .text(report?.pendingSince.map { Self.local(Timestamps.format($0)) } ?? ""),
                    report.map { .integer(Int64($0.openConflicts)) } ?? .empty,
                    .text(
                        report.map { r in r.verifiedAt.map { "\(Self.local(Timestamps.format($0))): \(r.verifyResult ?? "?")" } ?? "chưa (never)" }
                            ?? "chưa báo (not reported)"),
                    epochCell, .integer(entry.bytesDay == today ? entry.bytes : 0),
                ], class: health.cssClass)
        }
        let counts = Dictionary(grouping: judged, by: { $0.1.cssClass }).mapValues(\.count)
        let intro =
            "<p class=\"summary\">Tốt: \(counts["ok"] ?? 0) · Chậm: \(counts["degraded"] ?? 0) · Lỗi: \(counts["broken"] ?? 0)"
            + " · Ngừng: \(counts["inactive"] ?? 0). Trung tâm: promo-central \(HTML.escape(SoftwareVersion.current)), epoch \(HTML.escape(store.epoch.rawValue)).</p>\n"
            + "<p>Một văn phòng không kéo dữ liệu quá \(FleetHealth.duration(silentAfter)) được coi là chậm; tình trạng còn lại là điều văn phòng tự báo"
            + " theo các quy tắc của <code>promo-sync status</code>. Giờ Việt Nam (UTC+7).</p>\n"
        return Page(title: "Đồng bộ các văn phòng", current: "fleet", intro: intro + (try record.map(recordLine) ?? ""), tables: [table])
    }

    /// Where the durable record stands against the store: a record that falls behind holds
    /// acknowledgements back (its alert is PromoCentralRecordStale).
    func recordLine(_ record: RecordState) throws(CentralError) -> String {
        let store = try self.store.logMark()
        let behind = max(0, store.logPosition - record.held.logPosition)
        let held = record.heldAt.map { Self.local(Timestamps.format($0)) } ?? "chưa (not yet)"
        return "<p class=\"\(behind > 0 ? "degraded" : "summary")\">Bản ghi bền (durable record): \(HTML.escape(record.summary)). "
            + "Giữ đến vị trí \(record.held.logPosition) của nhật ký (kho ở \(store.logPosition), chậm \(behind)); cập nhật cuối: \(HTML.escape(held)).</p>\n"
    }

    /// A stored UTC timestamp in Vietnam's time, to the minute.
    static func local(_ stored: String?) -> String {
        guard let date = Timestamps.parse(stored) else { return "" }
        return CalendarDate.vietnamDateTime(milliseconds: UInt64(max(0, date.timeIntervalSince1970 * 1000)))
    }

    // MARK: Progress

    struct ProgressFilter: Sendable, Equatable {
        var year: Int
        var cutoff: String?
        var region: Region?

        var queryString: String {
            var items = ["year=\(year)"]
            if let cutoff { items.append("cutoff=\(HTML.query(cutoff))") }
            if let region { items.append("region=\(region.rawValue)") }
            return items.joined(separator: "&")
        }
    }

    /// The caller brings the totals up to date first (``TotalsRefresher/upToDate()``, their one writer).
    func progress(_ filter: ProgressFilter) throws(CentralError) -> Page {
        let facts = try store.reportFacts()
        func report(_ by: [ReportDimension]) -> [ReportRow] {
            ProgressReport.compute(
                plans: facts.plans, disbursed: facts.disbursed,
                query: ReportQuery(year: filter.year, cutoff: filter.cutoff, region: filter.region, groupBy: by))
        }
        let billions: (Int64?) -> DataTable.Cell = { $0.map(DataTable.Cell.billions) ?? .empty }
        let amountColumns: [(label: String, csv: String)] = [
            ("Kế hoạch (tỷ đồng)", "plan_vnd"), ("Đã giải ngân (tỷ đồng)", "disbursed_vnd"), ("Tỷ lệ", "percent"),
        ]
        var byRegion = DataTable(name: "progress-region", caption: "Theo vùng", columns: [("Vùng", "region")] + amountColumns)
        var byProvince = DataTable(
            name: "progress-province", caption: "Theo tỉnh, thành phố",
            columns: [("Mã", "province"), ("Tỉnh, thành phố", "name"), ("Vùng", "region")] + amountColumns)
        var byFund = DataTable(name: "progress-fund", caption: "Theo nguồn vốn", columns: [("Nguồn vốn", "fund")] + amountColumns)
        let provinceRows = report([.province])
        let total = provinceRows.last!
        for row in report([.region]) where row.keys["total"] == nil {
            byRegion.append([
                .text(Region(rawValue: row.keys["region"] ?? "").map(Self.regionName) ?? "?"), billions(row.plan), .billions(row.disbursed),
                .text(row.percent ?? ""),
            ])
        }
        for row in provinceRows where row.keys["total"] == nil {
            let code = row.keys["province"] ?? "?"
            let province = ReferenceData.province(code: code)
            byProvince.append([
                .link(code, href: "/dashboard/province/\(HTML.query(code))?\(filter.queryString)"), .text(province?.name ?? ""),
                .text(province.map { Self.regionName($0.region) } ?? ""), billions(row.plan), .billions(row.disbursed), .text(row.percent ?? ""),
            ])
        }
        for row in report([.fund]) where row.keys["total"] == nil {
            byFund.append([.text(Self.fundName(row.keys["fund"] ?? "")), billions(row.plan), .billions(row.disbursed), .text(row.percent ?? "")])
        }
        let totalRow: [DataTable.Cell] = [billions(total.plan), .billions(total.disbursed), .text(total.percent ?? "")]
        byRegion.append([.text("Tổng cộng")] + totalRow, class: "total")
        byProvince.append([.text("Tổng cộng"), .empty, .empty] + totalRow, class: "total")
        byFund.append([.text("Tổng cộng")] + totalRow, class: "total")
        let scope = filter.region.map { "vùng \(Self.regionName($0))" } ?? "cả nước"
        let cutoff = filter.cutoff.map { "đến ngày \($0)" } ?? "đến nay"
        var intro = Self.progressForm(filter)
        intro +=
            "<p class=\"summary\" id=\"progress-total\">Năm \(filter.year), \(HTML.escape(scope)), giải ngân \(HTML.escape(cutoff)): kế hoạch "
            + "<strong data-figure=\"plan\">\(HTML.escape(total.planBillions ?? "0"))</strong> tỷ đồng, đã giải ngân "
            + "<strong data-figure=\"disbursed\">\(HTML.escape(total.disbursedBillions))</strong> tỷ đồng "
            + "(<strong data-figure=\"percent\">\(HTML.escape(total.percent ?? "-"))</strong>).</p>\n"
            + "<p>Số tiền tính bằng tỷ đồng, làm tròn nửa lên tới 1 chữ số thập phân; tỷ lệ tính từ số chưa làm tròn.</p>\n"
        intro += Self.barChart(provinceRows.filter { $0.keys["total"] == nil })
        return Page(title: "Tiến độ giải ngân", current: "progress", intro: intro, tables: [byRegion, byProvince, byFund])
    }

    static func progressForm(_ filter: ProgressFilter) -> String {
        var regions = "<option value=\"\">Cả nước</option>"
        for region in Region.allCases {
            regions += "<option value=\"\(region.rawValue)\"\(filter.region == region ? " selected" : "")>\(HTML.escape(regionName(region)))</option>"
        }
        return """
            <form class="filter" method="get" action="/dashboard/progress">
            <label>Năm <input name="year" type="number" min="2000" max="2100" value="\(filter.year)"></label>
            <label>Đến ngày <input name="cutoff" type="date" value="\(HTML.escape(filter.cutoff ?? ""))"></label>
            <label>Vùng <select name="region">\(regions)</select></label>
            <button type="submit">Xem</button>
            </form>

            """
    }

    /// Plan and disbursed of each province as horizontal bars, drawn as inline SVG (no script, no
    /// external asset); the widths are proportional to the largest plan.
    static func barChart(_ rows: [ReportRow]) -> String {
        guard !rows.isEmpty else { return "" }
        let largest = max(1, rows.map { max($0.plan ?? 0, $0.disbursed) }.max() ?? 1)
        let barWidth = 520.0
        let rowHeight = 34
        var svg =
            "<svg role=\"img\" aria-label=\"Kế hoạch và giải ngân theo tỉnh\" width=\"820\" height=\"\(rows.count * rowHeight + 30)\" xmlns=\"http://www.w3.org/2000/svg\">\n"
        svg += "<rect x=\"150\" y=\"4\" width=\"12\" height=\"10\" fill=\"#90a4ae\"/><text x=\"166\" y=\"13\">Kế hoạch</text>"
        svg += "<rect x=\"240\" y=\"4\" width=\"12\" height=\"10\" fill=\"#c62828\"/><text x=\"256\" y=\"13\">Đã giải ngân</text>\n"
        for (i, row) in rows.enumerated() {
            let y = 24 + i * rowHeight
            let code = row.keys["province"] ?? "?"
            let name = ReferenceData.province(code: code)?.name ?? code
            let plan = Double(row.plan ?? 0) / Double(largest) * barWidth
            let paid = Double(row.disbursed) / Double(largest) * barWidth
            svg += "<text x=\"0\" y=\"\(y + 13)\">\(HTML.escape(String(name.prefix(20))))</text>"
            svg += "<rect x=\"150\" y=\"\(y)\" width=\"\(String(format: "%.1f", plan))\" height=\"13\" fill=\"#90a4ae\"/>"
            svg += "<rect x=\"150\" y=\"\(y + 15)\" width=\"\(String(format: "%.1f", paid))\" height=\"13\" fill=\"#c62828\"/>"
            svg +=
                "<text x=\"\(150 + Int(max(plan, paid)) + 6)\" y=\"\(y + 20)\">\(HTML.escape(row.disbursedBillions)) / \(HTML.escape(row.planBillions ?? "0")) tỷ (\(HTML.escape(row.percent ?? "-")))</text>\n"
        }
        return svg + "</svg>\n"
    }

    static func regionName(_ region: Region) -> String {
        switch region {
        case .north: "Miền Bắc"
        case .centralHighlands: "Miền Trung – Tây Nguyên"
        case .south: "Miền Nam"
        }
    }

    static func fundName(_ fund: String) -> String {
        switch FundSource(rawValue: fund) {
        case .national?: "Khuyến công quốc gia"
        case .local?: "Khuyến công địa phương"
        case nil: fund
        }
    }

    // MARK: A province's projects

    func province(_ code: String, filter: ProgressFilter) throws(CentralError) -> Page {
        let projects = try store.provinceProjects(province: code, year: filter.year)
        let name = ReferenceData.province(code: code)?.name ?? code
        var list = DataTable(
            name: "province-\(code)-projects", caption: "Đề án năm \(filter.year)",
            columns: [
                ("Mã đề án", "code"), ("Tên", "name"), ("Văn phòng", "office"), ("Nguồn vốn", "fund"), ("Trạng thái", "status"),
                ("Hỗ trợ được duyệt (tỷ đồng)", "approved_support_vnd"), ("Đã giải ngân (tỷ đồng)", "disbursed_vnd"),
            ])
        list.fractionDigits = 2
        var ledger = DataTable(
            name: "province-\(code)-ledger", caption: "Sổ giải ngân",
            columns: [
                ("Mã đề án", "project"), ("Ngày", "paid_on"), ("Loại", "kind"), ("Số tiền (tỷ đồng)", "amount_vnd"), ("Chứng từ", "voucher"),
                ("Tính đến ngày lọc", "counted"),
            ])
        ledger.fractionDigits = 3
        for p in projects {
            list.append([
                .text(p.code), .text(p.name), .text(p.office), .text(Self.fundName(p.fund)), .text(p.status),
                p.approvedSupport.map(DataTable.Cell.billions) ?? .empty, .billions(p.disbursed(through: filter.cutoff)),
            ])
            for entry in p.ledger {
                let counted = entry.counts(through: filter.cutoff)
                let why = entry.held ? "không (giữ lại do xung đột)" : (counted ? "có" : "không (sau ngày lọc)")
                ledger.append(
                    [
                        .text(p.code), .text(entry.paidOn), .text(entry.kind.rawValue), .billions(LedgerRules.signed(entry.kind, entry.amount)),
                        .text(entry.voucher ?? ""), .text(why),
                    ], class: counted ? nil : "inactive")
            }
        }
        let intro =
            "<p><a href=\"/dashboard/progress?\(HTML.escape(filter.queryString))\">← Tiến độ giải ngân</a></p>\n"
            + "<p class=\"summary\">\(HTML.escape(name)) (\(HTML.escape(code))): \(projects.count) đề án năm \(filter.year)"
            + (filter.cutoff.map { ", giải ngân tính đến ngày \(HTML.escape($0))" } ?? "") + ".</p>\n"
        return Page(title: "Đề án của \(name)", current: "progress", intro: intro, tables: [list, ledger])
    }

    // MARK: Conflicts

    func conflicts() throws(CentralError) -> Page {
        let open = try store.conflicts()
        var table = DataTable(
            name: "conflicts", caption: "Xung đột đang mở (\(open.count))",
            columns: [
                ("Mã", "id"), ("Quy tắc", "rule"), ("Bản ghi", "record"), ("Văn phòng", "office"), ("Người ghi", "writer"), ("Thời điểm", "at"),
                ("Lý do", "message"), ("Giá trị thua (mine)", "mine"), ("Giá trị đang đứng (theirs)", "theirs"), ("Ai được giải quyết", "who_may_resolve"),
            ])
        for conflict in open {
            let d = conflict.description
            table.append([
                .text(String(d.id.prefix(8))), .text(d.rule), .text(d.record), .text(d.office), .text(d.writerName), .text(d.when),
                .text(d.message), .text(Self.values(d.mine)), .text(Self.values(d.theirs)), .text(d.whoMayResolve),
            ])
        }
        let intro =
            "<p>Mỗi xung đột là một thay đổi đã thua theo quy tắc; không mất gì: người có thẩm quyền chọn giữ giá trị nào"
            + " (<code>promo-central conflicts resolve</code> hoặc <code>promo-sync conflicts resolve</code> tại văn phòng).</p>\n"
        return Page(title: "Xung đột chờ giải quyết", current: "conflicts", intro: intro, tables: [table])
    }

    static func values(_ fields: [String: FieldValue]) -> String {
        fields.keys.sorted().map { key in
            switch fields[key]! {
            case .null: "\(key)=-"
            case .integer(let n) where ConflictDescription.isAmount(key): "\(key)=\(Money.vnd(n))"
            case .integer(let n): "\(key)=\(n)"
            case .text(let t): "\(key)=\(t)"
            }
        }.joined(separator: "; ")
    }
}
