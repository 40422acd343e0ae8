import Testing
@testable import SyncCore

@Suite struct DigestTreeTests {
    static let leaves = [
        DigestTree.Leaf(table: .planLine, id: "019a0000-0000-7000-8000-000000000001",
                        fields: ["office": .text("79"), "year": .integer(2025), "fund_source": .text("local"), "amount": .integer(-5), "note": .null]),
        DigestTree.Leaf(table: .planLine, id: "019a0000-0000-7000-8000-000000000002",
                        fields: ["office": .text("79"), "year": .integer(2024), "fund_source": .text("national"), "amount": .integer(Int64.max),
                                 "note": .text("Cà Mau \"x\"\n;=")]),
        DigestTree.Leaf(table: .disbursement, id: "019a0000-0000-7000-8000-000000000003",
                        fields: ["office": .text("79"), "project_id": .text("p"), "kind": .text("payment"), "amount": .integer(1), "paid_on": .text("2025-06-01")]),
    ]

    /// Offices and the centre of different versions compare trees: the digests are part of the
    /// protocol, so their spelling is pinned here (computed by the first implementation).
    @Test func digestsAreSpelledAsTheProtocolFixedThem() {
        let tree = DigestTree(leaves: Self.leaves)
        #expect(tree.rowCount == 3)
        #expect(tree.root == "424502b9bdacfcb8")
        #expect(DigestTree.leafPath(table: .planLine, id: Self.leaves[0].id, fields: Self.leaves[0].fields) == "plan_line/2025/b/7/8")
        #expect(DigestTree.rowDigest(table: .planLine, id: Self.leaves[1].id, fields: Self.leaves[1].fields) == "c4c56258cdd1a08d")
        #expect(tree.children(of: "") == ["plan_line": "c765cc43ad6c98b8", "disbursement": "cdf037e0b9fd08d1"])
    }

    @Test func aTreeBuiltRowByRowEqualsOneBuiltFromAllRows() {
        var builder = DigestTree.Builder()
        for leaf in Self.leaves.reversed() { builder.add(table: leaf.table, id: leaf.id, fields: leaf.fields) }
        let tree = builder.tree()
        #expect(tree.root == DigestTree(leaves: Self.leaves).root)
        #expect(tree.nodes == DigestTree(leaves: Self.leaves).nodes)
    }
}
