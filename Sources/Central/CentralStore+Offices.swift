import Crypto
import Foundation
import GRDB
import SyncCore

/// Offices and their tokens: registered, rotated, revoked, reinstated; a token is stored only as
/// a hash and compared in constant time.
extension CentralStore {
    /// Registers an office and returns its token, which is shown once and stored only as a hash.
    public func addOffice(_ code: OfficeCode, now: Date = Date()) throws(CentralError) -> String {
        let token = Self.newToken()
        do {
            try database.write { db in try Self.addOffice(db, code, tokenHash: Self.hashToken(token), now: now, position: Self.nextPosition(db)) }
        } catch {
            throw CentralError.storage(error, during: "adding office \(code)")
        }
        return token
    }

    static func addOffice(_ db: Database, _ code: OfficeCode, tokenHash: String, now: Date, position: Int64) throws {
        if try Bool.fetchOne(db, sql: "SELECT EXISTS(SELECT 1 FROM office WHERE code = ?)", arguments: [code.rawValue]) == true {
            throw CentralError(
                .conflict, .officeExists, "office \(code) is already registered",
                hint: "To issue a new token use: promo-central office rotate-token \(code)")
        }
        try db.execute(
            sql: "INSERT INTO office(code, token_hash, created_at, last_hash) VALUES (?, ?, ?, ?)",
            arguments: [code.rawValue, tokenHash, Timestamps.format(now), Changeset.genesisHash])
        try journal(db, .officeAdded(.init(office: code.rawValue, tokenHash: tokenHash)), at: now, position: position)
    }

    /// The office a token belongs to, if the token is known and not revoked. The token's hash is
    /// compared with every office's in constant time, so timing says nothing about which is close.
    public func authenticate(token: String) throws(CentralError) -> OfficeCode? {
        let presented = Array(Self.hashToken(token).utf8)
        do {
            let offices = try database.read { db in
                try Row.fetchAll(db, sql: "SELECT code, token_hash FROM office WHERE revoked_at IS NULL")
                    .map { (code: $0["code"] as String, hash: Array(($0["token_hash"] as String).utf8)) }
            }
            var match: String?
            for office in offices where Self.constantTimeEqual(office.hash, presented) { match = office.code }
            return match.map(OfficeCode.init(unchecked:))
        } catch {
            throw CentralError.storage(error, during: "checking a token")
        }
    }

    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for i in a.indices { difference |= a[i] ^ b[i] }
        return difference == 0
    }

    /// Issues a new token for an office (the old one stops working at once) and returns it. A
    /// revoked office stays revoked: the new token works only after ``reinstate(_:now:)``, so a
    /// routine rotation never turns back on an office someone switched off.
    public func rotateToken(_ code: OfficeCode, now: Date = Date()) throws(CentralError) -> String {
        let token = Self.newToken()
        do {
            try database.write { db in try Self.setToken(db, code, tokenHash: Self.hashToken(token), now: now, position: Self.nextPosition(db)) }
        } catch {
            throw CentralError.storage(error, during: "rotating the token of office \(code)")
        }
        return token
    }

    static func setToken(_ db: Database, _ code: OfficeCode, tokenHash: String, now: Date, position: Int64) throws {
        try db.execute(sql: "UPDATE office SET token_hash = ? WHERE code = ?", arguments: [tokenHash, code.rawValue])
        guard db.changesCount == 1 else {
            throw CentralError(.notFound, .notFound, "office \(code) is not registered", hint: "Register it with: promo-central office add \(code)")
        }
        try journal(db, .tokenRotated(.init(office: code.rawValue, tokenHash: tokenHash)), at: now, position: position)
    }

    /// Revokes an office's token: every request with it is refused until a new one is issued.
    public func revokeToken(_ code: OfficeCode, now: Date = Date()) throws(CentralError) {
        do {
            try database.write { db in try Self.revoke(db, code, now: now, position: Self.nextPosition(db)) }
        } catch {
            throw CentralError.storage(error, during: "revoking the token of office \(code)")
        }
    }

    static func revoke(_ db: Database, _ code: OfficeCode, now: Date, position: Int64) throws {
        try db.execute(sql: "UPDATE office SET revoked_at = ? WHERE code = ?", arguments: [Timestamps.format(now), code.rawValue])
        guard db.changesCount == 1 else {
            throw CentralError(.notFound, .notFound, "office \(code) is not registered", hint: "See: promo-central office list")
        }
        try journal(db, .officeRevoked(.init(office: code.rawValue)), at: now, position: position)
    }

    /// Turns a revoked office back on: its current token (the one issued last) works again.
    public func reinstate(_ code: OfficeCode, now: Date = Date()) throws(CentralError) {
        do {
            try database.write { db in try Self.reinstate(db, code, now: now, position: Self.nextPosition(db)) }
        } catch {
            throw CentralError.storage(error, during: "reinstating office \(code)")
        }
    }

    static func reinstate(_ db: Database, _ code: OfficeCode, now: Date, position: Int64) throws {
        guard let revoked = try Row.fetchOne(db, sql: "SELECT revoked_at FROM office WHERE code = ?", arguments: [code.rawValue]) else {
            throw CentralError(.notFound, .notFound, "office \(code) is not registered", hint: "See: promo-central office list")
        }
        guard (revoked["revoked_at"] as String?) != nil else {
            throw CentralError(.conflict, .notRevoked, "office \(code) is not revoked", hint: "Nothing to do.")
        }
        try db.execute(sql: "UPDATE office SET revoked_at = NULL WHERE code = ?", arguments: [code.rawValue])
        try journal(db, .officeReinstated(.init(office: code.rawValue)), at: now, position: position)
    }

    /// All registered offices.
    public func offices() throws(CentralError) -> [OfficeRecord] {
        do {
            return try database.read { db in
                try Row.fetchAll(db, sql: "SELECT * FROM office ORDER BY code").map {
                    OfficeRecord(
                        code: OfficeCode(unchecked: $0["code"]), lastSequence: ChangesetSequence($0["last_sequence"]),
                        lastHash: $0["last_hash"], revoked: ($0["revoked_at"] as String?) != nil,
                        mergedInto: ($0["merged_into"] as String?).map(OfficeCode.init(unchecked:)))
                }
            }
        } catch {
            throw CentralError.storage(error, during: "listing offices")
        }
    }

    static func newToken() -> String {
        var rng = SystemRandomNumberGenerator()
        return Hex.string((0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) })
    }

    static func hashToken(_ token: String) -> String {
        Hex.string(SHA256.hash(data: Data(token.utf8)))
    }
}
