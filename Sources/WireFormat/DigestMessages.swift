import Foundation
import SyncCore

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
