import Foundation
import Testing

@testable import SyncCore

/// The digests of docs/PROTOCOL.md are part of the protocol: offices and the centre of different
/// releases compare trees. `Golden/digest_tree.py` computes them for the rows of
/// `Golden/digest-rows.json` with Python's own SHA-256, written from the protocol text and not
/// from this code; the tree SyncCore builds must give every row digest, leaf path and node of
/// `Golden/digest-golden.json`.
@Suite struct DigestGoldenTests {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden")

    struct Rows: Decodable {
        struct Row: Decodable {
            let table: String
            let id: String
            let fields: [String: FieldValue?]
        }
        let columns: [String: [String]]
        let rows: [Row]
    }

    struct Golden: Decodable {
        let rows: [String: String]
        let paths: [String: String]
        let nodes: [String: [String: String]]
        let root: String
    }

    @Test func theTreeHasTheDigestsComputedIndependently() throws {
        let input = try JSONDecoder().decode(Rows.self, from: Data(contentsOf: Self.folder.appendingPathComponent("digest-rows.json")))
        let golden = try JSONDecoder().decode(Golden.self, from: Data(contentsOf: Self.folder.appendingPathComponent("digest-golden.json")))
        // The script hashes the columns it was given (release 1.1.0's): they must be the tables'
        // columns, in order, and any column after them one added later (left out while null).
        for (name, columns) in input.columns {
            let table = try #require(SyncedTable(rawValue: name))
            #expect(Array(table.columnNames.prefix(columns.count)) == columns, "\(name)")
            #expect(table.columns.dropFirst(columns.count).allSatisfy { $0.addedInSchema != nil }, "\(name)")
        }
        var leaves: [DigestTree.Leaf] = []
        for row in input.rows {
            let table = try #require(SyncedTable(rawValue: row.table))
            let fields = row.fields.mapValues { $0 ?? .null }
            leaves.append(DigestTree.Leaf(table: table, id: row.id, fields: fields))
            #expect(DigestTree.rowDigest(table: table, id: row.id, fields: fields) == golden.rows["\(row.table)/\(row.id)"], "\(row.id)")
            #expect(DigestTree.leafPath(table: table, id: row.id, fields: fields) == golden.paths["\(row.table)/\(row.id)"], "\(row.id)")
        }
        // A row given the later column's value differs from the same row without it.
        if let project = input.rows.first(where: { $0.table == "project" }) {
            let fields = project.fields.mapValues { $0 ?? .null }
            var taxed = fields
            taxed["tax_code"] = .text("0312345678")
            #expect(DigestTree.rowDigest(table: .project, id: project.id, fields: taxed) != golden.rows["project/\(project.id)"])
            // The centre, comparing with an office of schema 7, leaves the column out whatever it holds.
            #expect(
                DigestTree.hex(DigestTree.rowDigestValue(table: .project, id: project.id, values: SyncedTable.project.values(of: taxed), schema: 7))
                    == golden.rows["project/\(project.id)"])
            taxed["tax_code"] = .null
            #expect(DigestTree.rowDigest(table: .project, id: project.id, fields: taxed) == golden.rows["project/\(project.id)"])
        }
        let tree = DigestTree(leaves: leaves)
        #expect(tree.root == golden.root)
        for (path, children) in golden.nodes {
            #expect(tree.children(of: path) == children, "\(path)")
        }
        #expect(golden.nodes.count > 20 && golden.rows.count == input.rows.count)
    }
}
