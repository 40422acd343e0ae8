import Foundation
import HTTPTypes
import Hummingbird
import SyncCore
import Synchronization

/// `/dashboard`: read-only pages for the centre's people (docs/OPERATIONS.md, "The dashboard"),
/// server-rendered, working without JavaScript, with no external assets. A person logs in as a
/// `promo-central user` (never with an office token); the session is a random token in an
/// HTTP-only, SameSite=Strict cookie (Secure when the centre serves HTTPS), stored only as its
/// hash; every form carries a CSRF token (the login form's is bound to a cookie of its own).
struct DashboardRoutes: Sendable {
    let endpoint: Endpoint
    let pages: DashboardPages
    /// Cookies are marked Secure unless `dashboard.secure_cookies = false` (browsers take Secure
    /// cookies from https and from loopback addresses).
    let secureCookies: Bool
    let logins = LoginThrottle()
    /// At most two passwords hashed at once (32 MiB and a tenth of a second each, on the
    /// threads the offices' pushes use); more get 503 and try again.
    let hashing = ConcurrencyGate(limit: 2)

    static let sessionCookie = "promo_session"
    static let referrerPolicy = HTTPField.Name("Referrer-Policy")!
    static let loginCookie = "promo_login"

    init(endpoint: Endpoint) {
        self.endpoint = endpoint
        self.pages = DashboardPages(store: endpoint.store, silentAfter: TimeInterval(endpoint.configuration.silentAfter.components.seconds))
        self.secureCookies = endpoint.configuration.secureCookies
    }

    func register(on router: Router<CentralRequestContext>) {
        router.get("/dashboard") { _, _ in Self.redirect("/dashboard/fleet") }
        router.get("/dashboard/login", use: loginForm)
        router.post("/dashboard/login", use: login)
        router.post("/dashboard/logout", use: logout)
        router.get("/dashboard/fleet") { request, context in
            let record: RecordState? = if let durable = endpoint.record { await RecordState.of(durable) } else { nil }
            return try await page(request, context) { _ in try pages.fleet(record: record) }
        }
        router.get("/dashboard/progress") { request, context in
            // Totals have one writer while serving: wait for it as a pull does.
            await endpoint.totals.upToDate()
            return try await page(request, context) { try pages.progress(try Self.filter($0)) }
        }
        router.get("/dashboard/province/:code") { request, context in
            let code = context.parameters.get("code") ?? ""
            return try await page(request, context) { request in
                guard ReferenceData.province(code: code) != nil else {
                    throw CentralError(.notFound, .notFound, "there is no province \(code) in force", hint: "Open a province from the progress page.")
                }
                return try pages.province(code, filter: try Self.filter(request))
            }
        }
        router.get("/dashboard/conflicts") { request, context in
            try await page(request, context) { _ in try pages.conflicts() }
        }
    }

    // MARK: Pages behind the login

    /// A page for a signed-in person (others go to the login and come back), as HTML or, with
    /// `format=csv&table=NAME`, one of its tables as CSV.
    func page(
        _ request: Request, _ context: CentralRequestContext, build: @escaping @Sendable (Request) throws -> DashboardPages.Page
    ) async throws -> Response {
        guard let session = try await session(request) else {
            let target = request.uri.path + (request.uri.query.map { "?\($0)" } ?? "")
            return Self.redirect("/dashboard/login?next=\(HTML.query(target))")
        }
        let page: DashboardPages.Page
        do {
            page = try await endpoint.offload { try build(request) }
        } catch let error as CentralError {
            return Self.html(HTML.page(title: "Không xem được trang", user: session, current: "", body: Self.errorBody(error)), status: error.status)
        }
        let query = request.uri.queryParameters
        if query["format"] == "csv" {
            guard let name = query["table"].map(String.init), let table = page.tables.first(where: { $0.name == name }) else {
                return Self.html(
                    HTML.page(
                        title: "Không có bảng này", user: session, current: page.current,
                        body: "<p class=\"error\">Trang này không có bảng “\(HTML.escape(query["table"].map(String.init) ?? ""))”.</p>"),
                    status: .notFound)
            }
            var response = Response(status: .ok, body: ResponseBody(byteBuffer: ByteBuffer(string: table.csv())))
            response.headers[.contentType] = "text/csv; charset=utf-8"
            response.headers[.contentDisposition] = "attachment; filename=\"\(table.name).csv\""
            Self.harden(&response)
            return response
        }
        let base = request.uri.path + "?" + (request.uri.query.map { $0.isEmpty ? "" : "\($0)&" } ?? "")
        var body = page.intro
        for table in page.tables { body += table.html(csvHref: base + "format=csv&table=\(HTML.query(table.name))") }
        body += page.outro
        return Self.html(HTML.page(title: page.title, user: session, current: page.current, body: body))
    }

