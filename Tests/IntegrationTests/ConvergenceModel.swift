import Foundation
import GRDB
import Replica
import SyncCore
import SyncTesting
import Synchronization
import Testing
import WireFormat

@testable import Central

/// One case of the convergence model: a seed, how many random operations, how many offices.
struct ModelCase: Sendable, Hashable, CustomStringConvertible {
    var seed: UInt64
    var operations: Int
    var offices: Int
    /// Pull only as the sync engine does: never while the centre may hold a changeset the office
    /// has not recorded as acknowledged (a cycle pushes first, and a failed push ends it). False
    /// lets any schedule pull, which finds a divergence (docs/RELIABILITY.md, "Convergence model").
    var engineOrder = true
    /// Hold commands stamped behind the centre's clock to the informed checks too. False excuses
    /// them: a known bug (docs/RELIABILITY.md, "Convergence model") makes them lose.
    var strictClocks = false
    var description: String {
        "seed \(seed), \(operations) operations, \(offices) offices\(engineOrder ? "" : ", pulls in any order")\(strictClocks ? ", strict clocks" : "")"
    }
}

/// What the runs of the model did, summed over cases (to show the model is not vacuous).
struct ModelStats: Sendable {
    var cases = 0
    var operations = 0
    /// Operation kind → (done, refused up front by the office's or the centre's own check).
    var done: [String: Int] = [:]
    var refused: [String: Int] = [:]
    var conflicts = 0
    var heldEntries = 0
    var acceptedEntries = 0
    var duplicatesAnswered = 0
    var gapsRefused = 0
    var crashes = 0
    var refusedAfterUnmerge = 0
    var keptAside = 0

    mutating func add(_ other: ModelStats) {
        cases += other.cases
        operations += other.operations
        done.merge(other.done, uniquingKeysWith: +)
        refused.merge(other.refused, uniquingKeysWith: +)
        conflicts += other.conflicts
        heldEntries += other.heldEntries
        acceptedEntries += other.acceptedEntries
        duplicatesAnswered += other.duplicatesAnswered
        gapsRefused += other.gapsRefused
        crashes += other.crashes
        refusedAfterUnmerge += other.refusedAfterUnmerge
        keptAside += other.keptAside
    }

    var summary: String {
        let kinds = Set(done.keys).union(refused.keys).sorted().map { "\($0) \(done[$0] ?? 0)/\(refused[$0] ?? 0)" }.joined(separator: ", ")
        return "\(cases) cases, \(operations) operations; done/refused up front: \(kinds); conflicts \(conflicts), held entries \(heldEntries), "
            + "admitted entries \(acceptedEntries), duplicates answered \(duplicatesAnswered), gaps refused \(gapsRefused), crashes \(crashes), "
            + "refused after an unmerge \(refusedAfterUnmerge), kept aside by recalls \(keptAside)"
    }
}

/// A central store with the model's offices registered, and an empty replica of each, made once
/// per test process and copied for every case.
final class ModelTemplates: Sendable {
    static let shared = ModelTemplates()
    private let made = Mutex<Result<(folder: TemporaryDirectory, store: String, replicas: [String: String]), any Error>?>(nil)

    func get() throws -> (store: String, replicas: [String: String]) {
        let result = made.withLock { state in
            if let state { return state }
            let result = Result { () throws -> (folder: TemporaryDirectory, store: String, replicas: [String: String]) in
                let folder = try TemporaryDirectory(prefix: "model-templates", base: TemporaryDirectory.memoryBacked)
                let storePath = folder.file(CentralStore.fileName)
                do {
                    let store = try CentralStore(path: storePath, threads: 1)
                    for code in ConvergenceModel.codes { _ = try store.addOffice(OfficeCode(code)) }
                }
                var replicas: [String: String] = [:]
                for code in ConvergenceModel.codes {
                    let path = folder.file("replica-\(code).sqlite")
                    // With its stored digests built, so every write of the case must keep them true.
                    _ = try Replica.create(
                        at: path,
                        settings: ReplicaSettings(
                            office: OfficeCode(code), centralURL: "http://model.invalid",
                            tokenFile: folder.file("token"))
                    ).storedDigestTree()
                    replicas[code] = path
                }
                return (folder, storePath, replicas)
            }
            state = result
            return result
        }
        let value = try result.get()
        return (value.store, value.replicas)
    }
}

/// An office of the model: a real replica on a real SQLite file, its clock skew, and what the
/// centre holds of its changesets.
final class ModelOffice {
    let code: String
    let path: String
    let faults: FaultInjector
    var replica: Replica
    /// Seconds the office's clock is off (negative: set back).
    var skew: TimeInterval = 0
    /// Merged into another office: it may still push, nothing else.
    var retired = false
    /// Its daemon runs and reaches the centre: it pushes after each write and pulls now and then.
    /// Offline, its writes pile up and reach the centre coalesced.
    var online = true
    /// Changesets the centre has applied, by sequence (acknowledged or not).
    var centreHas: [Int64: Changeset] = [:]
    var made = 0

