import Foundation
import GRDB
import Logging
import SyncCore

/// A person who may read the dashboard: separate from the offices and their tokens.
public struct DashboardUser: Sendable, Equatable {
    /// The name the user logs in with: 1 to 64 ASCII letters, digits, '.', '_' or '-'.
    public var name: String
    /// When the user was added, in UTC as `Timestamps` writes it.
    public var createdAt: String
    /// Whether the user is disabled: no login, no session, until a new password is set.
    public var disabled: Bool
}

/// A signed-in browser: who, and the token its forms must carry (CSRF).
public struct DashboardSession: Sendable, Equatable {
    /// The user signed in.
    public var user: String
    /// The token every form of the session must carry.
    public var csrf: String
}

/// One login attempt, as `promo-central user logins` lists them.
public struct DashboardLogin: Sendable, Equatable {
    /// When the attempt was made, in UTC as `Timestamps` writes it.
    public var at: String
    /// The name typed, or "(invalid name)" when it could not be a user's name.
    public var user: String
    /// The browser's IP address.
    public var address: String
    /// `ok`, `unknown user`, `wrong password` or `disabled`.
    public var outcome: String
}

extension CentralStore {
    /// How long a session lasts after its login.
    public static let sessionLifetime: TimeInterval = 8 * 3600

    /// Adds a dashboard user with a password (stored as ``PasswordHash``); refuses a name taken.
    public func addDashboardUser(_ name: String, password: String, now: Date = Date()) throws(CentralError) {
        try Self.checkUserName(name)
        let hash = try Self.storedPassword(password)
        do {
            try database.write { db in
                if try Bool.fetchOne(db, sql: "SELECT EXISTS(SELECT 1 FROM dashboard_user WHERE name = ?)", arguments: [name]) == true {
                    throw CentralError.badRequest(
                        "a dashboard user '\(name)' exists already", hint: "Choose another name, or: promo-central user password \(name)")
                }
                try db.execute(
                    sql: "INSERT INTO dashboard_user(name, password_hash, created_at) VALUES (?, ?, ?)",
                    arguments: [name, hash, Timestamps.format(now)])
            }
        } catch let error as CentralError {
            throw error
        } catch {
            throw CentralError.storage(error, during: "adding a dashboard user")
        }
        logger.notice("dashboard user added", metadata: ["dashboard.user": "\(name)"])
    }

    /// Sets a user's password (and enables the user again); their sessions end.
    public func setDashboardPassword(_ name: String, password: String) throws(CentralError) {
        let hash = try Self.storedPassword(password)
        try changeUser(name, during: "setting a dashboard password") { db in
            try db.execute(sql: "UPDATE dashboard_user SET password_hash = ?, disabled_at = NULL WHERE name = ?", arguments: [hash, name])
        }
    }

    /// Disables a user: their sessions end and they cannot log in (the name stays, for the login log).
    public func disableDashboardUser(_ name: String, now: Date = Date()) throws(CentralError) {
        try changeUser(name, during: "disabling a dashboard user") { db in
            try db.execute(sql: "UPDATE dashboard_user SET disabled_at = ? WHERE name = ?", arguments: [Timestamps.format(now), name])
        }
    }

    private func changeUser(_ name: String, during what: String, _ change: @escaping (Database) throws -> Void) throws(CentralError) {
        do {
            try database.write { db in
                guard try Bool.fetchOne(db, sql: "SELECT EXISTS(SELECT 1 FROM dashboard_user WHERE name = ?)", arguments: [name]) == true else {
                    throw CentralError(.notFound, .notFound, "there is no dashboard user '\(name)'", hint: "promo-central user list shows them.")
                }
                try change(db)
                try db.execute(sql: "DELETE FROM dashboard_session WHERE username = ?", arguments: [name])
            }
        } catch let error as CentralError {
            throw error
        } catch {
            throw CentralError.storage(error, during: what)
        }
        logger.notice("dashboard user changed", metadata: ["dashboard.user": "\(name)", "dashboard.change": "\(what)"])
    }

    /// Every dashboard user, disabled ones included, by name.
    public func dashboardUsers() throws(CentralError) -> [DashboardUser] {
        do {
            return try database.read { db in
                try Row.fetchAll(db, sql: "SELECT name, created_at, disabled_at FROM dashboard_user ORDER BY name").map {
                    DashboardUser(name: $0["name"], createdAt: $0["created_at"], disabled: ($0["disabled_at"] as String?) != nil)
                }
            }
        } catch {
            throw CentralError.storage(error, during: "listing dashboard users")
        }
    }

    /// The latest logins, newest first.
    public func dashboardLogins(limit: Int = 100) throws(CentralError) -> [DashboardLogin] {
        do {
            return try database.read { db in
                try Row.fetchAll(db, sql: "SELECT at, username, address, outcome FROM dashboard_login ORDER BY id DESC LIMIT ?", arguments: [limit]).map {
                    DashboardLogin(at: $0["at"], user: $0["username"], address: $0["address"], outcome: $0["outcome"])
                }
            }
        } catch {
            throw CentralError.storage(error, during: "listing dashboard logins")
        }
    }

    /// Whether `name` logged in from `address` since `since`, as the kept attempts
    /// (`dashboard_login`, the last 100,000) record it.
    public func loggedIn(_ name: String, from address: String, since: Date) throws(CentralError) -> Bool {
        do {
            return try database.read { db in
                try Bool.fetchOne(
                    db,
                    sql: "SELECT EXISTS(SELECT 1 FROM dashboard_login WHERE username = ? AND address = ? AND outcome = 'ok' AND at >= ?)",
                    arguments: [name, address, Timestamps.format(since)]) ?? false
            }
        } catch {
            throw CentralError.storage(error, during: "reading dashboard logins")
        }
    }

