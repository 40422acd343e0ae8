import Foundation
import SyncCore

/// `GET /v1/digest?path=P`: the centre's digests of a node's children for the office.
public struct DigestResponse: Codable, Sendable {
    /// The centre's epoch.
    public var epoch: Epoch
    /// The node asked for, e.g. `plan_line/2025/a`; empty for the root.
    public var path: String
    /// Child name → digest (16 hex digits); at the deepest level, row id → row digest.
    public var children: [String: String]

    /// Creates an answer from its parts.
    public init(epoch: Epoch, path: String, children: [String: String]) {
        self.epoch = epoch
        self.path = path
        self.children = children
    }
}

/// `POST /v1/digests`: the children of several nodes in one round trip (one tree level).
public struct DigestsRequest: Codable, Sendable {
    /// The nodes asked for, at most ``WireProtocol/maxPageSize``.
    public var paths: [String]
    /// A request for the children of `paths`.
    public init(paths: [String]) { self.paths = paths }
}

/// The answer to ``DigestsRequest``: the children of every node asked for.
public struct DigestsResponse: Codable, Sendable {
    /// The centre's epoch.
    public var epoch: Epoch
    /// node path → child name → digest.
    public var nodes: [String: [String: String]]
    /// Creates an answer from its parts.
    public init(epoch: Epoch, nodes: [String: [String: String]]) {
        self.epoch = epoch
        self.nodes = nodes
    }
}

/// `POST /v1/records`: the centre's current version of the office's rows with these ids.
public struct RecordsRequest: Codable, Sendable {
    /// The synced table the rows are in.
    public var table: SyncedTable
    /// The ids of the rows wanted, at most ``WireProtocol/maxPageSize``.
    public var ids: [String]

    /// A request for the rows `ids` of `table`.
    public init(table: SyncedTable, ids: [String]) {
        self.table = table
        self.ids = ids
    }
}
