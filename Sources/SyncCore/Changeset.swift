import Crypto
import Foundation

/// A batch of one office's changes, numbered per office and chained by hash to its predecessor.
///
/// The hash covers the office, the sequence number, the previous hash and every change in a
/// canonical byte form (``canonicalBytes``), so the centre can refuse a gap, a replay with other
/// content, or a tampered body, and an office can re-send a changeset byte for byte.
public struct Changeset: Hashable, Codable, Sendable {
    /// The office that made the changeset; the centre refuses one that names an office other than the token's.
    public var office: OfficeCode
    /// The changeset's place in its office's chain: 1 for the first, then one more each time, without gaps.
    public var sequence: ChangesetSequence
    /// The hash of the changeset before this one; ``Changeset/genesisHash`` for the first.
    public var previousHash: String
    /// The SHA-256 of ``canonicalBytes()`` in lower-case hex (64 digits), as stated; ``verifyHash()`` checks it against the content.
    public var hash: String
    /// The office's changes in this batch; the protocol allows at most 5,000 in one changeset.
    public var changes: [Change]

    /// The previous hash of an office's first changeset.
    public static let genesisHash = String(repeating: "0", count: 64)

    /// Builds a changeset and computes its hash.
    public init(office: OfficeCode, sequence: ChangesetSequence, previousHash: String, changes: [Change]) {
        self.init(office: office, sequence: sequence, previousHash: previousHash, changes: changes, statedHash: "")
        self.hash = computeHash()
    }

    /// A changeset as its body states it (received or stored): the hash is taken as written, not
    /// computed; ``verifyHash()`` checks it where that matters (the centre, for every push).
    public init(office: OfficeCode, sequence: ChangesetSequence, previousHash: String, changes: [Change], statedHash: String) {
        self.office = office
        self.sequence = sequence
        self.previousHash = previousHash
        self.changes = changes
        self.hash = statedHash
    }

    /// The SHA-256 of the canonical form, as lower-case hex.
    public func computeHash() -> String {
        Hex.string(SHA256.hash(data: canonicalBytes()))
    }

    /// Checks that the stated hash matches the content.
    public func verifyHash() throws(SyncCoreError) {
        guard computeHash() == hash else {
            throw SyncCoreError(
                .brokenChain, "changeset \(sequence) of office \(office) does not match its hash",
                hint: "The body was altered after it was made; the office must re-create it (promo-sync resync --force).")
        }
    }

    /// A byte form that does not depend on any encoder's choices: every string is length-prefixed,
    /// fields are sorted by name.
    public func canonicalBytes() -> Data {
        var out: [UInt8] = []
        out.reserveCapacity(256 * changes.count + 256)
        func put(_ s: String) {
            out.append(contentsOf: String(s.utf8.count).utf8)
            out.append(0x3A)  // ':'
            out.append(contentsOf: s.utf8)
        }
        put("promo-sync/changeset/v1")
        put(office.rawValue)
        put(String(sequence.rawValue))
        put(previousHash)
        put(String(changes.count))
        for change in changes {
            put(change.table.rawValue)
            put(change.id.rawValue)
            put(change.op.rawValue)
            put(change.hlc.description)
            put(String(change.fields.count))
            for (name, value) in change.fields.sorted(by: { $0.key < $1.key }) {
                put(name)
                switch value {
                case .null: put("n")
                case .integer(let i): put("i" + String(i))
                case .text(let s): put("t" + s)
                }
            }
        }
        return Data(out)
    }
}
