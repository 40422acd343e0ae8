import Foundation
import Replica
import SyncCore
import SyncTesting
import Testing

/// The built `promo-sync` and `promo-central` run against real files whose modes let other users
/// in: every command that opens the replica or the store refuses, names the file and the `chmod`
/// that fixes it, and leaves the folder as it was (docs/SECURITY.md, "Files at rest").
@Suite struct CommandPermissionTests {
    struct Outcome {
        var status: Int32
        var output: String
    }

    /// Runs a product binary with standard output and error in one file; a process still running
    /// after 30 s (a server or daemon that was not refused) is terminated and reported. `absolute`:
    /// `tool` is a path to another program (`setpriv` running a product binary as another user).
    /// Waited for on a thread of its own: a test blocked on it in the tasks' pool stalled the
    /// centres under test in this process (a `sync --now`, waiting for a daemon that waited for
    /// this process's centre, ran into libcurl's 30 s timeout when another test blocked the pool's
    /// other thread).
    static func run(_ tool: String, _ arguments: [String], absolute: Bool = false) async throws -> Outcome {
        try await onOwnThread { try runBlocking(tool, arguments, absolute: absolute) }
    }

    private static func runBlocking(_ tool: String, _ arguments: [String], absolute: Bool) throws -> Outcome {
        let outputPath = NSTemporaryDirectory() + "promo-permission-output-\(UUID().uuidString.prefix(8))"
        _ = FileManager.default.createFile(atPath: outputPath, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: outputPath) }
        var environment = ProcessInfo.processInfo.environment
        for key in environment.keys where key.hasPrefix("PROMO_SYNC_") || key.hasPrefix("PROMO_CENTRAL_") { environment[key] = nil }
        let process = try ChildProcess(
            path: absolute ? tool : Executables.path(tool), arguments: arguments, environment: environment, outputFile: outputPath, errorFile: outputPath)
        let deadline = Date() + 30
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning {
            Issue.record("\(tool) \(arguments.joined(separator: " ")) was still running after 30 s")
            process.terminate()
        }
        process.waitUntilExit()
        return Outcome(status: process.terminationStatus, output: try String(contentsOfFile: outputPath, encoding: .utf8))
    }

    /// Every file in the folder with its mode and bytes.
    static func snapshot(_ dir: String) throws -> [String: Data] {
        var files: [String: Data] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: dir) {
            let path = (dir as NSString).appendingPathComponent(name)
            files[name] = (try? Data(contentsOf: URL(fileURLWithPath: path))) ?? Data()
        }
        return files
    }

    static func setMode(_ mode: Int, _ path: String) throws {
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
    }

    // MARK: promo-sync

    /// A data folder with a replica, its token file, a configuration file and a CSV to import.
    struct Office {
        let dir: TemporaryDirectory
        var replica: String { dir.file(Replica.fileName) }
        var config: String { dir.file("promo-sync.toml") }
        var token: String { dir.file("office.token") }
        var csv: String { dir.file("plan.csv") }
        var location: [String] { ["--data-dir", dir.path, "--config", config] }

        init() throws {
            dir = try TemporaryDirectory(prefix: "permission-office")
            let token = dir.file("office.token")
            _ = try Replica.create(
                at: dir.file(Replica.fileName),
                settings: ReplicaSettings(office: OfficeCode(unchecked: "79"), centralURL: "http://127.0.0.1:9", tokenFile: token))
            _ = FileManager.default.createFile(atPath: token, contents: Data("abc123\n".utf8), attributes: [.posixPermissions: 0o600])
            try "[log]\nlevel = \"warning\"\n".write(toFile: dir.file("promo-sync.toml"), atomically: true, encoding: .utf8)
            try setMode(0o644, dir.file("promo-sync.toml"))
            try "year,fund_source,amount\n2025,local,5\n".write(toFile: dir.file("plan.csv"), atomically: true, encoding: .utf8)
        }
    }

    /// Every promo-sync command that opens the replica.
    static let officeCommands: [[String]] = [
        ["status"], ["status", "--json"], ["sync"], ["sync", "--now"], ["daemon", "--interval", "1"], ["project", "list"],
        ["project", "add", "--code", "P-1", "--name", "x", "--category", "CDS", "--fund", "local", "--year", "2025", "--total-cost", "4", "--requested", "1"],
        ["plan", "list"], ["plan", "add", "--year", "2025", "--fund", "local", "--amount", "5"], ["program", "list"], ["conflicts", "list"],
        ["outbox", "show"], ["outbox", "retry"], ["outbox", "withdraw", "disbursement", "x"],
        ["disburse", "--project", "P-1", "--kind", "payment", "--amount", "1", "--voucher", "V", "--date", "2025-01-01"],
        ["import", "CSV"], ["export", "projects"], ["report", "--year", "2025"], ["metrics"], ["verify"], ["resync", "--force"], ["resync", "--rebuild"],
    ]

    @Test(arguments: [
        ("replica", 0o644, "the replica", "chmod 600"),
        ("replica", 0o660, "the replica", "chmod 600"),
        ("folder", 0o777, "the data folder", "chmod go-w"),
        ("folder", 0o775, "the data folder", "chmod go-w"),
        ("config", 0o666, "the configuration file", "chmod go-w"),
        ("config", 0o664, "the configuration file", "chmod go-w"),
    ])
    func everyOfficeCommandRefusesAnUnsafeMode(what: String, mode: Int, name: String, chmod: String) async throws {
        let office = try Office()
        let target = what == "replica" ? office.replica : what == "folder" ? office.dir.path : office.config
        try Self.setMode(mode, target)
        defer { try? Self.setMode(0o700, office.dir.path) }
        let before = try Self.snapshot(office.dir.path)
        for command in Self.officeCommands {
            let arguments = command.map { $0 == "CSV" ? office.csv : $0 } + office.location
            let outcome = try await Self.run("promo-sync", arguments)
            let shown = "promo-sync \(command.joined(separator: " ")): exit \(outcome.status)\n\(outcome.output)"
            // status stays a monitor: broken, exit 2, with the reason and the fix.
            #expect(outcome.status == (command.first == "status" ? 2 : 1), "\(shown)")
            #expect(outcome.output.contains("\(name) \(target) can be "), "\(shown)")
            #expect(outcome.output.contains("(mode \(String(mode, radix: 8)))"), "\(shown)")
            #expect(outcome.output.contains("Try: \(chmod) \(target)"), "\(shown)")
            if command == ["status"] { #expect(outcome.output.contains("BROKEN (exit 2)"), "\(shown)") }
            if command == ["status", "--json"] { #expect(outcome.output.contains("\"health\" : \"broken\""), "\(shown)") }
            // Refused before the replica was opened: nothing in the folder changed, no -wal appeared.
            #expect(try Self.snapshot(office.dir.path) == before, "\(shown)")
        }
        // With the mode fixed, the same files work.
        try Self.setMode(what == "folder" ? 0o700 : what == "replica" ? 0o600 : 0o644, target)
        let export = try await Self.run("promo-sync", ["export", "plan"] + office.location)
        #expect(export.status == 0 && export.output == "year,fund_source,amount,note\n", "\(export.output)")
        let imported = try await Self.run("promo-sync", ["import", office.csv] + office.location)
        #expect(imported.status == 0 && imported.output.contains("1 new"), "\(imported.output)")
    }

    @Test func aTokenFileOthersCanReadIsRefusedBySync() async throws {
        let office = try Office()
        try Self.setMode(0o644, office.token)
        let before = try Self.snapshot(office.dir.path)
        for command in [["sync"], ["verify"], ["resync", "--force"]] {
            let outcome = try await Self.run("promo-sync", command + office.location)
            #expect(outcome.status != 0)
            #expect(outcome.output.contains("the token file \(office.token) can be read by other users (mode 644)"), "\(outcome.output)")
            #expect(outcome.output.contains("Try: chmod 600 \(office.token)"), "\(outcome.output)")
        }
        // The replica was opened (the token file's path is recorded there), but no file was added
        // and no sync was attempted.
        #expect(try Set(Self.snapshot(office.dir.path).keys) == Set(before.keys))
        #expect(try Replica.open(at: office.replica).status().lastAttemptAt == nil)
    }

    @Test func initMakesAFolderOnlyItsOwnerCanUseAndRefusesOneOthersCanWrite() async throws {
        let dir = try TemporaryDirectory(prefix: "permission-init")
        let config = dir.file("promo-sync.toml")
        try "".write(toFile: config, atomically: true, encoding: .utf8)
        try Self.setMode(0o644, config)
        let fresh = dir.file("new/office")
        let made = try await Self.run("promo-sync", ["init", "--data-dir", fresh, "--config", config, "--office", "79", "--central", "http://127.0.0.1:9"])
        #expect(made.status == 0, "\(made.output)")
        #expect(FilePermissions.mode(at: fresh) == 0o700)
        #expect(FilePermissions.mode(at: fresh + "/" + Replica.fileName) == 0o600)

        let shared = dir.file("shared")
        try FileManager.default.createDirectory(atPath: shared, withIntermediateDirectories: false)
        try Self.setMode(0o777, shared)
        defer { try? Self.setMode(0o700, shared) }
        let refused = try await Self.run("promo-sync", ["init", "--data-dir", shared, "--config", config, "--office", "79", "--central", "http://127.0.0.1:9"])
        #expect(refused.status == 1)
        #expect(refused.output.contains("the data folder \(shared) can be written by other users (mode 777)"), "\(refused.output)")
        #expect(refused.output.contains("Try: chmod go-w \(shared)"), "\(refused.output)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: shared).isEmpty)
    }

    // MARK: promo-central

    /// A data folder whose store `promo-central office add` made, and a configuration file.
    struct Centre {
        let dir: TemporaryDirectory
        var data: String { dir.file("central") }
        var store: String { dir.file("central/central.sqlite") }
        var config: String { dir.file("promo-central.toml") }
        var key: String { dir.file("server.key") }
        var location: [String] { ["--data-dir", data, "--config", config] }

        init(tls: Bool = false) async throws {
            dir = try TemporaryDirectory(prefix: "permission-centre")
            var text = "[log]\nlevel = \"warning\"\n"
            if tls {
                // Only the key's mode is looked at before the store opens; the files need not be real.
                try "certificate".write(toFile: dir.file("server.pem"), atomically: true, encoding: .utf8)
                try "key".write(toFile: dir.file("server.key"), atomically: true, encoding: .utf8)
                try setMode(0o600, dir.file("server.key"))
                text += "[server]\ntls_certificate = \"\(dir.file("server.pem"))\"\ntls_key = \"\(dir.file("server.key"))\"\n"
            }
            try text.write(toFile: dir.file("promo-central.toml"), atomically: true, encoding: .utf8)
            try setMode(0o644, dir.file("promo-central.toml"))
            let added = try await CommandPermissionTests.run(
                "promo-central", ["office", "add", "79", "--data-dir", dir.file("central"), "--config", dir.file("promo-central.toml")])
            try #require(added.status == 0, "promo-central office add failed: \(added.output)")
        }
    }

    /// Every promo-central command that opens the store.
    static let centralCommands: [[String]] = [
        ["serve", "--port", "0"], ["office", "list"], ["office", "add", "80"], ["office", "revoke", "79"], ["office", "reinstate", "79"],
        ["project", "list"], ["conflicts", "list"],
        ["audit", "verify"], ["audit", "log"], ["report", "--year", "2025"], ["summary"], ["backup", "--to", "BACKUP"], ["restore", "--from", "BACKUP"],
        ["cap", "--fund", "local", "--category", "CDS", "--percent", "30"],
    ]

    @Test(arguments: [
        ("store", 0o644, "the central store", "chmod 600"),
        ("store", 0o660, "the central store", "chmod 600"),
        ("folder", 0o777, "the data folder", "chmod go-w"),
        ("folder", 0o770, "the data folder", "chmod go-w"),
        ("config", 0o666, "the configuration file", "chmod go-w"),
        ("key", 0o644, "the TLS key (server.tls_key)", "chmod 600"),
    ])
    func everyCentralCommandRefusesAnUnsafeMode(what: String, mode: Int, name: String, chmod: String) async throws {
        let centre = try await Centre(tls: what == "key")
        // The store and its folder were made their owner's only.
        #expect(FilePermissions.mode(at: centre.data) == 0o700)
        #expect(FilePermissions.mode(at: centre.store) == 0o600)
        let target = ["store": centre.store, "folder": centre.data, "config": centre.config, "key": centre.key][what]!
        try Self.setMode(mode, target)
        defer { try? Self.setMode(0o700, centre.data) }
        let backup = centre.dir.file("backup.sqlite")
        let before = try Self.snapshot(centre.data)
        for command in Self.centralCommands {
            let outcome = try await Self.run("promo-central", command.map { $0 == "BACKUP" ? backup : $0 } + centre.location)
            let shown = "promo-central \(command.joined(separator: " ")): exit \(outcome.status)\n\(outcome.output)"
            #expect(outcome.status == 1, "\(shown)")
            #expect(outcome.output.contains("\(name) \(target) can be "), "\(shown)")
            #expect(outcome.output.contains("Try: \(chmod) \(target)"), "\(shown)")
            #expect(try Self.snapshot(centre.data) == before, "\(shown)")
            #expect(!FileManager.default.fileExists(atPath: backup), "\(shown)")
        }
        try Self.setMode(what == "folder" ? 0o700 : what == "config" ? 0o644 : 0o600, target)
        let listed = try await Self.run("promo-central", ["office", "list"] + centre.location)
        #expect(listed.status == 0 && listed.output.contains("79"), "\(listed.output)")
    }
}
