import Foundation
import GRDB
import Hummingbird
import SyncCore
import WireFormat

/// The releases of promo-sync the centre accepts (docs/OPERATIONS.md, "Rolling out a release"):
/// an operator freezes a bad rollout with a maximum, or retires an old release with a minimum,
/// while the centre serves. Journaled, so `audit verify` replays them.
public struct FleetLimits: Sendable, Equatable {
    /// The oldest release (`X.Y.Z`) accepted; offices below it are told to upgrade. nil: no minimum.
    public var minOfficeVersion: String?
    /// The newest release (`X.Y.Z`) accepted, freezing a rollout; offices above it are refused. nil: no maximum.
    public var maxOfficeVersion: String?

    /// Creates limits; nil leaves that side open.
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
    /// The office's code.
    public var office: OfficeCode
    /// The release it says it runs (`Promo-Software-Version`); nil before it was first seen, or when it sent none (before 1.1.0).
    public var software: String?
    /// The protocol it says it speaks (`Promo-Protocol-Version`); nil when it was not seen or sent none.
    public var protocolVersion: Int?
    /// Its replica's schema (`Promo-Schema-Version`); nil when it was not seen or sent none.
    public var schemaVersion: Int?
    /// When the office was last seen (its visits are written at most once a minute).
    public var seenAt: String?
    /// The sequence of its last changeset the centre applied; 0 before the first.
    public var lastSequence: ChangesetSequence
    /// Whether its token is revoked.
    public var revoked: Bool
    /// The office it was merged into, if it was.
    public var mergedInto: OfficeCode?
    /// When its last changeset arrived.
    public var lastPushAt: String? = nil
    /// When it last pulled (to the minute, as visits are written).
    public var lastPullAt: String? = nil
    /// What it last said of itself (since 1.3.0).
    public var report: OfficeReport? = nil
    /// Bytes it moved (request and answer bodies as sent) on `bytesDay` (UTC), as last written.
    public var bytesDay: String? = nil
    /// The byte count itself; 0 when nothing was counted.
    public var bytes: Int64 = 0
}

/// One authenticated request of an office, as its visit records it.
struct Visit: Sendable, Equatable {
    var software: String?
    var protocolVersion: Int?
    var schema: Int?
    var report: OfficeReport?
}

/// What the request path keeps in memory: the limits (read again after a few seconds, so that a
/// change made by `promo-central fleet limits` from another process takes effect while serving),
/// each office's latest visit (to the request: the fleet listing reads it over what was written)
/// and when its visit was last written, and the bytes each office moved today.
struct FleetCache {
    /// One office as its requests to this process showed it.
    struct Latest {
        /// Its last request's versions, and the last report it sent (requests outside a sync
        /// cycle, such as a verification's, carry none).
        var visit: Visit
        var seenAt: Date
        /// When a pull page was last served to it.
        var pullAt: Date?
        /// Bytes counted since the visit was last written, on `bytesDay` (UTC).
        var bytesDay: String?
        var unwrittenBytes: Int64 = 0
    }

    var limits = FleetLimits()
    var limitsReadAt: ContinuousClock.Instant?
    var latest: [String: Latest] = [:]
    var written: [String: (visit: Visit, at: ContinuousClock.Instant)] = [:]
}

extension CentralStore {
    static let minVersionKey = "fleet.min_office_version"
    static let maxVersionKey = "fleet.max_office_version"

    /// The limits as the store holds them now (nil sides: none set).
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
    /// what the office runs or the health it reports changed, or a minute passed since the last
    /// write. A request without a report keeps the last one.
    func noteVisit(_ office: OfficeCode, _ visit: Visit, now: Date = Date()) -> Bool {
        let instant = ContinuousClock.now
        return fleetCache.withLock { c in
            var latest = c.latest[office.rawValue] ?? FleetCache.Latest(visit: visit, seenAt: now)
            let report = visit.report ?? latest.visit.report
            latest.visit = visit
            latest.visit.report = report
            latest.seenAt = now
            c.latest[office.rawValue] = latest
            if let last = c.written[office.rawValue], last.visit.software == visit.software, last.visit.protocolVersion == visit.protocolVersion,
                last.visit.schema == visit.schema, visit.report == nil || last.visit.report?.health == visit.report?.health,
                instant - last.at < .seconds(60)
            {
                return false
            }
            c.written[office.rawValue] = (latest.visit, instant)
            return true
        }
    }

    /// Notes that a pull page was served to an office (after it was built: a pull that fails
    /// does not count, so an office whose pulls all fail turns silent).
    func notePull(_ office: OfficeCode, now: Date = Date()) {
        fleetCache.withLock { $0.latest[office.rawValue]?.pullAt = now }
    }

