import Foundation
import GRDB
import Replica
import SyncAgent
import SyncCore
import SyncTesting
import Synchronization
import Testing

@testable import Central

/// Recovery after outages, with a real central, real libcurl and real SQLite files.
@Suite struct RecoveryTests {
    func officeRows(_ replica: Replica) throws -> [String: String] { digestRows(try replica.digestTree()) }

    func centralRows(_ store: CentralStore, _ office: String) throws -> [String: String] {
        digestRows(try store.digestTree(for: OfficeCode(unchecked: office)))
    }

    @Test func aMonthOfflineWithTenThousandChangesSyncsInOneGo() async throws {
        try await withLiveCentral { central in
            let office = try OfficeFixture(office: "82", central: central)
            let replica = office.replica
            try await runBlocking {
                try replica.database.write { db in
                    for i in 0..<10_000 {
                        try db.execute(
                            sql: "INSERT INTO plan_line(id, office, year, fund_source, amount, note) VALUES (?, '82', ?, ?, ?, NULL)",
                            arguments: [RowID.make().rawValue, 2000 + i % 26, i % 2 == 0 ? "local" : "national", i + 1])
                    }
                }
            }
            #expect(try office.replica.pendingSummary().changes == 10_000)
            let steps = Mutex<[SyncProgress]>([])
            var engine = office.engine
            engine.onProgress = { step in steps.withLock { $0.append(step) } }
            let report = try await engine.runCycle()
            #expect(report.changesPushed == 10_000 && report.changesetsPushed == 10)
            // The progress display counts the push down to zero, changeset by changeset.
            let pushed = steps.withLock { $0 }.compactMap { step -> Int? in
                if case .pushed(_, _, let remaining) = step { return remaining } else { return nil }
            }
            #expect(pushed == stride(from: 9_000, through: 0, by: -1_000).map { $0 })
            #expect(try office.replica.pendingSummary().changes == 0)
            #expect(try officeRows(office.replica) == centralRows(central.store, "82"))
        }
    }

    @Test func verifyFindsOnlyTheDivergentRowsAndResyncFixesThem() async throws {
        let rows = Int(ProcessInfo.processInfo.environment["PROMO_SYNC_VERIFY_ROWS"] ?? "") ?? 10_000
        try await withLiveCentral { central in
            var config = SyncEngineConfiguration()
            config.maxChangesPerChangeset = 5_000
            config.pageSize = 5_000
            let office = try OfficeFixture(office: "86", central: central, configuration: config)
            let replica = office.replica
            try await runBlocking {
                try replica.database.write { db in
                    for i in 0..<rows {
                        try db.execute(
                            sql: "INSERT INTO plan_line(id, office, year, fund_source, amount, note) VALUES (?, '86', ?, 'local', ?, NULL)",
                            arguments: [RowID.make().rawValue, 2020 + i % 6, i + 1])
                    }
                }
            }
            try await office.engine.runCycle()
            let clean = try await office.engine.verify()
            #expect(clean.identical && clean.requests == 1)

            // Five rows change behind sync's back (a restored disk, a tool that bypassed capture).
            let victims = try await office.replica.database.write { db -> [String] in
                let ids = try String.fetchAll(db, sql: "SELECT id FROM plan_line ORDER BY id LIMIT 5 OFFSET 1000")
                for id in ids { try db.execute(sql: "UPDATE plan_line SET amount = amount + 1 WHERE id = ?", arguments: [id]) }
                try db.execute(sql: "DELETE FROM _sync_outbox")  // as if never captured
                return ids
            }
            let report = try await office.engine.verify()
            #expect(Set(report.centralNewer["plan_line"] ?? []) == Set(victims))
            #expect(report.localOnly.isEmpty)
            #expect(report.differingRanges.count <= 5)
            // Only the differing ranges were descended into: a few requests and a small share of the rows.
            #expect(report.requests == DigestTree.depth + 1)  // one round trip per level
            #expect(report.rowsCompared <= 5 * (rows / 256 + 20))
            #expect(report.bytesReceived < 64 * 1024)

            let (before, after) = try await office.engine.repair()
            #expect(!before.identical && after.identical)
            #expect(try officeRows(office.replica) == centralRows(central.store, "86"))
            #expect(try office.replica.status().lastVerifyResult == "identical")
        }
    }

