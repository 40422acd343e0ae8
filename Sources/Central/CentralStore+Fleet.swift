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
    /// When its last changeset arrived.
    public var lastPushAt: String? = nil
    /// When it last pulled (to the minute, as visits are written).
    public var lastPullAt: String? = nil
    /// What it last said of itself (since 1.3.0).
    public var report: OfficeReport? = nil
    /// Bytes it moved (request and answer bodies as sent) on `bytesDay` (UTC), as last written.
    public var bytesDay: String? = nil
    public var bytes: Int64 = 0
}

/// One authenticated request of an office, as its visit records it.
struct Visit: Sendable, Equatable {
    var software: String?
    var protocolVersion: Int?
    var schema: Int?
    var report: OfficeReport?
    /// The request pulls the change log.
    var pull = false
}

/// What the request path keeps in memory: the limits (read again after a few seconds, so that a
/// change made by `promo-central fleet limits` from another process takes effect while serving),
/// each office's latest visit (to the request: the fleet listing reads it over what was written)
/// and when its visit was last written, and the bytes each office moved today.
struct FleetCache {
    var limits = FleetLimits()
    var limitsReadAt: ContinuousClock.Instant?
    var latest: [String: (visit: Visit, seenAt: Date, pullAt: Date?)] = [:]
    var written: [String: (visit: Visit, at: ContinuousClock.Instant)] = [:]
    var bytes: [String: (day: String, count: Int64)] = [:]
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

    /// Notes an office's request in memory, and says whether its visit should be written now:
    /// what the office runs or its health changed, or a minute passed since the last write.
    /// Returns when it last pulled, for the write.
    func noteVisit(_ office: OfficeCode, _ visit: Visit, now: Date = Date()) -> (news: Bool, pullAt: Date?) {
        let instant = ContinuousClock.now
        return fleetCache.withLock { c in
            let pullAt = visit.pull ? now : c.latest[office.rawValue]?.pullAt
            c.latest[office.rawValue] = (visit, now, pullAt)
            if let last = c.written[office.rawValue], last.visit.software == visit.software, last.visit.protocolVersion == visit.protocolVersion,
                last.visit.schema == visit.schema, last.visit.report?.health == visit.report?.health, instant - last.at < .seconds(60)
            {
                return (false, pullAt)
            }
            c.written[office.rawValue] = (visit, instant)
            return (true, pullAt)
        }
    }

    /// Lets the next request write the visit again (the last write failed).
    func forgetVisit(_ office: OfficeCode) {
        _ = fleetCache.withLock { $0.written.removeValue(forKey: office.rawValue) }
    }

    /// Counts bytes an office moved, on the UTC day of `now`.
    func countBytes(_ office: String, _ count: Int64, now: Date = Date()) {
        let day = String(Timestamps.format(now).prefix(10))
        fleetCache.withLock { c in
            let today = c.bytes[office].map { $0.day == day ? $0.count : 0 } ?? 0
            c.bytes[office] = (day, today + count)
        }
    }

