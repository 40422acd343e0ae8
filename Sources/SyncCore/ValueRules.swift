/// The bounds every value of a synced row must meet, in one place (docs/CONFLICTS.md,
/// "Invariants and where they are enforced"). The office's commands and importer check them early
/// to give a better message; the centre checks every pushed change against them, and that is the
/// check that counts: a changeset with a value out of bounds is refused whole (400).
public enum ValueRules {
    /// The largest amount of VND one field may hold: 10^15 (a million billion VND, three orders
    /// above the national khuyến công budget of a decade). With at most 5,000 rows per changeset
    /// and sums done with checked arithmetic, no total of one office can overflow `Int64` before
    /// it holds 9,000 such rows; a sum that would is refused, not wrapped.
    public static let maxAmount: Int64 = 1_000_000_000_000_000
    /// Years of plans, projects and programmes.
    public static let years: ClosedRange<Int64> = 2000...2100
    /// Longest text of a name, a beneficiary or a note, in characters.
    public static let maxLongText = 2_000
    /// Longest text of a code, a voucher, a reference or an id, in characters.
    public static let maxShortText = 200

    private static let longText: Set<String> = ["name", "beneficiary", "note"]
    private static let amounts: Set<String> = ["amount", "total_cost", "requested_support", "approved_support", "counterpart_funds"]
    private static let yearFields: Set<String> = ["year", "start_year", "end_year"]
    private static let dateFields: Set<String> = ["paid_on", "occurred_on"]

    /// Amounts that are more than 0 (a plan or a project of nothing is a mistake); every other
    /// amount outside the ledger is 0 or more.
    private static func isPositive(_ table: SyncedTable, _ field: String) -> Bool {
        (table == .planLine && field == "amount") || (table == .project && (field == "total_cost" || field == "requested_support"))
    }

    /// What is wrong with `value` as field `field` of a `table` row, or nil. `writer` is the
    /// office writing it (nil: not known, e.g. a check of a value alone): a project's province
    /// must be one it may write, or one that an office merged into it (`absorbed`, known at the
    /// centre) may write.
    public static func problem(
        _ table: SyncedTable, _ field: String, _ value: FieldValue, writer: OfficeCode? = nil, absorbed: [OfficeCode] = []
    ) -> String? {
        switch value {
        case .null:
            return nil
        case .integer(let n):
            if yearFields.contains(field), !years.contains(n) {
                return "\(field) \(n) is not a year between \(years.lowerBound) and \(years.upperBound)"
            }
            if amounts.contains(field) {
                if table == .disbursement {
                    // A settlement adjustment carries its own sign; the row rule checks the rest.
                    if n == 0 || n.magnitude > maxAmount.magnitude { return "\(field) must be a non-zero amount of at most \(maxAmount) VND (got \(n))" }
                } else if !((isPositive(table, field) ? 1 : 0)...maxAmount).contains(n) {
                    return "\(field) must be \(isPositive(table, field) ? "more than" : "at least") 0 and at most \(maxAmount) VND (got \(n))"
                }
            }
            return nil
        case .text(let text):
            if let problem = textProblem(field, text) { return problem }
            if field == "code", let problem = codeProblem(text) { return problem }
            if field == "voucher", let problem = voucherProblem(text) { return problem }
            if dateFields.contains(field), !CalendarDate.isValid(text) {
                return "\(field) '\(text)' is not a date (YYYY-MM-DD between 2000 and 2100)"
            }
            switch (table, field) {
            case (_, "fund_source") where FundSource(rawValue: text) == nil:
                return "fund_source '\(text)' is not one of \(FundSource.allCases.map(\.rawValue).joined(separator: ", "))"
            case (.disbursement, "kind") where DisbursementKind(rawValue: text) == nil:
                return "kind '\(text)' is not one of \(DisbursementKind.allCases.map(\.rawValue).joined(separator: ", "))"
            case (.projectEvent, "kind") where ProjectEventKind(rawValue: text) == nil:
                return "kind '\(text)' is not one of \(ProjectEventKind.allCases.map(\.rawValue).joined(separator: ", "))"
            case (.conflictResolution, "choice") where ResolutionChoice(rawValue: text) == nil:
                return "choice '\(text)' is not one of \(ResolutionChoice.allCases.map(\.rawValue).joined(separator: ", "))"
            case (.project, "status") where ProjectStatus(rawValue: text) == nil:
                return "status '\(text)' is not one of \(ProjectStatus.allCases.map(\.rawValue).joined(separator: ", "))"
            case (.project, "tax_code") where TaxCode(text)?.text != text:
                return "tax_code '\(text)' is not a tax code (mã số thuế): 10 digits, or 10 digits, a hyphen and 3 digits for a branch"
            case (.project, "category") where ReferenceData.category(code: text) == nil:
                return "category '\(text)' is not an activity category of Decree 45/2012 as amended"
            case (.project, "province"):
                guard ReferenceData.isKnownProvince(text) else { return "province '\(text)' is not a province code" }
                if let writer, writer != .central, !([writer] + absorbed).contains(where: { mayWrite(province: text, office: $0) }) {
                    var seen: Set<String> = []
                    let writable = ([writer] + absorbed).flatMap(writableProvinces).filter { seen.insert($0).inserted }
                    return "province \(text) is not office \(writer)'s to write; it writes \(writable.joined(separator: ", "))"
                }
                return nil
            default:
                return nil
            }
        }
    }

