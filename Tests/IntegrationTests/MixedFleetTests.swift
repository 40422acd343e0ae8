import Foundation
import GRDB
import Replica
import SyncCore
import SyncTesting
import Testing
import WireFormat

@testable import Central
@testable import SyncAgent
@testable import Transport

/// Release 1.2.0 adds a synced field (the beneficiary's tax code, replica schema v8) while offices
/// of release 1.1.0, which do not know it, keep syncing with the same centre.
@Suite struct MixedFleetTests {
    /// The project row as office 79's 1.1.0 replica sends it whole (a forced resync, a repair): every
    /// column that release knows, none it does not.
    static func oldReleaseRow(_ project: ProjectRow) -> [String: FieldValue] {
        var fields: [String: FieldValue] = [
            "office": .text(project.office), "province": .text(project.province), "code": .text(project.code), "name": .text(project.name),
            "category": .text(project.category), "fund_source": .text(project.fundSource), "beneficiary": .text("Hợp tác xã Tân Phú Trung"),
            "year": .integer(Int64(project.year)), "total_cost": .integer(project.totalCost), "requested_support": .integer(project.requestedSupport),
            "status": .text(project.status),
        ]
        for (name, value) in [("approved_support", project.approvedSupport), ("counterpart_funds", project.counterpartFunds)] {
            fields[name] = value.map(FieldValue.integer) ?? .null
        }
        for (name, value) in [("program_id", project.programID), ("commune", project.commune)] { fields[name] = value.map(FieldValue.text) ?? .null }
        #expect(fields.count == SyncedTable.project.columns.filter { $0.addedInSchema == nil }.count)
        return fields
    }

    @Test func theTaxCodeSyncsAndAWriterThatDoesNotKnowItNeverErasesIt() async throws {
        try await withLiveCentral { central in
            let hcm = try OfficeFixture(office: "79", central: central)
            try hcm.replica.data.addProject(
                NewProject(
                    code: "HCM-01", name: "Máy sấy nông sản", category: "MH_TRINHDIEN", fundSource: .local, year: 2025, totalCost: 1_000_000_000,
                    requestedSupport: 300_000_000, taxCode: "0312 345 678".replacingOccurrences(of: " ", with: "")))
            try hcm.replica.data.updateProject("HCM-01", ProjectUpdate(taxCode: "0312345678001"))
            try await hcm.engine.runCycle()
            func centreFields() throws -> [String: FieldValue] {
                try #require(try central.store.projects(office: "79").first { $0.fields["code"]?.text == "HCM-01" }).fields
            }
            // Kept and sent in its written form.
            #expect(try centreFields()["tax_code"] == .text("0312345678-001"))
            #expect(try hcm.replica.data.projects().first?.taxCode == "0312345678-001")

            // 79's replica of release 1.1.0, restored from a backup, re-sends the row whole, later,
            // with another beneficiary and without the tax code it never knew.
            let project = try #require(try hcm.replica.data.projects().first)
            let state = try #require(try central.store.offices().first { $0.code.rawValue == "79" })
            let old = Change(
                table: .project, id: RowID(unchecked: project.id), op: .upsert,
                hlc: HLCTimestamp(milliseconds: HybridLogicalClock.wallMilliseconds() + 60_000, counter: 0, node: "79"), fields: Self.oldReleaseRow(project))
            _ = try central.store.apply(
                Changeset(office: OfficeCode(unchecked: "79"), sequence: state.lastSequence.next, previousHash: state.lastHash, changes: [old]),
                from: OfficeCode(unchecked: "79"))
            #expect(try centreFields()["beneficiary"] == .text("Hợp tác xã Tân Phú Trung"))
            #expect(try centreFields()["tax_code"] == .text("0312345678-001"))
            #expect(try central.store.conflicts(all: true).isEmpty)
        }
    }