    /// Writes when an office was seen, what it runs and says of itself, and its bytes today
    /// (``noteVisit`` decides when).
    func recordVisit(_ office: OfficeCode, _ visit: Visit, pullAt: Date?, now: Date = Date()) throws(CentralError) {
        let bytes = fleetCache.withLock { $0.bytes[office.rawValue] }
        let r = visit.report
        do {
            try database.write { db in
                try db.execute(
                    sql: """
                        INSERT INTO office_seen(office, software, protocol, schema, seen_at, report_health, report_reason, report_pending,
                            report_pending_since, report_conflicts, report_verified_at, report_verify, report_epoch, last_pull_at, bytes_day, bytes)
                        VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, coalesce(?16, 0))
                        ON CONFLICT(office) DO UPDATE SET software = excluded.software, protocol = excluded.protocol,
                            schema = excluded.schema, seen_at = excluded.seen_at, report_health = excluded.report_health,
                            report_reason = excluded.report_reason, report_pending = excluded.report_pending,
                            report_pending_since = excluded.report_pending_since, report_conflicts = excluded.report_conflicts,
                            report_verified_at = excluded.report_verified_at, report_verify = excluded.report_verify,
                            report_epoch = excluded.report_epoch, last_pull_at = coalesce(excluded.last_pull_at, office_seen.last_pull_at),
                            bytes_day = coalesce(excluded.bytes_day, office_seen.bytes_day), bytes = CASE WHEN excluded.bytes_day IS NULL
                                THEN office_seen.bytes ELSE excluded.bytes END
                        """,
                    arguments: [
                        office.rawValue, visit.software, visit.protocolVersion, visit.schema, Timestamps.format(now), r?.health.rawValue, r?.reason,
                        r?.pendingChanges, r?.pendingSince.map(Timestamps.format), r?.openConflicts, r?.verifiedAt.map(Timestamps.format),
                        r?.verifyResult, r?.epoch, pullAt.map(Timestamps.format), bytes?.day, bytes?.count,
                    ])
            }
        } catch {
            throw CentralError.storage(error, during: "recording a visit of office \(office)")
        }
    }

    /// Every office with what it last said it runs and of itself, when it was last seen and last
    /// pulled, and when its last changeset arrived: as written, brought up to the last request
    /// this process served.
    public func fleet() throws(CentralError) -> [FleetEntry] {
        let (latest, bytes) = fleetCache.withLock { ($0.latest, $0.bytes) }
        return try writtenFleet().map { written in
            var entry = written
            if let visit = latest[entry.office.rawValue] {
                entry.software = visit.visit.software
                entry.protocolVersion = visit.visit.protocolVersion
                entry.schemaVersion = visit.visit.schema
                entry.seenAt = Timestamps.format(visit.seenAt)
                entry.lastPullAt = visit.pullAt.map(Timestamps.format) ?? entry.lastPullAt
                entry.report = visit.visit.report ?? entry.report
            }
            if let today = bytes[entry.office.rawValue] {
                entry.bytesDay = today.day
                entry.bytes = today.count
            }
            return entry
        }
    }

    /// The fleet as the store holds it.
    func writtenFleet() throws(CentralError) -> [FleetEntry] {
        do {
            return try database.read { db in
                try Row.fetchAll(
                    db,
                    sql: """
                        SELECT o.code, o.last_sequence, o.revoked_at, o.merged_into, s.*,
                            (SELECT received_at FROM changeset c WHERE c.office = o.code ORDER BY c.sequence DESC LIMIT 1) AS last_push_at
                        FROM office o LEFT JOIN office_seen s ON s.office = o.code ORDER BY o.code
                        """
                ).map { row in
                    var entry = FleetEntry(
                        office: OfficeCode(unchecked: row["code"]), software: row["software"], protocolVersion: row["protocol"],
                        schemaVersion: row["schema"], seenAt: row["seen_at"], lastSequence: ChangesetSequence(row["last_sequence"]),
                        revoked: (row["revoked_at"] as String?) != nil, mergedInto: (row["merged_into"] as String?).map(OfficeCode.init(unchecked:)),
                        lastPushAt: row["last_push_at"], lastPullAt: row["last_pull_at"], bytesDay: row["bytes_day"], bytes: row["bytes"] ?? 0)
                    if let health = (row["report_health"] as String?).flatMap(OfficeReport.Health.init(rawValue:)) {
                        entry.report = OfficeReport(
                            health: health, reason: row["report_reason"], pendingChanges: row["report_pending"] ?? 0,
                            pendingSince: Timestamps.parse(row["report_pending_since"]), openConflicts: row["report_conflicts"] ?? 0,
                            verifiedAt: Timestamps.parse(row["report_verified_at"]), verifyResult: row["report_verify"], epoch: row["report_epoch"])
                    }
                    return entry
                }
            }
        } catch {
            throw CentralError.storage(error, during: "listing the fleet")
        }
    }
}
