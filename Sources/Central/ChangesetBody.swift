import Foundation
import GzipCodec

/// A changeset's body as the store keeps it (`changeset.body`): the changeset's JSON as it
/// arrived (without whitespace between its tokens since 1.9.1), compressed with gzip at level 1
/// when that is smaller. Stores written before release 1.8.0 hold the JSON itself; both forms are
/// read, told apart by gzip's first two bytes (JSON never starts with them). The body is kept for
/// the audit: `audit verify` checks its hash and replays it. Compressed, a 1,000-change body keeps
/// about a seventh of its bytes (197 bytes a change to 29 in promo-bench's push;
/// docs/BENCHMARKS.md, the centre's storage per change).
enum ChangesetBody {
    /// The bytes stored for a changeset whose JSON is `json`: without the whitespace between its
    /// tokens (the same JSON), compressed. An office padded a one-change push with 31 MB of
    /// whitespace, and the centre kept 10.8 MB of it for good (round 9, A2).
    static func stored(_ json: Data) -> Data {
        let json = compacted(json)
        let compressed = Gzip.compress(json, level: 1)
        return compressed.count < json.count ? compressed : json
    }

    /// `json` without whitespace outside its strings: the same JSON value, in the fewest bytes.
    static func compacted(_ json: Data) -> Data {
        var out: [UInt8] = []
        var copied = 0
        json.withUnsafeBytes { (bytes: UnsafeRawBufferPointer) in
            var inString = false
            var escaped = false
            for (index, byte) in bytes.enumerated() {
                if inString {
                    if escaped { escaped = false } else if byte == UInt8(ascii: "\\") { escaped = true } else if byte == UInt8(ascii: "\"") { inString = false }
                    continue
                }
                if byte == UInt8(ascii: "\"") {
                    inString = true
                } else if byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 {
                    // Copied up to here in one go; only a body with such whitespace is copied at all.
                    if out.isEmpty { out.reserveCapacity(json.count) }
                    out.append(contentsOf: bytes[copied..<index])
                    copied = index + 1
                }
            }
            if copied > 0 { out.append(contentsOf: bytes[copied...]) }
        }
        return copied == 0 ? json : Data(out)
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
