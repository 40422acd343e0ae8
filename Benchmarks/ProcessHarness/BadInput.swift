import Foundation
import GRDB
import Replica
import SyncAgent
import SyncCore
import Synchronization
import Transport
import WireFormat

/// Generated bad input: requests to every endpoint, CSV files and configuration files.
public enum BadInput {
    /// What in the centre's store a refused request must not change: counts, the change log's
    /// position, the office chains, and a hash of every record and history row (this process's).
    public static func fingerprint(_ path: String) throws -> [Int64] {
        let queue = try DatabaseQueue(
            path: path,
            configuration: {
                var c = Configuration()
                c.readonly = true
                return c
            }())
        defer { try? queue.close() }
        return try queue.read { db in
            [
                try Int64.fetchOne(db, sql: "SELECT count(*) FROM record") ?? -1,
                try Int64.fetchOne(db, sql: "SELECT coalesce(max(seq), 0) FROM record") ?? -1,
                try Int64.fetchOne(db, sql: "SELECT count(*) FROM changeset") ?? -1,
                try Int64.fetchOne(db, sql: "SELECT count(*) FROM history") ?? -1,
                try Int64.fetchOne(db, sql: "SELECT sum(last_sequence) FROM office") ?? -1,
                try contents(db, "SELECT tbl, id, office, fields, clocks, deleted_at, held, seq FROM record ORDER BY tbl, id"),
                try contents(db, "SELECT tbl, id, hlc, op, fields FROM history ORDER BY tbl, id, hlc"),
                try contents(db, "SELECT code, token_hash, revoked_at, last_sequence, last_hash, merged_into FROM office ORDER BY code"),
            ]
        }
    }

    static func contents(_ db: Database, _ sql: String) throws -> Int64 {
        var hasher = Hasher()
        let rows = try Row.fetchCursor(db, sql: sql)
        while let row = try rows.next() { hasher.combine(row.description) }
        return Int64(hasher.finalize())
    }

    static let nasty: [String] = [
        "'; DROP TABLE record; --", "\" OR 1=1 --", "Robert'); DELETE FROM office;--", "../../etc/passwd", "%00", "\u{0}",
        String(repeating: "A", count: 70_000), "𝕏🏭", "\u{202E}gnp.exe", "NaN", "-0", "1e309", "0x7fffffffffffffff",
    ]
    static let numbers: [String] = [
        "9223372036854775808", "-9223372036854775809", "1.5", "-1", "0", "1e3", "99999999999999999999999", "true", "null", "\"12\"",
    ]

    /// Another office's records a forged changeset may point at: ids only, as a thief would guess them.
    public struct Foreign: Sendable {
        public var project: String
        public var program: String
        public init(project: String, program: String) {
            self.project = project
            self.program = program
        }
    }

    /// Registers office `code` with a project and a programme synced to the centre, for forged
    /// changesets of another office to point at.
    public static func anotherOffice(_ code: String, central: CentralProcess) async throws -> Foreign {
        let folder = try OfficeFolder.make(code, central: central, name: "bad-input-office-\(code)")
        let replica = try Replica.open(at: folder.replicaPath)
        let program = try replica.data.addProgram(NewProgram(code: "CT-\(code)", name: "Chương trình", startYear: 2025, endYear: 2030))
        let project = try replica.data.addProject(
            NewProject(
                code: "DA-\(code)", name: "Dự án", category: "MH_TRINHDIEN", fundSource: .local,
                year: 2025, totalCost: 400_000_000, requestedSupport: 100_000_000))
        try Harness.run("promo-sync", ["sync", "--data-dir", folder.directory])
        return Foreign(project: project.rawValue, program: program.rawValue)
    }

    /// A push with one defect, and the refusal it must get: the status and the centre's code.
    public struct BadPush: Sendable {
        public var name: String
        public var body: Data
        public var status: Int
        public var code: String
    }

