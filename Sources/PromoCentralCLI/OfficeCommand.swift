import ArgumentParser
import Central
import Foundation
import SyncCore

struct OfficeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "office", abstract: "Register and list offices.",
        subcommands: [Add.self, List.self, RotateToken.self, Revoke.self, Reinstate.self, Merge.self, Unmerge.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Register an office and print its token once (only a hash is stored).")

        @OptionGroup var location: StoreLocation
        @Argument(help: "The office's province code, e.g. 79.") var code: String
        @Option(name: .customLong("token-file"), help: "Also write the token to this file (mode 600) instead of only printing it.")
        var tokenFile: String?

        func run() async throws {
            let office = try OfficeCode(code)
            let token = try await location.open(.writing).addOffice(office)
            try Self.deliver(token, office: office, to: tokenFile)
        }

        /// Prints the token once, or writes it to a file only its owner can read.
        static func deliver(_ token: String, office: OfficeCode, to tokenFile: String?) throws {
            guard let tokenFile else {
                print(token)
                return
            }
            guard FileManager.default.createFile(atPath: tokenFile, contents: Data((token + "\n").utf8), attributes: [.posixPermissions: 0o600]) else {
                throw ValidationError("cannot write \(tokenFile); run promo-central office rotate-token \(office) once the path is writable")
            }
            try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: tokenFile)
            print("The token of office \(office) is in \(tokenFile).")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List registered offices.")
        @OptionGroup var location: StoreLocation

        func run() async throws {
            for office in try await location.open(.reading).offices() {
                let merged = office.mergedInto.map { "  (merged into \($0))" } ?? ""
                print("\(office.code)  last changeset \(office.lastSequence)\(office.revoked ? "  (revoked)" : "")\(merged)")
            }
        }
    }
}

extension OfficeCommand {
    struct RotateToken: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rotate-token", abstract: "Issue a new token for an office; the old one stops working at once.")
        @OptionGroup var location: StoreLocation
        @Argument(help: "The office code.") var code: String
        @Option(name: .customLong("token-file"), help: "Write the new token to this file (mode 600) instead of printing it.")
        var tokenFile: String?

        func run() async throws {
            let office = try OfficeCode(code)
            let store = try await location.open(.writing)
            let token = try store.rotateToken(office)
            try Add.deliver(token, office: office, to: tokenFile)
            if try store.offices().first(where: { $0.code == office })?.revoked == true {
                print("office \(office) stays revoked: the new token works once you run: promo-central office reinstate \(office)")
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Revoke an office (a stolen server): every request with its token is refused until it is reinstated.")
        @OptionGroup var location: StoreLocation
        @Argument(help: "The office code.") var code: String

        func run() async throws {
            try await location.open(.writing).revokeToken(try OfficeCode(code))
            print(
                "revoked office \(code); to let it in again, issue a new token (promo-central office rotate-token \(code)) and then run: promo-central office reinstate \(code)"
            )
        }
    }

    struct Reinstate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Turn a revoked office back on: its latest token works again.")
        @OptionGroup var location: StoreLocation
        @Argument(help: "The office code.") var code: String

        func run() async throws {
            try await location.open(.writing).reinstate(try OfficeCode(code))
            print("office \(code) is active again; the token issued to it last works from now on")
        }
    }
}

extension OfficeCommand {
    struct Merge: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Merge offices into another (as provinces merged): their records move to it, history kept.",
            discussion: """
                Every record of the retiring offices is republished as the receiving office's, keeping its \
                province code; the receiving office pulls them with its next sync and may edit them. A retiring \
                office's daemon may still push what it had pending; everything else it asks is answered \
                'office_merged', and its promo-sync status says where its records went.
                """)
        @OptionGroup var location: StoreLocation
        @Argument(help: "The codes of the offices that retire, e.g. 77.") var offices: [String]
        @Option(help: "The office that takes them over, e.g. 79.") var into: String
        @Option(
            name: .customLong("override-reason"),
            help: "Merge against the official map of Decision 19/2025, for this reason (kept in the audit journal).")
        var overrideReason: String?

        func run() async throws {
            let outcome = try await location.open(.writing).merge(
                try offices.map { try OfficeCode($0) }, into: try OfficeCode(into), overrideReason: overrideReason)
            print(
                "merged \(outcome.retired.map(\.rawValue).joined(separator: ", ")) into \(outcome.into): \(outcome.aggregates) projects, plan lines and programmes re-homed"
            )
        }
    }
}

extension OfficeCommand {
    struct Unmerge: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Undo a merge: the office is active again and its records are its own again (history kept).",
            discussion: """
                The records the office made (and those of offices merged into it) are refolded as its own and \
                republished; what the receiving office wrote to them meanwhile stays in the history. The office that \
                held them is sent a recall for each row: its next pull deletes its copies and keeps aside what it had \
                not pushed of them (promo-sync outbox show).
                """)
        @OptionGroup var location: StoreLocation
        @Argument(help: "The office whose merge is undone, e.g. 77.") var code: String
        @Option(help: "Why (kept in the audit journal).") var reason: String

        func run() async throws {
            let outcome = try await location.open(.writing).unmerge(try OfficeCode(code), reason: reason)
            print("office \(code) is no longer merged into \(outcome.into): \(outcome.aggregates) projects, plan lines and programmes are its own again")
        }
    }
}