    init(code: String, path: String, replica: Replica, faults: FaultInjector) {
        self.code = code
        self.path = path
        self.replica = replica
        self.faults = faults
    }

    var office: OfficeCode { OfficeCode(unchecked: code) }
    var now: Date { Date().addingTimeInterval(skew) }
}

/// The whole system in one process: a real `CentralStore` and real replicas, driven by random
/// operations drawn from the real commands, synced by calling the centre's store directly (push:
/// `nextChangeset` → the wire → `apply` → `acknowledge`; pull: `page` → `applyPulledPage`), with
/// faults. After quiescence, `check()` compares everything with the reference model.
final class ConvergenceModel {
    static let codes = ["79", "80", "96", "77"]

    let scenario: ModelCase
    let folder: TemporaryDirectory
    let store: CentralStore
    var offices: [ModelOffice] = []
    var random: SeededRandom
    var trace: [String] = []
    var problems: [String] = []
    var stats = ModelStats()

    /// Every change of an office the centre confirmed holding (applied or answered duplicate).
    var received: [Change] = []
    var receivedChangesets: Set<String> = []
    /// Conflict id → key, for every conflict someone resolved.
    var conflictKeys: [String: ReferenceModel.ConflictKey] = [:]
    var rehomed: [String: String] = [:]
    /// Offices merged into another at some time (undone or not): their projects' histories hold
    /// another office's writes.
    var everMerged: Set<String> = []
    /// Offices that held an office's records when its merge was undone: the centre refuses their
    /// pending changes of them (`forbidden_owner`) until the recalls keep them aside.
    var heldRecalled: Set<String> = []
    /// What the commands created, as the model asked for it.
    var createdProjects: [String: [String: FieldValue]] = [:]
    var createdPlanLines: [String: [String: FieldValue]] = [:]
    var createdEntries: [String: [String: FieldValue]] = [:]
    /// Entries edited with SQL: an accepted edit changes them (the reference model checks those).
    var editedEntries: Set<String> = []

    /// For the checks of informed commands: project id → how many times the centre wrote it (a
    /// decision or a resolution), and what each office had pulled of that at its last complete pull.
    var centreWrites: [String: Int] = [:]
    var seen: [String: [String: Int]] = [:]
    /// Projects whose history is more than informed commands of their office: raw SQL, a
    /// resolution, a limit changed (adjust, requested support), a command made before the office
    /// had pulled the centre's last decision, a merged office's project. On the others, a command
    /// the office's own check allowed must stand at the centre.
    var tainted: Set<String> = []
    /// Projects with a change stamped behind the centre's clock when it was made.
    var stampedBehind: Set<String> = []
    /// Project id → the status moves made by commands, for the informed checks.
    var commandMoves: [String: [String]] = [:]

    init(_ scenario: ModelCase) throws {
        self.scenario = scenario
        random = SeededRandom(seed: scenario.seed)
        folder = try TemporaryDirectory(prefix: "model", base: TemporaryDirectory.memoryBacked)
        // Fresh files copied from templates made once: migrations and reference data cost more
        // than a whole case.
        let templates = try ModelTemplates.shared.get()
        let storePath = folder.file(CentralStore.fileName)
        try FileManager.default.copyItem(atPath: templates.store, toPath: storePath)
        store = try CentralStore(path: storePath, threads: 1)
        for code in Self.codes.prefix(scenario.offices) {
            let path = folder.file("replica-\(code).sqlite")
            try FileManager.default.copyItem(atPath: templates.replicas[code]!, toPath: path)
            let faults = FaultInjector()
            offices.append(ModelOffice(code: code, path: path, replica: try Replica.open(at: path, faults: faults), faults: faults))
        }
        for office in offices { office.online = random.chance(75) }
    }

    /// Runs a case and returns what went wrong (empty: the case passed).
    static func run(_ scenario: ModelCase, stats: inout ModelStats) -> (problems: [String], trace: [String]) {
        do {
            let clock = ContinuousClock()
            let t0 = clock.now
            let model = try ConvergenceModel(scenario)
            let t1 = clock.now
            for n in 0..<scenario.operations { model.step(n) }
            let t2 = clock.now
            model.quiesce()
            let t3 = clock.now
            model.check()
            let t4 = clock.now
            if ProcessInfo.processInfo.environment["PROMO_MODEL_TRACE"] != nil { print(model.trace.joined(separator: "\n")) }
            if ProcessInfo.processInfo.environment["PROMO_MODEL_TIMING"] != nil {
                print("TIMING setup \(t1 - t0) ops \(t2 - t1) quiesce \(t3 - t2) check \(t4 - t3)")
            }
            model.stats.cases = 1
            model.stats.operations = scenario.operations
            stats.add(model.stats)
            return (model.problems, model.trace)
        } catch {
            return (["the model could not run: \(error)"], [])
        }
    }

