import CentralPostgres
import Foundation
import Logging
import PostgresNIO
import SyncAgent
import SyncCore
import SyncTesting
import Synchronization
import Testing
import Transport

@testable import Central

/// Several centres on one PostgreSQL record (docs/OPERATIONS.md, "A standby centre"): who may
/// serve (the lease), and from which store (`PostgresStoreRestore.prepare`). The processes, killed
/// and fenced, are ChaosSmokeTests'.
@Suite(.enabled(if: postgresURL != nil, "PostgreSQL is not installed here (apt install postgresql); CI runs these"))
struct ServingLeaseTests {
    let logger = TestPostgres.recordLogger

    /// The lease is taken at once when free or already this centre's; never from a holder that
    /// renews; and from a holder that stopped renewing once its whole lease has passed.
    @Test func theLeaseIsTakenOnlyFromAHolderThatFellSilent() async throws {
        let logger = self.logger
        try await withDatabase { url in
            let location = try PostgresLocation(url: url, password: nil)
            // Six seconds, renewed every half second over one connection: a loaded machine (a build
            // beside) once stalled a renewer that connected anew each time for a whole 4 s lease.
            let first = ServingLease(holder: "first/1", duration: .seconds(6))
            let second = ServingLease(holder: "second/2", duration: .seconds(6))
            #expect(try await first.acquire(location: location, logger: logger) == nil)
            func renewedAt() async throws -> [String] {
                try await location.withClient(logger: logger) { client in
                    var times: [String] = []
                    for try await time in try await client.query("SELECT renewed_at::text FROM promo.serving", logger: logger).decode(String.self) {
                        times.append(time)
                    }
                    return times
                }
            }
            let taken = try await renewedAt()
            // A centre started again takes its own lease back at once, without renewing it (only
            // its passes do): one that fails on its way to serving, again and again, lets a standby in.
            let restarted = ServingLease(holder: "first/1", duration: .seconds(6))
            #expect(try await restarted.acquire(location: location, logger: logger) == nil)
            #expect(try await renewedAt() == taken)
            // Stopped by a flag, never cancelled: a task cancelled as it enters a PostgresNIO call
            // can wait forever for a connection.
            let renew = Shared(true)
            let lastRenewal = Shared(ContinuousClock.now)
            let renewing = Task {
                try await location.withClient(logger: logger) { client in
                    while renew.value {
                        lastRenewal.value = ContinuousClock.now
                        _ = try await client.query("UPDATE promo.serving SET renewed_at = clock_timestamp()", logger: logger)
                        try await Task.sleep(for: .milliseconds(500))
                    }
                }
            }
            let took = Shared<Result<ServingLease.Held?, any Error>?>(nil)
            let tookAt = Shared(ContinuousClock.now)
            let taking = Task {
                do { took.value = .success(try await second.acquire(location: location, poll: .milliseconds(200), logger: logger)) } catch {
                    took.value = .failure(error)
                }
                tookAt.value = ContinuousClock.now
            }
            // Longer than the lease, renewed all along: the second must still be waiting.
            try await Task.sleep(for: .seconds(8))
            renew.value = false
            try await renewing.value
            #expect(took.value.map { _ in true } == nil, "taken from a holder that renewed all along")
            let deadline = ContinuousClock.now + .seconds(30)
            while took.value.map({ _ in true }) == nil, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(100)) }
            guard let result = took.value else {
                taking.cancel()
                Issue.record("the lease was not taken within 30 s of its holder falling silent")
                return
            }
            let previous = try result.get()
            #expect(previous?.holder == "first/1")
            // The lease runs from the last renewal's commit, which came after it was sent.
            #expect(tookAt.value - lastRenewal.value >= .seconds(6), "taken before the holder's lease ran out")
            let holder = try await location.withClient(logger: logger) { client in
                var names: [String] = []
                for try await name in try await client.query("SELECT holder FROM promo.serving", logger: logger).decode(String.self) {
                    names.append(name)
                }
                return names
            }
            #expect(holder == ["second/2"])
            // A centre that fails on its way to serving gives the lease up: taken at once.
            await second.release(location: location, logger: logger)
            #expect(try await first.acquire(location: location, logger: logger) == nil)
        }
    }

    /// A centre whose passes cannot renew its lease (PostgreSQL away from it, a standby maybe
    /// taking over) answers no office once most of the lease has passed, and answers again once a
    /// pass renews it.
    @Test func aCentreThatCannotRenewItsLeaseAnswersNoOffice() async throws {
        let logger = self.logger
        try await withDatabase { url in
            let location = try PostgresLocation(url: url, password: nil)
            let faults = FaultInjector()
            let lease = ServingLease(holder: "this/1", duration: .seconds(6))
            let idle = Shared<Task<Void, Never>?>(nil)
            try await withLiveCentral(record: { store in
                _ = try await location.withClient(logger: logger) { try await PostgresStoreCopy.copy(storePath: store.path, to: $0, logger: logger) }
                try await lease.acquire(location: location, logger: logger)
                let record = PostgresRecord(
                    location: location, storePath: store.path, logger: logger, interval: .seconds(2), lease: lease, faults: faults)
                try await record.start()
                idle.value = Task { await record.keepCurrent() }
                return record
            }) { central in
                defer { idle.value?.cancel() }
                let office = try OfficeFixture(office: "79", central: central)
                try await office.syncEventually()
                faults.arm(PostgresRecord.passFault, times: 1_000)
                try await Task.sleep(for: .seconds(6))
                let refused = await #expect(throws: SyncAgentError.self) { try await office.engine.runCycle() }
                #expect(refused?.transient == true)
                #expect(refused?.message.contains("serving lease") == true, "\(String(describing: refused))")
                // Nor is it healthy to a load balancer's check.
                #expect(try await HTTPClient().send(HTTPRequest(method: "GET", url: central.url + "/health")).status == 503)
                faults.arm(PostgresRecord.passFault, times: 0)
                // The next idle pass (every 2 s here) renews it.
                try office.replica.data.addPlanLine(year: 2025, fundSource: .local, amount: 1_000_000, note: nil)
                try await office.syncEventually()
                #expect(try office.replica.syncPosition().lastAcked == 1)
            }
        }
    }

    /// Which store a centre serves from once it holds the lease: its own while it continues the
    /// record (after another centre held the lease, only when it stands exactly where the record
    /// does); otherwise the record's, the store moved aside.
    @Test func aCentreKeepsItsStoreOnlyWhenItContinuesTheRecord() async throws {
        let logger = self.logger
        try await withDatabase { url in
            let location = try PostgresLocation(url: url, password: nil)
            let folder = try TemporaryDirectory(prefix: "serving-prepare")
            let path = folder.file("central.sqlite")
            let store = try CentralStore(path: path)
            _ = try store.addOffice(OfficeCode("79"))
            let copied = try await location.withClient(logger: logger) { client in
                try await PostgresStoreCopy.copy(storePath: path, to: client, logger: logger)
            }
            #expect(copied.differing.isEmpty)
            let other = ServingLease.Held(holder: "other/1", renewedAt: "", seconds: 30)
            let this = ServingLease(holder: "this/1", duration: .seconds(30))
            // A rebuild after taking over renews the lease (every 10 s here, when a loaded machine
            // makes it that slow): this centre holds it whenever it is told it took over.
            try await this.acquire(location: location, logger: logger)
            func prepare(_ path: String, after previous: ServingLease.Held?) async throws -> PostgresStoreRestore.Preparation {
                try await PostgresStoreRestore.prepare(storePath: path, from: location, lease: this, takenFrom: previous, logger: logger)
            }
            // Data folders of other centres, kept until the end of the test.
            let folders = try (0..<7).map { try TemporaryDirectory(prefix: "serving-centre-\($0)") }
            func copy(into folder: TemporaryDirectory) throws -> String {
                try store.backup(to: folder.file("central.sqlite"))
                return folder.file("central.sqlite")
            }
            let behind = try copy(into: folders[0])
            let record = try store.logMark()

            // Past the record with what was never passed (not acknowledged): kept when no other
            // centre can have written the record since, replaced after another centre held the lease.
            _ = try store.addOffice(OfficeCode("80"))
            let ahead = try copy(into: folders[1])
            #expect(try await prepare(path, after: nil) == .kept)
            guard case .replaced(let aside) = try await prepare(ahead, after: other) else {
                Issue.record("a store past the record after another centre's lease must be rebuilt")
                return
            }
            #expect(FileManager.default.fileExists(atPath: aside), "the old store is kept aside")
            #expect(try CentralStore(path: ahead).logMark() == record, "rebuilt at the record's marks")

            // The record's last pass another centre's (this one restarted since it took the lease
            // over, and the lease no longer says from whom): a store past the record is rebuilt;
            // one at exactly the record's marks is kept whoever held the lease.
            let writer = ServingLease(holder: "other/1", duration: .seconds(30))
            await this.release(location: location, logger: logger)
            try await writer.acquire(location: location, logger: logger)
            _ = try await PostgresStoreFollower.pass(storePath: path, into: location, lease: writer, timeout: .seconds(30), logger: logger)
            // store follow beside it is refused: the centre keeps the record current.
            let follower = await #expect(throws: CentralError.self) {
                try await PostgresStoreFollower.pass(storePath: path, into: location, follower: true, timeout: .seconds(30), logger: logger)
            }
            #expect(follower?.message.contains("other/1 serves with this database") == true, "\(String(describing: follower))")
            await writer.release(location: location, logger: logger)
            try await this.acquire(location: location, logger: logger)
            _ = try store.addOffice(OfficeCode("82"))
            let pastOthers = try copy(into: folders[5])
            guard case .replaced = try await prepare(pastOthers, after: nil) else {
                Issue.record("a store past a record another centre wrote last must be rebuilt")
                return
            }
            #expect(try await prepare(pastOthers, after: other) == .kept)

            // Behind the record: rebuilt, with the record's epoch and marks.
            guard case .replaced = try await prepare(behind, after: nil) else {
                Issue.record("a store behind the record must be rebuilt")
                return
            }
            let rebuilt = try CentralStore(path: behind)
            let (rebuiltMark, recordMark) = (try rebuilt.logMark(), try CentralStore(path: pastOthers).logMark())
            #expect(rebuilt.epoch == store.epoch && rebuiltMark == recordMark)

            // No store: restored. A new store of another epoch without offices: replaced. One of
            // another epoch with offices: kept, for the record's first pass to refuse with the reason.
            let missing = folders[2].file("central.sqlite")
            #expect(try await prepare(missing, after: other) == .restored)
            let fresh = folders[3].file("central.sqlite")
            _ = try CentralStore(path: fresh)
            guard case .replaced = try await prepare(fresh, after: nil) else {
                Issue.record("a new store of another epoch without offices must be rebuilt")
                return
            }
            #expect(try CentralStore(path: fresh).epoch == store.epoch)
            // A store this release cannot read is not served on trust.
            let unreadable = folders[6].file("central.sqlite")
            FileManager.default.createFile(atPath: unreadable, contents: Data("not a database".utf8), attributes: [.posixPermissions: 0o600])
            guard case .replaced = try await prepare(unreadable, after: nil) else {
                Issue.record("a store that cannot be read must be rebuilt")
                return
            }
            let foreign = folders[4].file("central.sqlite")
            _ = try CentralStore(path: foreign).addOffice(OfficeCode("82"))
            #expect(try await prepare(foreign, after: nil) == .kept)
        }
    }
}