    static func filter(_ request: Request) throws(CentralError) -> DashboardPages.ProgressFilter {
        let query = request.uri.queryParameters
        let year: Int
        if let text = query["year"], !text.isEmpty {
            guard let number = Int(text), (2000...2100).contains(number) else {
                throw CentralError.badRequest("'\(text)' is not a year", hint: "Give a year between 2000 and 2100.")
            }
            year = number
        } else {
            year = Int(CalendarDate.today().prefix(4)) ?? 2025
        }
        var cutoff: String?
        if let text = query["cutoff"].map(String.init), !text.isEmpty {
            guard CalendarDate.isValid(text) else {
                throw CentralError.badRequest("'\(text)' is not a date (YYYY-MM-DD)", hint: "For example 2025-09-30.")
            }
            cutoff = text
        }
        var region: Region?
        if let text = query["region"].map(String.init), !text.isEmpty {
            guard let known = Region(rawValue: text) else {
                throw CentralError.badRequest("'\(text)' is not a region", hint: "north, central_highlands or south.")
            }
            region = known
        }
        return .init(year: year, cutoff: cutoff, region: region)
    }

    // MARK: Login and logout

    @Sendable func loginForm(_ request: Request, context: CentralRequestContext) async throws -> Response {
        if try await session(request) != nil { return Self.redirect(Self.safeNext(request.uri.queryParameters["next"].map(String.init))) }
        return loginPage(next: request.uri.queryParameters["next"].map(String.init), error: nil, status: .ok)
    }

    /// The login form with a fresh CSRF token, set in its own cookie as well (double submit).
    func loginPage(next: String?, error: String?, status: HTTPResponse.Status) -> Response {
        let csrf = CentralStore.newToken()
        var body = ""
        if let error { body += "<p class=\"error\" role=\"alert\">\(HTML.escape(error))</p>\n" }
        body += """
            <form method="post" action="/dashboard/login">
            <input type="hidden" name="csrf" value="\(csrf)">
            <input type="hidden" name="next" value="\(HTML.escape(Self.safeNext(next)))">
            <p><label>Tên đăng nhập<br><input name="name" autocomplete="username" required></label></p>
            <p><label>Mật khẩu<br><input name="password" type="password" autocomplete="current-password" required></label></p>
            <p><button type="submit">Đăng nhập</button></p>
            </form>
            <p>Tài khoản do quản trị trung tâm cấp: <code>promo-central user add TÊN</code>.</p>

            """
        var response = Self.html(HTML.page(title: "Đăng nhập", user: nil, current: "", body: body), status: status)
        response.setCookie(cookie(Self.loginCookie, csrf, maxAge: 3600))
        return response
    }

    @Sendable func login(_ request: Request, context: CentralRequestContext) async throws -> Response {
        let form = try await Self.form(request)
        let next = form.next
        // A login form posted from another site carries no cookie of ours: refused.
        guard let csrf = form.csrf, let expected = Self.cookie(Self.loginCookie, in: request), Self.same(csrf, expected) else {
            return loginPage(next: next, error: "Biểu mẫu đã hết hạn, vui lòng đăng nhập lại (the form expired or came from elsewhere).", status: .forbidden)
        }
        let name = form.name ?? ""
        let password = form.password ?? ""
        let store = endpoint.store
        let address = context.remoteAddress
        let known = { try await endpoint.offload { try store.loggedIn(name, from: address, since: Date() - LoginThrottle.remembered) } }
        if let wait = try await logins.admit(name: name, address: address, loggedInBefore: known) {
            return loginPage(next: next, error: "Quá nhiều lần thử, hãy thử lại sau \(wait) giây (too many attempts).", status: .tooManyRequests)
        }
        guard hashing.enter() else {
            return loginPage(next: next, error: "Máy chủ đang bận, hãy thử lại (busy, try again).", status: .serviceUnavailable)
        }
        defer { hashing.leave() }
        guard let (token, _) = try await endpoint.offload({ try store.login(name, password: password, address: address) }) else {
            return loginPage(next: next, error: "Sai tên đăng nhập hoặc mật khẩu (wrong name or password).", status: .unauthorized)
        }
        var response = Self.redirect(Self.safeNext(next))
        response.setCookie(cookie(Self.loginCookie, "", maxAge: 0))
        response.setCookie(cookie(Self.sessionCookie, token, maxAge: Int(CentralStore.sessionLifetime)))
        return response
    }

