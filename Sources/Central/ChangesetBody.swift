import Foundation
import GzipCodec

/// A changeset's body as the store keeps it (`changeset.body`): the changeset's JSON as it
/// arrived, compressed with gzip at level 1 when that is smaller. Stores written before release
/// 1.8.0 hold the JSON itself; both forms are read, told apart by gzip's first two bytes (JSON
/// never starts with them). The body is kept for the audit: `audit verify` checks its hash and
/// replays it. Compressed, a 1,000-change body keeps about a seventh of its bytes (197 bytes a
/// change to 29 in promo-bench's push; docs/BENCHMARKS.md, the centre's storage per change).
enum ChangesetBody {
    /// The bytes stored for a changeset whose JSON is `json`.
    static func stored(_ json: Data) -> Data {
        let compressed = Gzip.compress(json, level: 1)
        return compressed.count < json.count ? compressed : json
    }

    /// The changeset's JSON from the bytes stored, or nil when a compressed body is damaged.
    static func json(_ stored: Data) -> Data? {
        guard stored.count >= 2, stored[stored.startIndex] == 0x1F, stored[stored.startIndex + 1] == 0x8B else { return stored }
        return try? Gzip.decompress(stored, limit: maxJSONBytes)
    }

    /// The most a stored body may decompress to: the largest `limits.max_body_bytes` the centre
    /// can be configured with, so that a damaged body cannot exhaust memory.
    static let maxJSONBytes = 1 << 30
}
