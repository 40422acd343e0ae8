import ArgumentParser
import Central
import Foundation
import SyncCore

struct Summary: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show what the centre holds: records per office and the consolidated totals.")

    @OptionGroup var location: StoreLocation

    func run() async throws {
        let store = try await location.open(.reading)
        print("epoch \(store.epoch)")
        print("records (live / deleted):")
        for row in try store.recordCounts() {
            print(
                "  \(row.office.padding(toLength: 8, withPad: " ", startingAt: 0)) \(row.table.padding(toLength: 18, withPad: " ", startingAt: 0)) \(row.live) / \(row.deleted)"
            )
        }
        print("consolidated totals (VND):")
        print("  province year fund      plan                 disbursed            %")
        try store.refreshTotals()
        for t in try store.totals() {
            let percent = t.plan > 0 ? Money.percent(t.disbursed, of: t.plan, fractionDigits: 1) : "-"
            print(
                "  \(t.province.padding(toLength: 8, withPad: " ", startingAt: 0)) \(t.year) \(t.fund.padding(toLength: 9, withPad: " ", startingAt: 0)) \(String(t.plan).padding(toLength: 20, withPad: " ", startingAt: 0)) \(String(t.disbursed).padding(toLength: 20, withPad: " ", startingAt: 0)) \(percent)"
            )
        }
    }
}