    /// Retries a failing case with fewer offices and fewer operations; returns the smallest that fails.
    static func shrink(_ failing: ModelCase) -> ModelCase {
        var stats = ModelStats()
        for offices in 2...failing.offices {
            for operations in 1...failing.operations {
                let candidate = ModelCase(
                    seed: failing.seed, operations: operations, offices: offices, engineOrder: failing.engineOrder,
                    strictClocks: failing.strictClocks)
                if candidate == failing { return failing }
                if !run(candidate, stats: &stats).problems.isEmpty { return candidate }
            }
        }
        return failing
    }

    // MARK: Helpers

    func note(_ line: String) { trace.append(line) }

    func problem(_ line: String) { problems.append(line) }

    func pick<T>(_ items: [T]) -> T? { items.isEmpty ? nil : items[Int.random(in: 0..<items.count, using: &random)] }

    func int(_ range: ClosedRange<Int64>) -> Int64 { Int64.random(in: range, using: &random) }

    func chance(_ percent: Int) -> Bool { random.chance(percent) }

    func done(_ kind: String) { stats.done[kind, default: 0] += 1 }

    func refused(_ kind: String, _ error: any Error) {
        stats.refused[kind, default: 0] += 1
        note("   refused up front: \(String(describing: error).prefix(140))")
    }

    var active: [ModelOffice] { offices.filter { !$0.retired } }

    /// Notes whether `office` knew every decision of the centre on `project` when it ran a command.
    func informed(_ office: ModelOffice, _ project: String) {
        if seen[office.code]?[project] ?? 0 != centreWrites[project] ?? 0 { tainted.insert(project) }
    }

    func ownProjects(_ office: ModelOffice) -> [ProjectRow] {
        (try? office.replica.data.projects(office: office.office)) ?? []
    }

    /// One of `items`, mostly one that `preferred` likes (when there is one).
    func pick<T>(_ items: [T], preferring preferred: (T) -> Bool) -> T? {
        let liked = items.filter(preferred)
        return chance(85) && !liked.isEmpty ? pick(liked) : pick(items)
    }

    static let payable: Set<String> = ["approved", "contracted", "in_progress", "accepted", "settled", "halted"]

    // MARK: Operations

    /// One random operation, weighted towards the ones that move money and status.
    func step(_ n: Int) {
        guard let office = pick(offices) else { return }
        // A merged office is mostly idle: it may still make a change or push what it has.
        if office.retired && chance(70) { return }
        var roll = Int.random(in: 0..<100, using: &random)
        // An office with no project yet makes one, whatever was drawn for it.
        if roll >= 11 && roll < 56 && office.made == 0 && !office.retired { roll = 4 }
        defer { if roll < 56 { daemon(office, n) } }
        switch roll {
        case 0..<4: planLine(office, n)
        case 4..<11:
            // Few projects, each taken far: most of what is interesting happens after approval.
            if office.made < 2 || chance(20) { addProject(office, n) } else { move(office, n) }
        case 11..<29: move(office, n)
        case 29..<31: updateRequested(office, n)
        case 31..<46: pay(office, n)
        case 46..<51: rawWrite(office, n)
        case 51..<56: resolveAtOffice(office, n)
        case 56..<66: decide(n)
        case 66..<69: resolveAtCentre(n)
        case 69..<82: push(office, fault: pickPushFault(), label: "op \(n)")
        case 82..<90: pull(office, crash: chance(12), label: "op \(n)")
        case 90..<93: mergeOrTie(n)
        case 93..<95: crash(office, label: "op \(n)")
        case 95..<97: skewClock(office, n)
        case 97: toggleOnline(office, n)
        default: mergeOrTie(n)
        }
    }

    func planLine(_ office: ModelOffice, _ n: Int) {
        let year = chance(80) ? 2025 : 2026
        let fund: FundSource = chance(50) ? .national : .local
        let amount = int(1...50) * 100_000_000
        note("op \(n): \(office.code) plan line \(year) \(fund.rawValue) \(amount)")
        do {
            let id = try office.replica.data.addPlanLine(year: year, fundSource: fund, amount: amount, note: "kế hoạch \(n)", now: office.now)
            createdPlanLines[id.rawValue] = [
                "office": .text(office.code), "year": .integer(Int64(year)), "fund_source": .text(fund.rawValue),
                "amount": .integer(amount), "note": .text("kế hoạch \(n)"),
            ]
            done("plan_line")
        } catch { refused("plan_line", error) }
    }

