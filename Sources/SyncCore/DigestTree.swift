import Crypto
import Foundation

/// A hash tree over one office's rows, computed the same way on both sides, so an office and the
/// centre can find where they differ by exchanging a few digests instead of the rows.
///
/// Levels: table → year → first, second and third hex digit of the row id's hash → rows (4,096
/// buckets per table and year, so a leaf stays small even at a million rows). A node's
/// digest is the SHA-256 of its children's names and digests in order; a row's digest covers its
/// id and every column of its table (``rowDigest(table:id:fields:)``). Tombstones are not in the
/// tree (an office holds no deleted rows).
public struct DigestTree: Sendable {
    /// Path components: `project`, `project/2025`, `project/2025/a`, `project/2025/a/3`, `project/2025/a/3/f`.
    public static let depth = 5

    /// node path → child name → digest; at the deepest level the children are row ids.
    public private(set) var nodes: [String: [String: String]] = [:]
    public private(set) var rowCount = 0

    /// A row as the tree sees it.
    public struct Leaf: Sendable {
        public var table: SyncedTable
        public var id: String
        public var fields: [String: FieldValue]

        public init(table: SyncedTable, id: String, fields: [String: FieldValue]) {
            self.table = table
            self.id = id
            self.fields = fields
        }
    }

    public init(leaves: some Sequence<Leaf>) {
        var builder = Builder()
        for leaf in leaves { builder.add(table: leaf.table, id: leaf.id, fields: leaf.fields) }
        self = builder.tree()
    }

    /// Builds a tree row by row, so a caller reading a million rows keeps only their digests,
    /// never the rows themselves.
    public struct Builder {
        private var rows: [String: [String: String]] = [:]
        private var count = 0

        public init() {}

        public mutating func add(table: SyncedTable, id: String, fields: [String: FieldValue]) {
            rows[DigestTree.leafPath(table: table, id: id, fields: fields), default: [:]][id] = DigestTree.rowDigest(table: table, id: id, fields: fields)
            count += 1
        }

        public func tree() -> DigestTree { DigestTree(rows: rows, rowCount: count) }
    }

    private init(rows: [String: [String: String]], rowCount: Int) {
        self.rowCount = rowCount
        nodes = rows
        // Fold the levels up to the root ("").
        var level = rows
        for _ in 0..<Self.depth {
            var parents: [String: [String: String]] = [:]
            for (path, children) in level {
                let slash = path.lastIndex(of: "/")
                let parent = slash.map { String(path[..<$0]) } ?? ""
                let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
                parents[parent, default: [:]][name] = Self.combine(children)
            }
            nodes.merge(parents) { a, _ in a }
            level = parents
        }
    }

    /// The digest of the whole tree.
    public var root: String { Self.combine(nodes[""] ?? [:]) }

    /// The children of a node (row ids at the deepest level).
    public func children(of path: String) -> [String: String] { nodes[path] ?? [:] }

    /// Where a row sits.
    public static func leafPath(table: SyncedTable, id: String, fields: [String: FieldValue]) -> String {
        let year: String
        switch table {
        case .project, .planLine: year = fields["year"]?.integer.map(String.init) ?? "0"
        case .program: year = fields["start_year"]?.integer.map(String.init) ?? "0"
        case .disbursement: year = fields["paid_on"]?.text.map { String($0.prefix(4)) } ?? "0"
        case .projectEvent: year = fields["occurred_on"]?.text.map { String($0.prefix(4)) } ?? "0"
        case .conflictResolution: year = "0"
        }
        let h = Array(SHA256.hash(data: Array(id.utf8)).prefix(2))
        var path: [UInt8] = []
        path.reserveCapacity(32)
        path.append(contentsOf: table.rawValue.utf8)
        path.append(0x2F)
        path.append(contentsOf: year.utf8)
        for nibble in [h[0] >> 4, h[0] & 15, h[1] >> 4] {
            path.append(0x2F)
            path.append(Hex.digit(nibble))
        }
        return String(decoding: path, as: UTF8.self)
    }

    /// A row's digest: its id and every column of its table, missing ones as null. The text
    /// hashed is `row␟table␟id` then, per column, `␞n`, `␞i<number>` or `␞t<UTF-8 length>:<text>`.
    public static func rowDigest(table: SyncedTable, id: String, fields: [String: FieldValue]) -> String {
        var text: [UInt8] = [0x72, 0x6F, 0x77, 0x1F]  // "row␟"
        text.reserveCapacity(160)
        text.append(contentsOf: table.rawValue.utf8)
        text.append(0x1F)
        text.append(contentsOf: id.utf8)
        for column in table.columns {
            text.append(0x1E)
            switch fields[column.name] ?? .null {
            case .null: text.append(0x6E)
            case .integer(let i):
                text.append(0x69)
                text.append(contentsOf: String(i).utf8)
            case .text(let s):
                text.append(0x74)
                text.append(contentsOf: String(s.utf8.count).utf8)
                text.append(0x3A)
                text.append(contentsOf: s.utf8)
            }
        }
        return Hex.string(SHA256.hash(data: text).prefix(8))
    }


    /// A node's digest: the hash of `name=digest;` for each child, by name.
    static func combine(_ children: [String: String]) -> String {
        var text: [UInt8] = []
        text.reserveCapacity(children.count * 56)
        for (name, digest) in children.sorted(by: { $0.key < $1.key }) {
            text.append(contentsOf: name.utf8)
            text.append(0x3D)
            text.append(contentsOf: digest.utf8)
            text.append(0x3B)
        }
        return Hex.string(SHA256.hash(data: text).prefix(8))
    }
}

/// `GET /v1/digest?path=P`: the centre's digests of a node's children for the office.
public struct DigestResponse: Codable, Sendable {
    public var epoch: Epoch
    public var path: String
    public var children: [String: String]

    public init(epoch: Epoch, path: String, children: [String: String]) {
        self.epoch = epoch
        self.path = path
        self.children = children
    }
}

/// `POST /v1/digests`: the children of several nodes in one round trip (one tree level).
public struct DigestsRequest: Codable, Sendable {
    public var paths: [String]
    public init(paths: [String]) { self.paths = paths }
}

public struct DigestsResponse: Codable, Sendable {
    public var epoch: Epoch
    /// node path → child name → digest.
    public var nodes: [String: [String: String]]
    public init(epoch: Epoch, nodes: [String: [String: String]]) {
        self.epoch = epoch
        self.nodes = nodes
    }
}

/// `POST /v1/records`: the centre's current version of the office's rows with these ids.
public struct RecordsRequest: Codable, Sendable {
    public var table: SyncedTable
    public var ids: [String]

    public init(table: SyncedTable, ids: [String]) {
        self.table = table
        self.ids = ids
    }
}