    /// Lets the next request write the visit again (the last write failed).
    func forgetVisit(_ office: OfficeCode) {
        _ = fleetCache.withLock { $0.written.removeValue(forKey: office.rawValue) }
    }

    /// Counts the bytes of an office's request and answer, on the UTC day of `now`. Each is
    /// taken as at most 4 GiB and the sum saturates: a length an office declares cannot overflow it.
    func countBytes(_ office: String, _ received: Int64, _ sent: Int64, now: Date = Date()) {
        let day = String(Timestamps.format(now).prefix(10))
        let count = min(max(0, received), 1 << 32) + min(max(0, sent), 1 << 32)
        fleetCache.withLock { c in
            guard var latest = c.latest[office] else { return }
            if latest.bytesDay != day {
                latest.bytesDay = day
                latest.unwrittenBytes = 0
            }
            let (sum, overflow) = latest.unwrittenBytes.addingReportingOverflow(count)
            latest.unwrittenBytes = overflow ? .max : sum
            c.latest[office] = latest
        }
    }

    /// Writes what this process last saw of an office (``noteVisit`` decides when): when it was
    /// seen and last pulled, what it runs, the report it last sent (kept when it sent none), and
    /// the bytes counted since the last write, added to the day's.
    func recordVisit(_ office: OfficeCode) throws(CentralError) {
        guard
            let latest = fleetCache.withLock({ c -> FleetCache.Latest? in
                let latest = c.latest[office.rawValue]
                c.latest[office.rawValue]?.unwrittenBytes = 0
                return latest
            })
        else { return }
        let visit = latest.visit
        do {
            try database.write { db in
                try db.execute(
                    sql: """
                        INSERT INTO office_seen(office, software, protocol, schema, seen_at, last_pull_at, bytes_day, bytes)
                        VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                        ON CONFLICT(office) DO UPDATE SET software = excluded.software, protocol = excluded.protocol,
                            schema = excluded.schema, seen_at = excluded.seen_at,
                            last_pull_at = coalesce(excluded.last_pull_at, office_seen.last_pull_at),
                            bytes = CASE WHEN excluded.bytes_day IS NULL THEN office_seen.bytes
                                WHEN office_seen.bytes_day IS excluded.bytes_day THEN office_seen.bytes + excluded.bytes
                                ELSE excluded.bytes END,
                            bytes_day = coalesce(excluded.bytes_day, office_seen.bytes_day)
                        """,
                    arguments: [
                        office.rawValue, visit.software, visit.protocolVersion, visit.schema, Timestamps.format(latest.seenAt),
                        latest.pullAt.map(Timestamps.format), latest.bytesDay, latest.unwrittenBytes,
                    ])
                guard let r = visit.report else { return }
                try db.execute(
                    sql: """
                        UPDATE office_seen SET report_health = ?, report_reason = ?, report_pending = ?, report_pending_since = ?,
                            report_conflicts = ?, report_verified_at = ?, report_verify = ?, report_epoch = ?
                        WHERE office = ?
                        """,
                    arguments: [
                        r.health.rawValue, r.reason, r.pendingChanges, r.pendingSince.map(Timestamps.format), r.openConflicts,
                        r.verifiedAt.map(Timestamps.format), r.verifyResult, r.epoch, office.rawValue,
                    ])
            }
        } catch {
            // The bytes go back to be written with the next visit.
            fleetCache.withLock { c in
                if c.latest[office.rawValue]?.bytesDay == latest.bytesDay { c.latest[office.rawValue]?.unwrittenBytes += latest.unwrittenBytes }
            }
            throw CentralError.storage(error, during: "recording a visit of office \(office)")
        }
    }

    /// Every office with what it last said it runs and of itself, when it was last seen and last
    /// pulled, and when its last changeset arrived: as written, brought up to the last request
    /// this process served.
    public func fleet() throws(CentralError) -> [FleetEntry] {
        let latest = fleetCache.withLock { $0.latest }
        return try writtenFleet().map { written in
            var entry = written
            guard let seen = latest[entry.office.rawValue] else { return entry }
            entry.software = seen.visit.software
            entry.protocolVersion = seen.visit.protocolVersion
            entry.schemaVersion = seen.visit.schema
            entry.seenAt = Timestamps.format(seen.seenAt)
            entry.lastPullAt = seen.pullAt.map(Timestamps.format) ?? entry.lastPullAt
            entry.report = seen.visit.report ?? entry.report
            if let day = seen.bytesDay {
                entry.bytes = (entry.bytesDay == day ? entry.bytes : 0) &+ seen.unwrittenBytes
                entry.bytesDay = day
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
