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
public struct DigestTree: Sendable, Equatable {
    /// Path components: `project`, `project/2025`, `project/2025/a`, `project/2025/a/3`, `project/2025/a/3/f`.
    public static let depth = 5

    /// The nodes above the leaves: node path → child name → digest.
    private var inner: [String: [String: UInt64]] = [:]
    /// Every row, sorted by leaf and then by id: 40 bytes a row. (Ids and digests as strings in a
    /// dictionary per leaf took ~350 bytes a row; see docs/BENCHMARKS.md.)
    private var rows: [LeafRow] = []
    /// The year components of the leaf paths, sorted; ``LeafKey`` holds an index into them.
    private var years: [String] = []

    /// How many rows the tree covers.
    public var rowCount: Int { rows.count }

    /// A row as the tree sees it.
    public struct Leaf: Sendable {
        /// The synced table the row is in: the first level of its path.
        public var table: SyncedTable
        /// The row's id; its SHA-256 picks the row's bucket.
        public var id: String
        /// The row's values by column name; a column missing here counts as null.
        public var fields: [String: FieldValue]

        /// Creates a leaf from a row's parts.
        public init(table: SyncedTable, id: String, fields: [String: FieldValue]) {
            self.table = table
            self.id = id
            self.fields = fields
        }
    }

    /// Builds the tree of these rows, counting this release's columns.
    public init(leaves: some Sequence<Leaf>) {
        var builder = Builder()
        for leaf in leaves { builder.add(table: leaf.table, id: leaf.id, fields: leaf.fields) }
        self = builder.tree()
    }

    /// The one schema that stands for `schema` in a tree: trees differ only in which added columns
    /// they leave out, so every schema that knows the same ones gives the same tree (nil: it knows
    /// every column of this release). A cache of trees keyed by it holds one per such set, however
    /// many schema numbers offices send.
    public static func columnSchema(_ schema: Int?) -> Int? {
        guard let schema else { return nil }
        if addedInSchemas.allSatisfy({ $0 <= schema }) { return nil }
        return addedInSchemas.filter { $0 <= schema }.max() ?? 0
    }

    /// The schemas that added a column to a shipped table.
    private static let addedInSchemas = SyncedTable.allCases.flatMap { $0.columns.compactMap(\.addedInSchema) }

    /// Builds a tree row by row, so a caller reading a million rows keeps only their digests,
    /// never the rows themselves.
    public struct Builder {
        private var rows: [LeafRow] = []
        private var years: [String] = []
        private var yearIndex: [String: UInt32] = [:]
        /// The replica schema of the office the tree is compared with: columns added after it are
        /// left out, as that office's own tree leaves them out (nil: this release's columns).
        private let schema: Int?

        /// Starts an empty tree to compare with an office of replica schema `schema` (nil: this release's columns).
        public init(schema: Int? = nil) {
            self.schema = schema
        }

        /// Adds a row given as its values by column name; a column missing here counts as null.
        public mutating func add(table: SyncedTable, id: String, fields: [String: FieldValue]) {
            add(table: table, id: id, values: table.values(of: fields))
        }

        /// Adds a row given as its values in the order of `table.columns` (what both sides read,
        /// without a dictionary per row).
        public mutating func add(table: SyncedTable, id: String, values: [FieldValue]) {
            let year = DigestTree.year(table: table, values: values)
            let index: UInt32
            if let known = yearIndex[year] {
                index = known
            } else {
                index = UInt32(years.count)
                years.append(year)
                yearIndex[year] = index
            }
            rows.append(
                LeafRow(
                    id: RowKey(id), leaf: LeafKey(table: table, year: index, bucket: DigestTree.bucket(id)),
                    digest: DigestTree.rowDigestValue(table: table, id: id, values: values, schema: schema)))
        }

        /// The tree of the rows added, which move into it and are sorted where they lie: the
        /// builder lets go of them first, or sorting would copy them (40 MB for a million rows).
        public mutating func tree() -> DigestTree {
            var taken: [LeafRow] = []
            swap(&taken, &rows)
            return DigestTree(rows: taken, years: years)
        }
    }

    private init(rows added: consuming [LeafRow], years unsorted: [String]) {
        // Years renumbered in sorted order, so that equal rows make equal trees whatever the order they came in.
        years = unsorted.sorted()
        let renumber = unsorted.map { UInt32(years.firstIndex(of: $0)!) }
        rows = consume added
        for i in rows.indices { rows[i].leaf = rows[i].leaf.withYear(renumber[Int(rows[i].leaf.year)]) }
        // By leaf, then by id as the digests combine them; an id added twice counts once (the last
        // added: the sort is stable).
        rows.sort { ($0.leaf, $0.id) < ($1.leaf, $1.id) }
        var kept = 0
        for i in rows.indices {
            if kept > 0, rows[kept - 1].leaf == rows[i].leaf, rows[kept - 1].id == rows[i].id {
                rows[kept - 1] = rows[i]
            } else {
                rows[kept] = rows[i]
                kept += 1
            }
        }
        rows.removeLast(rows.count - kept)

        // Leaf digests, then fold the levels up to the root ("").
        var leaves: [String: UInt64] = [:]
        var start = 0
        while start < rows.count {
            var end = start + 1
            while end < rows.count, rows[end].leaf == rows[start].leaf { end += 1 }
            leaves[path(of: rows[start].leaf)] = Self.combine(rows[start..<end])
            start = end
        }
        inner = Self.levels(above: leaves)
    }