    func addProject(_ office: ModelOffice, _ n: Int) {
        office.made += 1
        let code = "P\(office.code)-\(office.made)"
        let fund: FundSource = chance(50) ? .national : .local
        let year = chance(90) ? 2025 : 2026
        let requested = int(1...6) * 100_000_000
        note("op \(n): \(office.code) adds \(fund.rawValue) project \(code), requested \(requested)")
        do {
            let id = try office.replica.data.addProject(
                NewProject(
                    code: code, name: "Dự án \(code)", category: "MH_TRINHDIEN", fundSource: fund, year: year,
                    totalCost: requested * 4, requestedSupport: requested), now: office.now)
            createdProjects[id.rawValue] = [
                "office": .text(office.code), "province": .text(office.code), "code": .text(code), "name": .text("Dự án \(code)"),
                "category": .text("MH_TRINHDIEN"), "fund_source": .text(fund.rawValue), "year": .integer(Int64(year)),
                "total_cost": .integer(requested * 4),
            ]
            done("project")
        } catch { refused("project", error) }
    }

    /// A status move of the office's own: mostly a legal next step (from the model's own table),
    /// sometimes any status (which the office's check refuses up front).
    func move(_ office: ModelOffice, _ n: Int) {
        // Projects the office can move on, mostly; then one to three steps in a row.
        func legal(_ status: String, _ national: Bool) -> [String] {
            // Forward steps first (returned and rejected are the sideways ones).
            let all = ReferenceModel.moves.filter { $0.0 == status && (national ? $0.2 : $0.3) == .office }.map(\.1)
            let forward = all.filter { !["returned", "rejected", "halted", "draft"].contains($0) }
            return chance(80) && !forward.isEmpty ? forward : all
        }
        guard var project = pick(ownProjects(office), preferring: { !legal($0.status, $0.fundSource == "national").isEmpty }) else { return }
        for _ in 0..<Int.random(in: 1...4, using: &random) {
            let national = project.fundSource == "national"
            let next = legal(project.status, national)
            if next.isEmpty && chance(80) { return }
            let target = (chance(90) ? pick(next) : nil) ?? pick(ProjectStatus.allCases.map(\.rawValue))!
            note("op \(n): \(office.code) moves \(project.code) \(project.status) → \(target)")
            do {
                try office.replica.data.setProjectStatus(project.id, to: ProjectStatus(rawValue: target)!, now: office.now)
                informed(office, project.id)
                commandMoves[project.id, default: []].append("\(project.status)→\(target)")
                done("move")
                project.status = target
            } catch {
                refused("move", error)
                return
            }
        }
    }

    func updateRequested(_ office: ModelOffice, _ n: Int) {
        guard let project = pick(ownProjects(office)) else { return }
        let requested = min(int(1...6) * 100_000_000, project.totalCost * 3 / 10)
        note("op \(n): \(office.code) sets requested support of \(project.code) to \(requested)")
        do {
            try office.replica.data.updateProject(project.id, ProjectUpdate(requestedSupport: requested), now: office.now)
            tainted.insert(project.id)
            done("update")
        } catch { refused("update", error) }
    }

    func paidOn(year: Int) -> String {
        if chance(5) { return "\(year + 1)-\(String(format: "%02d", Int(int(1...12))))-15" }
        return "\(year)-\(String(format: "%02d", Int(int(1...12))))-\(String(format: "%02d", Int(int(1...28))))"
    }

    func pay(_ office: ModelOffice, _ n: Int) {
        let projects = ownProjects(office)
        // Nothing to pay on yet: mostly take a project on instead.
        if !projects.contains(where: { Self.payable.contains($0.status) }) && chance(80) { return move(office, n) }
        guard let project = pick(projects, preferring: { Self.payable.contains($0.status) }) else { return }
        let roll = int(0...99)
        let kind: DisbursementKind = roll < 45 ? .payment : roll < 65 ? .advance : roll < 88 ? .recovery : .settlementAdjustment
        let limit = project.approvedSupport ?? project.requestedSupport
        let amount = chance(15) ? int(1...max(1, limit / 1_000_000)) * 1_000_000 + limit / 2 : int(1...max(1, limit / 4_000_000)) * 1_000_000
        // Sometimes written otherwise (lower case, a space): still the same voucher.
        let voucher: String? = chance(60) ? (chance(85) ? "KB-\(office.code)-\(int(0...11))" : "kb-\(office.code) -\(int(0...11))") : nil
        let day = paidOn(year: project.year)
        note(
            "op \(n): \(office.code) records \(kind.rawValue) \(amount) on \(project.code) (\(project.status), limit \(limit), paid \(project.disbursed)) voucher \(voucher ?? "-") \(day)"
        )
        do {
            let id = try office.replica.data.addDisbursement(
                NewDisbursement(project: project.id, kind: kind, amount: amount, voucher: voucher, paidOn: day), now: office.now)
            informed(office, project.id)
            createdEntries[id.rawValue] = [
                "office": .text(office.code), "project_id": .text(project.id), "kind": .text(kind.rawValue),
                "amount": .integer(amount), "voucher": voucher.map(FieldValue.text) ?? .null, "paid_on": .text(day),
            ]
            done("pay")
        } catch { refused("pay", error) }
    }

