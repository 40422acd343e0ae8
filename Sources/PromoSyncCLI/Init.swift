import ArgumentParser
import Foundation
import Replica
import SyncCore

struct Init: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Create the office replica and record who this office is.")

    @OptionGroup var location: ReplicaLocation

    @Option(help: "This office's province code (Decision 19/2025), e.g. 79.")
    var office: String

    @Option(help: "The address of promo-central, e.g. https://central.example.vn:8443")
    var central: String

    @Option(name: .customLong("token-file"), help: "File holding the office token (mode 600). Default: DATA-DIR/office.token")
    var tokenFile: String?

    func validate() throws {
        guard let url = URL(string: central), ["http", "https"].contains(url.scheme ?? ""), url.host != nil else {
            throw ValidationError("--central '\(central)' is not an http(s) URL. Give e.g. https://central.example.vn:8443")
        }
    }

    func run() throws {
        let code = try OfficeCode(office)
        let directory = try location.directory
        // A folder made here is the service user's alone; one that exists must pass the same
        // check as every other command's (nobody else may write in it).
        if !FileManager.default.fileExists(atPath: directory) {
            try FileManager.default.createDirectory(
                atPath: directory, withIntermediateDirectories: true,
                attributes: [.posixPermissions: 0o700])
        }
        let token = tokenFile ?? (directory as NSString).appendingPathComponent("office.token")
        let replica = try Replica.create(
            at: try location.checkedReplicaPath,
            settings: ReplicaSettings(office: code, centralURL: central, tokenFile: (token as NSString).standardizingPath))
        print("Created the replica of office \(code) at \(replica.path).")
        if !FileManager.default.fileExists(atPath: token) {
            print("Next: put the token from 'promo-central office add \(code)' in \(token) (chmod 600), then run: promo-sync sync")
        }
    }
}
