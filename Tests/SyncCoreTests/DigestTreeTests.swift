import Crypto
import Foundation
import Testing

@testable import SyncCore

@Suite struct DigestTreeTests {
    static let leaves = [
        DigestTree.Leaf(
            table: .planLine, id: "019a0000-0000-7000-8000-000000000001",
            fields: ["office": .text("79"), "year": .integer(2025), "fund_source": .text("local"), "amount": .integer(-5), "note": .null]),
        DigestTree.Leaf(
            table: .planLine, id: "019a0000-0000-7000-8000-000000000002",
            fields: [
                "office": .text("79"), "year": .integer(2024), "fund_source": .text("national"), "amount": .integer(Int64.max),
                "note": .text("Cà Mau \"x\"\n;="),
            ]),
        DigestTree.Leaf(
            table: .disbursement, id: "019a0000-0000-7000-8000-000000000003",
            fields: ["office": .text("79"), "project_id": .text("p"), "kind": .text("payment"), "amount": .integer(1), "paid_on": .text("2025-06-01")]),
    ]

    /// Offices and the centre of different versions compare trees: the digests are part of the
    /// protocol, so their spelling is pinned here; DigestGoldenTests checks a larger set against
    /// digests computed independently (Golden/digest_tree.py), which agree with these.
    @Test func digestsAreSpelledAsTheProtocolFixedThem() {
        let tree = DigestTree(leaves: Self.leaves)
        #expect(tree.rowCount == 3)
        #expect(tree.root == "424502b9bdacfcb8")
        #expect(DigestTree.leafPath(table: .planLine, id: Self.leaves[0].id, fields: Self.leaves[0].fields) == "plan_line/2025/b/7/8")
        #expect(DigestTree.rowDigest(table: .planLine, id: Self.leaves[1].id, fields: Self.leaves[1].fields) == "c4c56258cdd1a08d")
        #expect(tree.children(of: "") == ["plan_line": "c765cc43ad6c98b8", "disbursement": "cdf037e0b9fd08d1"])
    }

