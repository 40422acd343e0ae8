// Fuzzes the one-pass JSON reader of the wire format (WireFormat/WireCoding.swift) through every
// entry point that reads bytes from the other side: a push body at the centre
// (`PushRequest(jsonData:)`), a pull page at the office (`PullResponse(jsonData:)`), a stored or
// audited changeset (`Changeset(jsonData:)`) and a row's stored fields (`FieldCoding.decode`).
//
// Each input goes to all of them (each refuses quickly what is not its kind). Besides "never traps,
// never hangs", what each accepts must
// - read back as the same value once written again by the fast writers,
// - be JSON that Foundation's `JSONDecoder` reads to the same value through the `Codable`
//   conformances (docs/PROTOCOL.md: "the same JSON that the Codable conformances describe"): the
//   fast reader must never accept what the documented form does not allow,
// - go through what the centre does next with a push (hash, validation, identity checks) without
//   trapping.
//
// `FuzzWire --write-seeds DIR` writes the valid seeds of Fuzz/corpus/wire, made by the code itself.

import Foundation
import FuzzSupport
import SyncCore
import WireFormat

@_cdecl("LLVMFuzzerTestOneInput") public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let body = Data(bytes: data, count: size)
    checkPush(body)
    checkPage(body)
    checkChangeset(body)
    checkFields(body)
    return 0
}

/// The Codable form of the same bytes, or nil if Foundation refuses them.
func codable<T: Decodable>(_ type: T.Type, _ body: Data) -> T? {
    try? JSONDecoder().decode(type, from: body)
}

func checkPush(_ body: Data) {
    guard let push = try? PushRequest(jsonData: body) else { return }
    // What the centre does with a body it read, before any database work (CentralStore.apply).
    _ = try? push.changeset.verifyHash()
    for change in push.changeset.changes {
        _ = try? change.validate()
        _ = change.identityProblem(pushedBy: push.changeset.office)
    }
    // The bytes kept as the record of what the office sent read back as the same changeset.
    guard let kept = push.receivedChangesetJSON else { return Fuzzing.expect(false, "a push read without its changeset's bytes") }
    Fuzzing.expect((try? Changeset(jsonData: kept)) == push.changeset, "the kept changeset bytes read differently")
    let again = try? PushRequest(jsonData: push.jsonData())
    Fuzzing.expect(again?.changeset == push.changeset && again?.protocolVersion == push.protocolVersion,
                   "a push request written again reads differently")
    let viaCodable = codable(PushRequest.self, body)
    Fuzzing.expect(viaCodable?.changeset == push.changeset && viaCodable?.protocolVersion == push.protocolVersion,
                   "the fast reader accepted a push request that Codable reads differently or refuses")
}

func checkPage(_ body: Data) {
    guard let page = try? PullResponse(jsonData: body) else { return }
    // The centre's writer, from fields stored as FieldCoding text.
    var writer = PullPageWriter(expectedRecords: page.records.count)
    for r in page.records {
        writer.append(cursor: r.cursor.rawValue, table: r.table, id: r.id, office: r.office.rawValue, deleted: r.deleted,
                      fieldsJSON: FieldCoding.encode(r.fields))
    }
    let written = writer.finish(epoch: page.epoch, nextCursor: page.nextCursor.rawValue, hasMore: page.hasMore)
    Fuzzing.expect((try? PullResponse(jsonData: written)) == page, "a pull page written again reads differently")
    Fuzzing.expect(codable(PullResponse.self, body) == page, "the fast reader accepted a pull page that Codable reads differently or refuses")
}

func checkChangeset(_ body: Data) {
    guard let changeset = try? Changeset(jsonData: body) else { return }
    _ = try? changeset.verifyHash()
    Fuzzing.expect((try? Changeset(jsonData: changeset.jsonData())) == changeset, "a changeset written again reads differently")
    Fuzzing.expect(codable(Changeset.self, body) == changeset, "the fast reader accepted a changeset that Codable reads differently or refuses")
}

