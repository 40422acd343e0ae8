import ArgumentParser
import Central
import Foundation

struct Backup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Write a consistent copy of the central store (safe while serving).")

    @OptionGroup var location: StoreLocation
    @Option(help: "The backup file to write.") var to: String

    func run() async throws {
        try await location.open(.reading).backup(to: to)
        print("backup written to \(to)")
    }
}

struct Restore: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Restore the central store from a backup and start a new epoch (stop the server first).",
        discussion: "Offices see the new epoch, pause, and recover with: promo-sync resync --force")

    @OptionGroup var location: StoreLocation
    @Option(help: "The backup file written by promo-central backup.") var from: String

    func run() async throws {
        let path = try location.checkedStorePath
        try await location.checkStanding(.writing)
        let epoch = try CentralStore.restore(from: from, to: path)
        print("restored \(path) from \(from); new epoch \(epoch)")
        print("Offices will report an epoch change; have each run: promo-sync resync --force")
    }
}