    /// The tree as first implemented: ids and hex digests as text, nodes folded by their path
    /// text. The compact tree must give the same digests for every node.
    static func textualNodes(_ leaves: [DigestTree.Leaf]) -> [String: [String: String]] {
        func combine(_ children: [String: String]) -> String {
            let text = children.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value);" }.joined()
            return SHA256.hash(data: Array(text.utf8)).prefix(8).map { String(format: "%02x", $0) }.joined()
        }
        var level: [String: [String: String]] = [:]
        for leaf in leaves {
            level[DigestTree.leafPath(table: leaf.table, id: leaf.id, fields: leaf.fields), default: [:]][leaf.id] =
                DigestTree.rowDigest(table: leaf.table, id: leaf.id, fields: leaf.fields)
        }
        var nodes = level
        for _ in 0..<DigestTree.depth {
            var parents: [String: [String: String]] = [:]
            for (path, children) in level {
                let slash = path.lastIndex(of: "/")
                parents[slash.map { String(path[..<$0]) } ?? "", default: [:]][slash.map { String(path[path.index(after: $0)...]) } ?? path] = combine(children)
            }
            nodes.merge(parents) { a, _ in a }
            level = parents
        }
        nodes["root"] = ["": combine(nodes[""] ?? [:])]
        return nodes
    }

    /// Row ids are kept as numbers when they are lower-case UUIDs; any other id as its text. Both
    /// must give back exactly the id given and order like the text, or the digests would change.
    @Test func rowIDsOfEveryShapeKeepTheirSpellingAndOrder() {
        let ids = [
            "019a0000-0000-7000-8000-000000000001", "ffffffff-ffff-ffff-ffff-ffffffffffff", "00000000-0000-0000-0000-000000000000",
            "019A0000-0000-7000-8000-000000000001", "019a0000-0000-7000-8000-00000000000g", "019a0000-0000-7000-8000_000000000001",
            "019a0000-0000-7000-8000-0000000000012", "79/2025/local", "", "Cà Mau", "0", "019a",
        ]
        for id in ids { #expect(RowKey(id).text == id, "\(id)") }
        #expect(RowKey(ids[0]) == .uuid(0x019a0000_00007000, 0x80000000_00000001))
        #expect(RowKey(ids[3]) == .text(ids[3]))
        for a in ids { for b in ids { #expect((RowKey(a) < RowKey(b)) == (a < b), "\(a) < \(b)") } }
    }

    /// Every node of the compact tree, over ids of both kinds, several years and tables, has the
    /// digests of the textual tree.
    @Test func theCompactTreeHasTheDigestsOfTheTextualOne() {
        var leaves: [DigestTree.Leaf] = []
        let seed = UInt64.random(in: 1...UInt64.max)
        var rng = SplitMix64(seed: seed)
        for i in 0..<3_000 {
            let id = i % 10 == 0 ? "text-id-\(i)" : RowID.make(using: &rng).rawValue
            if i % 3 == 0 {
                leaves.append(.init(table: .disbursement, id: id, fields: ["amount": .integer(Int64(i)), "paid_on": .text("202\(i % 4)-01-0\(1 + i % 9)")]))
            } else {
                leaves.append(
                    .init(
                        table: .planLine, id: id, fields: ["year": .integer(Int64(2020 + i % 7)), "amount": .integer(Int64(i)), "note": .text("ghi chú \(i)")]))
            }
        }
        leaves.append(.init(table: .conflictResolution, id: "019A0000-0000-7000-8000-000000000001", fields: [:]))
        let tree = DigestTree(leaves: leaves)
        let textual = Self.textualNodes(leaves)
        #expect(tree.rowCount == leaves.count)
        #expect(tree.root == textual["root"]?[""], "seed \(seed)")
        for (path, children) in textual where path != "root" { #expect(tree.children(of: path) == children, "\(path), seed \(seed)") }
        var rows = 0
        tree.forEachRow { path, id, digest in
            rows += 1
            #expect(textual[path]?[id] == digest, "seed \(seed)")
        }
        #expect(rows == leaves.count)
        #expect(tree.children(of: "plan_line/2020/A/3/f").isEmpty)
        #expect(tree.children(of: "plan_line/1999/a/3/f").isEmpty)
        #expect(tree.children(of: "nothing/2020/a/3/f").isEmpty)
        // Equal rows in another order make an equal tree.
        #expect(DigestTree(leaves: leaves.reversed()) == tree)
    }

    /// A hand-written date with slashes must not add components to the path: the row would then
    /// sit outside the root's digest, and no difference in it would ever be found.
    @Test func aRowWithSlashesInItsDateStaysUnderTheRoot() {
        let odd = DigestTree.Leaf(
            table: .disbursement, id: "019a0000-0000-7000-8000-000000000007", fields: ["paid_on": .text("1/2/2025"), "amount": .integer(5)])
        let path = DigestTree.leafPath(table: odd.table, id: odd.id, fields: odd.fields)
        #expect(path.split(separator: "/").count == DigestTree.depth)
        #expect(path.hasPrefix("disbursement/1_2_/"))
        let tree = DigestTree(leaves: Self.leaves + [odd])
        #expect(tree.root != DigestTree(leaves: Self.leaves).root)
        #expect(tree.children(of: "disbursement").keys.contains("1_2_"))
        #expect(tree.children(of: path) == [odd.id: DigestTree.rowDigest(table: odd.table, id: odd.id, fields: odd.fields)])
    }

    @Test func aRowAddedTwiceCountsOnceWithItsLastValue() {
        var builder = DigestTree.Builder()
        let id = "019a0000-0000-7000-8000-000000000009"
        builder.add(table: .planLine, id: id, fields: ["year": .integer(2025), "amount": .integer(1)])
        builder.add(table: .planLine, id: id, fields: ["year": .integer(2025), "amount": .integer(2)])
        let tree = builder.tree()
        #expect(tree.rowCount == 1)
        let path = DigestTree.leafPath(table: .planLine, id: id, fields: ["year": .integer(2025)])
        #expect(tree.children(of: path) == [id: DigestTree.rowDigest(table: .planLine, id: id, fields: ["year": .integer(2025), "amount": .integer(2)])])
    }

    @Test func aTreeBuiltRowByRowEqualsOneBuiltFromAllRows() {
        var builder = DigestTree.Builder()
        for leaf in Self.leaves.reversed() { builder.add(table: leaf.table, id: leaf.id, fields: leaf.fields) }
        let tree = builder.tree()
        #expect(tree.root == DigestTree(leaves: Self.leaves).root)
        #expect(tree == DigestTree(leaves: Self.leaves))
    }
}
