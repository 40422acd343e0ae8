import Foundation
import GRDB
import Replica
import SyncAgent
import SyncCore
import SyncTesting
import Testing
import WireFormat

@testable import Central
@testable import Transport

@Suite struct SecurityTests {
    func plan(_ office: String, amount: Int64 = 1) -> Change {
        Change(
            table: .planLine, id: RowID.make(), op: .upsert, hlc: HLCTimestamp(milliseconds: 1, counter: 0, node: office),
            fields: ["office": .text(office), "year": .integer(2025), "fund_source": .text("local"), "amount": .integer(amount)])
    }

    @Test func revokedAndRotatedOutTokensAreRefusedAndStatusSaysBroken() async throws {
        try await withLiveCentral { central in
            let office = try OfficeFixture(office: "79", central: central)
            try office.addProject(code: "S-1")
            try await office.engine.runCycle()

            try central.store.revokeToken(OfficeCode(unchecked: "79"))
            let error = await #expect(throws: SyncAgentError.self) { try await office.engine.runCycle() }
            #expect(error?.isTransient == false)
            let status = StatusReport.evaluate(try office.replica.status(), now: Date(), thresholds: .init(), isRunning: { _ in false })
            #expect(status.exitCode == 2)
            #expect(status.lastError?.hint?.contains("rotate-token") == true)

            // Rotating the token of a revoked office does not turn it back on; reinstating does,
            // and then only the new token works.
            let fresh = try central.store.rotateToken(OfficeCode(unchecked: "79"))
            let old = try TokenFile.read(path: office.directory.file("office.token"))
            #expect(try central.store.authenticate(token: fresh) == nil)
            #expect(try central.store.offices().first?.revoked == true)
            try central.store.reinstate(OfficeCode(unchecked: "79"))
            #expect(try central.store.authenticate(token: old) == nil)
            #expect(try central.store.authenticate(token: fresh) == OfficeCode(unchecked: "79"))
            #expect(throws: CentralError.self) { try central.store.reinstate(OfficeCode(unchecked: "79")) }
            #expect(fresh.count == 64 && fresh != old)
            let client = CentralClient(baseURL: central.url, token: fresh, http: HTTPClient())
            let state = try await client.officeState()
            #expect(state.lastSequence == ChangesetSequence(1))
        }
    }

    @Test func aTamperedStoredHistoryIsReportedByAuditVerify() async throws {
        try await withLiveCentral(audit: false) { central in
            let office = try OfficeFixture(office: "80", central: central)
            for code in ["A", "B", "C"] {
                try office.addProject(code: code)
                try await office.engine.runCycle()
            }
            #expect(try central.store.verifyChains().isEmpty)
            // Someone with access to the store edits an amount inside changeset 2.
            try await central.store.database.write { db in
                let body = try Data.fetchOne(db, sql: "SELECT body FROM changeset WHERE office = '80' AND sequence = 2")!
                var changeset = try JSONDecoder().decode(Changeset.self, from: ChangesetBody.json(body)!)
                changeset.changes[0].fields["requested_support"] = .integer(1)
                try db.execute(
                    sql: "UPDATE changeset SET body = ? WHERE office = '80' AND sequence = 2",
                    arguments: [try JSONEncoder().encode(changeset)])
            }
            let problems = try central.store.verifyChains(office: "80")
            #expect(problems.map(\.sequence) == [2])
            #expect(problems.first?.problem.contains("does not hash") == true)
            // The full audit names it too, and the replay stops there.
            let report = try central.store.auditVerify()
            #expect(report.chainProblems == problems)
            #expect(report.replayFailure?.step == "changeset 80/2")
            #expect(try central.store.auditTrail(office: "80").count >= 3)
        }
    }

    @Test func everyLimitAnswersAClear4xx() async throws {
        try await withLiveCentral(configure: { c in
            c.maxBodyBytes = 4_096
            // Refills too slowly to matter even if the machine is busy and requests take seconds.
            c.rateLimitPerSecond = 0.01
            c.rateLimitBurst = 5
        }) { central in
            let token = try central.addOffice("79")
            let client = CentralClient(baseURL: central.url, token: token, http: HTTPClient())
            // Body over the limit.
            let big = Changeset(
                office: OfficeCode(unchecked: "79"), sequence: ChangesetSequence(1), previousHash: Changeset.genesisHash,
                changes: (0..<100).map { _ in plan("79") })
            let tooBig = await #expect(throws: TransportError.self) { try await client.push(big) }
            #expect(tooBig?.status == 413 && tooBig?.remoteCode == "body_too_large")
            #expect(tooBig?.isTransient == false)
            // Requests past the rate limit.
            var limited: TransportError?
            for _ in 0..<10 {
                do { _ = try await client.pull(after: .start, limit: 1) } catch let error as TransportError {
                    limited = error
                    break
                }
            }
            #expect(limited?.status == 429 && limited?.remoteCode == "rate_limited" && limited?.isTransient == true)
        }
        try await withLiveCentral { central in
            let token = try central.addOffice("80")
            let client = CentralClient(baseURL: central.url, token: token, http: HTTPClient())
            let many = Changeset(
                office: OfficeCode(unchecked: "80"), sequence: ChangesetSequence(1), previousHash: Changeset.genesisHash,
                changes: (0...WireProtocol.maxChangesPerChangeset).map { _ in plan("80") })
            let error = await #expect(throws: TransportError.self) { try await client.push(many) }
            #expect(error?.status == 413 && error?.remoteCode == "too_many_changes")
            #expect(try central.store.offices().first?.lastSequence == ChangesetSequence(0))
        }
    }

