import Foundation
import SyncCore
import SyncTesting
import Testing

@testable import Replica

@Suite struct ValidationTests {
    @Test func projectInputIsChecked() throws {
        let dir = try TemporaryDirectory()
        let replica = try makeReplica(dir)
        var p = sampleProject()
        p.category = "NOPE"
        #expect(try message { try replica.data.addProject(p) }.contains("unknown activity category 'NOPE'"))
        p = sampleProject()
        p.requestedSupport = -5
        #expect(try message { try replica.data.addProject(p) }.contains("must be more than 0"))
        p = sampleProject()
        p.requestedSupport = p.totalCost + 1
        #expect(try message { try replica.data.addProject(p) }.contains("more than the total cost"))
        p = sampleProject()
        p.province = "99"
        #expect(try message { try replica.data.addProject(p) }.contains("is not a province code"))
        p = sampleProject()
        p.year = 1990
        #expect(try message { try replica.data.addProject(p) }.contains("out of range"))
        // A former province (77, merged into 79) is accepted on historic records.
        p = sampleProject("KC-77")
        p.province = "77"
        _ = try replica.data.addProject(p)
        _ = try replica.data.addProject(sampleProject("KC-02"))
        #expect(try message { try replica.data.addProject(sampleProject("KC-02")) }.contains("already used"))
        #expect(try replica.data.count(.project) == 2)
    }

