import Crypto
import Foundation
import SyncCore

/// Something the centre itself did that changed its store, as its journal records it: enough to
/// do it again, exactly, when `audit verify` replays the logs into a scratch store.
///
/// What cannot be derived again is recorded as it was at the time: a token's hash (never the
/// token), the resolved project or conflict id (not the prefix or `OFFICE/CODE` typed), the clock
/// stamps the centre gave its changes and the ids of the rows it created. Each case's payload is
/// JSON with sorted keys; a shipped case is never changed, only new ones added (the journal of a
/// store outlives the release that wrote it).
enum CentreAction: Sendable, Equatable {
    /// A new store: its epoch and the reference data published into it.
    case created(StoreCreated)
    /// Written once by the `v4-centre-journal` migration on a store that already held data: the
    /// state before it was never journaled, so a replay cannot start from nothing.
    case baseline(Baseline)
    case officeAdded(OfficeToken)
    case tokenRotated(OfficeToken)
    case officeRevoked(OfficeNamed)
    case officeReinstated(OfficeNamed)
    case officesMerged(OfficesMerged)
    case officeUnmerged(OfficeUnmerged)
    case decided(Decided)
    case conflictResolved(Resolved)
    case capSet(CapSet)
    /// `promo-central fleet limits`: the releases of promo-sync the centre accepts.
    case fleetLimitsSet(FleetLimitsSet)
    /// `promo-central restore` put a backup in place and started a new epoch.
    case restored(Restored)
    /// A release's rules folded again the aggregates an earlier one had decided otherwise
    /// (``CentralStore/applyRules(_:release:aggregates:now:position:)``, at the store's upgrade).
    case rulesApplied(RulesApplied)

    struct RulesApplied: Codable, Sendable, Equatable {
        var release: String
        var aggregates: [String]
    }

    struct FleetLimitsSet: Codable, Sendable, Equatable {
        var minOfficeVersion: String?
        var maxOfficeVersion: String?
        enum CodingKeys: String, CodingKey { case minOfficeVersion = "min_office_version", maxOfficeVersion = "max_office_version" }
    }

    struct StoreCreated: Codable, Sendable, Equatable {
        var epoch: String
        var reference: [PublishedRecord]
    }

    /// A record the centre published as it stood (reference data).
    struct PublishedRecord: Codable, Sendable, Equatable {
        var table: String
        var id: String
        var fields: [String: FieldValue]
    }

    struct Baseline: Codable, Sendable, Equatable {
        var epoch: String
        var offices: Int64
        var changesets: Int64
        var records: Int64
    }

    struct OfficeToken: Codable, Sendable, Equatable {
        var office: String
        var tokenHash: String
        enum CodingKeys: String, CodingKey { case office, tokenHash = "token_hash" }
    }

    struct OfficeNamed: Codable, Sendable, Equatable {
        var office: String
    }

    struct OfficesMerged: Codable, Sendable, Equatable {
        var retired: [String]
        var into: String
        /// Why the merge departs from the official map, when it does (absent from older entries).
        var overrideReason: String? = nil
        enum CodingKeys: String, CodingKey { case retired, into, overrideReason = "override_reason" }
    }

    struct OfficeUnmerged: Codable, Sendable, Equatable {
        var office: String
        var reason: String
        /// True since 1.6.3: the unmerge recalled the rows that changed hands (nil: an older
        /// release's unmerge, replayed as it was made).
        var recalls: Bool?
    }

    struct Decided: Codable, Sendable, Equatable {
        /// The project's id (whatever reference the operator typed).
        var project: String
        var decision: String
        var amount: Int64?
        var document: String?
        /// The clocks of the project's change and of its event, as the centre stamped them.
        var stamps: [HLCTimestamp]
        /// The id of the event row the decision added to the project's log.
        var event: String
    }

    struct Resolved: Codable, Sendable, Equatable {
        var conflict: String
        var choice: String
        var note: String?
        /// The id of the resolution row and its clock.
        var resolution: String
        var stamp: HLCTimestamp
    }

    struct CapSet: Codable, Sendable, Equatable {
        var fund: String
        var category: String
        var province: String?
        var maxPercentOfCost: Int64?
        var maxAmount: Int64?
        enum CodingKeys: String, CodingKey {
            case fund, category, province, maxPercentOfCost = "max_percent_of_cost", maxAmount = "max_amount"
        }
    }

    struct Restored: Codable, Sendable, Equatable {
        var epoch: String
    }