    /// Someone writes the replica with SQL, behind the commands' checks (capture still sees it).
    func rawWrite(_ office: ModelOffice, _ n: Int) {
        guard let project = pick(ownProjects(office)) else { return }
        let entries =
            (try? office.replica.database.read { db in
                try String.fetchAll(db, sql: "SELECT id FROM disbursement WHERE project_id = ?", arguments: [project.id])
            }) ?? []
        let what = Int.random(in: 0..<6, using: &random)
        do {
            try office.replica.database.write { db in
                switch what {
                case 0, 1:
                    // A payment past the limit, on any status, maybe dated ahead.
                    let amount = int(1...8) * 100_000_000
                    let day = chance(15) ? "2027-03-01" : paidOn(year: project.year)
                    let id = RowID.make(now: office.now).rawValue
                    note("op \(n): \(office.code) SQL-inserts a payment of \(amount) on \(project.code) (\(project.status)) dated \(day)")
                    try db.execute(
                        sql: "INSERT INTO disbursement(id, office, project_id, kind, amount, voucher, paid_on) VALUES (?, ?, ?, 'payment', ?, NULL, ?)",
                        arguments: [id, office.code, project.id, amount, day])
                case 2:
                    guard let entry = pick(entries) else { return }
                    note("op \(n): \(office.code) SQL-edits the amount of ledger entry \(entry.suffix(8)) of \(project.code)")
                    try db.execute(sql: "UPDATE disbursement SET amount = amount + 1000000 WHERE id = ?", arguments: [entry])
                    editedEntries.insert(entry)
                case 3:
                    let amount = int(1...6) * 100_000_000
                    note("op \(n): \(office.code) SQL-sets approved support of \(project.fundSource) \(project.code) to \(amount)")
                    try db.execute(sql: "UPDATE project SET approved_support = ? WHERE id = ?", arguments: [amount, project.id])
                case 5:
                    // A delete, which the centre takes only of a draft or returned project never approved.
                    note("op \(n): \(office.code) SQL-deletes project \(project.code) (\(project.status))")
                    try db.execute(sql: "DELETE FROM project WHERE id = ?", arguments: [project.id])
                default:
                    let status = pick(ProjectStatus.allCases.map(\.rawValue))!
                    note("op \(n): \(office.code) SQL-sets status of \(project.code) \(project.status) → \(status)")
                    try db.execute(sql: "UPDATE project SET status = ? WHERE id = ?", arguments: [status, project.id])
                }
            }
            tainted.insert(project.id)
            done("raw_sql")
        } catch { refused("raw_sql", error) }
    }

    func key(of conflict: LocalConflict) -> ReferenceModel.ConflictKey {
        ReferenceModel.ConflictKey(rule: conflict.rule, table: conflict.table, row: conflict.rowID, hlc: conflict.hlc)
    }

    func resolveAtOffice(_ office: ModelOffice, _ n: Int) {
        guard let conflict = pick((try? office.replica.data.conflicts(openOnly: true)) ?? []) else { return move(office, n) }
        conflictKeys[conflict.id] = key(of: conflict)
        let roll = int(0...99)
        let resolution: OfficeResolution
        if roll < 35 {
            resolution = .keepTheirs
        } else if roll < 70 {
            resolution = .keepMine
        } else if conflict.table == "disbursement" {
            resolution = .corrected(.integer(int(1...200) * 1_000_000))
        } else if conflict.mine.keys.contains("status") {
            resolution = .corrected(.text(pick(ProjectStatus.allCases.map(\.rawValue))!))
        } else {
            resolution = .corrected(.integer(int(1...6) * 100_000_000))
        }
        note("op \(n): \(office.code) resolves \(key(of: conflict)) with \(resolution)")
        do {
            try office.replica.data.resolveConflict(conflict.id, resolution, note: "op \(n)", now: office.now)
            tainted.insert(conflict.aggregateID)
            done("office_resolve")
        } catch { refused("office_resolve", error) }
    }

