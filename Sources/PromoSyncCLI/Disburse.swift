import ArgumentParser
import CLISupport
import Foundation
import Replica
import SyncCore

struct Disburse: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Record a ledger entry (advance, payment, recovery or settlement adjustment) for a project.")

    @OptionGroup var location: ReplicaLocation
    @Option(help: "Project id or code.") var project: String
    @Option(parsing: .unconditional, help: "Amount in VND (whole number, no separators).", transform: amountArgument) var amount: Int64
    @Option(help: "advance, payment, recovery or settlement_adjustment.") var kind: DisbursementKind = .payment
    @Option(help: "Treasury voucher number.") var voucher: String?
    @Option(help: "Date paid, YYYY-MM-DD.", transform: dateArgument) var date: String

    func run() throws {
        let id = try location.open().data.addDisbursement(
            NewDisbursement(project: project, kind: kind, amount: amount, voucher: voucher, paidOn: date))
        print(id.rawValue)
    }
}