    @Test func disbursementsStayWithinSupportAndVouchersAreUnique() throws {
        let dir = try TemporaryDirectory()
        let replica = try makeReplica(dir)
        try replica.data.addProject(sampleProject())  // requested 300 m; approved locally with no amount, so 300 m is the limit
        try replica.data.approveLocally("KC-01")
        try replica.data.addDisbursement(NewDisbursement(project: "KC-01", kind: .advance, amount: 200_000_000, voucher: "KB-1", paidOn: "2025-03-01"))
        #expect(
            try message {
                try replica.data.addDisbursement(NewDisbursement(project: "KC-01", kind: .payment, amount: 100_000_001, voucher: "KB-2", paidOn: "2025-04-01"))
            }.contains("past its requested support"))
        #expect(
            try message {
                try replica.data.addDisbursement(NewDisbursement(project: "KC-01", kind: .payment, amount: 1, voucher: "KB-1", paidOn: "2025-04-01"))
            }.contains("already recorded"))
        // As the centre compares vouchers: in lower case, without spaces.
        #expect(
            try message {
                try replica.data.addDisbursement(NewDisbursement(project: "KC-01", kind: .payment, amount: 1, voucher: "kb-1 ", paidOn: "2025-04-01"))
            }.contains("already recorded"))
        #expect(
            try message {
                try replica.data.addDisbursement(NewDisbursement(project: "KC-01", kind: .payment, amount: 1, voucher: nil, paidOn: "2025-02-30"))
            }.contains("not a date"))
        #expect(
            try message {
                try replica.data.addDisbursement(NewDisbursement(project: "nope", kind: .payment, amount: 1, voucher: nil, paidOn: "2025-02-03"))
            }.contains("no project"))
        #expect(
            try message {
                try replica.data.addDisbursement(NewDisbursement(project: "KC-01", kind: .payment, amount: 0, voucher: nil, paidOn: "2025-02-03"))
            }.contains("more than 0"))
        // A recovery frees room for a later payment.
        try replica.data.addDisbursement(NewDisbursement(project: "KC-01", kind: .recovery, amount: 50_000_000, voucher: "KB-3", paidOn: "2025-05-01"))
        try replica.data.addDisbursement(NewDisbursement(project: "KC-01", kind: .payment, amount: 150_000_000, voucher: "KB-4", paidOn: "2025-06-01"))
        #expect(try replica.data.projects().first?.disbursed == 300_000_000)
        #expect(try replica.data.count(.disbursement) == 3)
        // By date as the centre judges it: a recovery returns what was paid before its date, and
        // a payment dated before a recovery counts through the days between.
        #expect(
            try message {
                try replica.data.addDisbursement(NewDisbursement(project: "KC-01", kind: .recovery, amount: 1, voucher: "KB-5", paidOn: "2025-02-01"))
            }.contains("as of 2025-02-01 below zero"))
        try replica.data.addDisbursement(NewDisbursement(project: "KC-01", kind: .recovery, amount: 300_000_000, voucher: "KB-6", paidOn: "2025-06-01"))
        #expect(
            try message {
                try replica.data.addDisbursement(NewDisbursement(project: "KC-01", kind: .payment, amount: 150_000_000, voucher: "KB-7", paidOn: "2025-04-01"))
            }.contains("as of 2025-04-01 to 350000000 VND"))
        try replica.data.addDisbursement(NewDisbursement(project: "KC-01", kind: .payment, amount: 300_000_000, voucher: "KB-7", paidOn: "2025-06-02"))
        #expect(try replica.data.count(.disbursement) == 5 && replica.data.projects().first?.disbursed == 300_000_000)
    }

    /// Text the centre would refuse (too long for its field, or holding U+0000) is refused by the
    /// office's commands and importer before it is written, by the same SyncCore rules: written,
    /// it would make a changeset the centre refuses whole, and every later change would wait.
    @Test func textTheCentreWouldRefuseIsNeverWritten() throws {
        let dir = try TemporaryDirectory()
        let replica = try makeReplica(dir)
        var p = sampleProject()
        p.name = String(repeating: "ư", count: ValueRules.maxLongText + 1)
        #expect(try message { try replica.data.addProject(p) }.contains("name is 2001 characters long; at most 2000 are allowed"))
        #expect(
            try message { try replica.data.addPlanLine(year: 2025, fundSource: .local, amount: 5, note: String(repeating: "n", count: 2_001)) }.contains(
                "note is 2001"))
        #expect(try replica.data.count(.project) == 0 && replica.data.count(.planLine) == 0 && replica.data.count(.projectEvent) == 0)
        #expect(try replica.pendingSummary().changes == 0)

        // The longest values kept are kept whole: 2,000 characters of 2 bytes each.
        p = sampleProject()
        p.name = String(repeating: "ư", count: ValueRules.maxLongText)
        try replica.data.addProject(p)
        let pending = try replica.pendingSummary().changes
        #expect(try message { try replica.data.updateProject("KC-01", ProjectUpdate(name: p.name + "x")) }.hasPrefix("project KC-01 (01"))
        #expect(try message { try replica.data.updateProject("KC-01", ProjectUpdate(name: p.name + "x")) }.contains("): name is 2001 characters long"))
        #expect(try replica.data.projects().first?.name == p.name)
        #expect(try replica.pendingSummary().changes == pending)

        // A file with such a row goes in not at all, naming its line.
        let header = "code,name,category,fund_source,year,total_cost,requested_support,beneficiary\n"
        let rejected = #expect(throws: ImportRejection.self) {
            try replica.data.importCSV(
                header + "KC-02,Một,MH_TRINHDIEN,local,2025,400,100,Hộ A\n"
                    + "KC-03,Hai,MH_TRINHDIEN,local,2025,400,100,\(String(repeating: "b", count: 2_001))\n")
        }
        #expect(rejected?.problems == ["line 3: beneficiary is 2001 characters long; at most 2000 are allowed"])
        // A file is the one way a U+0000 reaches a command (arguments cannot hold one).
        let nul = #expect(throws: ImportRejection.self) {
            try replica.data.importCSV(header + "KC-04,Bốn,MH_TRINHDIEN,local,2025,400,100,Hộ\u{0}B\n")
        }
        #expect(nul?.problems == ["line 2: beneficiary holds the character U+0000 (NUL), which no field may hold"])
        // Nor control characters that drive a terminal (a code printed on the centre's listings
        // drew another office's project there, round 12); a name keeps its line breaks.
        let escape = #expect(throws: ImportRejection.self) {
            try replica.data.importCSV(header + "\"KC-05\u{1B}[2K\r80\",Năm,MH_TRINHDIEN,local,2025,400,100,Hộ E\n")
        }
        #expect(
            escape?.problems == [
                "line 2: code holds the control character U+001B, which no one-line field may hold (line breaks only in a name, beneficiary or note): type it again without"
            ])
        try replica.data.importCSV(header + "KC-06,\"Sáu\ndòng hai\",MH_TRINHDIEN,local,2025,400,100,Hộ F\n")
        #expect(try replica.data.count(.project) == 2)
        #expect(ValueRules.textProblem("voucher", "KB\u{202E}1") != nil && ValueRules.textProblem("note", "a\tb\nc") == nil)
        // Codes: Vietnamese letters yes, Latin look-alikes of them no (round 14).
        #expect(ValueRules.codeProblem("ĐN-Ướt.2025/01_a") == nil)
        for lookalike in ["\u{D0}N-01", "HC\u{1C0}-01", "\u{1B1}T-01", "H\u{131}-01", "HUE\u{0301}-01"] {
            #expect(ValueRules.codeProblem(lookalike) != nil, "\(lookalike)")
        }
        // Vouchers: the characters of a code and spaces; no invisible or look-alike ones (round 15),
        // refused by the office's commands before the centre sees them.
        #expect(ValueRules.problem(.disbursement, "voucher", .text("KB 2025/001-Đ")) == nil)
        for lookalike in ["KB-2025-001\u{200B}", "KB\u{2010}2025\u{2010}001", "\u{41A}B-1", "KB\u{A0}1"] {
            #expect(ValueRules.problem(.disbursement, "voucher", .text(lookalike)) != nil, "\(lookalike)")
        }
        _ = try replica.data.addProject(
            NewProject(
                code: "KC-V", name: "Chứng từ", category: "MH_TRINHDIEN", fundSource: .local, year: 2025, totalCost: 400_000_000,
                requestedSupport: 100_000_000))
        for step: ProjectStatus in [.submitted, .appraisedLocally, .approved] { try replica.data.setProjectStatus("KC-V", to: step) }
        let refused = try message {
            try replica.data.addDisbursement(
                NewDisbursement(project: "KC-V", kind: .payment, amount: 1_000_000, voucher: "KB\u{2011}1", paidOn: "2025-09-01"))
        }
        #expect(refused.contains("U+2011"))
    }

    func message(_ body: () throws -> some Any) throws -> String {
        do {
            _ = try body()
        } catch let error as ReplicaError {
            #expect(error.code == .invalidInput)
            #expect(error.hint != nil, "every input error carries a hint: \(error.message)")
            return error.message
        }
        Issue.record("expected an input error")
        return ""
    }
}