    /// A decision of the centre on a national project: mostly one its status allows.
    func decide(_ n: Int) {
        let decidable: Set<String> = ["submitted_to_centre", "appraised_centrally", "approved", "contracted", "in_progress", "accepted", "settled", "closed"]
        guard
            let project = pick(
                ((try? store.projects()) ?? []).filter { $0.fields["fund_source"] == .text("national") },
                preferring: { decidable.contains($0.fields["status"]?.text ?? "") })
        else { return }
        let status = project.fields["status"]?.text ?? ""
        let requested = project.fields["requested_support"]?.integer ?? 100_000_000
        let approved = project.fields["approved_support"]?.integer ?? requested
        let decision: CentreDecision
        switch (status, chance(80)) {
        case ("submitted_to_centre", true): decision = chance(80) ? .appraise : chance(50) ? .returnToOffice : .reject
        case ("appraised_centrally", true):
            decision = chance(85) ? .approve(amount: max(1_000_000, requested - int(0...3) * 50_000_000)) : chance(50) ? .returnToOffice : .reject
        case ("approved", true), ("contracted", true), ("in_progress", true):
            decision = chance(75) ? .adjust(amount: max(1_000_000, approved * int(3...11) / 10)) : .halt
        case ("accepted", true), ("settled", true), ("closed", true):
            decision = chance(50) ? .adjust(amount: max(1_000_000, approved * int(3...11) / 10)) : .halt
        default:
            decision = pick([.appraise, .approve(amount: requested), .returnToOffice, .reject, .adjust(amount: approved / 2 + 1), .halt])!
        }
        note("op \(n): centre decides \(decision) on \(project.office)/\(project.fields["code"]?.text ?? "?") (\(status))")
        do {
            try store.decide(project: project.id, decision)
            centreWrites[project.id, default: 0] += 1
            if case .adjust = decision { tainted.insert(project.id) }
            if let office = offices.first(where: { $0.code == project.office }), office.online, chance(60) {
                pull(office, crash: false, label: "op \(n) daemon")
            }
            done("decide")
        } catch { refused("decide", error) }
    }

    func resolveAtCentre(_ n: Int) {
        guard let conflict = pick((try? store.conflicts()) ?? []) else { return decide(n) }
        let f = conflict.record
        conflictKeys[conflict.id] = ReferenceModel.ConflictKey(
            rule: f["rule"]?.text ?? "", table: f["table"]?.text ?? "", row: f["row_id"]?.text ?? "", hlc: f["hlc"]?.text ?? "")
        let choice: ResolutionChoice = chance(50) ? .accept : .dismiss
        note("op \(n): centre resolves \(conflictKeys[conflict.id]!) with \(choice.rawValue)")
        do {
            try store.resolve(conflict: conflict.id, choice, note: "op \(n)")
            if let aggregate = f["aggregate_id"]?.text {
                centreWrites[aggregate, default: 0] += 1
                tainted.insert(aggregate)
            }
            done("centre_resolve")
        } catch { refused("centre_resolve", error) }
    }

    /// What a running daemon does after a local write: push at once, pull now and then.
    func daemon(_ office: ModelOffice, _ n: Int) {
        guard office.online && !office.retired else { return }
        push(office, fault: chance(80) ? .none : pickPushFault(), label: "op \(n) daemon")
        if chance(50) { pull(office, crash: chance(5), label: "op \(n) daemon") }
    }

    func toggleOnline(_ office: ModelOffice, _ n: Int) {
        office.online.toggle()
        note("op \(n): \(office.code) goes \(office.online ? "online" : "offline")")
        // Someone verifies now and then: the stored digests are brought up to date mid-case too.
        do { _ = try office.replica.storedDigestTree() } catch { Issue.record(error, "office \(office.code): bringing its stored digests up to date") }
        done("online")
    }

    func skewClock(_ office: ModelOffice, _ n: Int) {
        // Mostly a few seconds to minutes back (behind the centre's decisions); sometimes a day
        // back; sometimes right again.
        office.skew = chance(30) ? 0 : chance(80) ? -Double(int(1...600)) : -Double(int(1...2)) * 86_400
        note("op \(n): \(office.code)'s clock is now \(office.skew) s off")
        done("clock")
    }

    /// The office merge (77 into 79) or its undoing, or two offices stamping the same milliseconds.
    func mergeOrTie(_ n: Int) {
        if let retiring = offices.first(where: { $0.code == "77" && !$0.retired }), chance(60) {
            note("op \(n): centre merges office 77 into 79")
            do {
                _ = try store.merge([retiring.office], into: OfficeCode(unchecked: "79"))
                retiring.retired = true
                rehomed["77"] = "79"
                everMerged.insert("77")
                done("merge")
            } catch { problem("merge refused: \(error)") }
            return
        }
        if let retired = offices.first(where: { $0.code == "77" && $0.retired }), chance(40) {
            note("op \(n): centre undoes the merge of office 77")
            do {
                _ = try store.unmerge(retired.office, reason: "model: undone")
                retired.retired = false
                rehomed.removeValue(forKey: "77")
                heldRecalled.insert("79")
                done("unmerge")
            } catch { problem("unmerge refused: \(error)") }
            return
        }
        // Both push at the same instant, a little ahead of every clock so far: equal milliseconds.
        let at = Date().addingTimeInterval(0.05)
        let pair = active.shuffled(using: &random).prefix(2)
        note("op \(n): \(pair.map(\.code).joined(separator: " and ")) push stamped at the same millisecond")
        for office in pair { push(office, fault: .none, label: "op \(n)", now: at) }
        done("tie")
    }

    // MARK: Push and pull

    enum PushFault: CaseIterable {
        case none, lostAck, crashBeforeAck, centralCrash, reorder, resendOld
    }

    func pickPushFault() -> PushFault {
        chance(55) ? .none : pick(Array(PushFault.allCases.dropFirst()))!
    }