    @Test func resyncPushesRowsTheCentreNeverReceived() async throws {
        try await withLiveCentral { central in
            let office = try OfficeFixture(office: "87", central: central)
            try office.addProject(code: "SEEN")
            try await office.engine.runCycle()
            // Two plan lines and a project written behind capture's back (a tool that turned the
            // triggers off, an outbox emptied by hand): the centre never hears of them by itself.
            try office.addProject(code: "HIDDEN")
            let (hidden, project) = try await office.replica.database.write { db -> ([String: [String]], String) in
                let lines = [RowID.make().rawValue, RowID.make().rawValue]
                for (i, id) in lines.enumerated() {
                    try db.execute(
                        sql: "INSERT INTO plan_line(id, office, year, fund_source, amount, note) VALUES (?, '87', 2025, 'local', ?, 'bổ sung')",
                        arguments: [id, 1_500_000_000 + i])
                }
                try db.execute(sql: "DELETE FROM _sync_outbox")
                return (["plan_line": lines], try String.fetchOne(db, sql: "SELECT id FROM project WHERE code = 'HIDDEN'")!)
            }
            #expect(try office.replica.pendingSummary().changes == 0)
            try await office.engine.runCycle()  // nothing to push: the rows stay at the office only
            #expect(try officeRows(office.replica) != centralRows(central.store, "87"))

            let (before, after) = try await office.engine.repair()
            #expect(Set(before.localOnly["plan_line"] ?? []) == Set(hidden["plan_line"]!))
            #expect(before.localOnly["project"] == [project])
            #expect(before.centralNewer.isEmpty)
            #expect(after.identical)
            // Pushed whole, with their values, and nothing left pending.
            #expect(try officeRows(office.replica) == centralRows(central.store, "87"))
            let lines = try central.store.records(for: OfficeCode(unchecked: "87"), table: .planLine, ids: hidden["plan_line"]!)
            #expect(lines.compactMap { $0.fields["amount"]?.integer }.sorted() == [1_500_000_000, 1_500_000_001])
            #expect(lines.allSatisfy { !$0.deleted && $0.fields["note"]?.text == "bổ sung" })
            #expect(try central.store.projects(office: "87").compactMap { $0.fields["code"]?.text }.sorted() == ["HIDDEN", "SEEN"])
            #expect(try office.replica.pendingSummary().changes == 0)
        }
    }

    /// A backup of the office's replica, as a server's nightly backup takes it.
    static func backUp(_ office: OfficeFixture) async throws -> String {
        let backup = office.directory.file("backup.sqlite")
        try await office.replica.database.writeWithoutTransaction { db in try db.execute(sql: "VACUUM INTO ?", arguments: [backup]) }
        return backup
    }

    /// The office's server restored from `backup`: its replica, and a sync engine on it with the office's token.
    static func restore(_ office: OfficeFixture, from backup: String) throws -> (Replica, SyncEngine) {
        let restoredPath = office.directory.file("restored.sqlite")
        try FileManager.default.copyItem(atPath: backup, toPath: restoredPath)
        let restored = try Replica.open(at: restoredPath)
        return (restored, SyncEngine(replica: restored, client: office.engine.client, logger: office.engine.logger))
    }

    @Test func anOfficeRestoredFromAnOldBackupLosesAndDuplicatesNothing() async throws {
        try await withLiveCentral { central in
            let office = try OfficeFixture(office: "75", central: central)
            try office.addProject(code: "A")
            try office.addProject(code: "B")
            try await office.engine.runCycle()
            let backup = try await Self.backUp(office)
            try office.addProject(code: "C")
            try await office.engine.runCycle()

            // The server is restored from the backup: C is gone locally, the centre has it.
            let (restored, engine) = try Self.restore(office, from: backup)
            // Work done after the restore.
            try restored.data.addProject(
                NewProject(
                    code: "D", name: "Dự án D", category: "CDS", fundSource: .local, year: 2025,
                    totalCost: 900, requestedSupport: 300))
            // The centre holds changeset 2 (C) and is sent another changeset 2 (D): the cycle
            // rejoins the centre's chain by itself, as `promo-sync resync --force` would.
            let report = try await engine.runCycle()
            #expect(report.changesPushed > 0)
            let codes = try restored.data.projects().map(\.code).sorted()
            #expect(codes == ["A", "B", "C", "D"])
            let atCentre = try central.store.projects(office: "75").compactMap { $0.fields["code"]?.text }.sorted()
            #expect(atCentre == ["A", "B", "C", "D"])
            #expect(try officeRows(restored) == centralRows(central.store, "75"))
            let status = try restored.status()
            #expect(status.lastError == nil)
            #expect(status.lastRepair?.contains("rejoined the centre's chain") == true)
            #expect(status.lastRepair?.contains("identical after") == true)
            #expect(try restored.counters()["rejoins"] == 1 && restored.counters()["repairs"] == nil)
            #expect(try restored.lastRejoin() != nil)
            #expect(try restored.pendingSummary().changes == 0)
        }
    }

