import Foundation
import GRDB
import Replica
import SyncAgent
import SyncCore
import Synchronization
import Transport

/// Generated bad input: requests to every endpoint, CSV files and configuration files.
public enum BadInput {
    /// What in the centre's store a refused request must not change.
    public static func fingerprint(_ path: String) throws -> [Int64] {
        let queue = try DatabaseQueue(path: path, configuration: { var c = Configuration(); c.readonly = true; return c }())
        defer { try? queue.close() }
        return try queue.read { db in
            [try Int64.fetchOne(db, sql: "SELECT count(*) FROM record") ?? -1,
             try Int64.fetchOne(db, sql: "SELECT coalesce(max(seq), 0) FROM record") ?? -1,
             try Int64.fetchOne(db, sql: "SELECT count(*) FROM changeset") ?? -1,
             try Int64.fetchOne(db, sql: "SELECT count(*) FROM history") ?? -1,
             try Int64.fetchOne(db, sql: "SELECT sum(last_sequence) FROM office") ?? -1]
        }
    }

    static let nasty: [String] = [
        "'; DROP TABLE record; --", "\" OR 1=1 --", "Robert'); DELETE FROM office;--", "../../etc/passwd", "%00", "\u{0}",
        String(repeating: "A", count: 70_000), "𝕏🏭", "\u{202E}gnp.exe", "NaN", "-0", "1e309", "0x7fffffffffffffff",
    ]
    static let numbers: [String] = ["9223372036854775808", "-9223372036854775809", "1.5", "-1", "0", "1e3", "99999999999999999999999", "true", "null", "\"12\""]

