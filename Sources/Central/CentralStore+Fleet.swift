import Foundation
import GRDB
import Hummingbird
import SyncCore
import WireFormat

/// The releases of promo-sync the centre accepts (docs/OPERATIONS.md, "Rolling out a release"):
/// an operator freezes a bad rollout with a maximum, or retires an old release with a minimum,
/// while the centre serves. Journaled, so `audit verify` replays them.
public struct FleetLimits: Sendable, Equatable {
    public var minOfficeVersion: String?
    public var maxOfficeVersion: String?

    public init(minOfficeVersion: String? = nil, maxOfficeVersion: String? = nil) {
        self.minOfficeVersion = minOfficeVersion
        self.maxOfficeVersion = maxOfficeVersion
    }

    /// Why an office that says it runs `software` (nil: it sent no version, so it runs a release
    /// before 1.1.0) and speaks `protocol` may not sync now, or nil when it may.
    public func refusal(office: OfficeCode, software: String?, protocol version: Int?) -> CentralError? {
        if let version, let refusal = Self.protocolRefusal(office: office, version: version) { return refusal }
        let text = software ?? SoftwareVersion.beforeVersionHeaders
        guard let running = ReleaseNumber(text) else {
            return CentralError(.badRequest, .badRequest, "'\(text)' is not a release number (X.Y.Z)", hint: "Send Promo-Software-Version as promo-sync does.")
        }
        if let minimum = minOfficeVersion.flatMap(ReleaseNumber.init), running < minimum {
            return CentralError(
                Self.upgradeRequired, .upgradeOffice, "office \(office) runs promo-sync \(text); this centre accepts offices from \(minimum)",
                hint: "Upgrade promo-sync at the office to \(minimum) or later; its pending changes are kept and sent after the upgrade.")
        }
        if let maximum = maxOfficeVersion.flatMap(ReleaseNumber.init), running > maximum {
            return CentralError(
                Self.upgradeRequired, .officeVersionFrozen,
                "office \(office) runs promo-sync \(text); the centre has frozen the rollout at \(maximum)",
                hint:
                    "Go back to promo-sync \(maximum) at the office, or wait until the centre allows the new release (promo-central fleet limits); pending changes are kept."
            )
        }
        return nil
    }

    static let upgradeRequired = HTTPResponse.Status(code: 426, reasonPhrase: "Upgrade Required")

    /// Why an office that speaks protocol `version` may not sync with this centre, or nil.
    public static func protocolRefusal(office: OfficeCode, version: Int) -> CentralError? {
        if version > WireProtocol.supportedVersions.upperBound {
            return CentralError(
                Self.upgradeRequired, .upgradeCentre,
                "office \(office) speaks protocol \(version); this centre (promo-central \(SoftwareVersion.current)) speaks up to \(WireProtocol.supportedVersions.upperBound)",
                hint:
                    "Upgrade promo-central first, then the offices (docs/OPERATIONS.md, \"Rolling out a release\"); the office keeps its pending changes and retries by itself."
            )
        }
        if version < WireProtocol.supportedVersions.lowerBound {
            return CentralError(
                Self.upgradeRequired, .upgradeOffice,
                "office \(office) speaks protocol \(version); this centre serves protocols \(WireProtocol.supportedVersions.lowerBound)–\(WireProtocol.supportedVersions.upperBound)",
                hint: "Upgrade promo-sync at the office (apt install the new package); its pending changes are kept and sent after the upgrade.")
        }
        return nil
    }
}

/// One office as the fleet listing shows it.
public struct FleetEntry: Sendable, Equatable {
    public var office: OfficeCode
    public var software: String?
    public var protocolVersion: Int?
    public var schemaVersion: Int?
    /// When the office was last seen (its visits are written at most once a minute).
    public var seenAt: String?
    public var lastSequence: ChangesetSequence
    public var revoked: Bool
    public var mergedInto: OfficeCode?
}

/// What the request path keeps in memory: the limits (read again after a few seconds, so that a
/// change made by `promo-central fleet limits` from another process takes effect while serving)
/// and what each office's last written visit said.
struct FleetCache {
    var limits = FleetLimits()
    var limitsReadAt: ContinuousClock.Instant?
    var written: [String: (software: String?, protocol: Int?, schema: Int?, at: ContinuousClock.Instant)] = [:]
}

extension CentralStore {
    static let minVersionKey = "fleet.min_office_version"
    static let maxVersionKey = "fleet.max_office_version"

