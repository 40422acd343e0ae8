import Foundation
import Replica
import SyncAgent
import SyncCore
import SyncTesting
import Testing
import Transport
import WireFormat

@testable import Central

/// The dashboard over real HTTP (libcurl) against a live centre that offices sync with: the
/// login and its refusals, the figures of the reports, the fleet's health from what offices
/// report and from their silence, CSV downloads, escaping of what offices wrote, and logout.
/// The same pages in a real browser: scripts/dashboard-test.py (make dashboard-test).
@Suite struct DashboardTests {
    /// A browser's cookie jar, as far as these pages need one.
    struct Browser {
        var http = HTTPClient()
        let base: String
        var cookies: [String: String] = [:]

        mutating func send(_ method: String, _ path: String, form: [String: String]? = nil) async throws -> HTTPResponse {
            var headers: [(String, String)] = []
            if !cookies.isEmpty { headers.append(("Cookie", cookies.map { "\($0)=\($1)" }.sorted().joined(separator: "; "))) }
            var body: Data?
            if let form {
                headers.append(("Content-Type", "application/x-www-form-urlencoded"))
                body = Data(form.map { "\($0)=\($1.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")" }.joined(separator: "&").utf8)
            }
            let response = try await http.send(HTTPRequest(method: method, url: base + path, headers: headers, body: body))
            if let setCookie = response.headers["set-cookie"], let pair = setCookie.split(separator: ";").first {
                let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
                if parts.count == 2 { cookies[parts[0]] = parts[1].isEmpty ? nil : parts[1] }
            }
            return response
        }

        static func text(_ response: HTTPResponse) -> String { String(decoding: response.body, as: UTF8.self) }

        static func csrf(_ page: String) -> String? {
            guard let range = page.range(of: "name=\"csrf\" value=\"") else { return nil }
            return String(page[range.upperBound...].prefix(while: { $0 != "\"" }))
        }

        mutating func login(_ name: String, _ password: String) async throws -> HTTPResponse {
            let form = Self.text(try await send("GET", "/dashboard/login"))
            return try await send(
                "POST", "/dashboard/login", form: ["csrf": Self.csrf(form) ?? "", "name": name, "password": password, "next": "/dashboard/fleet"])
        }
    }

