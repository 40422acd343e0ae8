import Foundation
import GRDB
import SyncCore
import SyncTesting
import Testing

@testable import Replica

@Suite struct ImportTests {
    /// Projects as a CSV file; with a `status`, running projects imported in that status.
    static func projectsCSV(count: Int, bad: [Int: String] = [:], status: String? = nil) -> String {
        var lines = ["code,name,category,fund_source,year,total_cost,requested_support,beneficiary" + (status == nil ? "" : ",status")]
        for i in 1...count {
            lines.append(
                bad[i] ?? "KC-\(i),\"Dự án \(i), thôn \(i % 7)\",MH_TRINHDIEN,local,2025,\(1_000_000 + i),\(500_000 + i),Cơ sở \(i)"
                    + (status.map { ",\($0)" } ?? ""))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    func outboxCount(_ replica: Replica) throws -> Int {
        try replica.database.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM _sync_outbox") ?? 0 }
    }

    @Test func tenThousandRowsWithThreeBadOnesAreRejectedWholeThenImportOnce() throws {
        let dir = try TemporaryDirectory()
        let replica = try makeReplica(dir)
        // Rows 17, 5000 and 9999 are bad; a row's line is its number + 1 (the header is line 1).
        let bad = [
            17: "KC-17,Tên,NO_SUCH,local,2025,100,50,x", 5000: "KC-5000,Tên,CDS,local,2025,100,-5,x",
            9999: "KC-9999,Tên,CDS,local,2025,100.5,50,x",
        ]
        let rejected = #expect(throws: ImportRejection.self) { try replica.data.importCSV(Self.projectsCSV(count: 10_000, bad: bad)) }
        #expect(rejected?.problems.map { $0.split(separator: ":").first.map(String.init) ?? "" } == ["line 18", "line 5001", "line 10000"])
        #expect(rejected?.problems[0].contains("unknown activity category 'NO_SUCH'") == true)
        #expect(rejected?.problems[1].contains("requested_support must be more than 0") == true)
        #expect(rejected?.problems[2].contains("has a decimal part") == true)
        #expect(try replica.data.count(.project) == 0)
        #expect(try outboxCount(replica) == 0)

        let corrected = Self.projectsCSV(count: 10_000)
        let first = try replica.data.importCSV(corrected)
        #expect(first.inserted == 10_000 && first.updated == 0)
        #expect(try replica.data.count(.project) == 10_000)
        let captured = try outboxCount(replica)
        #expect(captured == 20_000)  // each project and its "created" event
        #expect(try replica.data.count(.projectEvent) == 10_000)
        let again = try replica.data.importCSV(corrected)
        #expect(again.inserted == 0 && again.updated == 0 && again.unchanged == 10_000)
        #expect(try outboxCount(replica) == captured)
        // Vietnamese text survives, commas inside quotes included.
        #expect(try replica.data.projects().first { $0.code == "KC-3" }?.name == "Dự án 3, thôn 3")
    }

    @Test func exportThenImportChangesNothing() throws {
        let dir = try TemporaryDirectory()
        let replica = try makeReplica(dir)
        _ = try replica.data.importCSV(Self.projectsCSV(count: 20, status: "in_progress"))
        _ = try replica.data.importCSV("year,fund_source,amount,note\n2025,local,5000000000,\"Kế hoạch \"\"địa phương\"\"\"\n2025,national,700000000,\n")
        _ = try replica.data.importCSV("project_code,kind,amount,voucher,paid_on\nKC-1,advance,100000,KB-1,2025-03-01\nKC-1,recovery,50000,KB-2,2025-04-01\n")
        for kind in [ImportReport.Kind.projects, .plan, .disbursements] {
            let text = try replica.data.exportCSV(kind)
            let report = try replica.data.importCSV(text)
            #expect(report.inserted == 0 && report.updated == 0, "\(kind)")
        }
        #expect(try replica.data.exportCSV(.plan).contains("\"Kế hoạch \"\"địa phương\"\"\""))
    }

    @Test(
        arguments: [
            ("code,name\nA,B\n", "do not match a known file"),
            ("year,fund_source,amount,colour\n2025,local,5,red\n", "unknown column 'colour'"),
            ("year,fund_source,amount\n2025,local\n", "line 2: 2 fields where the header has 3"),
            ("year,fund_source,amount\n1990,local,5\n", "line 2: year '1990'"),
            ("year,fund_source,amount\n2025,private,5\n", "line 2: fund_source 'private'"),
            ("year,fund_source,amount\n2025,local,0\n", "line 2: amount must be more than 0"),
            ("year,fund_source,amount\n2025,local,99999999999999999999\n", "too large for an amount"),
            ("year,fund_source,amount\n2025,local,1.500.000.000\n", "has thousand separators (the Vietnamese '.'"),
            ("project_code,kind,amount,voucher,paid_on\nKC-1,payment,5,V,30/09/2025\n", "Write it year first: 2025-09-30"),
            ("year;fund_source;amount\n2025;local;5\n", "separated by ';'"),
            ("year,fund_source,amount\n2025,local,5\n2025,local,6\n", "line 3: the 2025 local plan line is also on line 2"),
            ("project_code,kind,amount,voucher,paid_on\nNONE,payment,5,V,2025-01-01\n", "no project with code 'NONE'"),
            ("project_code,kind,amount,voucher,paid_on\nKC-1,payment,5,V,2025-02-30\n", "is not a date"),
            ("project_code,kind,amount,voucher,paid_on\nKC-1,gift,5,V,2025-02-03\n", "kind 'gift'"),
            ("project_code,kind,amount,voucher,paid_on\nKC-1,payment,5,,2025-02-03\n", "voucher is empty"),
            (
                "project_code,kind,amount,voucher,paid_on\nKC-1,payment,400000,V1,2025-02-03\nKC-1,payment,200000,V2,2025-02-04\n",
                "line 3: project KC-1: this entry would take disbursements to 600000 VND, past the limit of 500001"
            ),
            (
                "project_code,kind,amount,voucher,paid_on\nKC-1,recovery,5,V,2025-02-03\n",
                "line 2: project KC-1: this entry would take disbursements below zero"
            ),
            ("project_code,kind,amount,voucher,paid_on\nKC-1,payment,5,V,2024-12-31\n", "outside the life of a 2025 project"),
            ("project_code,kind,amount,voucher,paid_on\nKC-1,payment,5,V1,2025-02-03\nKC-1,payment,6,V1,2025-02-04\n", "line 3: voucher V1 is also on line 2"),
            ("year,fund_source,amount\n\"2025,local,5\n", "not closed"),
        ] as [(String, String)])
    func eachBadInputIsNamed(text: String, expected: String) throws {
        let dir = try TemporaryDirectory()
        let replica = try makeReplica(dir)
        _ = try replica.data.importCSV(Self.projectsCSV(count: 1, status: "approved"))  // KC-1 with 500001 VND requested
        let before = try outboxCount(replica)
        let error = #expect(throws: ImportRejection.self) { try replica.data.importCSV(text) }
        #expect(error?.problems.joined(separator: "\n").contains(expected) == true, "\(error?.problems ?? [])")
        #expect(try outboxCount(replica) == before)
    }
}