    /// A change waiting in the backup that the lost server had sent, and then changed again, is
    /// not sent again over the later value when the server is restored: the cycle reads what the
    /// lost server sent (`GET /v1/changesets`) and withdraws it. It was sent once more with a new
    /// clock, replacing the later value without a conflict. Work done since the restore is sent.
    @Test func anOfficeRestoredFromABackupDoesNotSendAgainWhatItsLostServerSentAndChanged() async throws {
        try await withLiveCentral { central in
            let office = try OfficeFixture(office: "75", central: central)
            try office.addProject(code: "A")
            try office.addProject(code: "B")
            try await office.engine.runCycle()
            // A's new name and B's beneficiary wait in the outbox when the backup is taken.
            try office.replica.data.updateProject("A", ProjectUpdate(name: "Tên trong bản sao"))
            try office.replica.data.updateProject("B", ProjectUpdate(beneficiary: "Hợp tác xã Tân Phú"))
            let backup = try await Self.backUp(office)
            // The server sends them, then A is renamed again; then the server is lost.
            try await office.engine.runCycle()
            try office.replica.data.updateProject("A", ProjectUpdate(name: "Tên sau cùng"))
            try await office.engine.runCycle()

            let (restored, engine) = try Self.restore(office, from: backup)
            // Since the restore, B's beneficiary is set again, to a value never sent.
            try restored.data.updateProject("B", ProjectUpdate(beneficiary: "Hợp tác xã Tân Phú 2"))
            _ = try await engine.runCycle()
            func name(_ code: String, _ field: String) throws -> FieldValue? {
                try central.store.projects(office: "75").first { $0.fields["code"] == .text(code) }?.fields[field]
            }
            #expect(try name("A", "name") == .text("Tên sau cùng"))
            #expect(try name("B", "beneficiary") == .text("Hợp tác xã Tân Phú 2"))
            #expect(try officeRows(restored) == centralRows(central.store, "75"))
            let status = try restored.status()
            #expect(status.lastError == nil)
            #expect(status.lastRepair?.contains("had been sent already by the server it replaces") == true, "\(status.lastRepair ?? "")")
            #expect(try restored.pendingSummary().changes == 0)
        }
    }

    /// A forced resync of an office whose projects hold long histories re-sends every row whole:
    /// a changeset of its project rows adds to all of them, more than the centre refolds for one
    /// changeset (`limits.refold_changes_burst`, here 1,000). The centre refuses it,
    /// `changeset_too_heavy`, applying none of it; the office splits it in two until each part
    /// passes, and everything arrives within the cycle.
    @Test func aForcedResyncOfLongHistoriesIsSplitIntoWhatTheCentreRefoldsAtOnce() async throws {
        try await withLiveCentral(configure: {
            $0.maxChangesPerAggregate = 1_000
            $0.refoldBurst = 1_000
            $0.refoldPerSecond = 1_000_000
        }) { central in
            let office = try OfficeFixture(office: "75", central: central)
            let projects = try (0..<6).map { n in try office.addProject(code: "P\(n)") }
            try await office.replica.database.write { db in
                for project in projects {
                    for n in 0..<200 {
                        try db.execute(
                            sql: """
                                INSERT INTO project_event(id, office, project_id, kind, occurred_on, amount, reference, note)
                                VALUES (?, '75', ?, 'updated', '2025-09-01', NULL, NULL, ?)
                                """, arguments: [RowID.make().rawValue, project.rawValue, "ghi chú \(n)"])
                    }
                }
            }
            try await office.engine.runCycle()
            let (queued, report) = try await office.engine.forceResync()
            #expect(queued == 6 * (1 + 1 + 200))  // each project, its "created" event and 200 more
            #expect(report.changesetsSplit > 0)
            #expect(try office.replica.status().lastError == nil && office.replica.pendingSummary().changes == 0)
            #expect(try officeRows(office.replica) == centralRows(central.store, "75"))
            let histories = try await central.store.database.read { db in
                try Int.fetchAll(db, sql: "SELECT count(*) FROM history WHERE writer = '75' GROUP BY aggregate")
            }
            #expect(histories == Array(repeating: 2 * 202, count: 6))
        }
    }