    @Test(arguments: ["031234567", "03123456789", "0312345678-01", "031234567A", "0312-345678-001", "０３１２３４５６７８"])
    func aMalformedTaxCodeIsRefusedAtTheOfficeAndAtTheCentre(code: String) async throws {
        try await withLiveCentral { central in
            let hcm = try OfficeFixture(office: "79", central: central)
            let error = #expect(throws: ReplicaError.self) {
                try hcm.replica.data.addProject(
                    NewProject(
                        code: "HCM-02", name: "Hội chợ", category: "SP_CNNT", fundSource: .local, year: 2025, totalCost: 900_000_000,
                        requestedSupport: 300_000_000, taxCode: code))
            }
            #expect(error?.message.contains("not a tax code") == true)
            #expect(try hcm.replica.data.projects().isEmpty)
            // An office that skips its own check is refused by the centre with the same rule.
            try hcm.addProject(code: "HCM-03")
            try await hcm.engine.runCycle()
            let project = try #require(try hcm.replica.data.projects().first)
            let state = try #require(try central.store.offices().first { $0.code.rawValue == "79" })
            let forged = Change(
                table: .project, id: RowID(unchecked: project.id), op: .upsert,
                hlc: HLCTimestamp(milliseconds: HybridLogicalClock.wallMilliseconds() + 60_000, counter: 0, node: "79"), fields: ["tax_code": .text(code)])
            let refused = #expect(throws: CentralError.self) {
                _ = try central.store.apply(
                    Changeset(office: OfficeCode(unchecked: "79"), sequence: state.lastSequence.next, previousHash: state.lastHash, changes: [forged]),
                    from: OfficeCode(unchecked: "79"))
            }
            #expect(refused?.message.contains("is not a tax code") == true, "\(String(describing: refused))")
        }
    }

    /// A centre of release 1.1.0 refuses a field it does not know as a bad request and says no
    /// release; the office tells the operator to upgrade the centre and records no refusal.
    @Test func aNewOfficeIsToldToUpgradeTheCentreFirst() {
        let project = Change(
            table: .project, id: RowID(unchecked: "019a0000-0000-7000-8000-000000000001"), op: .upsert,
            hlc: HLCTimestamp(milliseconds: 1, counter: 0, node: "79"), fields: ["tax_code": .text("0312345678")])
        let changeset = Changeset(office: OfficeCode(unchecked: "79"), sequence: ChangesetSequence(4), previousHash: Changeset.genesisHash, changes: [project])
        var oldCentre = TransportError(
            .httpStatus, "the centre refused /v1/changesets (400): unknown field 'tax_code'", transient: false, status: 400, remoteCode: "bad_request",
            epoch: Epoch("e1"))
        var cycle = SyncCycle(knownEpoch: Epoch("e1"))
        _ = cycle.start()
        _ = cycle.changesetMade(changeset)
        // Nothing more is pushed, but the office still pulls; the cycle then ends saying why.
        #expect(cycle.pushed(.failure(oldCentre), madeAhead: nil) == .readPosition)
        _ = cycle.positionRead(SyncPosition(cursor: .start, epoch: Epoch("e1")))
        _ = cycle.fetched(
            .success(
                .init(
                    value: PullResponse(epoch: Epoch("e1"), records: [], nextCursor: PullCursor(0), hasMore: false), epoch: Epoch("e1"), bytesSent: 1,
                    bytesReceived: 1)))
        guard case .fail(let error) = cycle.applied() else {
            Issue.record("the cycle ends")
            return
        }
        #expect(error.code == .centreTooOld)
        #expect(error.isTransient)
        #expect(error.message.contains("project.tax_code") && error.message.contains("before 1.2.0"))
        #expect(error.hint?.contains("Upgrade the centre first") == true)
        #expect(cycle.refusal == nil)

        // A centre of 1.2.0 that refuses the row means the row.
        oldCentre.centreRelease = "1.2.0"
        var current = SyncCycle(knownEpoch: Epoch("e1"))
        _ = current.start()
        _ = current.changesetMade(changeset)
        guard case .recordRefusal = current.pushed(.failure(oldCentre), madeAhead: nil) else {
            Issue.record("a current centre's refusal is the row's")
            return
        }
        // Another answer of an old centre (a gap) means what it says.
        let gap = TransportError(
            .httpStatus, "the centre refused /v1/changesets (409): gap", transient: false, status: 409, remoteCode: "sequence_gap", epoch: Epoch("e1"))
        var gapped = SyncCycle(knownEpoch: Epoch("e1"))
        _ = gapped.start()
        _ = gapped.changesetMade(changeset)
        guard case .fail(let lost) = gapped.pushed(.failure(gap), madeAhead: nil) else {
            Issue.record("a gap ends the cycle to heal")
            return
        }
        #expect(lost.code == .centreLostChangesets)
        // A changeset of 1.1.0's fields only is the row's fault whatever the centre runs.
        oldCentre.centreRelease = nil
        var plain = SyncCycle(knownEpoch: Epoch("e1"))
        _ = plain.start()
        var without = changeset
        without.changes[0].fields = ["name": .text("x")]
        _ = plain.changesetMade(without)
        guard case .recordRefusal = plain.pushed(.failure(oldCentre), madeAhead: nil) else {
            Issue.record("a refusal of an old field is the row's")
            return
        }
    }

    @Test func everyAnswerOfTheCentreNamesItsRelease() async throws {
        try await withLiveCentral { central in
            let response = try await HTTPClient().send(HTTPRequest(method: "GET", url: central.url + "/health", headers: [], body: nil))
            #expect(response.headers[WireProtocol.softwareVersionHeader.lowercased()] == SoftwareVersion.current)
            let refused = try await HTTPClient().send(HTTPRequest(method: "GET", url: central.url + "/v1/changes", headers: [], body: nil))
            #expect(refused.status == 401)
            #expect(refused.headers[WireProtocol.softwareVersionHeader.lowercased()] == SoftwareVersion.current)
        }
    }
}