    /// Checks a login and opens a session: its token (for the cookie; only its hash is stored)
    /// and its CSRF token, or nil when the name or password is wrong or the user is disabled.
    /// Every attempt is recorded (`dashboard_login`) and logged.
    func login(_ name: String, password: String, address: String, now: Date = Date()) throws(CentralError) -> (token: String, session: DashboardSession)? {
        let stored: (hash: String, disabled: Bool)?
        let anyUser: Bool
        do {
            (stored, anyUser) = try database.read { db in
                (
                    try Row.fetchOne(db, sql: "SELECT password_hash, disabled_at FROM dashboard_user WHERE name = ?", arguments: [name]).map {
                        ($0["password_hash"], ($0["disabled_at"] as String?) != nil)
                    },
                    try Bool.fetchOne(db, sql: "SELECT EXISTS(SELECT 1 FROM dashboard_user)") ?? false
                )
            }
        } catch {
            throw CentralError.storage(error, during: "reading a dashboard user")
        }
        // An unknown name costs a hash too, so how long a refusal takes does not tell names apart
        // (unless there are no users at all: nothing to tell, and nothing to spend time on).
        let matches = anyUser && PasswordHash.verify(password, against: stored?.hash ?? Self.decoyHash)
        let outcome = stored == nil ? "unknown user" : (!matches ? "wrong password" : (stored!.disabled ? "disabled" : "ok"))
        let token = Self.newToken()
        let session = DashboardSession(user: name, csrf: Self.newToken())
        // A name that cannot be a user's (a password typed in the wrong field, terminal tricks) is
        // not written down as typed.
        let loggable = (try? Self.checkUserName(name)) != nil ? name : "(invalid name)"
        do {
            try database.write { db in
                try db.execute(
                    sql: "INSERT INTO dashboard_login(at, username, address, outcome) VALUES (?, ?, ?, ?)",
                    arguments: [Timestamps.format(now), loggable, address, outcome])
                try db.execute(sql: "DELETE FROM dashboard_session WHERE expires_at < ?", arguments: [Timestamps.format(now)])
                // The last 100,000 attempts are kept.
                try db.execute(sql: "DELETE FROM dashboard_login WHERE id <= (SELECT max(id) FROM dashboard_login) - 100000")
                guard outcome == "ok" else { return }
                try db.execute(
                    sql: "INSERT INTO dashboard_session(token_hash, username, csrf, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
                    arguments: [
                        Self.hashToken(token), name, session.csrf, Timestamps.format(now),
                        Timestamps.format(now.addingTimeInterval(Self.sessionLifetime)),
                    ])
            }
        } catch {
            throw CentralError.storage(error, during: "recording a dashboard login")
        }
        let metadata: Logger.Metadata = ["dashboard.user": "\(loggable)", "http.remote": "\(address)", "dashboard.outcome": "\(outcome)"]
        if outcome == "ok" { logger.notice("dashboard login", metadata: metadata) } else { logger.warning("dashboard login refused", metadata: metadata) }
        return outcome == "ok" ? (token, session) : nil
    }

    /// The live session a cookie's token names, or nil.
    func session(token: String, now: Date = Date()) throws(CentralError) -> DashboardSession? {
        guard token.utf8.count == 64 else { return nil }
        do {
            return try database.read { db in
                try Row.fetchOne(
                    db,
                    sql: """
                        SELECT s.username, s.csrf FROM dashboard_session s JOIN dashboard_user u ON u.name = s.username
                        WHERE s.token_hash = ? AND s.expires_at > ? AND u.disabled_at IS NULL
                        """, arguments: [Self.hashToken(token), Timestamps.format(now)]
                ).map { DashboardSession(user: $0["username"], csrf: $0["csrf"]) }
            }
        } catch {
            throw CentralError.storage(error, during: "reading a dashboard session")
        }
    }

    /// Ends a session.
    func logout(token: String) throws(CentralError) {
        do {
            try database.write { db in try db.execute(sql: "DELETE FROM dashboard_session WHERE token_hash = ?", arguments: [Self.hashToken(token)]) }
        } catch {
            throw CentralError.storage(error, during: "ending a dashboard session")
        }
    }

    /// A new password's stored form, once it is long enough.
    static func storedPassword(_ password: String) throws(CentralError) -> String {
        guard password.count >= PasswordHash.minimumLength else {
            throw CentralError.badRequest(
                "the password has \(password.count) characters; at least \(PasswordHash.minimumLength) are needed",
                hint: "Choose a longer passphrase (several words are easier to remember).")
        }
        do { return try PasswordHash.make(password) } catch {
            throw CentralError(.internalServerError, .internal, "cannot hash the password: \(error)", underlying: error)
        }
    }

    static func checkUserName(_ name: String) throws(CentralError) {
        guard (1...64).contains(name.count), name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) }) else {
            throw CentralError.badRequest(
                "'\(name)' is not a user name: use 1 to 64 letters, digits, '.', '_' or '-'", hint: "For example: promo-central user add nguyen.van.a")
        }
    }

    /// A stored form no password matches in practice, hashed against when the name is unknown.
    static let decoyHash = (try? PasswordHash.make(newToken())) ?? "scrypt$32768$8$1$00$00"
}