extension ServingLeaseTests {
    /// What a centre command on a data folder is told (`StoreLocation.checkStanding` in
    /// promo-central): its store is served (or will be kept) while its centre holds the lease or
    /// nobody else held it; a standby's while another holds it; superseded once another centre
    /// wrote the record last, even after that one gave the lease up.
    @Test func aCommandLearnsWhetherItsStoreIsTheOneServed() async throws {
        let logger = self.logger
        try await withDatabase { url in
            let location = try PostgresLocation(url: url, password: nil)
            let first = ServingLease(holder: "first/1", duration: .seconds(30))
            try await first.acquire(location: location, logger: logger)
            #expect(try await ServingLease.standing(of: "first/1", at: location, logger: logger) == .serving)
            guard case .standby(let holder, let silentFor, let seconds) = try await ServingLease.standing(of: "second/2", at: location, logger: logger)
            else {
                Issue.record("another centre's folder must be a standby's while the first holds the lease")
                return
            }
            #expect(holder == "first/1" && silentFor >= 0 && silentFor < 30 && seconds == 30)
            await first.release(location: location, logger: logger)
            #expect(try await ServingLease.standing(of: "second/2", at: location, logger: logger) == .serving)
            try await location.withClient(logger: logger) { client in
                _ = try await client.query("INSERT INTO promo.follow_mark(key, value) VALUES ('writer', 'first/1')", logger: logger)
            }
            #expect(try await ServingLease.standing(of: "second/2", at: location, logger: logger) == .superseded(writer: "first/1"))
            #expect(try await ServingLease.standing(of: "first/1", at: location, logger: logger) == .serving)
            // The second takes the lease: until its first pass it is rebuilding its store.
            let second = ServingLease(holder: "second/2", duration: .seconds(30))
            try await second.acquire(location: location, logger: logger)
            #expect(try await ServingLease.standing(of: "second/2", at: location, logger: logger) == .takingOver(from: "first/1"))
            // Its passes write the record; then it stops, and its lease goes unrenewed.
            try await location.withClient(logger: logger) { client in
                _ = try await client.query("UPDATE promo.follow_mark SET value = 'second/2' WHERE key = 'writer'", logger: logger)
                _ = try await client.query("UPDATE promo.serving SET renewed_at = clock_timestamp() - interval '40 seconds'", logger: logger)
            }
            guard case .silent(let silentFor, 30) = try await ServingLease.standing(of: "second/2", at: location, logger: logger), silentFor >= 40
            else {
                Issue.record("a holder that stopped renewing must be told so")
                return
            }
            // A data folder that has never served here has no name, and holds nothing.
            guard case .standby(holder: "second/2", _, _) = try await ServingLease.standing(of: nil, at: location, logger: logger) else {
                Issue.record("a folder without a name is not the holder")
                return
            }
        }
    }

