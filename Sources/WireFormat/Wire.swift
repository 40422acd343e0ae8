import Foundation
import SyncCore

/// The HTTP protocol between an office and promo-central, version 1. See docs/PROTOCOL.md.
public enum WireProtocol {
    /// The protocol version every request states and every response answers with.
    public static let version = 1
    /// The response header that carries the central's epoch on every answer, errors included.
    public static let epochHeader = "Promo-Epoch"
    /// The id an office gives each request; the centre logs it and sends it back, so one request
    /// can be followed through the office's and the centre's journals.
    public static let requestIDHeader = "Promo-Request-Id"
    /// What an office runs, sent with every request (docs/PROTOCOL.md, "Versions"): its release,
    /// the protocol version it speaks and its replica's schema version.
    public static let softwareVersionHeader = "Promo-Software-Version"
    /// The protocol version the office speaks; an office that sends none is taken as protocol 1.
    public static let protocolVersionHeader = "Promo-Protocol-Version"
    /// The office replica's schema version (7 in release 1.1.0, 8 in 1.2.0); the centre compares digests by its columns.
    public static let schemaVersionHeader = "Promo-Schema-Version"
    /// The protocol versions this release's centre serves: the current one and, once there is
    /// one, the previous (an office on the previous release keeps syncing during a rollout).
    public static let supportedVersions: ClosedRange<Int> = 1...1
    /// On every pull page: the last changeset of the pulling office the centre holds, and its
    /// hash. An office that holds a later acknowledgement knows the centre lost it (a rollback or
    /// a power cut without a new epoch) and sends it again (docs/PROTOCOL.md).
    public static let officeSequenceHeader = "Promo-Office-Sequence"
    /// With ``officeSequenceHeader``: the hash of that changeset.
    public static let officeHashHeader = "Promo-Office-Hash"
    /// On every pull page: the centre's hybrid logical clock. The office's clock observes it, so
    /// what the office does after pulling a decision is stamped after that decision even when the
    /// office's wall clock is behind the centre's.
    public static let centreClockHeader = "Promo-Clock"
    /// Largest page an office may ask for.
    public static let maxPageSize = 5_000
    /// Most changes one changeset may carry.
    public static let maxChangesPerChangeset = 5_000
}

/// `POST /v1/changesets`: one changeset of the authenticated office.
public struct PushRequest: Codable, Sendable {
    /// The protocol version the office speaks (``WireProtocol/version``).
    public var protocolVersion: Int
    /// The changeset pushed; it must name the office the token belongs to.
    public var changeset: Changeset
    /// The changeset's JSON exactly as it arrived, when the request was read by
    /// ``init(jsonData:)``: the centre keeps these bytes as the record of what the office sent,
    /// instead of writing the changeset out again. Not part of the wire form.
    public var receivedChangesetJSON: Data?

    enum CodingKeys: String, CodingKey {
        case protocolVersion, changeset
    }

    /// A push of `changeset` in this release's protocol version.
    public init(protocolVersion: Int = WireProtocol.version, changeset: Changeset) {
        self.protocolVersion = protocolVersion
        self.changeset = changeset
    }
}

/// The answer to a push.
public struct PushResponse: Codable, Sendable, Equatable {
    /// `applied` the first time; `duplicate` when this exact changeset was applied before.
    public enum Outcome: String, Codable, Sendable {
        case applied
        case duplicate
    }

    /// The epoch of the centre that holds the changeset.
    public var epoch: Epoch
    /// The sequence number of the changeset acknowledged.
    public var sequence: ChangesetSequence
    /// Whether the changeset was applied now or had been applied before.
    public var outcome: Outcome
    /// Changes that took effect (field values that won the merge count once per change).
    public var appliedChanges: Int

    /// Creates an answer from its parts.
    public init(epoch: Epoch, sequence: ChangesetSequence, outcome: Outcome, appliedChanges: Int) {
        self.epoch = epoch
        self.sequence = sequence
        self.outcome = outcome
        self.appliedChanges = appliedChanges
    }
}

/// The tables that only the centre writes and offices read (each office sees its own conflicts).
public enum ConsolidatedTable: String, CaseIterable, Codable, Sendable {
    /// Conflict records of the office's rows, as the centre's fold decided them.
    case conflict
    /// Per-province, per-year, per-fund plan and disbursed totals computed by the centre.
    case provinceTotal = "province_total"
    /// Disbursed amounts per province, year, fund, reporting group and payment date, so reports
    /// can cut off at any date and break down by group.
    case disbursedTotal = "disbursed_total"
    /// The provinces in force (reference data).
    case province
    /// Activity categories (reference data).
    case activityCategory = "activity_category"
    /// Support caps (reference data).
    case supportCap = "support_cap"
    /// A row this office held for an office merged into it, gone back to that office when the merge
    /// was undone (`promo-central office unmerge`): id `table/row_id`; fields `table`, `row_id`,
    /// `office` (its owner again) and `reason`. The office deletes its copy and keeps aside what it
    /// had not pushed of it. Since 1.6.3; an older office keeps it unapplied until it is upgraded.
    case recall
}

