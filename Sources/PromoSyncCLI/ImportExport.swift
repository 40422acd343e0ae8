import ArgumentParser
import Foundation
import Replica

struct Import: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Import projects, plan lines or disbursements from a CSV file: all or nothing.",
        discussion: """
            The kind is recognised from the header. Projects: code,name,category,fund_source,year,total_cost,requested_support \
            [,beneficiary,province,status,commune,counterpart_funds,program]. Plan lines: year,fund_source,amount[,note]. Disbursements: \
            project_code,kind,amount,voucher,paid_on. Amounts are whole VND. Every bad row is reported with its line; \
            importing the same file again changes nothing. A text cell written by export as ' followed by =, +, -, @, \
            a tab or a carriage return is read without the ' (docs/SECURITY.md).
            """)

    @OptionGroup var location: ReplicaLocation
    @Argument(help: "The CSV file (UTF-8).") var file: String

    func run() throws {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw ValidationError("cannot read \(file)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ValidationError("\(file) is not UTF-8 text; save it as CSV UTF-8")
        }
        do {
            let report = try location.open().data.importCSV(text)
            print("imported \(report.kind.rawValue): \(report.inserted) new, \(report.updated) updated, \(report.unchanged) unchanged")
        } catch let rejection as ImportRejection {
            printError(rejection.description)
            throw ExitCode(1)
        }
    }
}

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Export this office's projects, plan lines or disbursements as CSV.",
        discussion: """
            Text that a spreadsheet would run as a formula (starting with =, +, -, @, a tab or a carriage return) is \
            written with a leading ', which import takes off again; amounts are written as numbers.
            """)

    @OptionGroup var location: ReplicaLocation
    @Argument(help: "projects, plan or disbursements.") var kind: String
    @Option(help: "Write to this file instead of standard output.") var output: String?

    func run() throws {
        guard let kind = ImportReport.Kind(rawValue: kind) else { throw ValidationError("export projects, plan or disbursements") }
        let text = try location.open().data.exportCSV(kind)
        if let output {
            try text.write(toFile: output, atomically: true, encoding: .utf8)
        } else {
            print(text, terminator: "")
        }
    }
}