    /// A planned switch (`store lease --release` once the serving centre is stopped): the lease
    /// given up under the serving centre's name is taken by a waiting centre at its next look,
    /// long before the lease (30 s) would run out; no other name can give it up.
    @Test func aLeaseGivenUpIsTakenAtTheWaitingCentresNextLook() async throws {
        let logger = self.logger
        try await withDatabase { url in
            let location = try PostgresLocation(url: url, password: nil)
            let first = ServingLease(holder: "first/1", duration: .seconds(30))
            try await first.acquire(location: location, logger: logger)
            let second = ServingLease(holder: "second/2", duration: .seconds(30))
            let took = Shared<Result<ServingLease.Held?, any Error>?>(nil)
            Task {
                do { took.value = .success(try await second.acquire(location: location, poll: .milliseconds(200), logger: logger)) } catch {
                    took.value = .failure(error)
                }
            }
            try await Task.sleep(for: .seconds(1))
            #expect(took.value == nil, "the second must wait while the first holds the lease")
            #expect(try await ServingLease.giveUp(holder: "second/2", at: location, logger: logger) == false)
            #expect(try await ServingLease.giveUp(holder: "first/1", at: location, logger: logger))
            let deadline = ContinuousClock.now + .seconds(10)
            while took.value == nil && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(100)) }
            guard case .success(nil) = took.value else {
                Issue.record("the waiting centre must take a given-up lease at once, as a free one: \(String(describing: took.value))")
                return
            }
            #expect(try await ServingLease.standing(of: "first/1", at: location, logger: logger) != .serving)
        }
    }

    /// A centre whose login PostgreSQL refuses (here a database that does not exist) stops at
    /// once with PostgreSQL's reason, instead of waiting as a standby and warning every second.
    @Test func aRefusedLoginEndsTheWaitForTheLease() async throws {
        let logger = self.logger
        try await withDatabase { url in
            guard let slash = url.lastIndex(of: "/") else { return }
            let missing = try PostgresLocation(url: url[..<slash] + "/promo_no_such_database", password: nil)
            let lease = ServingLease(holder: "first/1", duration: .seconds(30))
            let started = ContinuousClock.now
            await #expect {
                try await lease.acquire(location: missing, logger: logger)
            } throws: { error in
                "\(error)".contains("database \"promo_no_such_database\" does not exist")
            }
            #expect(ContinuousClock.now - started < .seconds(10))
        }
    }
}