    @Test func aPersonLogsInAndReadsTheFiguresTheReportsGive() async throws {
        try await withLiveCentral(configure: { $0.silentAfter = .seconds(5) }) { central in
            try central.store.addDashboardUser("analyst", password: "correct horse battery")
            let hcm = try OfficeFixture(office: "79", central: central)
            let tayNinh = try OfficeFixture(office: "80", central: central)
            // The southern region's 2025 figures (ReportTests): plan 56.3 bn, 8.33 bn paid by 30 September.
            try ReportTests.enter(
                hcm, year: 2025, plans: [(.local, 30_000_000_000), (.national, 6_300_000_000)],
                payments: [(2_000_000_000, "2025-03-15"), (3_000_000_000, "2025-09-30")])
            try ReportTests.enter(
                tayNinh, year: 2025, plans: [(.local, 20_000_000_000)], payments: [(3_330_000_000, "2025-07-01"), (1_000_000_000, "2025-10-02")])
            // What an office typed is shown as text, never as markup.
            try tayNinh.replica.data.addProject(
                NewProject(
                    code: "KC-X", name: "Dự án <b>x</b>", category: "MH_TRINHDIEN", fundSource: .local, year: 2025, totalCost: 4_000_000,
                    requestedSupport: 1_000_000))
            for office in [hcm, tayNinh, hcm, tayNinh] { try await office.engine.runCycle() }

            var browser = Browser(base: central.url)
            // Without a session: to the login, and back to the page after it.
            let anonymous = try await browser.send("GET", "/dashboard/progress?year=2025")
            #expect(anonymous.status == 303)
            #expect(anonymous.headers["location"] == "/dashboard/login?next=%2Fdashboard%2Fprogress%3Fyear%3D2025")
            #expect(try await browser.send("GET", "/dashboard/conflicts?format=csv&table=conflicts").status == 303)

            // A form posted without the login page's cookie (from another site) is refused.
            var stranger = Browser(base: central.url)
            let forged = try await stranger.send("POST", "/dashboard/login", form: ["csrf": "0", "name": "analyst", "password": "correct horse battery"])
            #expect(forged.status == 403 && stranger.cookies["promo_session"] == nil)
            let wrong = try await browser.login("analyst", "wrong password!!")
            #expect(wrong.status == 401 && browser.cookies["promo_session"] == nil)
            let unknown = try await browser.login("nobody", "correct horse battery")
            #expect(unknown.status == 401)

            let ok = try await browser.login("analyst", "correct horse battery")
            #expect(ok.status == 303 && ok.headers["location"] == "/dashboard/fleet")
            let setCookie = try #require(ok.headers["set-cookie"])
            #expect(setCookie.hasPrefix("promo_session=") && setCookie.contains("HttpOnly") && setCookie.contains("SameSite=Strict"))
            #expect(try central.store.dashboardLogins().map(\.outcome) == ["ok", "unknown user", "wrong password"])

            // The progress page says what the reports say.
            let progress = try await browser.send("GET", "/dashboard/progress?year=2025&cutoff=2025-09-30&region=south")
            let page = Browser.text(progress)
            #expect(progress.status == 200 && progress.headers["content-type"] == "text/html; charset=utf-8")
            #expect(page.contains("<strong data-figure=\"plan\">56.3</strong>"))
            #expect(page.contains("<strong data-figure=\"disbursed\">8.3</strong>"))
            #expect(page.contains("<strong data-figure=\"percent\">14.8 %</strong>"))
            #expect(page.contains("<svg") && !page.contains("<script") && progress.headers["content-security-policy"]?.contains("default-src 'none'") == true)
            let csv = Browser.text(
                try await browser.send("GET", "/dashboard/progress?year=2025&cutoff=2025-09-30&region=south&format=csv&table=progress-province"))
            #expect(csv.hasPrefix("province,name,region,plan_vnd,disbursed_vnd,percent\r\n"), "\(csv)")
            #expect(csv.contains("\r\n79,") && csv.contains("\r\n80,"), "\(csv)")
            #expect(csv.contains("Tổng cộng,,,56300000000,8330000000,14.8 %\r\n"), "\(csv)")

            // A province's projects and ledgers; what the office typed is escaped.
            let province = Browser.text(try await browser.send("GET", "/dashboard/province/80?year=2025&cutoff=2025-09-30"))
            #expect(province.contains("Dự án &lt;b&gt;x&lt;/b&gt;") && !province.contains("<b>x</b>"))
            #expect(province.contains("3.330") && province.contains("không (sau ngày lọc)"))
            #expect(try await browser.send("GET", "/dashboard/province/99?year=2025").status == 404)
            #expect(try await browser.send("GET", "/dashboard/progress?year=20x5").status == 400)

            // The fleet: both offices ok from what they report; then 79 goes silent and turns degraded.
            for office in [hcm, tayNinh] { try await office.engine.runCycle() }
            let fleet = Browser.text(try await browser.send("GET", "/dashboard/fleet"))
            // With a durable record (the second run of make test), where it stands; never its password.
            #expect(fleet.contains("Bản ghi bền (durable record): postgres://") == TestPostgres.recordsEveryCentre, "\(fleet.prefix(2_000))")
            #expect(fleet.contains("<tr class=\"ok\"><td>79</td>") && fleet.contains("<tr class=\"ok\"><td>80</td>"))
            #expect(fleet.contains("khớp (agrees)"))
            try await Task.sleep(for: .seconds(5.5))
            try await tayNinh.engine.runCycle()
            let later = Browser.text(try await browser.send("GET", "/dashboard/fleet"))
            #expect(later.contains("<tr class=\"degraded\"><td>79</td>") && later.contains("<tr class=\"ok\"><td>80</td>"))
            // Silent offices first.
            #expect(later.range(of: "<td>79</td>")!.lowerBound < later.range(of: "<td>80</td>")!.lowerBound)

            // Logout needs the session's CSRF token; after it the session is gone.
            #expect(try await browser.send("POST", "/dashboard/logout", form: ["csrf": "forged"]).status == 403)
            let logout = try await browser.send("POST", "/dashboard/logout", form: ["csrf": Browser.csrf(later) ?? ""])
            #expect(logout.status == 303 && browser.cookies["promo_session"] == nil)
            #expect(try await browser.send("GET", "/dashboard/fleet").status == 303)
        }
    }