    /// The number of push defects ``badPush(kind:office:next:head:foreign:)`` makes.
    public static let pushKinds = 23

    /// A changeset body with one defect, chosen by `kind`. Every defect that a well-formed body can
    /// carry is built on a changeset with a correct hash, chained onto the office's head (`next`,
    /// `head`), so it reaches the check it is named for: forged writers and owners reach the trust
    /// boundary, values out of bounds the domain rules, a gap the chain check.
    public static func badPush(kind: Int, office: String, next: Int64, head: String, foreign: Foreign?) -> BadPush {
        let me = OfficeCode(unchecked: office)
        let stamp = HLCTimestamp(milliseconds: 1_759_276_800_000, counter: 0, node: office)
        func plan(_ fields: [String: FieldValue] = [:], node: String? = nil) -> Change {
            var all: [String: FieldValue] = [
                "office": .text(office), "year": .integer(2025), "fund_source": .text("local"), "amount": .integer(5), "note": .null,
            ]
            all.merge(fields) { _, new in new }
            return Change(
                table: .planLine, id: RowID.make(), op: .upsert,
                hlc: node.map { HLCTimestamp(milliseconds: stamp.milliseconds, counter: 0, node: $0) } ?? stamp,
                fields: all)
        }
        func project(program: String?) -> Change {
            Change(
                table: .project, id: RowID.make(), op: .upsert, hlc: stamp,
                fields: [
                    "office": .text(office), "province": .text(office), "code": .text("F-\(UUID().uuidString.prefix(6))"), "name": .text("Dự án"),
                    "category": .text("MH_TRINHDIEN"), "fund_source": .text("local"), "year": .integer(2025), "total_cost": .integer(4_000),
                    "requested_support": .integer(1_000), "status": .text("draft"), "program_id": program.map { .text($0) } ?? .null,
                ])
        }
        func payment(project: String) -> Change {
            Change(
                table: .disbursement, id: RowID.make(), op: .upsert, hlc: stamp,
                fields: [
                    "office": .text(office), "project_id": .text(project), "kind": .text("payment"), "amount": .integer(1_000),
                    "voucher": .text("KB-X"), "paid_on": .text("2025-09-01"),
                ])
        }
        /// A well-formed push of `changes` with a correct hash, its JSON text edited by `edit`.
        func valid(_ changes: [Change], sequence: Int64? = nil, edit: (String) -> String = { $0 }) -> Data {
            let changeset = Changeset(office: me, sequence: ChangesetSequence(sequence ?? next), previousHash: head, changes: changes)
            return Data(edit(String(decoding: PushRequest(changeset: changeset).jsonData(), as: UTF8.self)).utf8)
        }
        func bad(_ name: String, _ body: Data, _ status: Int, _ code: String) -> BadPush { BadPush(name: name, body: body, status: status, code: code) }
        switch kind % pushKinds {
        case 0: return bad("truncated JSON", Data("{\"changeset\":".utf8), 400, "bad_request")
        case 1: return bad("changes not a list", Data(#"{"changeset":{"changes":"many"},"protocolVersion":1}"#.utf8), 400, "bad_request")
        case 2:
            return bad(
                "unknown protocol version", valid([plan()]) { $0.replacingOccurrences(of: "\"protocolVersion\":1", with: "\"protocolVersion\":99") },
                426, "upgrade_centre")
        case 3:
            // A number the wire cannot hold is refused by the reader; one it can hold (or a null,
            // or text) by the field's type and bounds: both are 400.
            let number = numbers.randomElement()!
            let value: FieldValue? = number == "null" ? .null : number == "\"12\"" ? .text("12") : Int64(number).map(FieldValue.integer)
            let body =
                value.map { valid([plan(["amount": $0])]) }
                ?? valid([plan(["amount": .integer(424_242)])]) { $0.replacingOccurrences(of: "424242", with: number) }
            return bad("an amount of the wrong form", body, 400, "bad_request")
        case 4:
            return bad(
                "body not matching its hash", valid([plan(["amount": .integer(5)])]) { $0.replacingOccurrences(of: "\"amount\":5", with: "\"amount\":6") },
                422, "broken_chain")
        case 5:
            return bad(
                "unknown member", valid([plan()]) { $0.replacingOccurrences(of: "\"changeset\":{", with: "\"changeset\":{\"surprise\":1,") },
                400, "bad_request")
        case 6: return bad("unknown table", valid([plan()]) { $0.replacingOccurrences(of: "\"plan_line\"", with: "\"office\"") }, 400, "bad_request")
        case 7: return bad("unknown operation", valid([plan()]) { $0.replacingOccurrences(of: "\"upsert\"", with: "\"truncate\"") }, 400, "bad_request")
        case 8:
            let change = plan()
            return bad("malformed row id", valid([change]) { $0.replacingOccurrences(of: change.id.rawValue, with: "not-a-uuid") }, 400, "bad_request")
        case 9: return bad("row naming another office", valid([plan(["office": .text(office == "79" ? "80" : "79")])]), 403, "forbidden_writer")
        case 10: return bad("negative sequence", valid([plan()], sequence: -4), 400, "bad_request")
        case 11: return bad("invalid UTF-8", Data([0x7B, 0x22, 0xFF, 0xFE, 0x22, 0x3A, 0x31, 0x7D]), 400, "bad_request")
        case 12: return bad("a gap in the chain", valid([plan()], sequence: next + 5), 409, "sequence_gap")
        case 13: return bad("too many changes", valid((0...WireProtocol.maxChangesPerChangeset).map { _ in plan() }), 413, "too_many_changes")
        case 14: return bad("body over the limit", Data(repeating: 0x20, count: 33_554_433), 413, "body_too_large")
        case 15:
            return bad(
                "wrong JSON types", valid([plan(["amount": .integer(424_242)])]) { $0.replacingOccurrences(of: "424242", with: #"{"nested":1}"#) },
                400, "bad_request")
        case 16: return bad("clock stamped by the centre", valid([plan(node: "central")]), 403, "forbidden_writer")
        case 17: return bad("clock stamped by another office", valid([plan(node: office == "79" ? "80" : "79")]), 403, "forbidden_writer")
        case 18:
            guard let foreign else { return bad("ledger entry on an unknown project", valid([payment(project: RowID.make().rawValue)]), 422, "unknown_parent") }
            return bad("ledger entry on another office's project", valid([payment(project: foreign.project)]), 403, "forbidden_owner")
        case 19:
            guard let foreign else { return bad("project in an unknown programme", valid([project(program: RowID.make().rawValue)]), 422, "unknown_parent") }
            return bad("project in another office's programme", valid([project(program: foreign.program)]), 403, "forbidden_owner")
        case 20: return bad("ledger entry whose project the centre does not know", valid([payment(project: RowID.make().rawValue)]), 422, "unknown_parent")
        case 21: return bad("amount out of bounds", valid([plan(["amount": .integer([-5, 0, Int64.max, .min].randomElement()!)])]), 400, "bad_request")
        default:
            var forged = project(program: nil)
            forged.fields["province"] = .text(office == "79" ? "01" : "79")
            return bad("a province the office may not write", valid([forged]), 400, "bad_request")
        }
    }

    /// What the bad requests got.
    public struct Outcome: Sendable {
        public var total = 0
        public var byStatus: [Int: Int] = [:]
        /// Requests answered other than with a 4xx.
        public var not4xx: [String] = []
        /// Pushes refused with another status or code than the one their defect must get.
        public var wrongRefusal: [String] = []
        /// Pushes by defect, and how many got their own refusal.
        public var pushes: [String: (sent: Int, right: Int)] = [:]
    }

    /// Sends `count` bad requests to every endpoint; pushes carry one defect each on an otherwise
    /// correct changeset (``badPush(kind:office:next:head:foreign:)``) and must get their own refusal.
    public static func requests(url: String, token: String, count: Int, replica: Replica, foreign: Foreign? = nil) async throws -> Outcome {
        let http = HTTPClient()
        let office = try replica.settings().office.rawValue
        let state = try await CentralClient(baseURL: url, token: token, http: http).officeState()
        let next = state.lastSequence.rawValue + 1
        var out = Outcome()
        for i in 0..<count {
            var headers = [("Authorization", "Bearer \(token)"), ("Content-Type", "application/json")]
            let request: HTTPRequest
            let what: String
            var expected: BadPush?
            switch i % 10 {
            case 0, 1, 2, 3, 4:
                // Every defect in turn; the oversized body is sent a few times only (it is large).
                let kind = (i / 10 * 5 + i % 10) % pushKinds
                let push = badPush(kind: kind == 14 && i > 500 ? 0 : kind, office: office, next: next, head: state.lastHash, foreign: foreign)
                what = "push: \(push.name)"
                expected = push
                request = HTTPRequest(method: "POST", url: url + "/v1/changesets", headers: headers, body: push.body)
            case 5:
                let query = [
                    "after=-1", "after=abc", "limit=0", "limit=99999999", "after=1&limit=-5", "after=99999999999999999999",
                    "own_since=x&own_through=1",
                    "limit=\(nasty.randomElement()!.prefix(40).addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")",
                ].randomElement()!
                what = "pull \(query)"
                request = HTTPRequest(method: "GET", url: url + "/v1/changes?" + query, headers: headers)
            case 6:
                let path = ["a/b/c/d/e/f/g", String(repeating: "x/", count: 40)].randomElement()!
                what = "digest \(path.prefix(20))"
                request = HTTPRequest(method: "GET", url: url + "/v1/digest?path=" + path, headers: headers)
            case 7:
                let body = [#"{"paths":"all"}"#, #"{"paths":[1,2]}"#, #"{"paths":["a/b/c/d/e/f/g"]}"#, "{", #"{"table":"plan_line","ids":[5]}"#]
                    .randomElement()!
                what = "digests \(body)"
                request = HTTPRequest(method: "POST", url: url + "/v1/digests", headers: headers, body: Data(body.utf8))
            case 8:
                let body = [
                    #"{"table":"record","ids":["x"]}"#, #"{"table":"plan_line","ids":"x"}"#, #"{"table":"plan_line"}"#, "[]",
                    #"{"table":"plan_line","ids":[\#(Array(repeating: "\"a\"", count: 5_001).joined(separator: ","))]}"#,
                ].randomElement()!
                what = "records \(body.prefix(40))"
                request = HTTPRequest(method: "POST", url: url + "/v1/records", headers: headers, body: Data(body.utf8))
            default:
                headers[0] = (
                    "Authorization",
                    ["Bearer ", "Bearer \(String(token.reversed()))", "Basic abc", "Bearer \(nasty.randomElement()!.prefix(80))"].randomElement()!
                )
                let path = ["/v1/office", "/v1/changes?after=0", "/v1/changesets", "/v1/digest?path="].randomElement()!
                what = "bad token \(path)"
                request = HTTPRequest(
                    method: path == "/v1/changesets" ? "POST" : "GET", url: url + path, headers: headers,
                    body: path == "/v1/changesets" ? badPush(kind: 9, office: office, next: next, head: state.lastHash, foreign: foreign).body : nil)
            }
            out.total += 1
            do {
                let response = try await http.send(request)
                out.byStatus[response.status, default: 0] += 1
                if !(400..<500).contains(response.status) { out.not4xx.append("\(what) → \(response.status)") }
                if let expected {
                    let code = (try? JSONDecoder().decode(ErrorResponse.self, from: response.body))?.error.code
                    let right = response.status == expected.status && code == expected.code
                    out.pushes[expected.name, default: (0, 0)].sent += 1
                    if right {
                        out.pushes[expected.name]!.right += 1
                    } else {
                        out.wrongRefusal.append("\(what): \(response.status) \(code ?? "-"), expected \(expected.status) \(expected.code)")
                    }
                }
            } catch {
                out.byStatus[0, default: 0] += 1
                out.not4xx.append("\(what) → \(error)")
            }
        }
        return out
    }

    public struct Files: CustomStringConvertible {
        public var csv = 0, csvRefused = 0, csvCrashes = 0, replicaUnchanged = true
        public var configs = 0, configsRefused = 0, configsLoaded = 0
        /// Refusals whose message names neither the line nor the key (should be none).
        public var configsUnexplained: [String] = []
        public var description: String { "\(csv) CSV (\(csvRefused) refused, \(csvCrashes) not), \(configs) configs" }
    }

    public static func files(replica: Replica, count: Int) throws -> Files {
        var out = Files()
        let before = try replica.database.read { db in
            [
                try Int.fetchOne(db, sql: "SELECT count(*) FROM plan_line") ?? 0, try Int.fetchOne(db, sql: "SELECT count(*) FROM project") ?? 0,
                try Int.fetchOne(db, sql: "SELECT count(*) FROM disbursement") ?? 0, try Int.fetchOne(db, sql: "SELECT count(*) FROM _sync_outbox") ?? 0,
            ]
        }
        let headers = [
            "code,name,category,fund_source,year,total_cost,requested_support", "year,fund_source,amount",
            "project_code,kind,amount,voucher,paid_on",
        ]
        let good = ["KC-1,Dự án,MH_TRINHDIEN,local,2025,1000000000,300000000", "2025,local,5000000", "KC-1,payment,1000,KB-1,2025-01-02"]
        for i in 0..<count {
            let kind = i % 3
            var lines = [headers[kind]] + Array(repeating: good[kind], count: Int.random(in: 0...3))
            // One defect per file: a free-text column left empty, any other column given a value
            // outside what it accepts.
            var bad = good[kind].split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            let column = Int.random(in: 0..<bad.count)
            let freeText: Set<String> = ["0/0", "0/1", "2/3"]  // code and name of projects, voucher of payments
            bad[column] =
                freeText.contains("\(kind)/\(column)")
                ? ["", "   "].randomElement()!
                : (nasty.filter { $0.count > 1 } + numbers.filter { $0 != "\"12\"" } + ["", "\"unclosed", "2025-02-30", "1,5"]).randomElement()!
            lines.insert(bad.joined(separator: ","), at: Int.random(in: 1...lines.count))
            if i % 17 == 0 { lines[0] += ",colour" }
            out.csv += 1
            do {
                _ = try replica.data.importCSV(lines.joined(separator: "\n") + "\n")
                out.csvCrashes += 1  // a file with a defect must not import
            } catch {
                out.csvRefused += 1
            }
        }
        let after = try replica.database.read { db in
            [
                try Int.fetchOne(db, sql: "SELECT count(*) FROM plan_line") ?? 0, try Int.fetchOne(db, sql: "SELECT count(*) FROM project") ?? 0,
                try Int.fetchOne(db, sql: "SELECT count(*) FROM disbursement") ?? 0, try Int.fetchOne(db, sql: "SELECT count(*) FROM _sync_outbox") ?? 0,
            ]
        }
        out.replicaUnchanged = before == after
        // Configuration files: the example with one line mutated.
        let example = (try? String(contentsOfFile: "config/promo-sync.example.toml", encoding: .utf8)) ?? "[sync]\ninterval_seconds = 30\n"
        let dir = try Harness.temporaryDirectory("chaos-config")
        for i in 0..<max(100, count / 2) {
            var lines = example.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            let at = Int.random(in: 0..<lines.count)
            let mutation = [
                "= = =", "[sync", "interval_seconds = -5", "interval_seconds = \"soon\"", "page_size = 99999999", "unknown_key = 1",
                "level = \"loud\"", "url = 5", "\u{0}", "max_backoff_seconds = 1.5", "[[sync]]", "interval_seconds = 9999999999999999999999",
            ].randomElement()!
            if Bool.random() { lines[at] = mutation } else { lines.insert(mutation, at: at) }
            let path = dir + "/c\(i).toml"
            try lines.joined(separator: "\n").write(toFile: path, atomically: true, encoding: .utf8)
            // Its owner's only whatever the umask, so that only the mutated line can be refused.
            try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: path)
            out.configs += 1
            do {
                _ = try OfficeConfiguration.load(path: path, environment: [:])
                out.configsLoaded += 1
            } catch {
                out.configsRefused += 1
                // The message says where: the line, or the setting by its section and key.
                let message = error.message
                let named = message.contains("line ") || OfficeConfiguration.keys.contains { message.contains($0) }
                if !named { out.configsUnexplained.append("\(mutation.debugDescription): \(message)") }
            }
        }
        return out
    }
}

/// Several writers at once while the daemon syncs.
public enum Concurrent {
    public struct Result {
        public var commands = 0, shell = 0, inProcess = 0, expected = 0
        public var failures: [String] = []
        public var lockedMessages = 0
    }

    public static func run(folder: OfficeFolder) throws -> Result {
        let shared = Mutex(Result())
        func record(_ change: (inout Result) -> Void) { shared.withLock { change(&$0) } }
        let group = DispatchGroup()
        for stream in 0..<4 {
            group.enter()
            Thread {
                for i in 0..<25 {
                    let errFile = folder.directory + "/cmd-\(stream).err"
                    do {
                        let p = try Harness.start(
                            "promo-sync",
                            ["plan", "add", "--data-dir", folder.directory, "--year", "2025", "--fund", "local", "--amount", String(stream * 1_000 + i + 1)],
                            stdout: true, stderrFile: errFile)
                        p.waitUntilExit()
                        let err = (try? String(contentsOfFile: errFile, encoding: .utf8)) ?? ""
                        shared.withLock { r in
                            r.commands += 1
                            if p.terminationStatus == 0 { r.expected += 1 } else { r.failures.append(err) }
                            if err.lowercased().contains("locked") { r.lockedMessages += 1 }
                        }
                    } catch {
                        shared.withLock { $0.failures.append("\(error)") }
                    }
                }
                group.leave()
            }.start()
        }
        group.enter()
        Thread {
            for i in 0..<100 {
                let p = Process()
                p.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
                p.arguments = [
                    "-cmd", ".timeout 10000", folder.replicaPath,
                    "INSERT INTO plan_line(id, office, year, fund_source, amount, note) VALUES ('\(RowID.make().rawValue)', '91', 2024, 'national', \(i + 1), 'shell')",
                ]
                let pipe = Pipe()
                p.standardError = pipe
                try? p.run()
                p.waitUntilExit()
                let err = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                shared.withLock { r in
                    r.shell += 1
                    if p.terminationStatus == 0 { r.expected += 1 } else { r.failures.append("sqlite3: \(err)") }
                    if err.lowercased().contains("locked") { r.lockedMessages += 1 }
                }
            }
            group.leave()
        }.start()
        group.enter()
        Thread {
            do {
                let replica = try Replica.open(at: folder.replicaPath)
                for i in 0..<100 {
                    try replica.data.addPlanLine(year: 2023, fundSource: .local, amount: Int64(i + 1), note: "program")
                    shared.withLock {
                        $0.inProcess += 1
                        $0.expected += 1
                    }
                }
            } catch {
                shared.withLock { r in
                    r.failures.append("in-process: \(error)")
                    if "\(error)".contains("locked") { r.lockedMessages += 1 }
                }
            }
            group.leave()
        }.start()
        group.wait()
        return shared.withLock { $0 }
    }
}