    /// What is wrong with `text` as any text field named `field`, or nil: too long for its kind, or
    /// holding U+0000 (SQLite's C strings and GRDB end a text there, so the office and the centre
    /// would keep different values, and one that was read back cut short would name another row).
    /// A character may hold any number of combining marks, so the bytes are bounded too: 16 per
    /// character of the limit, far above what any Vietnamese spelling takes (at most 5 bytes: a
    /// letter with two marks, decomposed), and a row stays far below the centre's body limit (a
    /// single text of millions of marks would make a push the centre refuses as too large, every
    /// time, whatever the changeset's size).
    public static func textProblem(_ field: String, _ text: String) -> String? {
        if text.utf8.contains(0) { return "\(field) holds the character U+0000 (NUL), which no field may hold" }
        let lineBreaks = longText.contains(field)
        if let control = text.unicodeScalars.first(where: { isControl($0, allowingLineBreaks: lineBreaks) }) {
            return
                "\(field) holds the control character \(codePoint(control)), which no \(lineBreaks ? "" : "one-line ")field may hold\(lineBreaks ? "" : " (line breaks only in a name, beneficiary or note)"): type it again without"
        }
        let limit = longText.contains(field) ? maxLongText : maxShortText
        let bytes = text.utf8.count
        // Most text is far shorter than the limit in bytes, which bound the characters from above.
        if bytes > limit, text.count > limit { return "\(field) is \(text.count) characters long; at most \(limit) are allowed" }
        if bytes > limit * maxBytesPerCharacter {
            return "\(field) takes \(bytes) bytes of UTF-8; at most \(limit * maxBytesPerCharacter) are allowed (\(maxBytesPerCharacter) per character)"
        }
        return nil
    }

    /// Why `code` cannot be a project's or programme's code, or nil. A code names the row on the
    /// centre's commands (`project decide 79/HCM-01`) and on decision documents, so it is written
    /// with visible characters that cannot pass for others: letters of the Latin alphabet
    /// (Vietnamese included, precomposed), digits and `-` `_` `.` `/`, nothing else. An office had
    /// given its real project a code that only looked like a decoy's (a no-break hyphen, a
    /// zero-width space, a trailing space, decomposed letters, Cyrillic letters), and the centre's
    /// decision by code landed on the decoy (round 13).
    public static func codeProblem(_ code: String) -> String? {
        if code.isEmpty { return "code is empty" }
        guard let bad = code.unicodeScalars.first(where: { !isCodeCharacter($0) }) else { return nil }
        return "code '\(code)' holds \(codePoint(bad)): a code is Latin letters (Vietnamese ones precomposed), digits and - _ . / only"
    }

    /// Why `voucher` cannot be a treasury voucher's number, or nil. A voucher is paid once per
    /// project, and the fold compares vouchers by ``voucherKey(_:)``, so it is written with the
    /// characters of a code and spaces: an office recorded one payment three times as
    /// "KB-2025-001", the same with a zero-width space, and with Unicode hyphens, and two of them
    /// counted as new vouchers (round 15).
    public static func voucherProblem(_ voucher: String) -> String? {
        guard let bad = voucher.unicodeScalars.first(where: { !isCodeCharacter($0) && $0 != " " }) else { return nil }
        return
            "voucher '\(voucher)' holds \(codePoint(bad)): a treasury voucher is Latin letters (Vietnamese ones precomposed), digits, spaces and - _ . / only"
    }

