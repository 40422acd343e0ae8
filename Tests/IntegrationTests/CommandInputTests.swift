import Foundation
import Replica
import SyncAgent
import SyncCore
import SyncTesting
import Testing

/// The commands read amounts and dates with the same parsers as the CSV importer and say what is
/// wrong in the same words: Vietnamese thousand separators and day-first dates are named, a
/// negative amount is read as a value (and refused by the bounds), codes are read in any case,
/// and an unknown project is an error without the usage text (exit 1).
@Suite struct CommandInputTests {
    /// `promo-sync WORDS --data-dir DIR OPTIONS`.
    static func run(_ dir: TemporaryDirectory, _ words: [String], _ options: [String] = []) async throws -> CommandPermissionTests.Outcome {
        try await CommandPermissionTests.run("promo-sync", words + ["--data-dir", dir.path] + options)
    }

    /// A folder with office 79's replica and token, its centre nowhere.
    static func officeFolder() throws -> TemporaryDirectory {
        let dir = try TemporaryDirectory()
        try TokenFile.write("token", to: dir.file("office.token"))
        _ = try Replica.create(
            at: dir.file(Replica.fileName),
            settings: ReplicaSettings(office: OfficeCode(unchecked: "79"), centralURL: "http://127.0.0.1:1", tokenFile: dir.file("office.token")))
        return dir
    }

    /// `resync --rebuild` moves the replica aside: it is refused while another process syncs it
    /// (it holds the sync lock), and the file stays where it was.
    @Test func aRebuildIsRefusedWhileAnotherProcessSyncsTheReplica() async throws {
        let dir = try Self.officeFolder()
        let lock = try #require(try SyncLock.take(replicaPath: dir.file(Replica.fileName)))
        let out = try await Self.run(dir, ["resync", "--rebuild"])
        lock.release()
        #expect(out.status == 64 && out.output.contains("another process is syncing this replica"), "\(out.output)")
        #expect(FileManager.default.fileExists(atPath: dir.file(Replica.fileName)))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).allSatisfy { !$0.contains("damaged") })
    }

    @Test func amountsDatesAndCodesAreReadLikeTheImporterReadsThem() async throws {
        let dir = try Self.officeFolder()
        let add = ["--code", "A-1", "--name", "Dự án", "--category", "mh_trinhdien", "--fund", "Local", "--year", "2025"]
        var out = try await Self.run(dir, ["project", "add"], add + ["--total-cost", "1.500.000.000", "--requested", "5"])
        #expect(out.status == 64 && out.output.contains("has thousand separators (the Vietnamese '.'"), "\(out.output)")
        out = try await Self.run(dir, ["project", "add"], add + ["--total-cost", "1500000000", "--requested", "-5000000"])
        #expect(out.status == 1 && out.output.contains("must be more than 0") && !out.output.contains("Missing value"), "\(out.output)")
        out = try await Self.run(dir, ["project", "add"], add + ["--total-cost", "1500000000", "--requested", "500000000"])
        #expect(out.status == 0, "\(out.output)")
        out = try await Self.run(dir, ["disburse"], ["--project", "A-1", "--amount", "15", "--date", "30/09/2025"])
        #expect(out.status == 64 && out.output.contains("is written day/month/year (dd/mm/yyyy). Write it year first: 2025-09-30"), "\(out.output)")
        out = try await Self.run(dir, ["project", "show", "NOPE"])
        #expect(out.status == 1 && out.output.contains("no project 'NOPE'") && !out.output.contains("Usage:"), "\(out.output)")
        let replica = try Replica.open(at: dir.file(Replica.fileName))
        #expect(try replica.data.projects().map(\.category) == ["MH_TRINHDIEN"])
        // The importer says the same of the same mistakes.
        let rejected = #expect(throws: ImportRejection.self) {
            try replica.data.importCSV("year,fund_source,amount\n2025,local,1.500.000.000\n")
        }
        #expect(rejected?.problems.first?.contains("has thousand separators (the Vietnamese '.'") == true)
    }
}