    public func fleetLimits() throws(CentralError) -> FleetLimits {
        do {
            return try database.read { db in
                FleetLimits(
                    minOfficeVersion: try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = ?", arguments: [Self.minVersionKey]),
                    maxOfficeVersion: try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = ?", arguments: [Self.maxVersionKey]))
            }
        } catch {
            throw CentralError.storage(error, during: "reading the fleet limits")
        }
    }

    /// Sets the limits (nil: none), journaled.
    public func setFleetLimits(_ limits: FleetLimits, now: Date = Date()) throws(CentralError) {
        for version in [limits.minOfficeVersion, limits.maxOfficeVersion].compactMap({ $0 }) where ReleaseNumber(version) == nil {
            throw CentralError.badRequest(
                "'\(version)' is not a release number (X.Y.Z)", hint: "For example: promo-central fleet limits --max-office-version 1.1.0")
        }
        if let low = limits.minOfficeVersion.flatMap(ReleaseNumber.init), let high = limits.maxOfficeVersion.flatMap(ReleaseNumber.init), high < low {
            throw CentralError.badRequest(
                "the maximum \(high) is below the minimum \(low)", hint: "No office could sync; give a maximum at or above the minimum.")
        }
        do {
            try database.write { db in try Self.setFleetLimits(db, limits, now: now, position: Self.nextPosition(db)) }
        } catch {
            throw CentralError.storage(error, during: "setting the fleet limits")
        }
        fleetCache.withLock { $0.limitsReadAt = nil }
    }

    static func setFleetLimits(_ db: Database, _ limits: FleetLimits, now: Date, position: Int64) throws {
        for (key, value) in [(minVersionKey, limits.minOfficeVersion), (maxVersionKey, limits.maxOfficeVersion)] {
            if let value {
                try db.execute(
                    sql: "INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value", arguments: [key, value])
            } else {
                try db.execute(sql: "DELETE FROM meta WHERE key = ?", arguments: [key])
            }
        }
        try journal(
            db, .fleetLimitsSet(.init(minOfficeVersion: limits.minOfficeVersion, maxOfficeVersion: limits.maxOfficeVersion)),
            at: now, position: position)
    }

    /// The limits for the request path: read from the store at most every two seconds.
    func currentFleetLimits() throws(CentralError) -> FleetLimits {
        let now = ContinuousClock.now
        if let cached = fleetCache.withLock({ c in c.limitsReadAt.map { now - $0 < .seconds(2) } == true ? c.limits : nil }) { return cached }
        let limits = try fleetLimits()
        fleetCache.withLock {
            $0.limits = limits
            $0.limitsReadAt = now
        }
        return limits
    }

    /// Whether a visit should be written: what the office runs changed, or a minute passed.
    func visitIsNews(_ office: OfficeCode, software: String?, protocol version: Int?, schema: Int?) -> Bool {
        let now = ContinuousClock.now
        return fleetCache.withLock { c in
            if let last = c.written[office.rawValue], last.software == software, last.protocol == version, last.schema == schema,
                now - last.at < .seconds(60)
            {
                return false
            }
            c.written[office.rawValue] = (software, version, schema, now)
            return true
        }
    }

    /// Lets the next request write the visit again (the last write failed).
    func forgetVisit(_ office: OfficeCode) {
        _ = fleetCache.withLock { $0.written.removeValue(forKey: office.rawValue) }
    }

    /// Writes when an office was seen and what it runs (``visitIsNews`` decides when).
    func recordVisit(_ office: OfficeCode, software: String?, protocol version: Int?, schema: Int?, now: Date = Date()) throws(CentralError) {
        do {
            try database.write { db in
                try db.execute(
                    sql: """
                        INSERT INTO office_seen(office, software, protocol, schema, seen_at) VALUES (?, ?, ?, ?, ?)
                        ON CONFLICT(office) DO UPDATE SET software = excluded.software, protocol = excluded.protocol,
                            schema = excluded.schema, seen_at = excluded.seen_at
                        """, arguments: [office.rawValue, software, version, schema, Timestamps.format(now)])
            }
        } catch {
            throw CentralError.storage(error, during: "recording a visit of office \(office)")
        }
    }

    /// Every office with what it last said it runs and when it was last seen.
    public func fleet() throws(CentralError) -> [FleetEntry] {
        do {
            return try database.read { db in
                try Row.fetchAll(
                    db,
                    sql: """
                        SELECT o.code, o.last_sequence, o.revoked_at, o.merged_into, s.software, s.protocol, s.schema, s.seen_at
                        FROM office o LEFT JOIN office_seen s ON s.office = o.code ORDER BY o.code
                        """
                ).map {
                    FleetEntry(
                        office: OfficeCode(unchecked: $0["code"]), software: $0["software"], protocolVersion: $0["protocol"],
                        schemaVersion: $0["schema"], seenAt: $0["seen_at"], lastSequence: ChangesetSequence($0["last_sequence"]),
                        revoked: ($0["revoked_at"] as String?) != nil, mergedInto: ($0["merged_into"] as String?).map(OfficeCode.init(unchecked:)))
                }
            }
        } catch {
            throw CentralError.storage(error, during: "listing the fleet")
        }
    }
}
