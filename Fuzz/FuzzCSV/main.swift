// Fuzzes `CSV.parse` (CSVFormat/CSV.swift), which reads the files people import at the offices
// (`promo-sync import`), and the formula escaping the export applies to every text cell.
//
// The input is read as the importer reads a file (UTF-8, invalid bytes replaced). Besides "never
// traps, never hangs":
// - records come in file order: each starts on a later line than the one before, within the file,
// - what was read, written again with `CSV.line`, reads back as the same fields,
// - every field survives the export's formula escaping: `untextCell(textCell(f)) == f`.

import CSVFormat
import Foundation
import FuzzSupport
import SyncCore

@_cdecl("LLVMFuzzerTestOneInput") public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    guard let records = try? CSV.parse(text) else { return 0 }
    let lineBreaks = text.unicodeScalars.reduce(0) { $0 + ($1 == "\n" || $1 == "\r" ? 1 : 0) }
    var previous = 0
    for record in records {
        Fuzzing.expect(record.line > previous && record.line <= lineBreaks + 1, "record line \(record.line) after line \(previous)")
        Fuzzing.expect(!record.fields.isEmpty, "a record without fields")
        previous = record.line
        for field in record.fields {
            Fuzzing.expect(CSV.untextCell(CSV.textCell(field)) == field, "the formula escape does not give back \(field.debugDescription)")
        }
    }
    let written = records.map { CSV.line($0.fields) }.joined(separator: "\n")
    let again = try? CSV.parse(written)
    Fuzzing.expect(again?.map(\.fields) == records.map(\.fields),
                   "read, written and read again: \(records.map(\.fields)) became \(again.map { $0.map(\.fields) }.debugDescription)")
    return 0
}

Fuzzing.run { data, size in fuzz(data!, size) }