    /// A changeset whose hash is right but one of whose changes the protocol does not allow is
    /// refused whole over HTTP: none of its other changes is applied and the chain does not move.
    @Test func aChangesetWithOneBadChangeIsRefusedWhole() async throws {
        try await withLiveCentral { central in
            let token = try central.addOffice("79")
            let client = CentralClient(baseURL: central.url, token: token, http: HTTPClient())
            func changeset(_ bad: Change) -> Changeset {
                Changeset(
                    office: OfficeCode(unchecked: "79"), sequence: ChangesetSequence(1), previousHash: Changeset.genesisHash,
                    changes: [plan("79"), bad, plan("79")])
            }
            var unknown = plan("79")
            unknown.fields["colour"] = .text("red")
            var wrongType = plan("79")
            wrongType.fields["amount"] = .text("a lot")
            let cases: [(Change, Int, String)] = [
                (unknown, 400, "colour"),
                (wrongType, 400, "amount"),
                (plan("80"), 403, "stamped by '80'"),
            ]
            for (bad, status, mention) in cases {
                let error = await #expect(throws: TransportError.self) { try await client.push(changeset(bad)) }
                #expect(error?.status == status && error?.isTransient == false)
                #expect(error?.message.contains(mention) == true, "\(error?.message ?? "no error")")
                if status == 400 { #expect(error?.hint?.contains("refused whole") == true) }
            }
            #expect(try central.store.offices().first?.lastSequence == ChangesetSequence(0))
            #expect(try central.store.recordCounts().filter { $0.office == "79" }.isEmpty)
            // The same changeset without the bad change is then accepted as number 1.
            let good = Changeset(
                office: OfficeCode(unchecked: "79"), sequence: ChangesetSequence(1), previousHash: Changeset.genesisHash,
                changes: [plan("79"), plan("79")])
            _ = try await client.push(good)
            #expect(try central.store.offices().first?.lastSequence == ChangesetSequence(1))
        }
    }

    @Test func aReplicaOthersCanReadIsRefused() throws {
        let dir = try TemporaryDirectory()
        let replica = try Replica.create(
            at: dir.file("replica.sqlite"), settings: ReplicaSettings(office: OfficeCode(unchecked: "79"), centralURL: "http://x", tokenFile: "t"))
        try replica.checkPermissions()
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: replica.path)
        let error = #expect(throws: ReplicaError.self) { try replica.checkPermissions() }
        #expect(error?.hint == "Try: chmod 600 \(replica.path)")
    }
}

@Suite struct IsolationTests {
    @Test func office80CannotReadOffice79sRowsThroughDigestsOrRecords() async throws {
        try await withLiveCentral { central in
            let hcm = try OfficeFixture(office: "79", central: central)
            let id = try hcm.addProject(code: "SECRET")
            try await hcm.engine.runCycle()
            let tayNinh = try OfficeFixture(office: "80", central: central)
            try tayNinh.addProject(code: "MINE")
            try await tayNinh.engine.runCycle()
            let client = tayNinh.engine.client
            let fetched = try await client.records(table: .project, ids: [id.rawValue])
            #expect(fetched.value.records.isEmpty)
            // 80's tree holds exactly its own rows, row by row, and none of 79's.
            let served = digestRows(try central.store.digestTree(for: OfficeCode(unchecked: "80")))
            #expect(served == digestRows(try tayNinh.replica.digestTree()))
            #expect(!served.keys.contains { $0.hasSuffix(id.rawValue) })
            #expect(try await client.digest(path: "project").value.children.count == 1)
            let report = try await tayNinh.engine.verify()
            #expect(report.identical)
            let page = try await client.pull(after: .start, limit: 5_000).value
            #expect(!page.records.contains { $0.id == id.rawValue })
        }
    }
}