/// A value tasks share.
final class Shared<Value: Sendable>: Sendable {
    private let storage: Mutex<Value>
    init(_ value: Value) { storage = Mutex(value) }
    var value: Value {
        get { storage.withLock { $0 } }
        set { storage.withLock { $0 = newValue } }
    }
}

/// A centre's name in the serving lease (`centre.id`): kept across restarts, not carried to
/// another machine with a copied data folder.
@Suite struct CentreNameTests {
    @Test func aDataFolderKeepsItsNameOnItsMachineOnly() throws {
        let folder = try TemporaryDirectory(prefix: "centre-name")
        let name = try ServingLease.holder(dataDirectory: folder.path)
        let host = ProcessInfo.processInfo.hostName
        #expect(name.hasPrefix(host + "/"))
        #expect(try ServingLease.holder(dataDirectory: folder.path) == name, "the same name at every start")
        // Copied from another machine: a name of its own here.
        try "elsewhere/0123456789ab/deadbeef\n".write(toFile: folder.file("centre.id"), atomically: true, encoding: .utf8)
        let renamed = try ServingLease.holder(dataDirectory: folder.path)
        #expect(renamed != name && renamed.hasPrefix(host + "/"))
        // Named by 1.6.0 or 1.6.1 on this host: kept, so the lease carries over an upgrade.
        try "\(host)/0badcafe\n".write(toFile: folder.file("centre.id"), atomically: true, encoding: .utf8)
        #expect(try ServingLease.holder(dataDirectory: folder.path) == "\(host)/0badcafe")
    }
}