    /// A voucher as the fold compares vouchers: two with one key are one treasury voucher. A
    /// voucher number is its runs of letters and of digits; the case of its letters, the
    /// separators between runs (`-` `_` `.` `/`, spaces, invisible characters) and the zeros a
    /// number is padded with are how it was typed. So `KB-2025-001`, `kb 2025 1` and
    /// `KB.2025.0001` are one (round 16 counted one voucher seven times written so), and
    /// `KB-12-3` and `KB-1-23` are two, as are `KB2025001` and `KB-2025-001`. One key, not two
    /// compared in turn: "alike by either" is not transitive, and which of three entries was held
    /// depended on the order an office sent them (round 17). Empty: no voucher.
    public static func voucherKey(_ voucher: String) -> String {
        var runs: [String] = []
        var run = ""
        var digits = false
        func end() {
            guard !run.isEmpty else { return }
            if digits {
                let trimmed = run.drop { $0 == "0" }
                runs.append(trimmed.isEmpty ? "0" : String(trimmed))
            } else {
                runs.append(run)
            }
            run = ""
        }
        for scalar in voucher.lowercased().unicodeScalars where scalar.properties.generalCategory != .format {
            if scalar.properties.isWhitespace || voucherSeparators.contains(scalar) {
                end()
                continue
            }
            let isDigit = ("0"..."9").contains(scalar)
            if isDigit != digits { end() }
            digits = isDigit
            run.unicodeScalars.append(scalar)
        }
        end()
        return runs.joined(separator: "|")
    }

    private static let voucherSeparators = Set("-_./".unicodeScalars)

    /// `U+001B`: how a message names a character.
    static func codePoint(_ scalar: Unicode.Scalar) -> String {
        let hex = String(scalar.value, radix: 16, uppercase: true)
        return "U+" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
    }

    static func isCodeCharacter(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: true  // digits, A-Z, a-z
        case 0x2D, 0x2E, 0x2F, 0x5F: true  // - . / _
        // Vietnamese letters, precomposed: Latin Extended Additional's Vietnamese block, and the few
        // of Latin-1 and Extended-A and -B the alphabet uses. Not every Latin letter: Ð passes for
        // Đ, ǀ for l, Ʊ for Ư and ı for i (round 14).
        case 0x1EA0...0x1EF9: true
        default: vietnameseLetters.contains(scalar)
        }
    }

    private static let vietnameseLetters = Set("ÀÁÂÃÈÉÊÌÍÒÓÔÕÙÚÝàáâãèéêìíòóôõùúýĂăĐđĨĩŨũƠơƯư".unicodeScalars)

    /// A code as the centre compares codes for ambiguity (with `==`, which holds a decomposed
    /// letter equal to the letter): in lower case, without what cannot be seen (format
    /// characters, white space).
    public static func codeKey(_ code: String) -> String {
        String(
            String.UnicodeScalarView(
                code.lowercased().unicodeScalars.filter { !$0.properties.isWhitespace && $0.properties.generalCategory != .format }))
    }

    /// Whether `scalar` is a control character a text field may not hold: C0 and C1 controls
    /// (escape sequences, carriage returns) and the bidirectional overrides. An office's text is
    /// printed on the centre operator's terminal, where a project code carrying them drew a line
    /// of another office's project in its place, erased lines and set the clipboard (round 12).
    /// A tab is text (a spreadsheet's cell may start with one); names, beneficiaries and notes
    /// keep their line breaks.
    public static func isControl(_ scalar: Unicode.Scalar, allowingLineBreaks: Bool) -> Bool {
        switch scalar.value {
        case 0x09: false
        case 0x0A, 0x0D: !allowingLineBreaks
        case 0x00...0x1F, 0x7F...0x9F, 0x202A...0x202E, 0x2066...0x2069: true
        default: false
        }
    }

    /// Bytes of UTF-8 per character of a text field's limit.
    public static let maxBytesPerCharacter = 16

    /// What is wrong with a whole row (rules across fields), or nil: a ledger entry other than a
    /// settlement adjustment moves money one way, so its amount is more than 0.
    public static func rowProblem(_ table: SyncedTable, _ fields: [String: FieldValue]) -> String? {
        if table == .disbursement, let kind = fields["kind"]?.text.flatMap(DisbursementKind.init(rawValue:)), kind != .settlementAdjustment,
            let amount = fields["amount"]?.integer, amount <= 0
        {
            return "amount must be more than 0 VND for a \(kind.rawValue) (got \(amount)); a recovery is written as a positive amount"
        }
        return nil
    }

    /// Whether `office` may record `province` on a project: its own code, or a former province
    /// merged into it by the official map (Decision 19/2025), whose records keep their old code.
    public static func mayWrite(province: String, office: OfficeCode) -> Bool {
        province == office.rawValue
            || (ReferenceData.province(code: office.rawValue) != nil
                && ReferenceData.formerProvinces.contains { $0.code == province && $0.successor == office.rawValue })
    }

    /// The province codes `office` may write, its own first.
    public static func writableProvinces(_ office: OfficeCode) -> [String] {
        guard ReferenceData.province(code: office.rawValue) != nil else { return [office.rawValue] }
        return [office.rawValue] + ReferenceData.formerProvinces.filter { $0.successor == office.rawValue && $0.code != office.rawValue }.map(\.code)
    }
}