    /// The tree above these leaves (leaf path → digest), without their rows: what an office that
    /// keeps its leaf digests stored builds (``children(of:)`` of a leaf is then empty; the rows of
    /// a leaf come from where the digests are kept).
    public init(leafDigests: [String: UInt64]) {
        inner = Self.levels(above: leafDigests)
    }

    /// The nodes above the leaves, folded level by level up to the root ("").
    private static func levels(above leaves: [String: UInt64]) -> [String: [String: UInt64]] {
        var inner: [String: [String: UInt64]] = [:]
        var level = leaves
        for _ in 0..<Self.depth {
            var children: [String: [String: UInt64]] = [:]
            for (path, digest) in level {
                let slash = path.lastIndex(of: "/")
                let parent = slash.map { String(path[..<$0]) } ?? ""
                let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
                children[parent, default: [:]][name] = digest
            }
            level = children.mapValues(Self.combine)
            inner.merge(children) { a, _ in a }
        }
        return inner
    }

    /// Every leaf, in order: its path, its digest, and its rows' ids and digests in order.
    public func forEachLeaf(_ body: (_ path: String, _ digest: UInt64, _ rows: [(id: String, digest: UInt64)]) throws -> Void) rethrows {
        var start = 0
        var leafRows: [(id: String, digest: UInt64)] = []
        while start < rows.count {
            var end = start + 1
            while end < rows.count, rows[end].leaf == rows[start].leaf { end += 1 }
            let path = path(of: rows[start].leaf)
            let slash = path.lastIndex(of: "/")!
            let digest = inner[String(path[..<slash])]?[String(path[path.index(after: slash)...])] ?? Self.combine(rows[start..<end])
            leafRows.removeAll(keepingCapacity: true)
            for row in rows[start..<end] { leafRows.append((row.id.text, row.digest)) }
            try body(path, digest, leafRows)
            start = end
        }
    }

    /// A row's leaf path and digest, from its values in the order of `table.columns`: what the
    /// tree would hold for it.
    public static func place(table: SyncedTable, id: String, values: [FieldValue]) -> (leaf: String, digest: UInt64) {
        (leafPath(table: table, id: id, values: values), rowDigestValue(table: table, id: id, values: values))
    }

    /// The bucket of a leaf path (`a/3/f`: 0xa3f), nil for a path that is not a leaf's. A row's
    /// leaves in different years share its table and bucket.
    public static func bucket(ofLeaf path: String) -> Int? {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == depth, parts.suffix(3).allSatisfy({ $0.utf8.count == 1 }) else { return nil }
        return Int(parts.suffix(3).joined(), radix: 16)
    }

    /// The bucket of a row id, as ``bucket(ofLeaf:)`` gives it for the row's leaf.
    public static func bucket(ofID id: String) -> Int { Int(bucket(id)) }

    /// A leaf's digest from its rows' ids and digests, in any order.
    public static func leafDigest(_ rows: [(id: String, digest: UInt64)]) -> UInt64 {
        combine(rows.map { LeafRow(id: RowKey($0.id), leaf: LeafKey(table: .project, year: 0, bucket: 0), digest: $0.digest) }.sorted { $0.id < $1.id }[...])
    }

    /// A digest as the tree spells it: 16 lower-case hex digits.
    public static func hex(_ digest: UInt64) -> String {
        var text: [UInt8] = []
        text.reserveCapacity(16)
        Hex.append(digest, to: &text)
        return String(decoding: text, as: UTF8.self)
    }

    /// The digest of the whole tree.
    public var root: String { Self.hex(Self.combine(inner[""] ?? [:])) }

    /// The children of a node (row ids at the deepest level).
    public func children(of path: String) -> [String: String] {
        if let named = inner[path] { return named.mapValues(Self.hex) }
        guard let leaf = leafKey(of: path) else { return [:] }
        var out: [String: String] = [:]
        for row in rows[range(of: leaf)] { out[row.id.text] = Self.hex(row.digest) }
        return out
    }

