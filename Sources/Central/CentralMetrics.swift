import Foundation
import GRDB
import Prometheus
import SyncCore

/// promo-central's metrics in Prometheus text format, served at `/metrics`.
public final class CentralMetrics: Sendable {
    /// The registry every metric is made in, and that `exposition(store:)` writes out.
    public let registry = PrometheusCollectorRegistry()
    let pushesApplied: Counter
    let pushesDuplicate: Counter
    let changesReceived: Counter
    let pulls: Counter
    let recordsServed: Counter
    let clientErrors: Counter
    let serverErrors: Counter
    let connectionsRefused: Counter
    let offices: Gauge
    let openConflicts: Gauge
    let logPosition: Gauge
    let totalsFailing: Gauge
    let recordHeldAt: Gauge
    let recordBehind: Gauge

    /// Creates every metric at zero.
    public init() {
        pushesApplied = registry.makeCounter(
            descriptor: .init(namespace: "promo_central", metricName: "pushes", unitName: "total", helpText: "Changesets received, by outcome."),
            labels: [("outcome", "applied")])
        pushesDuplicate = registry.makeCounter(
            descriptor: .init(namespace: "promo_central", metricName: "pushes", unitName: "total", helpText: "Changesets received, by outcome."),
            labels: [("outcome", "duplicate")])
        changesReceived = registry.makeCounter(
            descriptor: .init(namespace: "promo_central", metricName: "changes_received", unitName: "total", helpText: "Changes in applied changesets."))
        pulls = registry.makeCounter(descriptor: .init(namespace: "promo_central", metricName: "pulls", unitName: "total", helpText: "Pull pages served."))
        recordsServed = registry.makeCounter(
            descriptor: .init(namespace: "promo_central", metricName: "records_served", unitName: "total", helpText: "Records sent in pull pages."))
        clientErrors = registry.makeCounter(
            descriptor: .init(namespace: "promo_central", metricName: "errors", unitName: "total", helpText: "Requests answered with an error, by class."),
            labels: [("class", "client")])
        serverErrors = registry.makeCounter(
            descriptor: .init(namespace: "promo_central", metricName: "errors", unitName: "total", helpText: "Requests answered with an error, by class."),
            labels: [("class", "server")])
        connectionsRefused = registry.makeCounter(
            descriptor: .init(
                namespace: "promo_central", metricName: "connections_refused", unitName: "total",
                helpText: "Connections closed on arrival: their address had limits.connections_per_address open already."))
        offices = registry.makeGauge(descriptor: .init(namespace: "promo_central", metricName: "offices", unitName: "", helpText: "Registered offices."))
        openConflicts = registry.makeGauge(
            descriptor: .init(
                namespace: "promo_central", metricName: "open_conflicts", unitName: "",
                helpText: "Conflict records the centre has to answer: unresolved, or of its own change and resolved by an office only."))
        logPosition = registry.makeGauge(
            descriptor: .init(namespace: "promo_central", metricName: "change_log_position", unitName: "", helpText: "The newest position in the change log."))
        totalsFailing = registry.makeGauge(
            descriptor: .init(
                namespace: "promo_central", metricName: "offices_totals_failing", unitName: "",
                helpText: "Offices whose consolidated totals cannot be recomputed (see the log); their last totals stand."))
        recordHeldAt = registry.makeGauge(
            descriptor: .init(
                namespace: "promo_central", metricName: "record_held", unitName: "timestamp_seconds",
                helpText: "With store.postgres_url: when the PostgreSQL record last held everything the store had committed (0 without store.postgres_url).")
        )
        recordBehind = registry.makeGauge(
            descriptor: .init(
                namespace: "promo_central", metricName: "record_behind", unitName: "positions",
                helpText: "With store.postgres_url: record versions the store holds and its PostgreSQL record does not yet."))
    }

    func recordStatus(_ code: Int) {
        if code >= 500 { serverErrors.increment() } else if code >= 400 { clientErrors.increment() }
    }

    /// The exposition text, with the store's gauges read now, and the durable record's when the
    /// store has one (`record`: its last pass and the record position it holds).
    public func exposition(store: CentralStore, record: (heldAt: Date?, held: LogMark)? = nil) -> String {
        if let (officeCount, conflicts, position) = try? store.database.read({ db in
            (
                try Int.fetchOne(db, sql: "SELECT count(*) FROM office WHERE revoked_at IS NULL") ?? 0,
                try Int.fetchOne(
                    db,
                    sql: "SELECT count(*) FROM record WHERE tbl = 'conflict' AND deleted_at IS NULL AND \(CentralStore.openForTheCentre)") ?? 0,
                try Int64.fetchOne(db, sql: "SELECT coalesce(max(seq), 0) FROM record") ?? 0
            )
        }) {
            offices.set(Double(officeCount))
            openConflicts.set(Double(conflicts))
            logPosition.set(Double(position))
            if let record { recordBehind.set(Double(max(0, position - record.held.recordPosition))) }
        }
        if let record { recordHeldAt.set(record.heldAt?.timeIntervalSince1970 ?? 0) }
        totalsFailing.set(Double(store.totalsProblems().count))
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return String(decoding: buffer, as: UTF8.self)
    }
}