    @Sendable func logout(_ request: Request, context: CentralRequestContext) async throws -> Response {
        let form = try await Self.form(request)
        if let token = Self.cookie(Self.sessionCookie, in: request), let session = try await session(request) {
            guard let csrf = form.csrf, Self.same(csrf, session.csrf) else {
                return Self.html(
                    HTML.page(title: "Không đăng xuất được", user: session, current: "", body: "<p class=\"error\">Biểu mẫu không hợp lệ (CSRF token).</p>"),
                    status: .forbidden)
            }
            let store = endpoint.store
            try await endpoint.offload { try store.logout(token: token) }
        }
        var response = Self.redirect("/dashboard/login")
        response.setCookie(cookie(Self.sessionCookie, "", maxAge: 0))
        return response
    }

    func session(_ request: Request) async throws -> DashboardSession? {
        guard let token = Self.cookie(Self.sessionCookie, in: request) else { return nil }
        let store = endpoint.store
        return try await endpoint.offload { try store.session(token: token) }
    }

    // MARK: HTTP pieces

    /// One of the dashboard's cookies: only for `/dashboard`, never read by scripts, never sent
    /// from another site, and Secure unless configured otherwise.
    func cookie(_ name: String, _ value: String, maxAge: Int) -> Cookie {
        Cookie(name: name, value: value, maxAge: maxAge, path: "/dashboard", secure: secureCookies, httpOnly: true, sameSite: .strict)
    }

    /// A cookie the request carries, unless it is empty (a cleared one).
    static func cookie(_ name: String, in request: Request) -> String? {
        request.cookies[name].flatMap { $0.value.isEmpty ? nil : $0.value }
    }

    /// Two tokens compared in constant time, as office tokens are.
    static func same(_ a: String, _ b: String) -> Bool { CentralStore.constantTimeEqual(Array(a.utf8), Array(b.utf8)) }

    /// Where to go after the login: a dashboard page only (never another site).
    static func safeNext(_ next: String?) -> String {
        guard let next, next.hasPrefix("/dashboard/"), !next.contains("//"), !next.contains("\\"),
            next.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7F })
        else { return "/dashboard/fleet" }
        return next
    }

    /// The fields the login and logout forms post.
    struct Form: Decodable {
        var csrf: String?
        var name: String?
        var password: String?
        var next: String?
    }

    /// An `application/x-www-form-urlencoded` body of at most 8 KiB, read by Hummingbird's
    /// decoder; one it cannot read counts as empty (and so fails its CSRF check).
    static func form(_ request: Request) async throws -> Form {
        let body = try await request.body.collect(upTo: 8_192)
        return (try? URLEncodedFormDecoder().decode(Form.self, from: String(buffer: body))) ?? Form()
    }

    static func redirect(_ location: String) -> Response {
        var response = Response(status: .seeOther)
        response.headers[.location] = location
        harden(&response)
        return response
    }

    static func html(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
        var response = Response(status: status, body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
        response.headers[.contentType] = "text/html; charset=utf-8"
        harden(&response)
        return response
    }

    /// No caching of pages with figures and names; no script, framing or foreign form targets.
    static func harden(_ response: inout Response) {
        response.headers[.cacheControl] = "no-store"
        response.headers[.contentSecurityPolicy] =
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        response.headers[.xContentTypeOptions] = "nosniff"
        response.headers[Self.referrerPolicy] = "no-referrer"
    }

    static func errorBody(_ error: CentralError) -> String {
        "<p class=\"error\">\(HTML.escape(error.message))</p>" + (error.hint.map { "<p>\(HTML.escape($0))</p>" } ?? "")
    }
}

/// Lets at most `limit` callers in at once; the others are turned away, not queued.
final class ConcurrencyGate: Sendable {
    private let inside = Mutex(0)
    let limit: Int

    init(limit: Int) { self.limit = limit }

    func enter() -> Bool {
        inside.withLock { n in
            guard n < limit else { return false }
            n += 1
            return true
        }
    }

    func leave() { inside.withLock { $0 -= 1 } }
}

/// Login attempts: a few at once per address and per name, then one every ten seconds, so that
/// passwords cannot be guessed at speed and the hashing cannot crowd out the offices. An address
/// from which the name logged in in the last 30 days is held back by its own attempts only:
/// otherwise anyone who reaches the dashboard kept a user locked out with one wrong password
/// every ten seconds (round 8).
struct LoginThrottle: Sendable {
    let byAddress = RateLimiter(ratePerSecond: 0.1, burst: 5)
    let byName = RateLimiter(ratePerSecond: 0.1, burst: 5)
    static let remembered: TimeInterval = 30 * 86_400

    /// The seconds to wait before trying again, or nil to check the password.
    func admit(name: String, address: String, loggedInBefore: () async throws -> Bool, now: ContinuousClock.Instant = .now) async rethrows -> Int? {
        if let wait = byAddress.admit(address, now: now) { return wait }
        if let wait = byName.admit(name.lowercased(), now: now), try await !loggedInBefore() { return wait }
        return nil
    }
}