    /// Sends one changeset over the wire form, as the office's client and the centre's route do.
    func deliver(_ office: ModelOffice, _ changeset: Changeset) -> Result<PushResponse, CentralError> {
        let body = PushRequest(changeset: changeset).jsonData()
        do {
            let request = try PushRequest(jsonData: body)
            return .success(try store.apply(request.changeset, receivedJSON: request.receivedChangesetJSON, from: office.office))
        } catch let error as CentralError {
            return .failure(error)
        } catch {
            return .failure(CentralError(.badRequest, .badRequest, "\(error)"))
        }
    }

    /// Notes the projects of changes stamped before the centre's clock: an office does not observe
    /// the centre's clock, so such a change orders before decisions the office had already pulled.
    func noteStampsBehindCentre(_ changeset: Changeset) {
        guard let latest = try? store.database.read({ db in try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'hlc'") }),
            let centre = try? HLCTimestamp(parsing: latest)
        else { return }
        for change in changeset.changes where change.hlc < centre {
            if let project = change.table == .project ? change.id.rawValue : change.fields["project_id"]?.text { stampedBehind.insert(project) }
        }
    }

    /// The centre holds this changeset: its changes are part of what the reference model replays.
    func centreHolds(_ office: ModelOffice, _ changeset: Changeset) {
        office.centreHas[changeset.sequence.rawValue] = changeset
        if receivedChangesets.insert("\(office.code)/\(changeset.sequence.rawValue)").inserted {
            received.append(contentsOf: changeset.changes)
        }
    }

    /// Pushes until nothing is pending, as `SyncEngine.runCycle` does, with at most one fault.
    func push(_ office: ModelOffice, fault: PushFault, label: String, now: Date? = nil) {
        var sent = 0
        note("\(label): \(office.code) pushes (fault: \(fault))")
        if fault == .resendOld {
            // A delivery duplicated by the network, arriving late: an acknowledged changeset again.
            let acked = (try? office.replica.syncPosition().lastAcked) ?? 0
            if let old = pick(office.centreHas.values.filter { $0.sequence.rawValue <= acked }.sorted { $0.sequence < $1.sequence }) {
                switch deliver(office, old) {
                case .success(let answer) where answer.outcome == .duplicate: stats.duplicatesAnswered += 1
                case .success(let answer):
                    problem("\(label): re-sent changeset \(old.sequence) of \(office.code) was answered \(answer.outcome), not duplicate")
                case .failure(let error): problem("\(label): re-sent changeset \(old.sequence) of \(office.code) was refused: \(error.code) \(error)")
                }
            }
        }
        while sent < 50 {
            let changeset: Changeset?
            do {
                changeset = try office.replica.nextChangeset(maxChanges: Int.random(in: 1...6, using: &random), now: now ?? office.now)
            } catch {
                problem("\(label): \(office.code) could not make a changeset: \(error)")
                return
            }
            guard let changeset else { return }
            noteStampsBehindCentre(changeset)
            if fault == .reorder && sent == 0 && office.centreHas[changeset.sequence.rawValue] == nil,
                let ahead = try? office.replica.makeChangesetAhead(maxChanges: Int.random(in: 1...6, using: &random), now: now ?? office.now),
                ahead.sequence == changeset.sequence.next
            {
                // The later changeset overtakes the earlier one: the centre refuses the gap and applies nothing.
                switch deliver(office, ahead) {
                case .failure(let error) where error.code == .sequenceGap: stats.gapsRefused += 1
                case .failure(let error):
                    problem("\(label): changeset \(ahead.sequence) of \(office.code) sent early was refused with \(error.code), not sequence_gap")
                case .success(let answer):
                    problem("\(label): changeset \(ahead.sequence) of \(office.code) sent before \(changeset.sequence) was \(answer.outcome)")
                }
            }
            if fault == .centralCrash && sent == 0 { store.faults.arm(.centralAfterApplyBeforeResponse) }
            let expected: PushResponse.Outcome = office.centreHas[changeset.sequence.rawValue] == nil ? .applied : .duplicate
            switch deliver(office, changeset) {
            case .failure(let error) where fault == .centralCrash && sent == 0 && error.code == .storage:
                // The centre committed, then died before answering: the office hears nothing.
                centreHolds(office, changeset)
                stats.crashes += 1
                note("   centre crashed after applying changeset \(changeset.sequence)")
                return
            case .failure(let error) where error.code == .forbiddenOwner && heldRecalled.contains(office.code):
                // A change of a row that went back to 77: recorded as the engine does; the pull's
                // recall keeps it aside and unmakes this changeset.
                note("   changeset \(changeset.sequence) refused: \(error.message)")
                stats.refusedAfterUnmerge += 1
                do {
                    try office.replica.recordRefusal(
                        ChangesetRefusal(
                            sequence: changeset.sequence, code: error.code.rawValue, message: error.message, table: error.row?.table.rawValue,
                            id: error.row?.id))
                } catch { problem("\(label): \(office.code) could not record a refusal: \(error)") }
                return
            case .failure(let error):
                problem(
                    "\(label): the centre refused changeset \(changeset.sequence) of \(office.code): \(error.code) \(error) \(changeset.changes.map { "\($0.table.rawValue)/\($0.id.rawValue.suffix(8))" })"
                )
                return
            case .success(let answer):
                if answer.outcome != expected {
                    problem("\(label): changeset \(changeset.sequence) of \(office.code) was answered \(answer.outcome), expected \(expected)")
                }
                if answer.outcome == .duplicate { stats.duplicatesAnswered += 1 }
                centreHolds(office, changeset)
            }
            if sent == 0 && fault == .lostAck {
                note("   acknowledgement of changeset \(changeset.sequence) lost")
                return
            }
            if sent == 0 && fault == .crashBeforeAck {
                // The office dies between the centre's answer and recording it (the engine's seam).
                office.faults.arm(.afterPushBeforeAck)
                do { try office.faults.check(.afterPushBeforeAck) } catch { crash(office, label: "   after-push-before-ack") }
                return
            }
            do { try office.replica.acknowledge(changeset.sequence) } catch {
                problem("\(label): \(office.code) could not record an acknowledgement: \(error)")
                return
            }
            sent += 1
        }
    }

    /// Pulls until caught up, page by page with random page sizes; with `crash`, the process dies
    /// on one page after writing it and before saving the cursor (the transaction rolls back).
    func pull(_ office: ModelOffice, crash: Bool, label: String, pageSize: Int? = nil) {
        if office.retired {
            // The centre answers a merged office's pull with 410 office_merged.
            if (try? store.checkNotRetired(office.office)) != nil { problem("\(label): merged office \(office.code) may still pull") }
            return
        }
        if scenario.engineOrder, let acked = try? office.replica.syncPosition().lastAcked, office.centreHas.keys.contains(where: { $0 > acked }) {
            // The centre may hold a changeset whose answer was lost: the cycle's push comes first.
            push(office, fault: .none, label: "\(label) (push before pull)")
        }
        note("\(label): \(office.code) pulls\(crash ? " and crashes" : "")")
        let crashOnPage = crash ? Int.random(in: 0...2, using: &random) : -1
        for page in 0..<10_000 {
            do {
                let position = try office.replica.syncPosition()
                let own = position.ownChangesets.map { (since: $0.lowerBound - 1, through: $0.upperBound) }
                // As the centre's ChangeRoutes does through its TotalsRefresher.
                try store.refreshTotals()
                let answer = try store.page(for: office.office, after: position.cursor, limit: pageSize ?? Int.random(in: 1...40, using: &random), own: own)
                if page == crashOnPage {
                    office.faults.arm(.afterApplyBeforeCursorSave)
                    do {
                        _ = try office.replica.applyPulledPage(answer)
                        problem("\(label): the fault after-apply-before-cursor-save did not fire")
                    } catch {}
                    self.crash(office, label: "   after-apply-before-cursor-save")
                    if try office.replica.syncPosition().cursor != position.cursor {
                        problem("\(label): \(office.code)'s cursor moved although its page was not applied")
                    }
                    return
                }
                // With the centre's clock, as the engine passes the page's Promo-Clock header.
                stats.keptAside += try office.replica.applyPulledPage(answer, centreClock: store.clock()).keptAside
                if !answer.hasMore {
                    seen[office.code] = centreWrites
                    return
                }
            } catch {
                problem("\(label): \(office.code) could not pull: \(error)")
                return
            }
        }
        problem("\(label): \(office.code) never caught up")
    }

    /// The office's process dies; the replica is opened again from its file.
    func crash(_ office: ModelOffice, label: String) {
        note("\(label): \(office.code) crashes and reopens its replica")
        stats.crashes += 1
        do { office.replica = try Replica.open(at: office.path, faults: office.faults) } catch {
            problem("\(label): \(office.code)'s replica could not be reopened: \(error)")
        }
    }

    /// Every office pushes until nothing is pending and pulls until caught up, twice, without faults.
    func quiesce() {
        note("quiescence")
        for office in offices { office.skew = 0 }
        for round in 0..<2 {
            for office in offices { push(office, fault: .none, label: "quiesce \(round)") }
            for office in offices { pull(office, crash: false, label: "quiesce \(round)", pageSize: 500) }
        }
        for office in offices {
            if let pending = try? office.replica.pendingSummary(), pending.changes > 0 || pending.unacknowledgedChangesets > 0 {
                problem("after quiescence \(office.code) still has \(pending.changes) changes and \(pending.unacknowledgedChangesets) changesets pending")
            }
            if let refusal = try? office.replica.refusal() { problem("after quiescence \(office.code) still has a refused changeset: \(refusal.message)") }
        }
    }
}
