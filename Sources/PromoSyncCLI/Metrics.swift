import ArgumentParser
import Foundation
import Replica
import SyncAgent

struct Metrics: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the office's metrics in Prometheus text format.",
        discussion:
            "For node_exporter's textfile collector, e.g. every minute: promo-sync metrics > /var/lib/node_exporter/textfile_collector/promo-sync.prom.tmp && mv …"
    )

    @OptionGroup var location: ReplicaLocation

    func run() throws {
        let configuration = try location.configuration()
        let replica = try location.open()
        let status = try replica.status()
        let report = StatusReport.evaluate(
            status, now: Date(), thresholds: configuration.thresholds,
            isRunning: { kill($0, 0) == 0 || errno == EPERM })
        print(OfficeMetrics.exposition(status: status, report: report, counters: try replica.counters()), terminator: "")
    }
}
