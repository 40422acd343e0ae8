import CentralPostgres
import Foundation
import Logging
import PostgresNIO
import Replica
import SyncAgent
import SyncCore
import SyncTesting
import Testing
import Transport

@testable import Central

/// The PostgreSQL copy as the store's durable record (`store.postgres_url`): every acknowledgement
/// waits for it, and a centre whose machine is lost is restored from it with nothing missing.
@Suite(.enabled(if: postgresURL != nil, "PostgreSQL is not installed here (apt install postgresql); CI runs these"))
struct DurableRecordTests {
    let logger = Logger(label: "test-record")

    /// The centre's `/metrics`, by series name (series without labels).
    static func metrics(_ central: LiveCentral) async throws -> [String: Double] {
        let response = try await HTTPClient().send(HTTPRequest(method: "GET", url: central.url + "/metrics"))
        var values: [String: Double] = [:]
        for line in String(decoding: response.body, as: UTF8.self).split(separator: "\n") where !line.hasPrefix("#") {
            let parts = line.split(separator: " ")
            if parts.count == 2, let value = Double(parts[1]) { values[String(parts[0])] = value }
        }
        return values
    }

    /// A record for `store` in `location`, the store copied there first when `copy`.
    static func record(
        _ store: CentralStore, _ location: PostgresLocation, copy: Bool, faults: FaultInjector = FaultInjector(), logger: Logger
    ) async throws -> PostgresRecord {
        if copy {
            let report = try await location.withClient(logger: logger) { client in
                try await PostgresStoreCopy.copy(storePath: store.path, to: client, logger: logger)
            }
            #expect(report.differing.isEmpty)
        }
        let record = PostgresRecord(location: location, storePath: store.path, logger: logger, interval: .seconds(3_600), faults: faults)
        try await record.start()
        return record
    }

