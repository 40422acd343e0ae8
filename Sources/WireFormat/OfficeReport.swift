import Foundation
import SyncCore

/// What an office says of its own sync health with every request (`Promo-Office-Report`, since
/// 1.3.0; docs/PROTOCOL.md, "Versions"): its health from the rules of `promo-sync status`, the
/// changes waiting to be pushed and since when, its open conflicts, its last verification and the
/// epoch it holds. The centre keeps the last one with the office's visit for its dashboard and
/// never trusts it for anything else: it is what the office says, shown as such.
///
/// Written as a structured-field dictionary (RFC 8941): `health=degraded, pending=12,
/// pending-since=1764900000, conflicts=2, verified=1764890000, verify=identical, epoch="…",
/// reason="…"`. Times are whole seconds since 1970. Keys the centre does not know are ignored, so
/// a later release may add some.
public struct OfficeReport: Sendable, Equatable {
    /// The office's health by the rules of `promo-sync status`, from best to worst.
    public enum Health: String, Sendable, Comparable, CaseIterable {
        case ok, degraded, broken

        var rank: Int { Self.allCases.firstIndex(of: self)! }
        /// Orders health from `ok`, the least, to `broken`, the greatest.
        public static func < (lhs: Health, rhs: Health) -> Bool { lhs.rank < rhs.rank }
    }

    /// The office's health at the end of its previous cycle.
    public var health: Health
    /// The first reason the health is not ok, in ASCII (`promo-sync status` words it).
    public var reason: String?
    /// Changes waiting to be pushed.
    public var pendingChanges: Int
    /// When the oldest change waiting to be pushed was made; nil when none waits.
    public var pendingSince: Date?
    /// The office's conflicts that nobody has resolved.
    public var openConflicts: Int
    /// When the office last compared its rows with the centre's; nil if it never has.
    public var verifiedAt: Date?
    /// `identical` or `different`.
    public var verifyResult: String?
    /// The centre's epoch as the office holds it; one read from a header is cut to 64 characters.
    public var epoch: String?

    /// Creates a report from its parts; counts default to zero and times to none.
    public init(
        health: Health, reason: String? = nil, pendingChanges: Int = 0, pendingSince: Date? = nil, openConflicts: Int = 0,
        verifiedAt: Date? = nil, verifyResult: String? = nil, epoch: String? = nil
    ) {
        self.health = health
        self.reason = reason
        self.pendingChanges = pendingChanges
        self.pendingSince = pendingSince
        self.openConflicts = openConflicts
        self.verifiedAt = verifiedAt
        self.verifyResult = verifyResult
        self.epoch = epoch
    }

    /// Longest reason sent (and kept).
    public static let maxReasonLength = 200
    /// Longest header the centre reads; a longer one is ignored whole.
    public static let maxHeaderLength = 1_024

    /// The header's value.
    public var headerValue: String {
        var items = ["health=\(health.rawValue)", "pending=\(max(0, pendingChanges))"]
        if let pendingSince { items.append("pending-since=\(Self.seconds(pendingSince))") }
        items.append("conflicts=\(max(0, openConflicts))")
        if let verifiedAt { items.append("verified=\(Self.seconds(verifiedAt))") }
        if let verifyResult, Self.isToken(verifyResult) { items.append("verify=\(verifyResult)") }
        if let epoch { items.append("epoch=\(Self.quoted(epoch))") }
        if let reason { items.append("reason=\(Self.quoted(reason))") }
        return items.joined(separator: ", ")
    }

    /// Reads a header an office sent; nil when it is absent, too long or has no valid health.
    /// Values out of range or of the wrong form are dropped one by one, never guessed.
    public init?(header: String?) {
        guard let header, header.utf8.count <= Self.maxHeaderLength, let items = Self.dictionary(header),
            let health = items["health"].flatMap(Health.init(rawValue:))
        else { return nil }
        func count(_ key: String) -> Int { items[key].flatMap { Int($0) }.map { min(max(0, $0), 1_000_000_000) } ?? 0 }
        func date(_ key: String) -> Date? {
            items[key].flatMap { Int64($0) }.flatMap { $0 > 0 && $0 < 32_503_680_000 ? Date(timeIntervalSince1970: TimeInterval($0)) : nil }
        }
        self.init(
            health: health, reason: items["reason"].map { String($0.prefix(Self.maxReasonLength)) }, pendingChanges: count("pending"),
            pendingSince: date("pending-since"), openConflicts: count("conflicts"), verifiedAt: date("verified"),
            verifyResult: items["verify"].flatMap { ["identical", "different"].contains($0) ? $0 : nil },
            epoch: items["epoch"].map { String($0.prefix(64)) })
    }

    static func seconds(_ date: Date) -> Int64 { Int64(date.timeIntervalSince1970.rounded(.down)) }

    static func isToken(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D || $0 == 0x5F }
    }

    /// An sf-string: printable ASCII only (anything else becomes `?`), `"` and `\` escaped, cut
    /// to ``maxReasonLength`` characters.
    static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars.prefix(maxReasonLength) {
            switch scalar {
            case "\"", "\\": out += "\\" + String(scalar)
            case " "..."~": out.unicodeScalars.append(scalar)
            default: out += "?"
            }
        }
        return out + "\""
    }

    /// `key=value` items separated by commas, values tokens, integers or sf-strings; nil when malformed.
    static func dictionary(_ text: String) -> [String: String]? {
        var items: [String: String] = [:]
        var rest = Substring(text)
        func skipSpaces() { rest = rest.drop(while: { $0 == " " || $0 == "\t" }) }
        skipSpaces()
        while !rest.isEmpty {
            let key = rest.prefix(while: { $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "-" || $0 == "_") })
            guard !key.isEmpty, rest.dropFirst(key.count).first == "=" else { return nil }
            rest = rest.dropFirst(key.count + 1)
            var value = ""
            if rest.first == "\"" {
                rest = rest.dropFirst()
                var closed = false
                while let c = rest.first {
                    rest = rest.dropFirst()
                    if c == "\\" {
                        guard let escaped = rest.first, escaped == "\"" || escaped == "\\" else { return nil }
                        value.append(escaped)
                        rest = rest.dropFirst()
                    } else if c == "\"" {
                        closed = true
                        break
                    } else {
                        guard c.isASCII, let ascii = c.asciiValue, ascii >= 0x20, ascii < 0x7F else { return nil }
                        value.append(c)
                    }
                }
                guard closed else { return nil }
            } else {
                value = String(rest.prefix(while: { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == ".") }))
                guard !value.isEmpty else { return nil }
                rest = rest.dropFirst(value.count)
            }
            items[String(key)] = value
            skipSpaces()
            guard rest.isEmpty || rest.first == "," else { return nil }
            rest = rest.dropFirst()
            skipSpaces()
        }
        return items
    }
}

extension WireProtocol {
    /// Sent by an office with every request since 1.3.0: ``OfficeReport``.
    public static let officeReportHeader = "Promo-Office-Report"
}
