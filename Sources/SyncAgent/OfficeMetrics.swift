import Foundation
import Prometheus
import Replica

/// The office's metrics in Prometheus text format, from the replica (so they are right whether or
/// not the daemon runs). `promo-sync metrics` prints them for node_exporter's textfile collector.
public enum OfficeMetrics {
    /// The metrics as of `now`, from the replica's status, the report made of it and the daemon's counters in the replica.
    public static func exposition(status: ReplicaStatus, report: StatusReport, counters: [String: Int64], now: Date = Date()) -> String {
        let registry = PrometheusCollectorRegistry()
        func gauge(_ name: String, _ help: String, _ value: Double?) {
            guard let value else { return }
            registry.makeGauge(descriptor: .init(namespace: "promo_sync", metricName: name, unitName: "", helpText: help)).set(value)
        }
        func counter(_ name: String, _ help: String, labels: [(String, String)] = [], key: String) {
            let c = registry.makeCounter(descriptor: .init(namespace: "promo_sync", metricName: name, unitName: "total", helpText: help), labels: labels)
            c.increment(by: counters[key] ?? 0)
        }
        gauge("health", "0 in sync, 1 degraded, 2 broken (the exit code of promo-sync status).", Double(report.exitCode))
        gauge("pending_changes", "Captured local changes not yet acknowledged by the centre.", Double(status.pending.changes))
        gauge("unacknowledged_changesets", "Changesets made but not yet acknowledged.", Double(status.pending.unacknowledgedChangesets))
        gauge("oldest_pending_age_seconds", "Age of the oldest pending change.", status.pending.oldestChangeAt.map { now.timeIntervalSince($0) } ?? 0)
        gauge("last_push_timestamp_seconds", "When a push last succeeded (Unix time).", status.lastPushAt?.timeIntervalSince1970)
        gauge("last_pull_timestamp_seconds", "When a pull last succeeded (Unix time).", status.lastPullAt?.timeIntervalSince1970)
        gauge("last_contact_timestamp_seconds", "When the centre last answered (Unix time).", status.lastContactAt?.timeIntervalSince1970)
        gauge("open_conflicts", "Conflict records waiting for a person.", Double(status.openConflicts))
        gauge("pull_cursor", "Position in the central change log.", Double(status.position.cursor.rawValue))
        gauge("daemon_running", "1 when the daemon process is alive.", report.daemon.running ? 1 : 0)
        counter("cycles", "Sync cycles that succeeded.", key: "cycles_ok")
        counter("changesets_pushed", "Changesets acknowledged by the centre.", key: "changesets_pushed")
        counter("changes_pushed", "Changes acknowledged by the centre.", key: "changes_pushed")
        counter("pages_pulled", "Pull pages applied.", key: "pages_pulled")
        counter("records_pulled", "Records applied from pull pages.", key: "records_pulled")
        counter("errors", "Failed sync cycles, by class.", labels: [("class", "transient")], key: "errors_transient")
        counter("errors", "Failed sync cycles, by class.", labels: [("class", "permanent")], key: "errors_permanent")
        counter("repairs", "Times this office re-sent what the centre lacked (a restored or rolled-back centre).", key: "repairs")
        counter(
            "rejoins", "Times this office continued the centre's chain by itself, its replica behind what it had sent (a server restored from an old backup).",
            key: "rejoins")
        gauge("refused_changeset", "1 while the centre refuses a changeset for one of its rows (promo-sync outbox).", status.refusal == nil ? 0 : 1)
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return String(decoding: buffer, as: UTF8.self)
    }
}