func checkFields(_ body: Data) {
    let text = String(decoding: body, as: UTF8.self)
    // The digest's column-order reader (no dictionary), for one table picked by the input.
    var values: [FieldValue] = []
    _ = try? FieldCoding.decode(text, columnsOf: SyncedTable.allCases[body.count % SyncedTable.allCases.count], into: &values)
    guard let fields = try? FieldCoding.decode(text) else { return }
    Fuzzing.expect((try? FieldCoding.decode(FieldCoding.encode(fields))) == fields, "fields written again read differently")
    Fuzzing.expect(codable([String: FieldValue].self, Data(text.utf8)) == fields, "the fast reader accepted fields that Codable reads differently or refuses")
}

/// The valid seeds, written by the code (so they follow the wire format as it is).
func writeSeeds(to directory: URL) throws {
    let office = OfficeCode(unchecked: "79")
    let hlc = HLCTimestamp(milliseconds: 0x19ac0f1a2, counter: 3, node: "79")
    let project = Change(table: .project, id: RowID(unchecked: "01a220b8-f6ba-7f3d-953c-42fbd3d0fb8c"), op: .upsert, hlc: hlc,
                         fields: ["code": .text("HCM-2025-001"), "name": .text("Máy sấy \"nông sản\"\n"), "total_cost": .integer(1_250_000_000),
                                  "requested_support": .integer(-5), "beneficiary": .null, "year": .integer(2025)])
    let deleted = Change(table: .disbursement, id: RowID(unchecked: "01a220b8-f6ba-7f3d-953c-42fbd3d0fb8d"), op: .delete,
                         hlc: HLCTimestamp(milliseconds: 1, counter: 65535, node: "79"), fields: [:])
    let plan = Change(table: .planLine, id: RowID(unchecked: "01a220b8-f6ba-7f3d-953c-42fbd3d0fb8e"), op: .upsert, hlc: hlc,
                      fields: ["amount": .integer(.max), "note": .text("\u{1}\t\\ Đề án 🌾"), "year": .integer(.min)])
    let first = Changeset(office: office, sequence: ChangesetSequence(1), previousHash: Changeset.genesisHash, changes: [project])
    let second = Changeset(office: office, sequence: ChangesetSequence(2), previousHash: first.hash, changes: [deleted, plan])
    var seeds: [String: Data] = [
        "push-one-change.json": PushRequest(changeset: first).jsonData(),
        "push-three-tables.json": PushRequest(changeset: second).jsonData(),
        "changeset.json": second.jsonData(),
        "fields.json": Data(FieldCoding.encode(plan.fields).utf8),
    ]
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    seeds["push-codable-pretty.json"] = try encoder.encode(PushRequest(changeset: first))
    var writer = PullPageWriter()
    writer.append(cursor: 7, table: "project", id: project.id.rawValue, office: "79", deleted: false, fieldsJSON: FieldCoding.encode(project.fields))
    writer.append(cursor: 8, table: "plan_line", id: plan.id.rawValue, office: "79", deleted: false, fieldsJSON: FieldCoding.encode(plan.fields))
    writer.append(cursor: 9, table: "province_total", id: "79/2025/\"local\"", office: "central", deleted: true, fieldsJSON: "{}")
    seeds["page-three-records.json"] = writer.finish(epoch: Epoch("7d1c0c5e-4c1a-4f0e-9a53-2b9d3f1e6a10"), nextCursor: 9, hasMore: true)
    seeds["page-empty.json"] = PullPageWriter().finish(epoch: Epoch("e"), nextCursor: 0, hasMore: false)
    for (name, data) in seeds { try data.write(to: directory.appendingPathComponent(name)) }
}

if CommandLine.arguments.count == 3, CommandLine.arguments[1] == "--write-seeds" {
    do { try writeSeeds(to: URL(fileURLWithPath: CommandLine.arguments[2])) } catch { fatalError("\(error)") }
    exit(0)
}
Fuzzing.run { data, size in fuzz(data!, size) }