@Suite struct SupportCapTests {
    @Test func supportAboveTheCapInForceIsRefused() throws {
        let dir = try TemporaryDirectory()
        let replica = try makeReplica(dir)
        var p = sampleProject("QG-1")
        p.fundSource = .national
        p.totalCost = 1_000_000_000
        p.requestedSupport = 300_000_001  // just over 30 % of the cost
        let error = #expect(throws: ReplicaError.self) { try replica.data.addProject(p) }
        #expect(error?.message.contains("at most 30 % of the total cost") == true)
        p.totalCost = 5_000_000_000
        p.requestedSupport = 1_200_000_000  // 24 %, but over 1 bn
        let amount = #expect(throws: ReplicaError.self) { try replica.data.addProject(p) }
        #expect(amount?.message.contains("at most 1000000000 VND") == true)
        p.requestedSupport = 1_000_000_000
        _ = try replica.data.addProject(p)
        // Local-fund projects of the same category have no cap until the province sets one.
        var local = sampleProject("DP-1")
        local.totalCost = 1_000_000_000
        local.requestedSupport = 900_000_000
        _ = try replica.data.addProject(local)
        // The same rule applies to imports.
        let rejected = #expect(throws: ImportRejection.self) {
            try replica.data.importCSV("code,name,category,fund_source,year,total_cost,requested_support\nQG-2,X,MH_TRINHDIEN,national,2025,100,31\n")
        }
        #expect(rejected?.problems.first?.contains("line 2: support above the cap") == true)
    }
}

