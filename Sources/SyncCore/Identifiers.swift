import Foundation

/// The code of a provincial office: the two-digit province code of Decision 19/2025 (e.g. `79`).
///
/// The centre itself writes as the pseudo-office `central`.
public struct OfficeCode: Hashable, Comparable, Codable, Sendable, CustomStringConvertible {
    /// The code as written on the wire and in the databases.
    public let rawValue: String

    /// The centre's own code, used as the owner of consolidated and reference records.
    public static let central = OfficeCode(unchecked: "central")

    /// Accepts a code of one of the 34 provinces in force, or of a former province whose office
    /// still runs until it is merged into its successor's (`promo-central office merge`).
    public init(_ text: String) throws(SyncCoreError) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard ReferenceData.isKnownProvince(trimmed) else {
            throw SyncCoreError(
                .invalidValue,
                "'\(text)' is not a province code",
                hint: "Use one of the 34 codes of Decision 19/2025, e.g. 79 (Hồ Chí Minh) or 80 (Tây Ninh), or a former province's code."
            )
        }
        self.rawValue = trimmed
    }

    /// Wraps a code already validated (read back from a store).
    public init(unchecked rawValue: String) { self.rawValue = rawValue }

    /// Reads the code from a bare JSON string, without checking it against the province list.
    public init(from decoder: any Decoder) throws {
        self.rawValue = try decoder.singleValueContainer().decode(String.self)
    }

    /// Writes the code as a bare JSON string.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }

    /// The code as written, e.g. `79` or `central`.
    public var description: String { rawValue }
    /// Orders codes by their text, which for the two-digit province codes is numeric order.
    public static func < (lhs: OfficeCode, rhs: OfficeCode) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// The per-office sequence number of a changeset, starting at 1 and without gaps.
public struct ChangesetSequence: Hashable, Comparable, Codable, Sendable, CustomStringConvertible {
    /// The number as carried on the wire and kept in both stores (0 where an office has no changeset yet).
    public let rawValue: Int64
    /// Wraps a number without checking it; an office's real sequences start at 1.
    public init(_ rawValue: Int64) { self.rawValue = rawValue }
    /// Reads the number from a bare JSON integer.
    public init(from decoder: any Decoder) throws { rawValue = try decoder.singleValueContainer().decode(Int64.self) }
    /// Writes the number as a bare JSON integer.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(rawValue)
    }
    /// The sequence number of the office's next changeset.
    public var next: ChangesetSequence { ChangesetSequence(rawValue + 1) }
    /// The number in decimal, e.g. `12`.
    public var description: String { String(rawValue) }
    /// Orders sequences by number: the earlier changeset of an office first.
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// A position in the central change log: an office has pulled every change up to and including it.
public struct PullCursor: Hashable, Comparable, Codable, Sendable, CustomStringConvertible {
    /// The log position as carried on the wire (`after=`, `nextCursor`) and saved by the office.
    public let rawValue: Int64
    /// The position before every change in the log, where an office that has pulled nothing starts.
    public static let start = PullCursor(0)
    /// Wraps a log position read from the wire or a store.
    public init(_ rawValue: Int64) { self.rawValue = rawValue }
    /// Reads the position from a bare JSON integer.
    public init(from decoder: any Decoder) throws { rawValue = try decoder.singleValueContainer().decode(Int64.self) }
    /// Writes the position as a bare JSON integer.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(rawValue)
    }
    /// The position in decimal, e.g. `57`.
    public var description: String { String(rawValue) }
    /// Orders positions along the log: the smaller was written earlier.
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// The identity of one life of the central store. A central restored from a backup starts a new epoch,
/// so offices can tell that it may have lost changes they consider acknowledged.
public struct Epoch: Hashable, Codable, Sendable, CustomStringConvertible {
    /// The epoch as sent in the `Promo-Epoch` header; ``random()`` makes a lower-case UUID.
    public let rawValue: String
    /// Wraps an epoch read from a store or a `Promo-Epoch` header, as it is.
    public init(_ rawValue: String) { self.rawValue = rawValue }
    /// A new random epoch.
    public static func random() -> Epoch { Epoch(UUID().uuidString.lowercased()) }
    /// Reads the epoch from a bare JSON string.
    public init(from decoder: any Decoder) throws { rawValue = try decoder.singleValueContainer().decode(String.self) }
    /// Writes the epoch as a bare JSON string.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(rawValue)
    }
    /// The epoch's text, as in the `Promo-Epoch` header.
    public var description: String { rawValue }
}

/// A globally unique row identifier made offline: a UUIDv7 (RFC 9562) in lower-case text form.
///
/// The leading 48 bits are the Unix time in milliseconds, so ids sort roughly by creation time.
public struct RowID: Hashable, Comparable, Codable, Sendable, CustomStringConvertible {
    /// The id as kept and sent: `8-4-4-4-12` hex digits in lower case.
    public let rawValue: String

    /// Makes a new UUIDv7 from the given time and random source.
    public static func make(now: Date = Date(), using generator: inout some RandomNumberGenerator) -> RowID {
        let millis = UInt64(max(0, now.timeIntervalSince1970 * 1000))
        var bytes = [UInt8](repeating: 0, count: 16)
        for i in 0..<6 { bytes[i] = UInt8((millis >> (8 * UInt64(5 - i))) & 0xFF) }
        for i in 6..<16 { bytes[i] = UInt8.random(in: 0...255, using: &generator) }
        bytes[6] = (bytes[6] & 0x0F) | 0x70  // version 7
        bytes[8] = (bytes[8] & 0x3F) | 0x80  // RFC 4122 variant
        return RowID(high: bytes[..<8].reduce(0) { $0 << 8 | UInt64($1) }, low: bytes[8...].reduce(0) { $0 << 8 | UInt64($1) })
    }

    /// The id of these 128 bits, spelled `8-4-4-4-12` in lower case.
    private init(high: UInt64, low: UInt64) {
        var text: [UInt8] = []
        text.reserveCapacity(36)
        Hex.appendUUID(high: high, low: low, to: &text)
        rawValue = String(decoding: text, as: UTF8.self)
    }

    /// Makes a new UUIDv7 with the system's random source.
    public static func make(now: Date = Date()) -> RowID {
        var rng = SystemRandomNumberGenerator()
        return make(now: now, using: &rng)
    }

    /// Accepts any RFC 9562 UUID text (records keep the id they were made with).
    public init(_ text: String) throws(SyncCoreError) {
        guard let uuid = Hex.parseUUID(text) else {
            throw SyncCoreError(.invalidValue, "'\(text)' is not a UUID", hint: "Row ids are UUIDs such as 0192f1a4-7b3c-7d2e-8f00-1a2b3c4d5e6f.")
        }
        if uuid.upperCase { self.init(high: uuid.high, low: uuid.low) } else { self.init(unchecked: text) }
    }

    /// Wraps an id already validated (read back from a store), without checking it.
    public init(unchecked rawValue: String) { self.rawValue = rawValue }
    /// Reads an id from a JSON string with the checks of ``init(_:)``; text that is not a UUID is a data-corrupted error.
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        do { try self.init(text) } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: error.message))
        }
    }
    /// Writes the id as a bare JSON string.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(rawValue)
    }
    /// The id in its `8-4-4-4-12` text form.
    public var description: String { rawValue }
    /// Orders ids by their text, which for UUIDv7 ids is roughly the order they were made in.
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
}