    /// An office server whose clock ran seven hours ahead (local time taken for UTC) stamped its
    /// work there; the centre refused it (`clock_ahead`). Its clock never runs backwards, so after
    /// the clock was set right it went on stamping seven hours ahead and nothing was taken for
    /// seven hours. Now the cycle stamps the waiting changes again by itself, in the order they
    /// were made, and they go through; it says so in status.
    @Test func anOfficeWhoseClockWasSetBackStampsItsWaitingChangesAgain() async throws {
        try await withLiveCentral { central in
            let office = try OfficeFixture(office: "86", central: central)
            try office.addProject(code: "BEFORE")
            try await office.engine.runCycle()

            // While the clock ran ahead: a project, made into a changeset stamped then.
            let id = try office.addProject(code: "AHEAD")
            let later = Date().addingTimeInterval(7 * 3600)
            let ahead = try #require(try office.replica.nextChangeset(now: later))
            #expect(ahead.changes.allSatisfy { $0.hlc.milliseconds > HybridLogicalClock.wallMilliseconds() + 6 * 3_600_000 })
            // While the clock is still ahead, nothing is stamped again.
            let centre = HLCTimestamp(milliseconds: HybridLogicalClock.wallMilliseconds(), counter: 0, node: "central")
            #expect(try office.replica.restampAfterClockSetBack(centreClock: centre, now: later) == nil)
            // The clock is set right; the project is renamed (stamped after the last stamp, still ahead).
            try await office.replica.database.write { db in
                try db.execute(sql: "UPDATE project SET name = 'Đổi tên sau' WHERE id = ?", arguments: [id.rawValue])
            }

            let report = try await office.engine.runCycle()
            // The rename too, if it was made into a changeset while the first travelled.
            #expect((ahead.changes.count...ahead.changes.count + 1).contains(report.changesRestamped))
            #expect(report.changesetsPushed == 2)
            let atCentre = try central.store.projects(office: "86")
            #expect(atCentre.compactMap { $0.fields["code"]?.text }.sorted() == ["AHEAD", "BEFORE"])
            #expect(atCentre.first { $0.fields["code"]?.text == "AHEAD" }?.fields["name"]?.text == "Đổi tên sau", "the later change still wins")
            #expect(try officeRows(office.replica) == centralRows(central.store, "86"))
            let status = try office.replica.status()
            #expect(status.lastError == nil)
            #expect(status.lastRepair?.contains("stamped \(report.changesRestamped) waiting changes again") == true)
            // What it stamps next is in the present again.
            try office.addProject(code: "AFTER")
            let next = try #require(try office.replica.nextChangeset())
            #expect(next.changes.allSatisfy { $0.hlc.milliseconds < HybridLogicalClock.wallMilliseconds() + 60_000 })
        }
    }

