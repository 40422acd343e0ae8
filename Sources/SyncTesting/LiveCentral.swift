import Central
import CentralPostgres
import Foundation
import Hummingbird
import Logging
import ServiceLifecycle
import SyncCore

/// A real promo-central serving on 127.0.0.1 with a port the kernel picked, backed by a real
/// SQLite store in a temporary folder.
public struct LiveCentral: Sendable {
    /// The central's store, for tests that register offices or look at what the centre holds.
    public let store: CentralStore
    /// The port the kernel picked for the server on 127.0.0.1.
    public let port: Int
    /// `https` when the central was started with TLS files, `http` otherwise.
    public let scheme: String
    /// The central's base URL, as an office's settings name it.
    public var url: String { "\(scheme)://127.0.0.1:\(port)" }

    /// Registers an office and returns its token.
    public func addOffice(_ code: String) throws -> String {
        try store.addOffice(OfficeCode(code))
    }
}

/// The store a test left behind does not follow from its logs (`audit verify`).
public struct AuditFailure: Error, CustomStringConvertible {
    /// The audit's findings.
    public let report: AuditReport
    /// Every problem the audit found, on one line.
    public var description: String {
        let found: [String] =
            report.chainProblems.map(\.description) + report.journalProblems.map(\.description) + report.headProblems
            + (report.replayFailure.map { [$0.description] } ?? []) + report.differences.map(\.description) + (report.notReplayable.map { [$0] } ?? [])
            + report.refusedNow.map(\.description)
        return "the central store does not follow from its logs: " + found.joined(separator: "; ")
    }
}

/// The audits after each test run one at a time on a queue of their own, off the cooperative
/// threads: tests running in parallel (some of them timed) share the machine with at most one.
private let auditQueue = DispatchQueue(label: "promo-sync.test-audit", qos: .utility)

private func audited(_ store: CentralStore) async throws -> AuditReport {
    try await withCheckedThrowingContinuation { continuation in
        auditQueue.async {
            continuation.resume(with: Result { () throws(CentralError) -> AuditReport in try store.auditVerify() }.mapError { $0 as any Error })
        }
    }
}

/// Runs `body` against a live central and stops the server afterwards, whatever `body` does.
/// Then, unless `audit` is false (a test that tampers with the store), the store is audited
/// (``CentralStore/auditVerify(expectedHeads:scratchDirectory:)``): every scenario of the
/// integration tests is also a check that a replay of the logs rebuilds the store exactly.
/// `record` gives the store the durable record its acknowledgements wait for (``DurableRecord``),
/// made once the store is open. Without one, in the run where ``TestPostgres/recordsEveryCentre``,
/// the centre serves through a PostgreSQL record in a database of its own, and (unless `audit` is
/// false) its copy must afterwards equal its store table for table.
public func withLiveCentral<T: Sendable>(
    directory: TemporaryDirectory? = nil,
    storePath: String? = nil,
    faults: FaultInjector = FaultInjector(),
    tls: CentralConfiguration.TLSFiles? = nil,
    audit: Bool = true,
    logger: Logger? = nil,
    configure: @Sendable (inout CentralConfiguration) -> Void = { _ in },
    record: (@Sendable (CentralStore) async throws -> (any DurableRecord)?)? = nil,
    _ body: @Sendable (LiveCentral) async throws -> T
) async throws -> T {
    guard record == nil, TestPostgres.recordsEveryCentre else {
        return try await serveLiveCentral(
            directory: directory, storePath: storePath, faults: faults, tls: tls, audit: audit, logger: logger, configure: configure,
            record: record ?? { _ in nil }, recordDatabase: nil, body)
    }
    return try await TestPostgres.withDatabase { url in
        try await serveLiveCentral(
            directory: directory, storePath: storePath, faults: faults, tls: tls, audit: audit, logger: logger, configure: configure,
            record: { store in try await TestPostgres.record(of: store, in: url, logger: TestPostgres.recordLogger) }, recordDatabase: url, body)
    }
}

private func serveLiveCentral<T: Sendable>(
    directory: TemporaryDirectory?,
    storePath: String?,
    faults: FaultInjector,
    tls: CentralConfiguration.TLSFiles?,
    audit: Bool,
    logger: Logger?,
    configure: @Sendable (inout CentralConfiguration) -> Void,
    record: @Sendable (CentralStore) async throws -> (any DurableRecord)?,
    recordDatabase: String?,
    _ body: @Sendable (LiveCentral) async throws -> T
) async throws -> T {
    let folder = try directory ?? TemporaryDirectory(prefix: "central")
    let path = storePath ?? folder.file(CentralStore.fileName)
    let store = try CentralStore(path: path, faults: faults)
    var logger = logger ?? Logger(label: "test-central")
    if logger.label == "test-central" { logger.logLevel = .warning }
    let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
    var configuration = CentralConfiguration(dataDirectory: folder.path, host: "127.0.0.1", port: 0)
    configuration.tls = tls
    configure(&configuration)
    let durable = try await record(store)
    let app = try buildApplication(configuration: configuration, store: store, logger: logger, record: durable) { port in continuation.yield(port) }
    let group = ServiceGroup(configuration: .init(services: [app], logger: logger))
    let server = Task { try await group.run() }
    var iterator = ports.makeAsyncIterator()
    guard let port = await iterator.next() else { throw CancellationError() }
    // Stop gracefully whether the body returns or throws.
    let result: Result<T, any Error>
    do { result = .success(try await body(LiveCentral(store: store, port: port, scheme: tls == nil ? "http" : "https"))) } catch { result = .failure(error) }
    await group.triggerGracefulShutdown()
    _ = await server.result
    await (durable as? PostgresRecord)?.stop()
    // Whatever the test did through the centre's own paths, its store must follow from its logs,
    // and its PostgreSQL record must hold it.
    if case .success = result, audit {
        let report = try await audited(store)
        // Nothing this release accepted may its own rules refuse on replay.
        guard report.isProven, report.refusedNow.isEmpty else { throw AuditFailure(report: report) }
        if let recordDatabase {
            let differing = try await TestPostgres.differingTables(storePath: store.path, in: recordDatabase, logger: TestPostgres.recordLogger)
            guard differing.isEmpty else { throw RecordDifference(tables: differing) }
        }
    }
    withExtendedLifetime(folder) {}
    return try result.get()
}