    /// The journal's `kind` column.
    var kind: String {
        switch self {
        case .created: "created"
        case .baseline: "baseline"
        case .officeAdded: "office_added"
        case .tokenRotated: "token_rotated"
        case .officeRevoked: "office_revoked"
        case .officeReinstated: "office_reinstated"
        case .officesMerged: "offices_merged"
        case .officeUnmerged: "office_unmerged"
        case .decided: "decided"
        case .conflictResolved: "conflict_resolved"
        case .capSet: "cap_set"
        case .fleetLimitsSet: "fleet_limits_set"
        case .restored: "restored"
        case .rulesApplied: "rules_applied"
        }
    }

    /// The canonical payload: JSON with sorted keys, no insignificant white space.
    func payload() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data: Data =
            switch self {
            case .created(let p): try encoder.encode(p)
            case .baseline(let p): try encoder.encode(p)
            case .officeAdded(let p), .tokenRotated(let p): try encoder.encode(p)
            case .officeRevoked(let p), .officeReinstated(let p): try encoder.encode(p)
            case .officesMerged(let p): try encoder.encode(p)
            case .officeUnmerged(let p): try encoder.encode(p)
            case .decided(let p): try encoder.encode(p)
            case .conflictResolved(let p): try encoder.encode(p)
            case .capSet(let p): try encoder.encode(p)
            case .fleetLimitsSet(let p): try encoder.encode(p)
            case .restored(let p): try encoder.encode(p)
            case .rulesApplied(let p): try encoder.encode(p)
            }
        return String(decoding: data, as: UTF8.self)
    }

    /// Reads a journal entry back; throws for a kind this release does not know or a payload it cannot read.
    init(kind: String, payload: String) throws {
        let decoder = JSONDecoder()
        let data = Data(payload.utf8)
        switch kind {
        case "created": self = .created(try decoder.decode(StoreCreated.self, from: data))
        case "baseline": self = .baseline(try decoder.decode(Baseline.self, from: data))
        case "office_added": self = .officeAdded(try decoder.decode(OfficeToken.self, from: data))
        case "token_rotated": self = .tokenRotated(try decoder.decode(OfficeToken.self, from: data))
        case "office_revoked": self = .officeRevoked(try decoder.decode(OfficeNamed.self, from: data))
        case "office_reinstated": self = .officeReinstated(try decoder.decode(OfficeNamed.self, from: data))
        case "offices_merged": self = .officesMerged(try decoder.decode(OfficesMerged.self, from: data))
        case "office_unmerged": self = .officeUnmerged(try decoder.decode(OfficeUnmerged.self, from: data))
        case "decided": self = .decided(try decoder.decode(Decided.self, from: data))
        case "conflict_resolved": self = .conflictResolved(try decoder.decode(Resolved.self, from: data))
        case "cap_set": self = .capSet(try decoder.decode(CapSet.self, from: data))
        case "fleet_limits_set": self = .fleetLimitsSet(try decoder.decode(FleetLimitsSet.self, from: data))
        case "restored": self = .restored(try decoder.decode(Restored.self, from: data))
        case "rules_applied": self = .rulesApplied(try decoder.decode(RulesApplied.self, from: data))
        default:
            throw CentralError(
                .internalServerError, .unknownJournalKind, "the journal holds an entry of kind '\(kind)', which this release does not know",
                hint: "Run audit verify with the release that wrote it, or a later one.")
        }
    }
}

/// One entry of the centre's journal (`promo-central audit journal`).
public struct JournalEntry: Sendable, Equatable {
    /// Its place in the one order of pushed changesets and journal entries.
    public var position: Int64
    /// The action's name, such as `office_added` or `decided` (the journal's `kind` column).
    public var kind: String
    /// The action's details as JSON with sorted keys, exactly as hashed.
    public var payload: String
    /// When the centre did it, in UTC as `Timestamps` writes it.
    public var at: String
    /// The hash of the centre's log at the position before this one (an entry's hash or a changeset's chain hash); ``Changeset/genesisHash`` at the start.
    public var previousHash: String
    /// This entry's hash, as ``hash(previous:position:kind:at:payload:)`` computes it.
    public var hash: String

    /// SHA-256, in hex, of the previous entry's hash, the position, the kind, the time and the
    /// payload, each followed by a line feed but the last. The first entry's previous hash is
    /// ``Changeset/genesisHash``.
    public static func hash(previous: String, position: Int64, kind: String, at: String, payload: String) -> String {
        Hex.string(SHA256.hash(data: Data("\(previous)\n\(position)\n\(kind)\n\(at)\n\(payload)".utf8)))
    }
}