/// One record in a pull page: the central's whole current version of a row.
public struct PulledRecord: Codable, Sendable, Equatable {
    /// The position of this version in the central change log.
    public var cursor: PullCursor
    /// A ``SyncedTable`` or a ``ConsolidatedTable`` name.
    public var table: String
    /// The row's id: a UUID for a synced table, the centre's own key for a consolidated one (e.g. `79/2025/local`).
    public var id: String
    /// The office that owns the record, or `central` for the centre's consolidated and reference records.
    public var office: OfficeCode
    /// Whether the record is a tombstone (a deleted row; rows are never erased).
    public var deleted: Bool
    /// Every field of the record's current version, by column name.
    public var fields: [String: FieldValue]

    /// Creates a record from its parts.
    public init(cursor: PullCursor, table: String, id: String, office: OfficeCode, deleted: Bool, fields: [String: FieldValue]) {
        self.cursor = cursor
        self.table = table
        self.id = id
        self.office = office
        self.deleted = deleted
        self.fields = fields
    }
}

/// `GET /v1/changes?after=CURSOR&limit=N`: the next page of the change log the office may see.
public struct PullResponse: Codable, Sendable, Equatable {
    /// The centre's epoch; a new one tells the office the centre may have lost changes it acknowledged.
    public var epoch: Epoch
    /// The records of the page in log order; a record changed twice appears once, at its latest position.
    public var records: [PulledRecord]
    /// The cursor to save once this page is applied.
    public var nextCursor: PullCursor
    /// Whether another page follows at once.
    public var hasMore: Bool

    /// Creates a page from its parts.
    public init(epoch: Epoch, records: [PulledRecord], nextCursor: PullCursor, hasMore: Bool) {
        self.epoch = epoch
        self.records = records
        self.nextCursor = nextCursor
        self.hasMore = hasMore
    }
}

/// `GET /v1/office`: what the central holds of the authenticated office's chain.
public struct OfficeStateResponse: Codable, Sendable {
    /// The centre's epoch.
    public var epoch: Epoch
    /// The office the token belongs to.
    public var office: OfficeCode
    /// The last changeset applied, 0 when none.
    public var lastSequence: ChangesetSequence
    /// The hash of that changeset; ``Changeset/genesisHash`` when there is none.
    public var lastHash: String

    /// Creates an answer from its parts.
    public init(epoch: Epoch, office: OfficeCode, lastSequence: ChangesetSequence, lastHash: String) {
        self.epoch = epoch
        self.office = office
        self.lastSequence = lastSequence
        self.lastHash = lastHash
    }
}

/// `GET /v1/changesets?after=N`: the authenticated office's own changesets the centre applied
/// after its changeset N, in order, as many as make up about a page of changes. A replica restored
/// from an old backup reads what its lost server sent, so that a change waiting in the backup is
/// not sent again over what that server sent after it (docs/PROTOCOL.md).
public struct OwnChangesetsResponse: Codable, Sendable {
    /// The centre's epoch.
    public var epoch: Epoch
    /// The changesets, by sequence.
    public var changesets: [Changeset]
    /// Whether more follow the last one.
    public var hasMore: Bool

    /// Creates an answer from its parts.
    public init(epoch: Epoch, changesets: [Changeset], hasMore: Bool) {
        self.epoch = epoch
        self.changesets = changesets
        self.hasMore = hasMore
    }
}

/// `GET /health`.
public struct HealthResponse: Codable, Sendable {
    /// `ok` from a centre that answers at all.
    public var status: String
    /// The centre's epoch.
    public var epoch: Epoch
    /// The protocol version the centre speaks.
    public var protocolVersion: Int

    /// Creates an answer; the protocol version defaults to this release's.
    public init(status: String, epoch: Epoch, protocolVersion: Int = WireProtocol.version) {
        self.status = status
        self.epoch = epoch
        self.protocolVersion = protocolVersion
    }
}

/// The body of every error answer.
public struct ErrorResponse: Codable, Sendable {
    /// What went wrong, as the `error` member of the answer.
    public struct Body: Codable, Sendable {
        /// A stable machine-readable code, e.g. `unauthorized`, `bad_request`, `sequence_gap`.
        public var code: String
        /// What went wrong, for people.
        public var message: String
        /// What to do about it, when the centre has advice; nil otherwise.
        public var hint: String?
        /// The row a refused changeset was refused for (table and id), when one change was the cause.
        public var table: String?
        /// With `table`: the id of the refused row.
        public var id: String?
    }

    /// The error, under the member `error`.
    public var error: Body

    /// An error answer; `row` names the row a changeset was refused for, when one change was the cause.
    public init(code: String, message: String, hint: String? = nil, row: SyncedRowKey? = nil) {
        self.error = Body(code: code, message: message, hint: hint, table: row?.table.rawValue, id: row?.id)
    }
}