    /// Two servers syncing with one office's token (a copy of the replica started beside the
    /// original) would each push over the other's changesets: each rejoins once, nothing is lost,
    /// and the second conflict within a day stops the cycle for a person.
    @Test func aCopySyncingWithTheSameTokenRejoinsOnceThenStops() async throws {
        try await withLiveCentral { central in
            let office = try OfficeFixture(office: "92", central: central)
            try office.addProject(code: "BOTH")
            try await office.engine.runCycle()
            let copyPath = office.directory.file("copy.sqlite")
            try await office.replica.database.writeWithoutTransaction { db in try db.execute(sql: "VACUUM INTO ?", arguments: [copyPath]) }
            let copy = try Replica.open(at: copyPath)
            let copyEngine = SyncEngine(replica: copy, client: office.engine.client, logger: office.engine.logger)
            func add(_ replica: Replica, _ code: String) throws {
                try replica.data.addProject(
                    NewProject(code: code, name: "Dự án \(code)", category: "CDS", fundSource: .local, year: 2025, totalCost: 900, requestedSupport: 300))
            }

            try add(office.replica, "ORIGINAL-1")
            try await office.engine.runCycle()
            try add(copy, "COPY-1")
            try await copyEngine.runCycle()  // its changeset 2 is not the centre's: it rejoins
            #expect(try copy.counters()["rejoins"] == 1)
            try add(office.replica, "ORIGINAL-2")
            try await office.engine.runCycle()  // the copy took its number: the original rejoins too
            #expect(try office.replica.counters()["rejoins"] == 1)

            try add(copy, "COPY-2")
            let error = await #expect(throws: SyncAgentError.self) { try await copyEngine.runCycle() }
            #expect(error?.code == .replicaBehind)
            #expect(error?.isTransient == false)
            #expect(error?.message.contains("already rejoined the centre's chain by itself") == true)
            #expect(error?.hint?.contains("Another server may be syncing with this office's token") == true)
            #expect(error?.hint?.contains("promo-sync resync --force") == true)
            #expect(try copy.status().lastError?.contains("already rejoined") == true)
            #expect(try copy.counters()["rejoins"] == 1)

            // The person stops the original and forces the copy: nothing was lost.
            _ = try await copyEngine.resync()
            let atCentre = try central.store.projects(office: "92").compactMap { $0.fields["code"]?.text }.sorted()
            #expect(atCentre == ["BOTH", "COPY-1", "COPY-2", "ORIGINAL-1", "ORIGINAL-2"])
            #expect(try copy.data.projects().map(\.code).sorted() == atCentre)
            #expect(try officeRows(copy) == centralRows(central.store, "92"))
        }
    }
}

@Suite struct RebuildTests {
    @Test func aDamagedReplicaIsReportedAndRebuiltKeepingUnacknowledgedChanges() async throws {
        try await withLiveCentral { central in
            let office = try OfficeFixture(office: "91", central: central)
            try office.addProject(code: "SYNCED-1")
            try office.addProject(code: "SYNCED-2")
            try await office.engine.runCycle()
            // Offline work, not yet pushed.
            try office.addProject(code: "LOCAL-1")
            try office.replica.data.addPlanLine(year: 2025, fundSource: .local, amount: 7_000_000_000, note: "chưa đồng bộ")

            // Overwrite one page of the file (the former-province table) with garbage.
            let path = office.replica.path
            let (page, pageSize) = try await office.replica.database.read { db in
                (
                    try Int.fetchOne(db, sql: "SELECT rootpage FROM sqlite_master WHERE name = 'former_province'")!,
                    try Int.fetchOne(db, sql: "PRAGMA page_size")!
                )
            }
            try await office.replica.database.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)") }
            try office.replica.database.close()
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
            try handle.seek(toOffset: UInt64((page - 1) * pageSize))
            try handle.write(contentsOf: Data(repeating: 0xA5, count: pageSize))
            try handle.close()

            // The damage is found and named.
            let damaged = try Replica.open(at: path)
            #expect(try !damaged.integrityProblems().isEmpty)
            try damaged.database.close()

            let client = office.engine.client
            let outcome = try await ReplicaRebuilder.rebuild(
                at: path, rescued: ReplicaRebuilder.rescue(at: path), settings: nil, client: client, configuration: .init(), logger: office.engine.logger)
            #expect(outcome.rescuedChanges == 3)  // the project, its "created" event and the plan line
            #expect(outcome.oldFileKeptAt.map { FileManager.default.fileExists(atPath: $0) } == true)

            let rebuilt = try Replica.open(at: path)
            #expect(try rebuilt.integrityProblems().isEmpty)
            #expect(try rebuilt.data.projects().map(\.code).sorted() == ["LOCAL-1", "SYNCED-1", "SYNCED-2"])
            #expect(try rebuilt.pendingSummary().changes == 0)
            let atCentre = try central.store.projects(office: "91").compactMap { $0.fields["code"]?.text }.sorted()
            #expect(atCentre == ["LOCAL-1", "SYNCED-1", "SYNCED-2"])
            let formerCount = try await rebuilt.database.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM former_province") }
            #expect(formerCount == 63)
        }
    }
}
