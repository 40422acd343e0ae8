// Fuzzes the configuration reader (ConfigFormat/ConfigDocument.swift and ConfigReader.swift), which
// both daemons run on the TOML-subset file an operator edits.
//
// The input is read as the daemons read the file (UTF-8, invalid bytes replaced). Besides "never
// traps, never hangs":
// - every key is `name` or `section.name` with bare names, on a line of the file,
// - the same file with CRLF line ends (as a Windows editor saves it) reads the same,
// - the settings written out again (`[section]`, `name = value`) read back the same,
// - every typed getter of ConfigReader answers or refuses each key without trapping.

import ConfigFormat
import Foundation
import FuzzSupport
import SyncCore

@_cdecl("LLVMFuzzerTestOneInput") public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    guard let document = try? ConfigDocument(parsing: text) else { return 0 }
    let lines = text.utf8.reduce(1) { $0 + ($1 == 0x0A ? 1 : 0) }
    for (key, entry) in document.entries {
        Fuzzing.expect(entry.key == key && (1...lines).contains(entry.line), "entry \(key) on line \(entry.line) of \(lines)")
        let parts = key.split(separator: ".", omittingEmptySubsequences: false)
        Fuzzing.expect((1...2).contains(parts.count) && parts.allSatisfy { !$0.isEmpty }, "the key '\(key)' is not name or section.name")
    }
    if !text.contains("\r") {
        let crlf = try? ConfigDocument(parsing: text.replacingOccurrences(of: "\n", with: "\r\n"))
        Fuzzing.expect(crlf == document, "the same file with CRLF line ends reads differently: \((crlf?.entries).debugDescription)")
    }
    let again = try? ConfigDocument(parsing: written(document))
    Fuzzing.expect(again.map(values) == values(document), "the settings written out again read differently: \(written(document).debugDescription)")
    let reader = ConfigReader(document: document, environment: ["FUZZ_SERVER_PORT": "8080", "FUZZ_A_B": "true"], prefix: "FUZZ", source: "fuzz.toml")
    for key in document.entries.keys {
        _ = try? reader.string(key, default: nil)
        _ = try? reader.integer(key, default: 0, range: -5...Int64.max, unit: "units")
        _ = try? reader.choice(key, default: "a", among: ["a", "b"])
        _ = reader.variable(for: key)
    }
    _ = try? reader.rejectUnknownKeys(["server.port"])
    return 0
}

func values(_ document: ConfigDocument) -> [String: ConfigDocument.Value] { document.entries.mapValues(\.value) }

/// The document's settings as a file: top-level keys first, then one `[section]` per section.
func written(_ document: ConfigDocument) -> String {
    var sections: [String: [(String, ConfigDocument.Value)]] = [:]
    for (key, entry) in document.entries {
        let parts = key.split(separator: ".", maxSplits: 1)
        let (section, name) = parts.count == 2 ? (String(parts[0]), String(parts[1])) : ("", key)
        sections[section, default: []].append((name, entry.value))
    }
    var out = ""
    for section in sections.keys.sorted() {
        if !section.isEmpty { out += "[\(section)]\n" }
        for (name, value) in sections[section]! {
            switch value {
            case .string(let s):
                let escaped = s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
                    .replacingOccurrences(of: "\n", with: "\\n").replacingOccurrences(of: "\t", with: "\\t")
                out += "\(name) = \"\(escaped)\"\n"
            case .integer(let i): out += "\(name) = \(i)\n"
            case .boolean(let b): out += "\(name) = \(b)\n"
            }
        }
    }
    return out
}

Fuzzing.run { data, size in fuzz(data!, size) }