    /// Every row: its leaf path, id and digest (for tests and tools comparing row by row).
    public func forEachRow(_ body: (_ path: String, _ id: String, _ digest: String) -> Void) {
        for row in rows { body(path(of: row.leaf), row.id.text, Self.hex(row.digest)) }
    }

    /// Where a row sits.
    public static func leafPath(table: SyncedTable, id: String, fields: [String: FieldValue]) -> String {
        leafPath(table: table, id: id, values: table.values(of: fields))
    }

    static func leafPath(table: SyncedTable, id: String, values: [FieldValue]) -> String {
        "\(table.rawValue)/\(year(table: table, values: values))/\(nibbles(bucket(id)))"
    }

    /// The year component of a row's path: from the column that dates the row, "0" when it has
    /// none. A date that is not one (`paid_on` written by hand as `1/2/2025`) has its slashes
    /// spelled `_`, so the path keeps its five components and the row stays under the root.
    static func year(table: SyncedTable, fields: [String: FieldValue]) -> String {
        year(table: table, values: table.values(of: fields))
    }

    /// The same for a row's values in the order of `table.columns`.
    static func year(table: SyncedTable, values: [FieldValue]) -> String {
        guard let column = datingColumns[table.tableID], values.indices.contains(column.index) else { return "0" }
        let year: String =
            switch column.kind {
            case .integer: values[column.index].integer.map(String.init) ?? "0"
            case .text: values[column.index].text.map { String($0.prefix(4)) } ?? "0"
            }
        return year.utf8.contains(0x2F) ? year.replacingOccurrences(of: "/", with: "_") : year
    }

    /// Per table (by `tableID`), the column that dates its rows: a year, or a date whose first
    /// four characters are taken.
    private static let datingColumns: [(index: Int, kind: ColumnKind)?] =
        [nil]
        + (1...SyncedTable.allCases.count).map { id in
            let table = SyncedTable(tableID: id)!
            let name: String? =
                switch table {
                case .project, .planLine: "year"
                case .program: "start_year"
                case .disbursement: "paid_on"
                case .projectEvent: "occurred_on"
                case .conflictResolution: nil
                }
            return name.flatMap { table.column(named: $0) }.map { ($0.index, $0.column.kind) }
        }

    /// The first three hex digits of the SHA-256 of the row id, as a number below 4,096.
    static func bucket(_ id: String) -> UInt16 {
        let h = Array(SHA256.hash(data: Array(id.utf8)).prefix(2))
        return UInt16(h[0]) << 4 | UInt16(h[1] >> 4)
    }

    /// `a/3/f` for bucket 0xa3f.
    static func nibbles(_ bucket: UInt16) -> String {
        String(
            decoding: [Hex.digit(UInt8(bucket >> 8)), 0x2F, Hex.digit(UInt8(bucket >> 4 & 15)), 0x2F, Hex.digit(UInt8(bucket & 15))],
            as: UTF8.self)
    }

    private func path(of leaf: LeafKey) -> String {
        "\(leaf.table.rawValue)/\(years[Int(leaf.year)])/\(Self.nibbles(leaf.bucket))"
    }

    /// The leaf a path names, if the tree has its year; nil for a path that is not a leaf's.
    private func leafKey(of path: String) -> LeafKey? {
        // table/year/h/h/h
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == Self.depth, let table = SyncedTable(rawValue: String(parts[0])) else { return nil }
        var bucket: UInt16 = 0
        for part in parts.suffix(3) {
            guard part.utf8.count == 1, let digit = UInt16(part, radix: 16), part == part.lowercased() else { return nil }
            bucket = bucket << 4 | digit
        }
        guard let index = years.firstIndex(of: String(parts[1])) else { return nil }
        return LeafKey(table: table, year: UInt32(index), bucket: bucket)
    }

    /// The rows of one leaf.
    private func range(of leaf: LeafKey) -> Range<Int> {
        var low = 0
        var high = rows.count
        while low < high {
            let mid = (low + high) / 2
            if rows[mid].leaf < leaf { low = mid + 1 } else { high = mid }
        }
        var end = low
        while end < rows.count, rows[end].leaf == leaf { end += 1 }
        return low..<end
    }

    /// A row's digest: its id and every column of its table, missing ones as null (but a column
    /// added after release 1.1.0 only when it holds a value, ``Column/addedInSchema``). The text
    /// hashed is `row␟table␟id` then, per column, `␞n`, `␞i<number>` or `␞t<UTF-8 length>:<text>`.
    public static func rowDigest(table: SyncedTable, id: String, fields: [String: FieldValue]) -> String {
        hex(rowDigestValue(table: table, id: id, fields: fields))
    }

    /// ``rowDigest(table:id:fields:)`` as a number: the first 8 bytes of the hash, big-endian.
    static func rowDigestValue(table: SyncedTable, id: String, fields: [String: FieldValue]) -> UInt64 {
        rowDigestValue(table: table, id: id, values: table.values(of: fields))
    }

