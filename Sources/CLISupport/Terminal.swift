import SyncCore

/// Text printed on an operator's terminal.
public enum Terminal {
    /// `text` with every control character written out as `\u{…}` (line breaks and tabs too):
    /// an office's text reaches the centre's listings, and a project code or voucher carrying
    /// escape sequences or carriage returns drew another office's project in its place on the
    /// operator's screen, erased lines and set the window title (round 12). Offices can no longer
    /// send them (``ValueRules/isControl(_:allowingLineBreaks:)``); records stored before are
    /// shown this way.
    public static func printable(_ text: String) -> String {
        func hidden(_ scalar: Unicode.Scalar) -> Bool { scalar == "\t" || ValueRules.isControl(scalar, allowingLineBreaks: false) }
        guard text.unicodeScalars.contains(where: hidden) else { return text }
        var out = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            if hidden(scalar) {
                out.append(contentsOf: "\\u{\(String(scalar.value, radix: 16))}".unicodeScalars)
            } else {
                out.append(scalar)
            }
        }
        return String(out)
    }
}
