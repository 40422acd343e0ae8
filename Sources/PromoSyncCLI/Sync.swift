import ArgumentParser
import Foundation
import Logging
import Replica
import SyncAgent
import Transport

/// Builds the engine for the replica's recorded settings.
func makeEngine(_ replica: Replica, logger: Logger) throws -> SyncEngine {
    let settings = try replica.settings()
    let token = try TokenFile.read(path: settings.tokenFile)
    let client = CentralClient(baseURL: settings.centralURL, token: token, http: HTTPClient())
    return SyncEngine(replica: replica, client: client, logger: logger)
}

struct Sync: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run one sync cycle now (push, then pull). Exit 0 when it succeeded, 1 when it failed.")

    @OptionGroup var location: ReplicaLocation

    func run() async throws {
        let logger = Logs.bootstrap()
        let replica = try location.open()
        let engine = try makeEngine(replica, logger: logger)
        do {
            let report = try await engine.runCycle()
            print("pushed \(report.changesPushed) changes in \(report.changesetsPushed) changesets"
                  + (report.duplicatesAcknowledged > 0 ? " (\(report.duplicatesAcknowledged) already held by the centre)" : "")
                  + "; pulled \(report.recordsPulled) records in \(report.pagesPulled) pages")
        } catch {
            printError("sync failed: \(error.message)")
            if let hint = error.hint { printError("hint: \(hint)") }
            throw ExitCode(1)
        }
    }
}
