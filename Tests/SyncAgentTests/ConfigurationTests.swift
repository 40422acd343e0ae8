import Foundation
import Replica
import SyncCore
import SyncTesting
import Testing
import Transport

@testable import Central
@testable import SyncAgent

/// The repository's own example files, found from this source file's path.
func repositoryFile(_ relative: String) -> String {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.appendingPathComponent(relative).path
}

@Suite struct ConfigurationTests {
    func write(_ text: String, in dir: TemporaryDirectory) throws -> String {
        let path = dir.file("promo-sync.toml")
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        // Whatever the umask: a group-writable file would be refused (docs/SECURITY.md).
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: path)
        return path
    }

    func failure(_ text: String, environment: [String: String] = [:]) throws -> String {
        let dir = try TemporaryDirectory()
        let path = try write(text, in: dir)
        do {
            _ = try OfficeConfiguration.load(path: path, environment: environment)
        } catch {
            #expect(error.code == .configuration && error.hint != nil)
            return error.message
        }
        Issue.record("expected a configuration error")
        return ""
    }

    @Test func theExampleFileParsesToTheDefaults() throws {
        let example = try OfficeConfiguration.load(path: repositoryFile("config/promo-sync.example.toml"), environment: [:])
        let defaults = try OfficeConfiguration.load(path: nil, environment: ["PROMO_SYNC_CONFIG": repositoryFile("config/promo-sync.example.toml")])
        #expect(example.schedule.interval == .seconds(30) && example.engine.pageSize == 5_000)
        #expect(example.transport == defaults.transport)
        #expect(example.transport == HTTPClientConfiguration())
        #expect(example.centralURL == nil && example.tokenFile == nil && example.logLevel == .info)
        let central = try CentralConfiguration.load(path: repositoryFile("config/promo-central.example.toml"), environment: [:])
        #expect(central.port == 8443 && central.host == "127.0.0.1" && central.tls == nil && central.maxBodyBytes == 32 * 1024 * 1024)
        #expect(central.recordURL == nil && central.leaseSeconds == 30)
        #expect(central.maxChangesPerAggregate == 10_000 && central.refoldBurst == 50_000 && central.refoldPerSecond == 5_000)
    }

    @Test func errorsNameTheKeyTheLineAndWhatIsExpected() throws {
        #expect(try failure("[sync]\ninterval_seconds = \"often\"\n").contains("line 2: sync.interval_seconds expects a whole number of seconds"))
        #expect(try failure("[sync]\n\ninterval_seconds = 0\n").contains("line 3: sync.interval_seconds must be between 1 and 86400 seconds, got 0"))
        #expect(try failure("[sync]\nintervall_seconds = 5\n").contains("line 2: unknown setting sync.intervall_seconds"))
        #expect(try failure("data_dir = /var/lib\n").contains("line 1: '/var/lib' is not a value"))
        #expect(try failure("[log]\nlevel = \"loud\"\n").contains("log.level must be one of"))
        #expect(try failure("[transport]\nclient_certificate = \"/etc/passwd\"\n").contains("go together"))
        #expect(try failure("[transport]\nca_bundle = \"/nonexistent/ca.pem\"\n").contains("cannot be read"))
        #expect(try failure("[sync\n").contains("line 1: a section header"))
        #expect(try failure("a = 1\na = 2\n").contains("line 2: a is already set on line 1"))
    }

    @Test func theCentresConfigurationErrorsNameTheKeyAndTheFile() throws {
        let dir = try TemporaryDirectory()
        let certificate = dir.file("server.pem")
        try "not checked here".write(toFile: certificate, atomically: false, encoding: .utf8)
        func failure(_ text: String) throws -> String {
            let path = try write(text, in: dir)
            do {
                _ = try CentralConfiguration.load(path: path, environment: [:])
            } catch {
                #expect(error.hint?.contains("promo-central.example.toml") == true)
                return error.message
            }
            Issue.record("expected a configuration error for: \(text)")
            return ""
        }
        #expect(try failure("[server]\ntls_certificate = \"\(certificate)\"\n").contains("server.tls_certificate and server.tls_key go together"))
        #expect(try failure("[server]\ntls_client_ca = \"\(certificate)\"\n").contains("server.tls_client_ca needs server.tls_certificate and server.tls_key"))
        #expect(
            try failure("[server]\ntls_certificate = \"\(certificate)\"\ntls_key = \"/nonexistent/key.pem\"\n")
                .contains("server.tls_key names /nonexistent/key.pem, which cannot be read"))
        #expect(try failure("[server]\nport = 70000\n").contains("server.port must be between 0 and 65535"))
        #expect(try failure("[limits]\nmax_body_bytes = 10\n").contains("limits.max_body_bytes must be between 1024"))
        #expect(try failure("[server]\nhots = \"0.0.0.0\"\n").contains("unknown setting server.hots"))
        // No office could add to a full project if one push may refold less than one holds.
        #expect(
            try failure("[limits]\nmax_changes_per_aggregate = 500000\n")
                .contains("limits.refold_changes_burst (50000) is below limits.max_changes_per_aggregate (500000)"))
        let missing = #expect(throws: CentralError.self) { try CentralConfiguration.load(path: dir.file("nope.toml"), environment: [:]) }
        #expect(missing?.message.contains("no configuration file at") == true)
    }

    @Test func environmentOverridesTheFileAndSaysSoWhenWrong() throws {
        let dir = try TemporaryDirectory()
        let path = try write("[sync]\ninterval_seconds = 30\n[transport]\nproxy = \"http://a:1\"  # a comment\n", in: dir)
        let c = try OfficeConfiguration.load(path: path, environment: ["PROMO_SYNC_SYNC_INTERVAL_SECONDS": "90", "PROMO_SYNC_DATA_DIR": "/srv/x"])
        #expect(c.schedule.interval == .seconds(90) && c.dataDirectory == "/srv/x" && c.transport.proxy == "http://a:1")
        #expect(try failure("", environment: ["PROMO_SYNC_SYNC_PAGE_SIZE": "lots"]).contains("environment variable PROMO_SYNC_SYNC_PAGE_SIZE"))
    }

    @Test func anExplicitMissingFileIsAnError() throws {
        #expect(throws: SyncAgentError.self) { try OfficeConfiguration.load(path: "/nonexistent/promo-sync.toml", environment: [:]) }
        // No file at the default path and none asked for: defaults. (The default path is given, so
        // the test does not read a real /etc/promo-sync/promo-sync.toml on the machine running it.)
        let absent = try TemporaryDirectory().file("promo-sync.toml")
        #expect(try OfficeConfiguration.load(path: nil, environment: [:], defaultPath: absent).dataDirectory == "/var/lib/promo-sync")
    }

    @Test func aTokenFileReadableByOthersIsRefusedWithTheFix() throws {
        let dir = try TemporaryDirectory()
        let path = dir.file("office.token")
        try TokenFile.write("abc123", to: path)
        #expect(try TokenFile.read(path: path) == "abc123")
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: path)
        let error = #expect(throws: SyncAgentError.self) { try TokenFile.read(path: path) }
        #expect(error?.hint == "Try: chmod 600 \(path)")
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: path)
        try "\n".write(toFile: path, atomically: false, encoding: .utf8)
        #expect(throws: SyncAgentError.self) { try TokenFile.read(path: path) }
    }
}