    @Test func everyAcknowledgedChangesetIsInPostgreSQLAndALostMachineIsRestoredFromIt() async throws {
        let logger = self.logger
        try await withDatabase { url in
            let location = try PostgresLocation(url: url, password: nil)
            let officeFolder = try TemporaryDirectory(prefix: "office-79")
            let tokenPath = officeFolder.file("office.token")
            let replicaPath = officeFolder.file(Replica.fileName)
            let lost = try TemporaryDirectory(prefix: "central-lost")
            let epoch = try await withLiveCentral(directory: lost, record: { try await Self.record($0, location, copy: true, logger: logger) }) { central in
                try TokenFile.write(try central.addOffice("79"), to: tokenPath)
                let office = try OfficeFixture.attach(replicaPath: replicaPath, office: "79", central: central, tokenPath: tokenPath)
                // An office merged into one registered after it: the copy lists the retired office
                // first, pointing at one that comes later (the restore must take that order).
                _ = try central.addOffice("80")
                _ = try central.addOffice("82")
                _ = try central.store.merge([OfficeCode("80")], into: OfficeCode("82"), overrideReason: "a test of the restore's order")
                for round in 1...3 {
                    try office.replica.data.addPlanLine(year: 2025, fundSource: .local, amount: Int64(round) * 1_000_000_000, note: "đợt \(round)")
                    try await office.engine.runCycle()
                    // What the office was told is kept is in PostgreSQL: the answer waited for it.
                    let acknowledged = try office.replica.syncPosition().lastAcked
                    #expect(acknowledged == Int64(round))
                    #expect(try await TestPostgres.changesets(of: "79", at: location, logger: logger) == acknowledged)
                }
                return central.store.epoch
            }
            // The machine is lost with its disk; a new centre is restored from PostgreSQL.
            try FileManager.default.removeItem(atPath: lost.path)
            let restored = try TemporaryDirectory(prefix: "central-restored")
            let report = try await location.withClient(logger: logger) { client in
                try await PostgresStoreRestore.restore(from: client, to: restored.file(CentralStore.fileName), logger: logger)
            }
            #expect(report.epoch == epoch.rawValue)
            #expect(report.rows.first { $0.table == "changeset" }?.count == 3)
            // A second restore into the same folder is refused: a restore never overwrites a store.
            await #expect(throws: CentralError.self) {
                try await location.withClient(logger: logger) { client in
                    try await PostgresStoreRestore.restore(from: client, to: restored.file(CentralStore.fileName), logger: logger)
                }
            }
            try await withLiveCentral(directory: restored, record: { try await Self.record($0, location, copy: false, logger: logger) }) { central in
                #expect(central.store.epoch == epoch)
                let office = try OfficeFixture.attach(replicaPath: replicaPath, office: "79", central: central, tokenPath: tokenPath)
                try office.replica.data.addPlanLine(year: 2026, fundSource: .local, amount: 7_000_000_000, note: "sau khi khôi phục")
                try await office.engine.runCycle()
                // The office goes on where it stood: nothing to send again, no new epoch to pull from.
                #expect(try office.replica.syncPosition().lastAcked == 4)
                #expect(try office.replica.pendingSummary().changes == 0)
                #expect(try central.store.digestTree(for: OfficeCode("79")).root == office.replica.digestTree().root)
                #expect(try await TestPostgres.changesets(of: "79", at: location, logger: logger) == 4)
                #expect(try central.store.offices().first { $0.code.rawValue == "80" }?.mergedInto == OfficeCode("82"))
            }
        }
    }

    /// A pass PostgreSQL never lets finish (its backend stopped with SIGSTOP: a host gone without
    /// a reset, a machine frozen) is given up at its deadline and the push answered 503; the centre
    /// stays up, its connection given up only once that pass ends (closing it under the pass's query
    /// made PostgresNIO trap, taking the centre down), and the next push is kept once PostgreSQL
    /// answers again.
    @Test func aPassPostgreSQLNeverFinishesIsGivenUpAndTheCentreStaysUp() async throws {
        let logger = self.logger
        try await withDatabase { url in
            let location = try PostgresLocation(url: url, password: nil)
            try await withLiveCentral(record: { store in
                _ = try await location.withClient(logger: logger) { try await PostgresStoreCopy.copy(storePath: store.path, to: $0, logger: logger) }
                let record = PostgresRecord(location: location, storePath: store.path, logger: logger, deadline: .seconds(5), interval: .seconds(3_600))
                try await record.start()
                return record
            }) { central in
                let office = try OfficeFixture(office: "79", central: central)
                try office.replica.data.addPlanLine(year: 2025, fundSource: .local, amount: 1_000_000, note: nil)
                try await office.syncEventually()
                #expect(try office.replica.syncPosition().lastAcked == 1)
                // The record's connection is kept between passes: its backend is stopped.
                let backends = try await location.withClient(logger: logger) { client in
                    var pids: [Int32] = []
                    for try await pid in try await client.query(
                        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()", logger: logger
                    ).decode(Int32.self) {
                        pids.append(pid)
                    }
                    return pids
                }
                #expect(!backends.isEmpty)
                for pid in backends { kill(pid, SIGSTOP) }
                defer { for pid in backends { kill(pid, SIGCONT) } }
                try office.replica.data.addPlanLine(year: 2026, fundSource: .local, amount: 2_000_000, note: nil)
                let refused = await #expect(throws: SyncAgentError.self) { try await office.engine.runCycle() }
                #expect(refused?.transient == true, "\(String(describing: refused))")
                try await Task.sleep(for: .seconds(2))
                for pid in backends { kill(pid, SIGCONT) }
                try await office.syncEventually()
                #expect(try office.replica.syncPosition().lastAcked == 2)
                #expect(try await TestPostgres.changesets(of: "79", at: location, logger: logger) == 2)
            }
        }
    }

    @Test func aChangesetTheRecordCannotTakeIsKeptAndAcknowledgedOnceItDoes() async throws {
        let logger = self.logger
        try await withDatabase { url in
            let location = try PostgresLocation(url: url, password: nil)
            let faults = FaultInjector()
            try await withLiveCentral(record: { try await Self.record($0, location, copy: true, faults: faults, logger: logger) }) { central in
                let office = try OfficeFixture(office: "79", central: central)
                try office.replica.data.addPlanLine(year: 2025, fundSource: .local, amount: 12_000_000_000, note: "Kế hoạch 2025")
                faults.arm(PostgresRecord.passFault)
                let error = await #expect(throws: SyncAgentError.self) { try await office.engine.runCycle() }
                #expect(error?.transient == true)
                #expect(error?.message.contains("PostgreSQL record") == true)
                // Applied at the centre, not acknowledged: the office keeps it as waiting.
                #expect(try central.store.offices().first { $0.code.rawValue == "79" }?.lastSequence.rawValue == 1)
                #expect(try office.replica.syncPosition().lastAcked == 0)
                // Another office pulls meanwhile: what PostgreSQL does not hold (here, 79's plan in
                // the consolidated totals) is not served, since a restore from the copy would lack it
                // and number it anew; it comes once PostgreSQL holds it.
                let other = try OfficeFixture(office: "80", central: central)
                @Sendable func plan79() throws -> Int64? {
                    try other.replica.database.read { db in
                        try Int64.fetchOne(
                            db, sql: "SELECT plan_amount FROM province_total WHERE province = '79' AND year = 2025 AND fund_source = 'local'")
                    }
                }
                faults.arm(PostgresRecord.passFault, times: 1_000)
                // Nor is the row served by id (verify's and withdraw's fetch): the office is told
                // to ask again, as for the push.
                let line = try #require(try await office.replica.database.read { db in try String.fetchOne(db, sql: "SELECT id FROM plan_line") })
                let fetch = await #expect(throws: TransportError.self) { try await office.engine.client.records(table: .planLine, ids: [line]) }
                #expect(fetch?.remoteCode == "record_unavailable", "\(String(describing: fetch))")
                #expect(fetch?.isTransient == true)
                // Monitoring sees it: the store holds record versions the record lacks, and its
                // last pass stands where it was (PromoCentralRecordStale alerts on its age).
                let failing = try await Self.metrics(central)
                #expect((failing["promo_central_record_behind_positions"] ?? 0) > 0)
                let heldBefore = try #require(failing["promo_central_record_held_timestamp_seconds"])
                #expect(heldBefore > 0)
                try await other.engine.runCycle()
                #expect(try plan79() == nil)
                faults.arm(PostgresRecord.passFault, times: 0)
                // The next attempt is answered as a re-send, once PostgreSQL holds it.
                try await office.engine.runCycle()
                #expect(try office.replica.syncPosition().lastAcked == 1)
                #expect(try await TestPostgres.changesets(of: "79", at: location, logger: logger) == 1)
                #expect(try #require(try await Self.metrics(central)["promo_central_record_held_timestamp_seconds"]) > heldBefore)
                #expect(try await office.engine.client.records(table: .planLine, ids: [line]).value.records.count == 1)
                try await other.engine.runCycle()
                #expect(try plan79() == 12_000_000_000)
            }
        }
    }

    @Test func aDatabaseWithoutTheStoresCopyIsRefusedBeforeServing() async throws {
        let logger = self.logger
        try await withDatabase { url in
            let location = try PostgresLocation(url: url, password: nil)
            let folder = try TemporaryDirectory(prefix: "central")
            let store = try CentralStore(path: folder.file(CentralStore.fileName))
            let error = await #expect(throws: CentralError.self) { _ = try await Self.record(store, location, copy: false, logger: logger) }
            #expect(error?.message.contains("holds no copy") == true)
            #expect(error?.hint?.contains("store migrate") == true)
        }
    }
}
