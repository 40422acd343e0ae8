import Crypto
import Foundation

/// The rule that decided against a change.
public enum ConflictRule: String, Codable, Sendable, CaseIterable {
    /// The writer does not own the field (e.g. an office setting a national project's approved support).
    case ownership
    /// The field is fixed once the row exists (owner office, fund source, any ledger field).
    case immutableField = "immutable_field"
    /// The status change is not a legal transition from the status in effect, or not the writer's to make.
    case statusTransition = "status_transition"
    /// A ledger entry was edited or deleted; corrections are new entries.
    case ledgerAppendOnly = "ledger_append_only"
    /// The entry would take the project's disbursements past its approved support.
    case overDisbursement = "over_disbursement"
    /// The entry would take the project's disbursements below zero (more recovered than paid).
    case overRecovery = "over_recovery"
    /// The project's status at the time takes no such entry, or its date is outside the project's
    /// life or after the day it was recorded (``LedgerRules``).
    case paymentNotAllowed = "payment_not_allowed"
    /// The treasury voucher was already recorded by an earlier entry.
    case duplicateVoucher = "duplicate_voucher"
    /// A resolution that its writer may not make.
    case resolutionAuthority = "resolution_authority"

    /// The side that may accept a change this rule refused: the owner of what the rule protects
    /// (the centre for a national project's approval, status and money, its ledger and vouchers
    /// included: an office may not let its own duplicate voucher or edited payment count; the
    /// office for a local project's). Without a local fund source (a row with no project, or a
    /// project without a fund source: the stricter rules), the centre.
    public func acceptingSide(fund: FundSource?) -> Side {
        switch self {
        case .ownership, .immutableField, .statusTransition, .overDisbursement, .overRecovery, .paymentNotAllowed, .ledgerAppendOnly,
            .duplicateVoucher:
            fund == .local ? .office : .centre
        case .resolutionAuthority:
            .office
        }
    }
}

/// What a person decided about a conflict.
public enum ResolutionChoice: String, Codable, Sendable, CaseIterable {
    /// The losing change takes effect after all ("keep mine" for the side that lost).
    case accept
    /// The winner stays; the losing change stays out ("keep theirs").
    case dismiss
}

/// A resolution as the fold sees it.
public struct Resolution: Hashable, Codable, Sendable {
    /// The id of the conflict resolved (``ConflictRecord/id``).
    public var conflictID: String
    /// Whether the losing change is accepted or dismissed.
    public var choice: ResolutionChoice
    /// The resolver's clock; its node says who resolved.
    public var hlc: HLCTimestamp

    /// Creates a resolution from its parts.
    public init(conflictID: String, choice: ResolutionChoice, hlc: HLCTimestamp) {
        self.conflictID = conflictID
        self.choice = choice
        self.hlc = hlc
    }
}

/// A change that lost or was refused, kept with both versions for a person to resolve.
///
/// Its id depends only on the rule, the row and the losing change's clock, so every replica that
/// folds the same changes names it the same way.
public struct ConflictRecord: Hashable, Codable, Sendable {
    /// 24 hex digits of a hash of the rule, the row and the losing change's clock, so every replica names the conflict alike.
    public var id: String
    /// The table of the row the losing change was to.
    public var table: SyncedTable
    /// The id of the row the losing change was to.
    public var rowID: String
    /// The project (or plan line) whose records the conflict belongs to.
    public var aggregateID: String
    /// The office that owns the row.
    public var office: String
    /// Who wrote the losing change (an office code or `central`), and when.
    public var writer: String
    /// The losing change's clock.
    public var hlc: HLCTimestamp
    /// The rule that decided against the change.
    public var rule: ConflictRule
    /// The losing values.
    public var mine: [String: FieldValue]
    /// The values that stood.
    public var theirs: [String: FieldValue]
    /// Why the rule decided against the change, in one sentence for people.
    public var message: String
    /// nil while open.
    public var resolution: ResolutionChoice?
    /// The node whose resolution took effect (an office code or `central`); nil while open.
    public var resolvedBy: String?

    /// Whether no resolution has taken effect yet.
    public var isOpen: Bool { resolution == nil }

    static func makeID(rule: ConflictRule, table: SyncedTable, rowID: String, hlc: HLCTimestamp) -> String {
        let digest = SHA256.hash(data: Data("\(rule.rawValue)|\(table.rawValue)|\(rowID)|\(hlc)".utf8))
        return Hex.string(digest.prefix(12))
    }

    /// The side that may accept this conflict's losing change.
    public func acceptingSide(fund: FundSource?) -> Side { rule.acceptingSide(fund: fund) }

    /// Values as ``publishedFields()`` writes them for `mine` and `theirs` (JSON text), read back;
    /// empty when missing or unreadable.
    public static func publishedValues(_ text: String?) -> [String: FieldValue] {
        text.flatMap { try? JSONDecoder().decode([String: FieldValue].self, from: Data($0.utf8)) } ?? [:]
    }

    /// The record's fields as published in the change log.
    public func publishedFields() -> [String: FieldValue] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        func json(_ value: [String: FieldValue]) -> FieldValue {
            .text(String(decoding: (try? encoder.encode(value)) ?? Data("{}".utf8), as: UTF8.self))
        }
        return [
            "table": .text(table.rawValue), "row_id": .text(rowID), "aggregate_id": .text(aggregateID),
            "office": .text(office), "writer": .text(writer), "hlc": .text(hlc.description), "rule": .text(rule.rawValue),
            "mine": json(mine), "theirs": json(theirs), "message": .text(message),
            "resolution": resolution.map { .text($0.rawValue) } ?? .null, "resolved_by": resolvedBy.map { .text($0) } ?? .null,
        ]
    }
}