/// The configuration files, the TLS keys and the central store refuse modes that let other users
/// change them (or read a key), naming the file and the `chmod` that fixes it.
@Suite struct FilePermissionConfigurationTests {
    func file(_ name: String, _ text: String, mode: Int, in dir: TemporaryDirectory) throws -> String {
        let path = dir.file(name)
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
        return path
    }

    @Test(arguments: [0o666, 0o664, 0o646, 0o620])
    func anOfficeConfigurationOthersCanWriteIsRefused(mode: Int) throws {
        let dir = try TemporaryDirectory()
        let path = try file("promo-sync.toml", "[sync]\ninterval_seconds = 60\n", mode: mode, in: dir)
        let error = #expect(throws: SyncAgentError.self) { try OfficeConfiguration.load(path: path, environment: [:]) }
        #expect(error?.code == .configuration && error?.isTransient == false)
        #expect(error?.message == "the configuration file \(path) can be written by other users (mode \(String(mode, radix: 8)))")
        #expect(error?.hint == "Try: chmod go-w \(path)")
        // Through the environment variable too.
        #expect(throws: SyncAgentError.self) { try OfficeConfiguration.load(path: nil, environment: ["PROMO_SYNC_CONFIG": path]) }
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: path)
        #expect(try OfficeConfiguration.load(path: path, environment: [:]).schedule.interval == .seconds(60))
    }

    @Test func anOfficeClientKeyOthersCanReadIsRefused() throws {
        let dir = try TemporaryDirectory()
        let certificate = try file("client.pem", "certificate", mode: 0o644, in: dir)
        let key = try file("client.key", "key", mode: 0o644, in: dir)
        let path = try file("promo-sync.toml", "[transport]\nclient_certificate = \"\(certificate)\"\nclient_key = \"\(key)\"\n", mode: 0o600, in: dir)
        let error = #expect(throws: SyncAgentError.self) { try OfficeConfiguration.load(path: path, environment: [:]) }
        #expect(error?.message == "the TLS client key (transport.client_key) \(key) can be read by other users (mode 644)")
        #expect(error?.hint == "Try: chmod 600 \(key)")
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: key)
        #expect(try OfficeConfiguration.load(path: path, environment: [:]).transport.clientKeyPath == key)
    }

    @Test(arguments: [0o600, 0o620, 0o640, 0o604, 0o666])
    func theTokenFileIsItsOwnersOnly(mode: Int) throws {
        let dir = try TemporaryDirectory()
        let path = dir.file("office.token")
        try TokenFile.write("abc123", to: path)
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
        if mode == 0o600 {
            #expect(try TokenFile.read(path: path) == "abc123")
        } else {
            let error = #expect(throws: SyncAgentError.self) { try TokenFile.read(path: path) }
            #expect(error?.message.hasPrefix("the token file \(path) can be ") == true)
            #expect(error?.hint == "Try: chmod 600 \(path)")
        }
    }

    @Test func aCentralConfigurationOthersCanWriteIsRefused() throws {
        let dir = try TemporaryDirectory()
        let path = try file("promo-central.toml", "[server]\nport = 9000\n", mode: 0o664, in: dir)
        let error = #expect(throws: CentralError.self) { try CentralConfiguration.load(path: path, environment: [:]) }
        #expect(error?.code == .unsafePermissions)
        #expect(error?.message == "the configuration file \(path) can be written by other users (mode 664)")
        #expect(error?.hint == "Try: chmod go-w \(path)")
        try FileManager.default.setAttributes([.posixPermissions: 0o640], ofItemAtPath: path)
        #expect(try CentralConfiguration.load(path: path, environment: [:]).port == 9000)
    }

    @Test(arguments: [(0o644, true), (0o604, true), (0o660, true), (0o640, false), (0o600, false), (0o400, false)])
    func aCentralTLSKeyOthersCanReadIsRefused(mode: Int, refused: Bool) throws {
        let dir = try TemporaryDirectory()
        let certificate = try file("server.pem", "certificate", mode: 0o644, in: dir)
        let key = try file("server.key", "key", mode: mode, in: dir)
        let path = try file("promo-central.toml", "[server]\ntls_certificate = \"\(certificate)\"\ntls_key = \"\(key)\"\n", mode: 0o600, in: dir)
        if refused {
            let error = #expect(throws: CentralError.self) { try CentralConfiguration.load(path: path, environment: [:]) }
            #expect(error?.message.hasPrefix("the TLS key (server.tls_key) \(key) can be ") == true)
            #expect(error?.message.hasSuffix("(mode \(String(mode, radix: 8)))") == true)
            #expect(error?.hint == "Try: chmod 600 \(key)")
        } else {
            #expect(try CentralConfiguration.load(path: path, environment: [:]).tls?.privateKey == key)
        }
    }

    @Test func theCentralStoreIsMadeItsOwnersOnlyAndRefusedOtherwise() throws {
        let dir = try TemporaryDirectory()
        let path = dir.file(CentralStore.fileName)
        do {
            let store = try CentralStore(path: path)
            try store.backup(to: dir.file("backup.sqlite"))
        }
        #expect(FilePermissions.mode(at: path) == 0o600)
        #expect(FilePermissions.mode(at: dir.file("backup.sqlite")) == 0o600)
        try CentralStore.checkPermissions(at: path)
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        for (target, mode, name, chmod) in [
            (path, 0o644, "the central store", "chmod 600"), (path, 0o660, "the central store", "chmod 600"),
            (dir.path, 0o777, "the data folder", "chmod go-w"), (dir.path, 0o770, "the data folder", "chmod go-w"),
        ] {
            try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: target)
            let error = #expect(throws: CentralError.self) { try CentralStore.checkPermissions(at: path) }
            #expect(error?.code == .unsafePermissions)
            #expect(error?.message.hasPrefix("\(name) \(target) can be ") == true)
            #expect(error?.hint == "Try: \(chmod) \(target)")
            try FileManager.default.setAttributes([.posixPermissions: target == path ? 0o600 : 0o700], ofItemAtPath: target)
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
        // A restored store is its owner's only, whatever the backup's mode.
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: dir.file("backup.sqlite"))
        try CentralStore.restore(from: dir.file("backup.sqlite"), to: path)
        #expect(FilePermissions.mode(at: path) == 0o600)
    }
}
