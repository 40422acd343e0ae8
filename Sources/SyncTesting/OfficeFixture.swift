import Foundation
import Logging
import Replica
import SyncAgent
import SyncCore
import Transport

/// An office with a real replica file and a sync engine pointed at a live central.
public struct OfficeFixture: Sendable {
    /// The office's replica.
    public let replica: Replica
    /// The office's sync engine, whose client talks to the live central with the office's token.
    public let engine: SyncEngine
    /// The folder holding the replica and the token file (an empty one for an attached office); removed once the fixture is gone.
    public let directory: TemporaryDirectory

    /// Creates the replica in a new temporary folder, registers the office at the central and
    /// writes its token file.
    public init(
        office: String, central: LiveCentral, faults: FaultInjector = FaultInjector(),
        configuration: SyncEngineConfiguration = .init()
    ) throws {
        let directory = try TemporaryDirectory(prefix: "office-\(office)")
        let token = try central.addOffice(office)
        let tokenPath = directory.file("office.token")
        try TokenFile.write(token, to: tokenPath)
        let replica = try Replica.create(
            at: directory.file(Replica.fileName),
            settings: ReplicaSettings(office: try OfficeCode(office), centralURL: central.url, tokenFile: tokenPath),
            faults: faults)
        var logger = Logger(label: "test-office-\(office)")
        logger.logLevel = .warning
        let client = CentralClient(
            baseURL: central.url, tokenSource: FixedToken(try TokenFile.read(path: tokenPath)), http: HTTPClient(),
            schemaVersion: Replica.schemaVersion)
        self.replica = replica
        self.directory = directory
        self.engine = SyncEngine(replica: replica, client: client, configuration: configuration, logger: logger)
    }

    /// Opens (or creates) a replica at a given path with an existing token file, for tests that
    /// restart a central and keep the office.
    public static func attach(
        replicaPath: String, office: String, central: LiveCentral, tokenPath: String,
        faults: FaultInjector = FaultInjector(), configuration: SyncEngineConfiguration = .init()
    ) throws -> OfficeFixture {
        let replica =
            FileManager.default.fileExists(atPath: replicaPath)
            ? try Replica.open(at: replicaPath, faults: faults)
            : try Replica.create(
                at: replicaPath, settings: ReplicaSettings(office: try OfficeCode(office), centralURL: central.url, tokenFile: tokenPath), faults: faults)
        var logger = Logger(label: "test-office-\(office)")
        logger.logLevel = .warning
        let client = CentralClient(
            baseURL: central.url, tokenSource: FixedToken(try TokenFile.read(path: tokenPath)), http: HTTPClient(),
            schemaVersion: Replica.schemaVersion)
        return OfficeFixture(
            replica: replica, engine: SyncEngine(replica: replica, client: client, configuration: configuration, logger: logger),
            directory: try TemporaryDirectory(prefix: "unused"))
    }

    init(replica: Replica, engine: SyncEngine, directory: TemporaryDirectory) {
        self.replica = replica
        self.engine = engine
        self.directory = directory
    }

    /// Adds a local-fund project with the given code and returns its id.
    @discardableResult
    public func addProject(code: String, requested: Int64 = 300_000_000, fund: FundSource = .local, year: Int = 2025) throws -> RowID {
        try replica.data.addProject(
            NewProject(
                code: code, name: "Dự án \(code)", category: "MH_TRINHDIEN", fundSource: fund, year: year,
                totalCost: requested * 4, requestedSupport: requested))
    }
}

/// Every row of a digest tree with its digest (`table/id` → digest), for row-by-row comparisons
/// of an office with the centre.
public func digestRows(_ tree: DigestTree) -> [String: String] {
    var out: [String: String] = [:]
    tree.forEachRow { path, id, digest in out["\(path.split(separator: "/")[0])/\(id)"] = digest }
    return out
}

extension OfficeData {
    /// Moves a local project (by code) through the office's own steps to approved, the first
    /// status that takes payments (LedgerRules).
    public func approveLocally(_ code: String) throws {
        for step: ProjectStatus in [.submitted, .appraisedLocally, .approved] { try setProjectStatus(code, to: step) }
    }
}

extension OfficeFixture {
    /// Runs sync cycles until one succeeds or `limit` has passed, half a second apart: for a
    /// test whose centre a loaded machine may hold past a deadline that the test is not about.
    public func syncEventually(within limit: Duration = .seconds(30)) async throws {
        let deadline = ContinuousClock.now + limit
        while (try? await engine.runCycle()) == nil && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(500))
        }
    }
}