    /// A changeset body with one defect, chosen by `kind`.
    public static func badPush(kind: Int, office: String, sequence: Int64) -> Data {
        let id = RowID.make().rawValue
        let hlc = "0000192f1a47b3c-0000-\(office)"
        func change(_ fields: String, table: String = "plan_line", op: String = "upsert", changeID: String? = nil) -> String {
            #"{"fields":\#(fields),"hlc":"\#(hlc)","id":"\#(changeID ?? id)","op":"\#(op)","table":"\#(table)"}"#
        }
        func push(_ changes: String, hash: String = String(repeating: "a", count: 64), seq: String? = nil, version: String = "1", extra: String = "") -> Data {
            Data(#"{"changeset":{"changes":[\#(changes)],"hash":"\#(hash)","office":"\#(office)","previousHash":"\#(String(repeating: "0", count: 64))","sequence":\#(seq ?? String(sequence))\#(extra)},"protocolVersion":\#(version)}"#.utf8)
        }
        let goodFields = #"{"amount":5,"fund_source":"local","note":null,"office":"\#(office)","year":2025}"#
        switch kind % 16 {
        case 0: return Data("{\"changeset\":".utf8)  // truncated
        case 1: return Data(#"{"changeset":{"changes":"many"},"protocolVersion":1}"#.utf8)
        case 2: return push(change(goodFields), version: "99")
        case 3: return push(change(#"{"amount":\#(numbers.randomElement()!),"fund_source":"local","note":null,"office":"\#(office)","year":2025}"#))
        case 4: return push(change(#"{"amount":5,"fund_source":"local","note":"\#(nasty.randomElement()!.replacingOccurrences(of: "\"", with: "\\\""))","office":"\#(office)","year":2025}"#))  // broken hash
        case 5: return push(change(goodFields), extra: #","surprise":1"#)
        case 6: return push(change(goodFields, table: "office"))
        case 7: return push(change(goodFields, op: "truncate"))
        case 8: return push(change(goodFields, changeID: "not-a-uuid"))
        case 9: return push(change(#"{"amount":5,"fund_source":"local","note":null,"office":"79","year":2025}"#))  // another office
        case 10: return push(change(goodFields), seq: "-4")
        case 11: return Data([0x7B, 0x22, 0xFF, 0xFE, 0x22, 0x3A, 0x31, 0x7D])  // invalid UTF-8
        case 12: return push(change(goodFields), seq: "\(sequence + 5)")  // a gap, and a wrong hash
        case 13: return push(Array(repeating: change(goodFields), count: 5_001).joined(separator: ","))  // too many changes
        case 14: return Data(repeating: 0x20, count: 33_554_433)  // larger than the body limit
        default: return push(change(#"{"amount":{"nested":1},"fund_source":[],"office":"\#(office)","year":"2025"}"#))
        }
    }

    public static func requests(url: String, token: String, count: Int, replica: Replica) async throws -> (total: Int, byStatus: [Int: Int], not4xx: [String]) {
        let http = HTTPClient()
        let office = try replica.settings().office.rawValue
        let sequence = try replica.syncPosition().lastAcked + 1
        var byStatus: [Int: Int] = [:]
        var not4xx: [String] = []
        for i in 0..<count {
            var headers = [("Authorization", "Bearer \(token)"), ("Content-Type", "application/json")]
            let request: HTTPRequest
            let what: String
            switch i % 10 {
            case 0, 1, 2, 3, 4:
                let kind = (i / 10) % 16
                // The oversized body is sent a few times only (it is large).
                let k = kind == 14 && i > 500 ? 0 : kind
                what = "push kind \(k)"
                request = HTTPRequest(method: "POST", url: url + "/v1/changesets", headers: headers, body: badPush(kind: k, office: office, sequence: sequence))
            case 5:
                let query = ["after=-1", "after=abc", "limit=0", "limit=99999999", "after=1&limit=-5", "after=99999999999999999999",
                             "own_since=x&own_through=1", "limit=\(nasty.randomElement()!.prefix(40).addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")"].randomElement()!
                what = "pull \(query)"
                request = HTTPRequest(method: "GET", url: url + "/v1/changes?" + query, headers: headers)
            case 6:
                let path = ["a/b/c/d/e/f/g", String(repeating: "x/", count: 40)].randomElement()!
                what = "digest \(path.prefix(20))"
                request = HTTPRequest(method: "GET", url: url + "/v1/digest?path=" + path, headers: headers)
            case 7:
                let body = [#"{"paths":"all"}"#, #"{"paths":[1,2]}"#, #"{"paths":["a/b/c/d/e/f/g"]}"#, "{", #"{"table":"plan_line","ids":[5]}"#].randomElement()!
                what = "digests \(body)"
                request = HTTPRequest(method: "POST", url: url + "/v1/digests", headers: headers, body: Data(body.utf8))
            case 8:
                let body = [#"{"table":"record","ids":["x"]}"#, #"{"table":"plan_line","ids":"x"}"#, #"{"table":"plan_line"}"#, "[]",
                            #"{"table":"plan_line","ids":[\#(Array(repeating: "\"a\"", count: 5_001).joined(separator: ","))]}"#].randomElement()!
                what = "records \(body.prefix(40))"
                request = HTTPRequest(method: "POST", url: url + "/v1/records", headers: headers, body: Data(body.utf8))
            default:
                headers[0] = ("Authorization", ["Bearer ", "Bearer \(String(token.reversed()))", "Basic abc", "Bearer \(nasty.randomElement()!.prefix(80))"].randomElement()!)
                let path = ["/v1/office", "/v1/changes?after=0", "/v1/changesets", "/v1/digest?path="].randomElement()!
                what = "bad token \(path)"
                request = HTTPRequest(method: path == "/v1/changesets" ? "POST" : "GET", url: url + path, headers: headers,
                                      body: path == "/v1/changesets" ? badPush(kind: 4, office: office, sequence: sequence) : nil)
            }
            do {
                let response = try await http.send(request)
                byStatus[response.status, default: 0] += 1
                if !(400..<500).contains(response.status) { not4xx.append("\(what) → \(response.status)") }
            } catch {
                byStatus[0, default: 0] += 1
                not4xx.append("\(what) → \(error)")
            }
        }
        return (count, byStatus, not4xx)
    }

    public struct Files: CustomStringConvertible {
        public var csv = 0, csvRefused = 0, csvCrashes = 0, replicaUnchanged = true
        public var configs = 0, configsRefused = 0, configsLoaded = 0
        public var description: String { "\(csv) CSV (\(csvRefused) refused, \(csvCrashes) not), \(configs) configs" }
    }

    public static func files(replica: Replica, count: Int) throws -> Files {
        var out = Files()
        let before = try replica.database.read { db in
            [try Int.fetchOne(db, sql: "SELECT count(*) FROM plan_line") ?? 0, try Int.fetchOne(db, sql: "SELECT count(*) FROM project") ?? 0,
             try Int.fetchOne(db, sql: "SELECT count(*) FROM disbursement") ?? 0, try Int.fetchOne(db, sql: "SELECT count(*) FROM _sync_outbox") ?? 0]
        }
        let headers = ["code,name,category,fund_source,year,total_cost,requested_support", "year,fund_source,amount",
                       "project_code,kind,amount,voucher,paid_on"]
        let good = ["KC-1,Dự án,MH_TRINHDIEN,local,2025,1000000000,300000000", "2025,local,5000000", "KC-1,payment,1000,KB-1,2025-01-02"]
        for i in 0..<count {
            let kind = i % 3
            var lines = [headers[kind]] + Array(repeating: good[kind], count: Int.random(in: 0...3))
            // One defect per file: a free-text column left empty, any other column given a value
            // outside what it accepts.
            var bad = good[kind].split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            let column = Int.random(in: 0..<bad.count)
            let freeText: Set<String> = ["0/0", "0/1", "2/3"]  // code and name of projects, voucher of payments
            bad[column] = freeText.contains("\(kind)/\(column)") ? ["", "   "].randomElement()!
                : (nasty.filter { $0.count > 1 } + numbers.filter { $0 != "\"12\"" } + ["", "\"unclosed", "2025-02-30", "1,5"]).randomElement()!
            lines.insert(bad.joined(separator: ","), at: Int.random(in: 1...lines.count))
            if i % 17 == 0 { lines[0] += ",colour" }
            out.csv += 1
            do {
                _ = try replica.importCSV(lines.joined(separator: "\n") + "\n")
                out.csvCrashes += 1  // a file with a defect must not import
            } catch {
                out.csvRefused += 1
            }
        }
        let after = try replica.database.read { db in
            [try Int.fetchOne(db, sql: "SELECT count(*) FROM plan_line") ?? 0, try Int.fetchOne(db, sql: "SELECT count(*) FROM project") ?? 0,
             try Int.fetchOne(db, sql: "SELECT count(*) FROM disbursement") ?? 0, try Int.fetchOne(db, sql: "SELECT count(*) FROM _sync_outbox") ?? 0]
        }
        out.replicaUnchanged = before == after
        // Configuration files: the example with one line mutated.
        let example = (try? String(contentsOfFile: "config/promo-sync.example.toml", encoding: .utf8)) ?? "[sync]\ninterval_seconds = 30\n"
        let dir = try Harness.temporaryDirectory("chaos-config")
        for i in 0..<max(100, count / 2) {
            var lines = example.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            let at = Int.random(in: 0..<lines.count)
            let mutation = ["= = =", "[sync", "interval_seconds = -5", "interval_seconds = \"soon\"", "page_size = 99999999", "unknown_key = 1",
                            "level = \"loud\"", "url = 5", "\u{0}", "max_backoff_seconds = 1.5", "[[sync]]", "interval_seconds = 9999999999999999999999"].randomElement()!
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
                        let p = try Harness.start("promo-sync", ["plan", "add", "--data-dir", folder.directory, "--year", "2025", "--fund", "local", "--amount", String(stream * 1_000 + i + 1)],
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
                p.arguments = ["-cmd", ".timeout 10000", folder.replicaPath,
                               "INSERT INTO plan_line(id, office, year, fund_source, amount, note) VALUES ('\(RowID.make().rawValue)', '91', 2024, 'national', \(i + 1), 'shell')"]
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
                    try replica.addPlanLine(year: 2023, fundSource: .local, amount: Int64(i + 1), note: "program")
                    shared.withLock { $0.inProcess += 1; $0.expected += 1 }
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
