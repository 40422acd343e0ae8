import CSQLite
import Foundation
import GRDB
import ProcessHarness
import Replica
import SyncCore
import Transport

enum Scenarios {
    // MARK: 1. Capture overhead

    /// Inserts then updates `rows` disbursements in transactions of 1,000 rows, on a replica with
    /// capture on and on the same replica schema with the disbursement triggers dropped. The order
    /// of the two alternates between runs, so a disk that speeds up or slows down during the
    /// benchmark favours neither.
    /// Returns wall-clock and CPU seconds of each.
    static func capture(rows: Int, plainFirst: Bool) throws -> (captured: (wall: Double, cpu: Double), plain: (wall: Double, cpu: Double)) {
        let ids = (0..<rows).map { _ in RowID.make().rawValue }
        func run(plain: Bool) throws -> (wall: Double, cpu: Double) {
            let dir = try Harness.temporaryDirectory("capture")
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let replica = try Replica.create(
                at: dir + "/r.sqlite",
                settings: ReplicaSettings(
                    office: try OfficeCode("79"), centralURL: "http://127.0.0.1:1", tokenFile: dir + "/t"))
            if plain {
                try replica.database.write { db in
                    for suffix in ["id_immutable", "insert", "update", "delete"] { try db.execute(sql: "DROP TRIGGER _sync_disbursement_\(suffix)") }
                }
            }
            return try Harness.wallAndCPUSeconds {
                for start in stride(from: 0, to: rows, by: 1_000) {
                    try replica.database.write { db in
                        let insert = try db.cachedStatement(
                            sql:
                                "INSERT INTO disbursement(id, office, project_id, kind, amount, voucher, paid_on) VALUES (?, '79', 'p', 'payment', ?, ?, '2025-06-01')"
                        )
                        for i in start..<min(rows, start + 1_000) { try insert.execute(arguments: [ids[i], Int64(i + 1), "KB-\(i)"]) }
                    }
                }
                for start in stride(from: 0, to: rows, by: 1_000) {
                    try replica.database.write { db in
                        let update = try db.cachedStatement(sql: "UPDATE disbursement SET amount = amount + 1 WHERE id = ?")
                        for i in start..<min(rows, start + 1_000) { try update.execute(arguments: [ids[i]]) }
                    }
                }
            }
        }
        if plainFirst {
            let plain = try run(plain: true)
            return (try run(plain: false), plain)
        }
        let captured = try run(plain: false)
        return (captured, try run(plain: true))
    }

    // MARK: 2. Push throughput

    /// `changes` plan lines captured at an office, pushed by `promo-sync sync` to a central process.
    /// With `record` (a PostgreSQL cluster's `postgres` database), the store is copied into a new
    /// database there and the centre serves with it as its durable record (`store.postgres_url`).
    struct Push {
        var seconds: Double
        var bytesSent: Int64
        var baseline: Double
        /// The centre's store after the push, in bytes per change pushed (``storage(of:changes:)``).
        var storage: Storage
        /// The baseline's file, in bytes per row.
        var baselineBytesPerRow: Double
    }

    /// What a store holds per change: in all, and by table with its indexes, largest first.
    struct Storage {
        var total: Double
        var byTable: [(table: String, bytes: Double)]
    }

