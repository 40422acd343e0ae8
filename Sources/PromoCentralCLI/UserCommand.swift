import ArgumentParser
import Central
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// `promo-central user`: the people who may read the dashboard (docs/OPERATIONS.md, "The dashboard").
struct UserCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "user",
        abstract: "The dashboard's users: separate from the offices and their tokens, read-only.",
        discussion: """
            The password is asked for on the terminal (twice, not shown), or read from the first line of
            standard input when it is not a terminal; never from the command line, where other users of
            the machine could read it. At least 12 characters; stored as a scrypt hash.
            """,
        subcommands: [Add.self, Password.self, Disable.self, List.self, Logins.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a user who may read the dashboard.")
        @OptionGroup var location: StoreLocation
        @Argument(help: "The user's name: letters, digits, '.', '_' or '-'.") var name: String

        func run() async throws {
            let store = try await location.open(.writing)
            try store.addDashboardUser(name, password: try readPassword())
            print("dashboard user \(name) added: https://CENTRE:PORT/dashboard/login")
        }
    }

    struct Password: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Set a user's password (and enable the user again); their sessions end.")
        @OptionGroup var location: StoreLocation
        @Argument var name: String

        func run() async throws {
            try await location.open(.writing).setDashboardPassword(name, password: try readPassword())
            print("password of \(name) set; their open sessions ended")
        }
    }

    struct Disable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop a user from logging in; their sessions end.")
        @OptionGroup var location: StoreLocation
        @Argument var name: String

        func run() async throws {
            try await location.open(.writing).disableDashboardUser(name)
            print("dashboard user \(name) disabled")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The dashboard's users.")
        @OptionGroup var location: StoreLocation

        func run() async throws {
            let users = try await location.open(.reading).dashboardUsers()
            if users.isEmpty { print("no dashboard users yet: promo-central user add NAME") }
            for user in users { print("\(user.name)\t\(user.disabled ? "disabled" : "active")\tadded \(user.createdAt)") }
        }
    }

    struct Logins: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The latest login attempts, newest first (every one is recorded).")
        @OptionGroup var location: StoreLocation
        @Option(help: "How many.") var limit = 50

        func run() async throws {
            for login in try await location.open(.reading).dashboardLogins(limit: limit) {
                print("\(login.at)\t\(login.user)\t\(login.address)\t\(login.outcome)")
            }
        }
    }
}

/// A password from the terminal (asked twice, not echoed) or from the first line of standard input.
func readPassword() throws -> String {
    if isatty(STDIN_FILENO) == 1 {
        guard let first = getpass("Password (at least 12 characters): ").map({ String(cString: $0) }),
            let second = getpass("The same again: ").map({ String(cString: $0) })
        else { throw ValidationError("no password was typed") }
        guard first == second else { throw ValidationError("the two passwords differ; nothing was changed") }
        return first
    }
    guard let line = readLine(strippingNewline: true), !line.isEmpty else {
        throw ValidationError("no password on standard input: give it as the first line (for example from a file only you can read)")
    }
    return line
}