    @Test func overHTTPSTheSessionCookieIsSecureAndThePagesAnswer() async throws {
        let pki = try TestPKI()
        try await withLiveCentral(tls: .init(certificateChain: pki.serverCert, privateKey: pki.serverKey)) { central in
            try central.store.addDashboardUser("analyst", password: "correct horse battery")
            var config = HTTPClientConfiguration()
            config.caBundlePath = pki.ca
            var browser = Browser(http: HTTPClient(configuration: config), base: central.url)
            let ok = try await browser.login("analyst", "correct horse battery")
            #expect(central.url.hasPrefix("https://") && ok.status == 303)
            let cookie = try #require(ok.headers["set-cookie"])
            #expect(cookie.contains("promo_session=") && cookie.contains("; Secure") && cookie.contains("HttpOnly"))
            let fleet = try await browser.send("GET", "/dashboard/fleet")
            #expect(fleet.status == 200 && Browser.text(fleet).contains("Đồng bộ các văn phòng"))
        }
    }

    @Test func anOfficeTokenIsNoDashboardLoginAndOfficesCannotReachThePages() async throws {
        try await withLiveCentral { central in
            let token = try central.addOffice("79")
            let http = HTTPClient()
            let response = try await http.send(
                HTTPRequest(method: "GET", url: central.url + "/dashboard/fleet", headers: [("Authorization", "Bearer \(token)")]))
            #expect(response.status == 303)
            var browser = Browser(base: central.url)
            #expect(try await browser.login("79", token).status == 401)
        }
    }

