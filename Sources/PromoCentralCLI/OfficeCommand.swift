import ArgumentParser
import Central
import Foundation
import SyncCore

struct OfficeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "office", abstract: "Register and list offices.", subcommands: [Add.self, List.self])

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Register an office and print its token once (only a hash is stored).")

        @OptionGroup var location: StoreLocation
        @Argument(help: "The office's province code, e.g. 79.") var code: String
        @Option(name: .customLong("token-file"), help: "Also write the token to this file (mode 600) instead of only printing it.")
        var tokenFile: String?

        func run() throws {
            let office = try OfficeCode(code)
            let token = try location.open().addOffice(office)
            if let tokenFile {
                guard FileManager.default.createFile(atPath: tokenFile, contents: Data((token + "\n").utf8), attributes: [.posixPermissions: 0o600]) else {
                    throw ValidationError("cannot write \(tokenFile); the office is registered, so rotate its token once the path is writable")
                }
                try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: tokenFile)
                print("Registered office \(office); its token is in \(tokenFile).")
            } else {
                print(token)
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List registered offices.")
        @OptionGroup var location: StoreLocation

        func run() throws {
            for office in try location.open().offices() {
                print("\(office.code)  last changeset \(office.lastSequence)\(office.revoked ? "  (revoked)" : "")")
            }
        }
    }
}