@Suite struct ProjectEditTests {
    /// A national project's proposal is the centre's once the office sends it there: the office's
    /// commands refuse to change it (the centre would hold the change as a conflict), and say whom to ask.
    @Test func theProposalOfANationalProjectWithTheCentreIsNotEdited() throws {
        let dir = try TemporaryDirectory()
        let replica = try makeReplica(dir)
        var national = sampleProject("QG-1")
        national.fundSource = .national
        national.requestedSupport = 200_000_000
        try replica.data.addProject(national)
        try replica.data.updateProject("QG-1", ProjectUpdate(totalCost: 1_200_000_000))
        try replica.database.write { db in
            try db.execute(sql: "UPDATE project SET status = 'approved', approved_support = 200000000 WHERE code = 'QG-1'")
        }
        let refused = #expect(throws: ReplicaError.self) { try replica.data.updateProject("QG-1", ProjectUpdate(totalCost: 1_100_000_000)) }
        #expect(refused?.message.contains("total_cost of national project QG-1 cannot change once it is sent to the centre (status approved)") == true)
        #expect(throws: ReplicaError.self) { try replica.data.updateProject("QG-1", ProjectUpdate(name: "x", category: "CDS")) }
        try replica.data.updateProject("QG-1", ProjectUpdate(name: "Tên mới", totalCost: 1_200_000_000))
        #expect(try replica.data.projects().first?.totalCost == 1_200_000_000)
        let header = "code,name,category,fund_source,year,total_cost,requested_support\n"
        let rejected = #expect(throws: ImportRejection.self) {
            try replica.data.importCSV(header + "QG-1,Tên mới,MH_TRINHDIEN,national,2025,1100000000,200000000\n")
        }
        #expect(rejected?.problems.first?.contains("national project QG-1 is with the centre (status approved)") == true)
        #expect(try replica.data.importCSV(header + "QG-1,Tên khác,MH_TRINHDIEN,national,2025,1200000000,200000000\n").updated == 1)
    }

    @Test func updatesAreCheckedLikeEntryAndCaptured() throws {
        let dir = try TemporaryDirectory()
        let replica = try makeReplica(dir)
        try replica.data.addProject(sampleProject())
        try replica.data.updateProject("KC-01", ProjectUpdate(name: "Tên mới", requestedSupport: 400_000_000))
        let p = try #require(try replica.data.projects().first)
        #expect(p.name == "Tên mới" && p.requestedSupport == 400_000_000 && p.totalCost == 1_000_000_000)
        let cs = try #require(try replica.nextChangeset())
        #expect(cs.changes.filter { $0.table == .project }.count == 1)  // insert and update coalesced into one whole-row change
        #expect(cs.changes.filter { $0.table == .projectEvent }.compactMap { $0.fields["kind"]?.text }.sorted() == ["created", "updated"])
        #expect(throws: ReplicaError.self) { try replica.data.updateProject("KC-01", ProjectUpdate(requestedSupport: 2_000_000_000)) }
        #expect(throws: ReplicaError.self) { try replica.data.updateProject("KC-01", ProjectUpdate(category: "NOPE")) }
        #expect(throws: ReplicaError.self) { try replica.data.updateProject("KC-01", ProjectUpdate()) }
        #expect(throws: ReplicaError.self) { try replica.data.updateProject("NONE", ProjectUpdate(name: "x")) }
        try replica.data.approveLocally("KC-01")
        try replica.data.addDisbursement(NewDisbursement(project: "KC-01", kind: .advance, amount: 100, voucher: "V1", paidOn: "2025-01-02"))
        #expect(try replica.data.ledger("KC-01").map(\.amount) == [100])
        try replica.data.addPlanLine(year: 2025, fundSource: .local, amount: 5, note: "n")
        #expect(try replica.data.planLines().map(\.amount) == [5])
    }
}