    @Test func loginsAreThrottledPerAddressAndNamesAreNotLoggedAsTyped() async throws {
        try await withLiveCentral { central in
            try central.store.addDashboardUser("analyst", password: "correct horse battery")
            var browser = Browser(base: central.url)
            // The bucket holds five tries and refills one in ten seconds. Tries are made until one
            // is refused: the sixth, unless hashing on a loaded machine took long enough for the
            // bucket to refill by then, one try per ten seconds taken.
            let started = ContinuousClock.now
            var statuses: [Int] = []
            while statuses.last != 429 && statuses.count < 12 {
                let name = statuses.isEmpty ? "my secret password" : "analyst"
                statuses.append(try await browser.login(name, "guess \(statuses.count)").status)
            }
            let refilled = Int((ContinuousClock.now - started) / .seconds(10))
            #expect(statuses.last == 429 && statuses.dropLast().allSatisfy { $0 == 401 }, "\(statuses)")
            #expect((6...6 + refilled).contains(statuses.count), "\(statuses) in \(ContinuousClock.now - started)")
            // Even the right password waits now: guessing cannot go faster than one try in ten
            // seconds. (Sure only while the bucket cannot have refilled a whole try since the
            // start: five tries, less those taken, plus one per ten seconds.)
            let right = try await browser.login("analyst", "correct horse battery").status
            let allowed = statuses.count - 1
            if Double(5 - allowed) + (ContinuousClock.now - started) / .seconds(10) < 1 { #expect(right == 429) }
            let logins = try central.store.dashboardLogins()
            #expect(logins.count == statuses.count - 1 + (right == 429 ? 0 : 1), "\(logins.count) logins, \(statuses), then \(right)")
            #expect(logins.last?.user == "(invalid name)" && !logins.contains { $0.user.contains("secret") })
        }
    }

    @Test func whatAnOfficeSaysIsKeptUntilItSaysMoreAndItsByteCountCannotOverflow() throws {
        let folder = try TemporaryDirectory(prefix: "fleet")
        let store = try CentralStore(path: folder.file(CentralStore.fileName))
        _ = try store.addOffice(OfficeCode(unchecked: "79"))
        let report = OfficeReport(health: .degraded, reason: "behind", pendingChanges: 7, epoch: store.epoch.rawValue)
        #expect(store.noteVisit(OfficeCode(unchecked: "79"), Visit(software: "1.3.0", protocolVersion: 1, schema: 8, report: report)))
        store.countBytes("79", .max, .max)
        store.countBytes("79", .max, .max)
        try store.recordVisit(OfficeCode(unchecked: "79"))
        // A request without a report (a verification's) keeps the last one, in memory and in the store.
        store.forgetVisit(OfficeCode(unchecked: "79"))
        #expect(store.noteVisit(OfficeCode(unchecked: "79"), Visit(software: "1.3.0", protocolVersion: 1, schema: 8, report: nil)))
        try store.recordVisit(OfficeCode(unchecked: "79"))
        let entry = try #require(try store.fleet().first { $0.office.rawValue == "79" })
        #expect(entry.report == report && entry.bytes == 4 << 32)
        let written = try #require(try store.writtenFleet().first { $0.office.rawValue == "79" })
        #expect(written.report == report && written.bytes == 4 << 32)
    }

    @Test func anOfficeReportsOnlyForItselfWhateverItsHeaderSays() async throws {
        try await withLiveCentral { central in
            let hcm = try OfficeFixture(office: "79", central: central)
            let tayNinh = try OfficeFixture(office: "80", central: central)
            for office in [hcm, tayNinh, tayNinh] { try await office.engine.runCycle() }
            let before = try #require(try central.store.fleet().first { $0.office.rawValue == "80" })
            // 79 speaks with its own token and a report crafted to look like another office's
            // trouble (an unknown key naming 80 included): it lands on 79, and 80's stays as it was.
            let token = try TokenFile.read(path: hcm.directory.file("office.token"))
            let crafted = "health=broken, office=\"80\", pending=999, epoch=\"forged\", reason=\"office 80 is down\""
            let response = try await HTTPClient().send(
                HTTPRequest(
                    method: "GET", url: central.url + "/v1/office",
                    headers: [("Authorization", "Bearer \(token)"), ("Promo-Office-Report", crafted), ("Promo-Software-Version", "1.3.0")]))
            #expect(response.status == 200)
            let fleet = try central.store.fleet()
            let mine = try #require(fleet.first { $0.office.rawValue == "79" })
            let theirs = try #require(fleet.first { $0.office.rawValue == "80" })
            #expect(mine.report?.health == .broken && mine.report?.pendingChanges == 999)
            #expect(theirs.report == before.report && theirs.report?.health == .ok)
            // The dashboard shows 79 broken for its forged epoch, 80 untouched.
            let health = FleetHealth.evaluate(mine, epoch: central.store.epoch, now: Date(), silentAfter: 3_600)
            #expect(health.level == .broken && health.reasons.contains { $0.contains("forged") })
        }
    }

    @Test func passwordsAreStoredAsSlowSaltedHashes() throws {
        let stored = try PasswordHash.make("correct horse battery")
        #expect(stored.hasPrefix("scrypt$32768$8$1$") && !stored.contains("correct"))
        #expect(PasswordHash.verify("correct horse battery", against: stored))
        #expect(!PasswordHash.verify("correct horse batterY", against: stored))
        #expect(try PasswordHash.make("correct horse battery") != stored)
        #expect(!PasswordHash.verify("x", against: "scrypt$3$8$1$00$00") && !PasswordHash.verify("x", against: "plain"))
    }

    @Test(arguments: [
        ("health=ok, pending=3, conflicts=0", true), ("health=degraded, reason=\"behind \\\"x\\\"\"", true), ("health=fine", false),
        ("pending=3", false), ("health=ok, pending=\"unterminated", false), (String(repeating: "x", count: 2_000), false),
    ])
    func officeReportsAreReadStrictly(header: String, valid: Bool) {
        #expect((OfficeReport(header: header) != nil) == valid)
    }

    @Test func anOfficeReportRoundTrips() {
        let report = OfficeReport(
            health: .degraded, reason: "3 local changes wait, \"oldest\" 20 min; ký tự", pendingChanges: 3,
            pendingSince: Date(timeIntervalSince1970: 1_764_900_000), openConflicts: 1, verifiedAt: Date(timeIntervalSince1970: 1_764_890_000),
            verifyResult: "identical", epoch: "e-1")
        var expected = report
        expected.reason = "3 local changes wait, \"oldest\" 20 min; k? t?"
        #expect(OfficeReport(header: report.headerValue) == expected)
    }
}