    /// The same for a row's values in the order of `table.columns`.
    /// `schema`: the replica schema of the office that compares (columns added after it are left
    /// out, whatever they hold; nil: every column this release has).
    static func rowDigestValue(table: SyncedTable, id: String, values: [FieldValue], schema: Int? = nil) -> UInt64 {
        var text: [UInt8] = [0x72, 0x6F, 0x77, 0x1F]  // "row␟"
        text.reserveCapacity(160)
        text.append(contentsOf: table.rawValue.utf8)
        text.append(0x1F)
        text.append(contentsOf: id.utf8)
        let columns = table.columns
        for index in columns.indices {
            let value = index < values.count ? values[index] : .null
            // A column added after release 1.1.0 counts only when it holds a value, and not at all
            // for an office whose schema is older than the column.
            if let added = columns[index].addedInSchema, value == .null || added > (schema ?? .max) { continue }
            text.append(0x1E)
            switch value {
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
        return digestValue(text)
    }

    /// A node's digest: the hash of `name=digest;` for each child, by name, digests in hex.
    static func combine(_ children: [String: UInt64]) -> UInt64 {
        var text: [UInt8] = []
        text.reserveCapacity(children.count * 24)
        for (name, digest) in children.sorted(by: { $0.key < $1.key }) {
            text.append(contentsOf: name.utf8)
            text.append(0x3D)
            Hex.append(digest, to: &text)
            text.append(0x3B)
        }
        return digestValue(text)
    }

    /// A leaf's digest, spelled as ``combine(_:)`` of its rows by id (`rows` sorted by id).
    static func combine(_ rows: ArraySlice<LeafRow>) -> UInt64 {
        var text: [UInt8] = []
        text.reserveCapacity(rows.count * 56)
        for row in rows {
            row.id.append(to: &text)
            text.append(0x3D)
            Hex.append(row.digest, to: &text)
            text.append(0x3B)
        }
        return digestValue(text)
    }

    /// The first 8 bytes of the SHA-256 of `text`, big-endian: digests are these bytes in hex.
    private static func digestValue(_ text: [UInt8]) -> UInt64 {
        SHA256.hash(data: text).prefix(8).reduce(0) { $0 << 8 | UInt64($1) }
    }

}

/// Which leaf a row is in: its table, its year (an index into the tree's years) and its bucket.
struct LeafKey: Hashable, Comparable, Sendable {
    /// Table number (`tableID`) in bits 48 and up, year index in bits 12–43, bucket in bits 0–11.
    private var bits: UInt64
    private static let yearBits: UInt64 = 0xFFFF_FFFF << 12

    init(table: SyncedTable, year: UInt32, bucket: UInt16) {
        bits = UInt64(table.tableID) << 48 | UInt64(year) << 12 | UInt64(bucket & 0xFFF)
    }

    var table: SyncedTable { SyncedTable(tableID: Int(bits >> 48))! }
    var year: UInt32 { UInt32(truncatingIfNeeded: bits >> 12) }
    var bucket: UInt16 { UInt16(bits & 0xFFF) }
    func withYear(_ year: UInt32) -> LeafKey {
        var key = self
        key.bits = bits & ~Self.yearBits | UInt64(year) << 12
        return key
    }

    static func < (a: LeafKey, b: LeafKey) -> Bool { a.bits < b.bits }
}

/// A row in the tree.
struct LeafRow: Sendable, Equatable {
    var id: RowKey
    var leaf: LeafKey
    var digest: UInt64
}

/// A row id: a lower-case UUID as its 128 bits, anything else as its text. Ordered like the text.
enum RowKey: Hashable, Sendable, Comparable {
    case uuid(UInt64, UInt64)
    case text(String)

    init(_ id: String) {
        self = Self.parseUUID(id) ?? .text(id)
    }

    /// The 128 bits of `8-4-4-4-12` lower-case hex text (the spelling `RowID` keeps); nil for any
    /// other text, so that ``text`` gives back exactly the id given.
    private static func parseUUID(_ id: String) -> RowKey? {
        guard let uuid = Hex.parseUUID(id), !uuid.upperCase else { return nil }
        return .uuid(uuid.high, uuid.low)
    }

    var text: String {
        var out: [UInt8] = []
        out.reserveCapacity(36)
        append(to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    func append(to out: inout [UInt8]) {
        switch self {
        case .text(let s): out.append(contentsOf: s.utf8)
        case .uuid(let high, let low): Hex.appendUUID(high: high, low: low, to: &out)
        }
    }

    static func < (a: RowKey, b: RowKey) -> Bool {
        if case .uuid(let ah, let al) = a, case .uuid(let bh, let bl) = b { return (ah, al) < (bh, bl) }
        return a.text < b.text
    }
}
