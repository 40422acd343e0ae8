import ArgumentParser
import Foundation
import SyncAgent

struct Verify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compare this office's rows with the centre's by digest, changing no row. Exit 0 identical, 1 different.",
        discussion: """
            Only the differing ranges are descended into, so the cost grows with the differences, not the rows. \
            The office's digests are kept in the replica and only the rows changed since the last verification are hashed; \
            the first verification hashes every row once (about 2 s a million rows).
            """)

    @OptionGroup var location: ReplicaLocation

    @Flag(help: "Hash every row again instead of trusting the stored digests (after the file was edited with its triggers removed, or restored by hand).")
    var full = false

    func run() async throws {
        let configuration = try location.configuration()
        let engine = try OfficeServices.engine(try location.open(), configuration: configuration, logger: Logs.bootstrap(level: configuration.logLevel))
        do {
            let report = try await engine.verify(full: full)
            print(
                "verify: \(report.summary) (\(report.requests) requests, \(report.bytesSent + report.bytesReceived) bytes exchanged, \(report.rowsHashed) rows hashed)"
            )
            for range in report.differingRanges { print("  differs: \(range)") }
            for (table, ids) in report.localOnly.sorted(by: { $0.key < $1.key }) { print("  only here: \(table) \(ids.joined(separator: " "))") }
            for (table, ids) in report.centralNewer.sorted(by: { $0.key < $1.key }) { print("  differs at the centre: \(table) \(ids.joined(separator: " "))") }
            if !report.identical {
                print("hint: promo-sync resync --force re-sends what the centre lacks and fetches what differs")
                throw ExitCode(1)
            }
        } catch let error as SyncAgentError {
            printError("verify failed: \(error.message)")
            if let hint = error.hint { printError("hint: \(hint)") }
            throw ExitCode(2)
        }
    }
}