    /// The pages of the SQLite file at `path` (SQLite's `dbstat`), each index counted with its
    /// table, divided by `changes`.
    static func storage(of path: String, changes: Int) throws -> Storage {
        var configuration = Configuration()
        configuration.readonly = true
        let queue = try DatabaseQueue(path: path, configuration: configuration)
        defer { try? queue.close() }
        let rows = try queue.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT coalesce(s.tbl_name, d.name) AS tbl, sum(d.pgsize) AS bytes
                    FROM dbstat d LEFT JOIN sqlite_schema s ON s.name = d.name GROUP BY tbl ORDER BY bytes DESC
                    """)
        }
        let byTable = rows.map { (table: $0["tbl"] as String, bytes: Double($0["bytes"] as Int64) / Double(changes)) }
        return Storage(total: byTable.map(\.bytes).reduce(0, +), byTable: byTable)
    }

    static func push(changes: Int, tls: Bool = false, record: String? = nil) throws -> Push {
        let folder = try Harness.temporaryDirectory("push-central")
        let certificate = tls ? try CentralProcess.makeCertificate(in: folder) : nil
        var central = try CentralProcess(directory: folder, tls: certificate)
        defer { central.stop() }
        let office = try OfficeFolder.make("79", central: central, name: "push-office")
        if let record {
            central.stop()
            let environment = try CentralProcess.durableRecord(directory: folder, url: try newDatabase(record, name: "promo_bench_push"))
            central = try CentralProcess(directory: folder, environment: environment, tls: certificate)
            setenv("PROMO_SYNC_CENTRAL_URL", central.url, 1)
        }
        defer { unsetenv("PROMO_SYNC_CENTRAL_URL") }
        let replica = try Replica.open(at: office.replicaPath)
        try insertPlanLines(replica, count: changes)
        try replica.database.close()
        // The office trusts the centre's certificate as its CA bundle.
        if let certificate { setenv("PROMO_SYNC_TRANSPORT_CA_BUNDLE", certificate.certificate, 1) }
        defer { unsetenv("PROMO_SYNC_TRANSPORT_CA_BUNDLE") }
        let run = try office.timed(["sync"])
        guard run.output.contains("pushed \(changes) changes") else { throw BenchError("sync did not push everything: \(run.output)") }
        let sent = try Replica.open(at: office.replicaPath).counters()["bytes_sent"] ?? 0
        let storage = try storage(of: folder + "/central.sqlite", changes: changes)

        // Baseline, the physical limit: the same rows written to a plain SQLite table in one durable transaction.
        let dir = try Harness.temporaryDirectory("push-baseline")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let pool = try DatabasePool(path: dir + "/plain.sqlite")
        try pool.write { db in
            try db.execute(sql: "CREATE TABLE plan_line(id TEXT PRIMARY KEY, office TEXT, year INTEGER, fund_source TEXT, amount INTEGER, note TEXT) STRICT")
        }
        let baseline = try Harness.seconds {
            try pool.write { db in
                let insert = try db.cachedStatement(sql: "INSERT INTO plan_line VALUES (?, '79', ?, 'local', ?, NULL)")
                for i in 0..<changes { try insert.execute(arguments: [RowID.make().rawValue, 2000 + i % 26, Int64(i + 1)]) }
            }
        }
        try pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)") }
        let baselineBytesPerRow = Double(Harness.fileSize(dir + "/plain.sqlite")) / Double(changes)
        return Push(
            seconds: run.seconds, bytesSent: sent, baseline: baseline, storage: storage, baselineBytesPerRow: baselineBytesPerRow)
    }

    /// A new, empty database `name` (dropped first if a run left it) in the cluster of `admin`
    /// (its `postgres` database's URL); returns its URL.
    static func newDatabase(_ admin: String, name: String) throws -> String {
        for statement in ["DROP DATABASE IF EXISTS \(name) WITH (FORCE)", "CREATE DATABASE \(name)"] {
            guard Harness.runQuiet("/usr/bin/psql", [admin, "-qc", statement]) else { throw BenchError("psql could not run '\(statement)' on \(admin)") }
        }
        return admin.replacingOccurrences(of: "/postgres?", with: "/\(name)?")
    }

    /// The baseline of a durable record: pgbench's simple-update transactions (`-N`) per second
    /// from one client for `seconds`, on a scale-1 database in the same cluster; each is one
    /// durable commit, as each pass of the record is.
    static func pgbenchSimpleUpdate(_ admin: String, seconds: Int = 10) throws -> Double {
        let url = try newDatabase(admin, name: "promo_bench_pgbench")
        guard Harness.runQuiet("/usr/bin/pgbench", ["-i", "-q", "-s", "1", url]) else { throw BenchError("pgbench -i failed on \(url)") }
        guard let output = Harness.systemOutput("/usr/bin/pgbench", ["-N", "-c", "1", "-T", String(seconds), url]),
            let line = output.split(separator: "\n").first(where: { $0.hasPrefix("tps = ") }),
            let tps = Double(line.dropFirst("tps = ".count).prefix { $0 == "." || $0.isNumber })
        else { throw BenchError("pgbench -N gave no rate on \(url)") }
        return tps
    }

    static func insertPlanLines(_ replica: Replica, count: Int, office: String = "79") throws {
        for start in stride(from: 0, to: count, by: 10_000) {
            try replica.database.write { db in
                let insert = try db.cachedStatement(
                    sql: "INSERT INTO plan_line(id, office, year, fund_source, amount, note) VALUES (?, ?, ?, 'local', ?, NULL)")
                for i in start..<min(count, start + 10_000) { try insert.execute(arguments: [RowID.make().rawValue, office, 2000 + i % 26, Int64(i + 1)]) }
            }
        }
    }

    // MARK: 3. Initial sync (and 4. divergence, on the same data)

    /// Writes `rows` plan lines of office 79 straight into a stopped central's store, as if pushed
    /// long ago (the fixture; the pull is what is measured).
    static func seedCentral(directory: String, rows: Int) throws {
        let pool = try DatabasePool(path: directory + "/central.sqlite")
        defer { try? pool.close() }
        try pool.write { db in
            var seq = (try Int64.fetchOne(db, sql: "SELECT max(seq) FROM record") ?? 0) + 1
            let insert = try db.cachedStatement(
                sql: """
                    INSERT INTO record(tbl, id, office, fields, clocks, deleted_at, seq, aggregate, held)
                    VALUES ('plan_line', ?, '79', ?, '{}', NULL, ?, ?, 0)
                    """)
            for i in 0..<rows {
                let id = RowID.make().rawValue
                let fields = #"{"amount":\#(i + 1),"fund_source":"local","note":null,"office":"79","year":\#(2000 + i % 26)}"#
                try insert.execute(arguments: [id, fields, seq, id])
                seq += 1
            }
        }
    }

    struct InitialSync {
        var seconds: Double
        var peakRSS: Int64
        var replicaBytes: Int64
        var copySeconds: Double
        var bulkLoadSeconds: Double
        var office: OfficeFolder
        var central: CentralProcess
    }

    /// Where an interrupted initial sync stood: the cursor its first `sync` had committed when it
    /// was killed, how long that sync had run, and the cursor the second one ended at.
    struct Interruption {
        var killedAt: Int64
        var afterSeconds: Double
        var endedAt: Int64
    }

    /// A fresh office pulls `rows` records with `promo-sync sync`. With `interrupt`, the first sync
    /// is killed (SIGKILL) as soon as it has committed a page, and a second one finishes it. With
    /// `record` (a cluster's `postgres` database), the seeded store is copied into a new database
    /// there and the centre serves with it as its durable record: every page waits for a pass.
    static func initialSync(rows: Int, interrupt: Bool = false, record: String? = nil) throws -> (InitialSync, Interruption?) {
        let centralDir = try Harness.temporaryDirectory("initial-central")
        // Create the store (and its reference data), then seed it while no server runs.
        try Harness.run("promo-central", ["office", "list", "--data-dir", centralDir])
        try seedCentral(directory: centralDir, rows: rows)
        let environment =
            try record.map { try CentralProcess.durableRecord(directory: centralDir, url: try newDatabase($0, name: "promo_bench_initial")) } ?? [:]
        let central = try CentralProcess(directory: centralDir, environment: environment)
        let office = try OfficeFolder.make("79", central: central, name: "initial-office")
        var killed: (cursor: Int64, seconds: Double)?
        if interrupt {
            let replica = try Replica.open(at: office.replicaPath)
            let start = DispatchTime.now().uptimeNanoseconds
            let first = try Harness.start("promo-sync", ["sync", "--data-dir", office.directory])
            while first.isRunning, try replica.syncPosition().cursor.rawValue == 0 { usleep(2_000) }
            kill(first.processIdentifier, SIGKILL)
            first.waitUntilExit()
            killed = (try replica.syncPosition().cursor.rawValue, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        let run = try office.timed(["sync"])
        let replica = try Replica.open(at: office.replicaPath)
        let count = try replica.data.count(.planLine)
        guard count == rows else { throw BenchError("the office holds \(count) plan lines, not \(rows)") }
        let interruption = try killed.map { Interruption(killedAt: $0.cursor, afterSeconds: $0.seconds, endedAt: try replica.syncPosition().cursor.rawValue) }
        if let interruption, interruption.killedAt == 0 || interruption.killedAt >= interruption.endedAt {
            throw BenchError("the first sync was not stopped partway (killed at cursor \(interruption.killedAt) of \(interruption.endedAt))")
        }
        // Baselines: copying the resulting replica file whole, and loading its rows into an empty replica.
        let copy = office.directory + "/copy.sqlite"
        let copySeconds = try Harness.seconds { try FileManager.default.copyItem(atPath: office.replicaPath, toPath: copy) }
        try FileManager.default.removeItem(atPath: copy)
        let bulkLoadSeconds = try bulkLoad(rowsOf: office.replicaPath, directory: office.directory)
        return (
            InitialSync(
                seconds: run.seconds, peakRSS: run.peakRSS, replicaBytes: Harness.fileSize(office.replicaPath),
                copySeconds: copySeconds, bulkLoadSeconds: bulkLoadSeconds, office: office, central: central), interruption
        )
    }

    /// The initial sync's floor (issue 27): the plan lines of the replica at `path`, read into
    /// memory first, loaded into the same tables and indexes of an empty replica (its capture
    /// triggers dropped: a pull turns them off) through SQLite's C API, in one durable transaction
    /// (`synchronous = FULL`, as the replica). Returns the seconds from opening it to the commit.
    static func bulkLoad(rowsOf path: String, directory: String) throws -> Double {
        typealias Line = (id: String, office: String, year: Int64, fund: String, amount: Int64, note: String?)
        var lines: [Line] = []
        let source = try DatabaseQueue(path: path)
        try source.read { db in
            let rows = try Row.fetchCursor(db, sql: "SELECT id, office, year, fund_source, amount, note FROM plan_line")
            while let row = try rows.next() { lines.append((row[0], row[1], row[2], row[3], row[4], row[5])) }
        }
        try source.close()
        let target = directory + "/bulk-load.sqlite"
        let empty = try Replica.create(
            at: target, settings: ReplicaSettings(office: try OfficeCode("79"), centralURL: "http://127.0.0.1:1", tokenFile: directory + "/t"))
        try empty.database.write { db in
            for trigger in try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'plan_line'") {
                try db.execute(sql: "DROP TRIGGER \"\(trigger)\"")
            }
        }
        try empty.database.close()
        defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: target + suffix) } }
        return try Harness.seconds {
            var handle: OpaquePointer?
            guard sqlite3_open_v2(target, &handle, SQLITE_OPEN_READWRITE, nil) == SQLITE_OK, let db = handle else {
                throw BenchError("the bulk load could not open \(target)")
            }
            defer { sqlite3_close_v2(db) }
            func exec(_ sql: String) throws {
                guard sqlite3_exec(db, sql, nil, nil, nil) == SQLITE_OK else { throw BenchError("bulk load: \(sql): \(String(cString: sqlite3_errmsg(db)))") }
            }
            try exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA cache_size = -8192; BEGIN")
            var statement: OpaquePointer?
            guard
                sqlite3_prepare_v2(db, "INSERT INTO plan_line(id, office, year, fund_source, amount, note) VALUES (?, ?, ?, ?, ?, ?)", -1, &statement, nil)
                    == SQLITE_OK,
                let insert = statement
            else { throw BenchError("bulk load: \(String(cString: sqlite3_errmsg(db)))") }
            defer { sqlite3_finalize(insert) }
            let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
            for line in lines {
                sqlite3_bind_text(insert, 1, line.id, -1, transient)
                sqlite3_bind_text(insert, 2, line.office, -1, transient)
                sqlite3_bind_int64(insert, 3, line.year)
                sqlite3_bind_text(insert, 4, line.fund, -1, transient)
                sqlite3_bind_int64(insert, 5, line.amount)
                if let note = line.note { sqlite3_bind_text(insert, 6, note, -1, transient) } else { sqlite3_bind_null(insert, 6) }
                guard sqlite3_step(insert) == SQLITE_DONE else { throw BenchError("bulk load: \(String(cString: sqlite3_errmsg(db)))") }
                sqlite3_reset(insert)
            }
            try exec("COMMIT")
        }
    }

    struct Divergence {
        var seconds: Double
        var requests: Int
        var bytes: Int64
        var found: Int
        var sqldiffSeconds: Double?
        var fileBytes: Int64
        /// The first verification of the replica, which hashes every row and stores the digests.
        var firstSeconds: Double
        /// What the stored digests add to the replica file.
        var storedDigestBytes: Int64
        /// `verify --full` after the others: every row hashed again, the centre's tree kept.
        var fullSeconds: Double
    }

    /// Verifies a synced replica once (building its stored digests), changes `differing` rows
    /// behind sync's back, then compares with `promo-sync verify` and, as the baseline, by copying
    /// the file and running sqldiff on the pair.
    static func divergence(_ synced: InitialSync, differing: Int) throws -> Divergence {
        let office = synced.office
        let centreCopy = office.directory + "/centre-copy.sqlite"
        var replica = try Replica.open(at: office.replicaPath)
        try replica.database.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)") }
        try FileManager.default.copyItem(atPath: office.replicaPath, toPath: centreCopy)
        let bytesBefore = Harness.fileSize(office.replicaPath)
        try replica.database.close()
        let first = try office.timed(["verify"])
        replica = try Replica.open(at: office.replicaPath)
        try replica.database.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)") }
        let storedDigestBytes = Harness.fileSize(office.replicaPath) - bytesBefore
        try replica.database.write { db in
            try db.execute(
                sql: "UPDATE plan_line SET amount = amount + 1 WHERE id IN (SELECT id FROM plan_line ORDER BY random() LIMIT ?)", arguments: [differing])
            try db.execute(sql: "DELETE FROM _sync_outbox")  // behind sync's back: as if never captured
        }
        try replica.database.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)") }
        try replica.database.close()
        let run = try office.timed(["verify"])
        // "verify: 10 ranges differ: … (N requests, B bytes exchanged)"
        func number(before suffix: String) -> Int64 {
            guard let range = run.output.range(of: suffix) else { return -1 }
            return Int64(
                run.output[..<range.lowerBound].split(separator: " ").last.map(String.init)?.trimmingCharacters(in: CharacterSet(charactersIn: "(,")) ?? "")
                ?? -1
        }
        let found = run.output.split(separator: "\n").filter { $0.contains("differs at the centre:") }
            .map { $0.split(separator: " ").count - 5 }.reduce(0, +)
        var sqldiff: Double?
        if FileManager.default.isExecutableFile(atPath: "/usr/bin/sqldiff") {
            sqldiff = try Harness.seconds {
                let moved = office.directory + "/moved.sqlite"
                try FileManager.default.copyItem(atPath: office.replicaPath, toPath: moved)
                let process = Process()
                process.executableURL = URL(fileURLWithPath: "/usr/bin/sqldiff")
                process.arguments = ["--table", "plan_line", centreCopy, moved]
                process.standardOutput = Pipe()
                try process.run()
                let diff = String(decoding: (process.standardOutput as! Pipe).fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                process.waitUntilExit()
                guard diff.split(separator: "\n").count == differing else { throw BenchError("sqldiff found \(diff.split(separator: "\n").count) differences") }
            }
        }
        let full = try office.timed(["verify", "--full"])
        return Divergence(
            seconds: run.seconds, requests: Int(number(before: " requests")), bytes: number(before: " bytes exchanged"),
            found: found, sqldiffSeconds: sqldiff, fileBytes: Harness.fileSize(office.replicaPath), firstSeconds: first.seconds,
            storedDigestBytes: storedDigestBytes, fullSeconds: full.seconds)
    }

    // MARK: 5. Idle footprint and 6. latency (one daemon)

    struct Daemon {
        var idleRSS: Int64
        var idleAnonymous: Int64
        var idleCPUSeconds: Double
        var idleWakeups: Int64
        var latencies: [Double]
        /// The same, each commit made after the daemon has waited idle for 100 ms.
        var idleLatencies: [Double]
        var baselineLatencies: [Double]
    }

    static func daemon(idleSeconds: Int, writes: Int) async throws -> Daemon {
        let central = try CentralProcess(directory: try Harness.temporaryDirectory("daemon-central"))
        defer { central.stop() }
        let office = try OfficeFolder.make("79", central: central, name: "daemon-office")
        let replica = try Replica.open(at: office.replicaPath)
        try insertPlanLines(replica, count: 1_000)
        // Start from the binary on disk, as a server does after a boot: a binary just written by the
        // build is wholly in the page cache, and the kernel then maps up to 0.9 MB more of it.
        Harness.evictFromPageCache(Harness.binDirectory + "/promo-sync")
        let daemon = try Harness.start("promo-sync", ["daemon", "--data-dir", office.directory], stderrFile: office.directory + "/daemon.log")
        defer {
            daemon.terminate()
            daemon.waitUntilExit()
        }
        try waitUntilAcknowledged(replica, timeout: 60)
        sleep(3)

        // Idle: nothing to do for `idleSeconds`.
        guard let before = Harness.usage(of: daemon.processIdentifier) else { throw BenchError("cannot read the daemon's /proc entry") }
        var peak = before.rssBytes
        var anonymous = before.anonymousBytes
        for _ in 0..<idleSeconds {
            sleep(1)
            let now = Harness.usage(of: daemon.processIdentifier)
            peak = max(peak, now?.rssBytes ?? 0)
            anonymous = max(anonymous, now?.anonymousBytes ?? 0)
        }
        guard let after = Harness.usage(of: daemon.processIdentifier) else { throw BenchError("the daemon stopped") }

        // Latency: a local commit until the centre's acknowledgement (the outbox entry is gone).
        var latencies: [Double] = []
        for i in 0..<writes {
            let start = DispatchTime.now().uptimeNanoseconds
            try replica.data.addPlanLine(year: 2025, fundSource: .local, amount: Int64(i + 1), note: nil)
            try waitUntilAcknowledged(replica, timeout: 30, pollMicroseconds: 500)
            latencies.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
        }
        // The same from idle: an office's clerk saves a row while the daemon waits, which is when
        // the file event comes before the commit is visible (SyncDaemon's settle checks). A fifth
        // as many, 100 ms apart.
        var idleLatencies: [Double] = []
        for i in 0..<max(1, writes / 5) {
            usleep(100_000)
            let start = DispatchTime.now().uptimeNanoseconds
            try replica.data.addPlanLine(year: 2026, fundSource: .local, amount: Int64(i + 1), note: nil)
            try waitUntilAcknowledged(replica, timeout: 30, pollMicroseconds: 500)
            idleLatencies.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
        }
        // Baseline: one HTTP round trip to the centre with curl's library (GET /health), the floor
        // under any acknowledgement.
        var baseline: [Double] = []
        let http = HTTPClient()
        for _ in 0..<writes {
            let start = DispatchTime.now().uptimeNanoseconds
            _ = try await http.send(HTTPRequest(method: "GET", url: central.url + "/health"))
            baseline.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
        }
        return Daemon(
            idleRSS: peak, idleAnonymous: anonymous, idleCPUSeconds: after.cpuSeconds - before.cpuSeconds,
            idleWakeups: after.switches(since: before), latencies: latencies, idleLatencies: idleLatencies, baselineLatencies: baseline)
    }

    /// The order of promo-sync's code in release builds (Package.swift, `releaseLinking`), relative
    /// to the package, where `make bench` runs.
    static let linkOrderFile = "Sources/PromoSyncCLI/promo-sync.order"

    /// How many of the functions the order file lists the promo-sync binary still defines: the
    /// daemon's idle footprint depends on the file matching the code.
    static func linkOrderCoverage() -> String {
        guard let listed = try? String(contentsOfFile: linkOrderFile, encoding: .utf8) else { return "no order file" }
        guard let symbols = Harness.systemOutput("/usr/bin/nm", ["--defined-only", Harness.binDirectory + "/promo-sync"]) else {
            return "not checked (nm, from binutils, did not run)"
        }
        let defined = Set(symbols.split(separator: "\n").compactMap { $0.split(separator: " ").last })
        let names = listed.split(separator: "\n")
        let found = names.filter { defined.contains($0) }.count
        return "\(found) of \(names.count)"
    }

    static func waitUntilAcknowledged(_ replica: Replica, timeout: Double, pollMicroseconds: UInt32 = 10_000) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while try replica.pendingSummary().changes > 0 {
            guard Date() < deadline else { throw BenchError("the daemon did not acknowledge within \(timeout) s") }
            usleep(pollMicroseconds)
        }
    }
}
