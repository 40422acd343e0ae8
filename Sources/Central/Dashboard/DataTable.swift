import CSVFormat
import Foundation
import SyncCore

/// One table of a dashboard page, defined once and rendered twice: as HTML for people and as
/// CSV for a spreadsheet (escaped as the office's export is: text cells protected from formulas,
/// amounts in whole VND).
struct DataTable: Sendable {
    enum Cell: Sendable {
        case text(String)
        /// Text that links to another dashboard page (the href is built by the page, never from input unescaped).
        case link(String, href: String)
        case integer(Int64)
        /// An amount in VND: tỷ đồng on the page (rounded as the reports are), whole VND in the CSV.
        case billions(Int64)
        case empty
    }

    /// The CSV's file name (without `.csv`) and the query that brings it.
    var name: String
    var caption: String
    /// Column headings on the page, and the CSV's header (machine names).
    var columns: [(label: String, csv: String)]
    var rows: [[Cell]] = []
    /// A CSS class per row (health colours), when the table has them.
    var rowClasses: [String?] = []
    /// Figures rounded for people: how many decimals of tỷ đồng.
    var fractionDigits = 1

    mutating func append(_ row: [Cell], class rowClass: String? = nil) {
        rows.append(row)
        rowClasses.append(rowClass)
    }

    func html(csvHref: String?) -> String {
        var out = "<table>\n<caption>\(HTML.escape(caption))"
        if let csvHref { out += " <a class=\"csv\" href=\"\(HTML.escape(csvHref))\">CSV</a>" }
        out += "</caption>\n<thead><tr>"
        for column in columns { out += "<th scope=\"col\">\(HTML.escape(column.label))</th>" }
        out += "</tr></thead>\n<tbody>\n"
        for (i, row) in rows.enumerated() {
            let rowClass = i < rowClasses.count ? rowClasses[i] : nil
            out += rowClass.map { "<tr class=\"\(HTML.escape($0))\">" } ?? "<tr>"
            for cell in row {
                switch cell {
                case .text(let text): out += "<td>\(HTML.escape(text))</td>"
                case .link(let text, let href): out += "<td><a href=\"\(HTML.escape(href))\">\(HTML.escape(text))</a></td>"
                case .integer(let n): out += "<td class=\"num\">\(n)</td>"
                case .billions(let amount): out += "<td class=\"num\">\(Money.billions(amount, fractionDigits: fractionDigits))</td>"
                case .empty: out += "<td></td>"
                }
            }
            out += "</tr>\n"
        }
        if rows.isEmpty { out += "<tr><td colspan=\"\(columns.count)\">Không có dữ liệu.</td></tr>\n" }
        return out + "</tbody>\n</table>\n"
    }

    func csv() -> String {
        var out = CSV.line(columns.map(\.csv)) + "\r\n"
        for row in rows {
            out +=
                CSV.line(
                    row.map { cell -> CSV.Cell in
                        switch cell {
                        case .text(let text), .link(let text, _): .text(text)
                        case .integer(let n), .billions(let n): .integer(n)
                        case .empty: .empty
                        }
                    }) + "\r\n"
        }
        return out
    }
}

/// HTML text made safe: every character that could open markup or end an attribute is escaped.
enum HTML {
    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for c in text.unicodeScalars {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }

    /// A query string component, percent-encoded.
    static func query(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? ""
    }

    /// The page around a body: the navigation, the signed-in user with a logout form (CSRF), and
    /// the styles inline (no external assets: office and ministry networks are closed).
    static func page(title: String, user: DashboardSession?, current: String, body: String) -> String {
        var nav = ""
        if let user {
            let links = [
                ("fleet", "Đồng bộ", "/dashboard/fleet"), ("progress", "Tiến độ giải ngân", "/dashboard/progress"),
                ("conflicts", "Xung đột", "/dashboard/conflicts"),
            ]
            nav =
                "<nav>"
                + links.map { id, label, href in
                    "<a href=\"\(href)\"\(id == current ? " aria-current=\"page\"" : "")>\(escape(label))</a>"
                }.joined(separator: " ")
                + "<form method=\"post\" action=\"/dashboard/logout\"><input type=\"hidden\" name=\"csrf\" value=\"\(escape(user.csrf))\">"
                + "<span class=\"user\">\(escape(user.user))</span> <button type=\"submit\">Đăng xuất</button></form></nav>\n"
        }
        return """
            <!DOCTYPE html>
            <html lang="vi">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(escape(title)) — promo-central</title>
            <style>
            body{font-family:"DejaVu Sans",Arial,sans-serif;margin:0 1.5em 2em;color:#1b1b1b;font-size:15px}
            header{border-bottom:3px solid #b71c1c;padding:.6em 0;margin-bottom:1em}
            header strong{color:#b71c1c;font-size:1.2em}
            nav{display:flex;gap:1.2em;align-items:center;margin-top:.4em;flex-wrap:wrap}
            nav a{color:#0d47a1;text-decoration:none}nav a[aria-current]{font-weight:bold;text-decoration:underline}
            nav form{margin-left:auto}
            table{border-collapse:collapse;margin:1em 0 2em;min-width:50%}
            caption{text-align:left;font-weight:bold;padding:.3em 0}
            caption a.csv{font-weight:normal;font-size:.85em;margin-left:1em}
            th,td{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}
            th{background:#eee}td.num{text-align:right;font-variant-numeric:tabular-nums}
            tr.ok td:first-child{border-left:8px solid #2e7d32}
            tr.degraded td:first-child{border-left:8px solid #f9a825}tr.degraded{background:#fff8e1}
            tr.broken td:first-child{border-left:8px solid #c62828}tr.broken{background:#ffebee}
            tr.inactive{color:#777}
            p.degraded{border-left:8px solid #f9a825;background:#fff8e1;padding:.3em .6em}
            .health{font-weight:bold}
            .summary{font-size:1.1em;margin:.5em 0}
            form.filter{margin:.5em 0 1em}form.filter label{margin-right:1em}
            .error{color:#c62828;font-weight:bold}
            svg text{font-size:12px;font-family:inherit}
            </style>
            </head>
            <body>
            <header><strong>promo-central</strong> · Khuyến công — Bảng điều khiển
            \(nav)</header>
            <main>
            <h1>\(escape(title))</h1>
            \(body)
            </main>
            </body>
            </html>

            """
    }
}
