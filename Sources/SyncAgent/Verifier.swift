import Foundation
import Logging
import Replica
import SyncCore
import Transport
import WireFormat

/// What a comparison with the centre found.
public struct VerifyReport: Sendable, Equatable {
    /// Tree nodes (`table/year/h1/h2`) whose digests differ.
    public var differingRanges: [String] = []
    /// Rows this office holds and the centre does not.
    public var localOnly: [String: [String]] = [:]
    /// Rows that differ, or that the centre holds and this office does not.
    public var centralNewer: [String: [String]] = [:]
    /// Digest requests made, one per level for each batch of differing nodes.
    public var requests = 0
    /// Bytes sent to the centre, on the wire (after compression).
    public var bytesSent: Int64 = 0
    /// Bytes received from the centre, on the wire (before decompression).
    public var bytesReceived: Int64 = 0
    /// Rows looked at in the leaves reached, the larger side of each; the rows of ranges that agree are not counted.
    public var rowsCompared = 0
    /// Rows this office hashed: those changed since the last verification, or every row when the
    /// stored digests were built (the first verification, or `full`).
    public var rowsHashed = 0

    /// Whether no range differs: this office and the centre hold the same rows.
    public var identical: Bool { differingRanges.isEmpty }
    /// One line, recorded for `promo-sync status`: `identical`, or how many ranges and rows differ.
    public var summary: String {
        identical
            ? "identical"
            : "\(differingRanges.count) ranges differ: \(localOnly.values.joined().count) rows only here, \(centralNewer.values.joined().count) rows newer or only at the centre"
    }
}

extension SyncEngine {
    /// Compares this office's rows with the centre's by hash tree, descending only into the
    /// nodes whose digests differ: the cost grows with the number of differences times the depth,
    /// not with the number of rows. The office's side is its stored digests, brought up to date
    /// with the rows changed since the last verification (``Replica/storedDigestTree(full:)``);
    /// `full` hashes every row again and trusts nothing stored. Changes no row.
    public func verify(full: Bool = false) async throws(SyncAgentError) -> VerifyReport {
        // The office brings its digests up to date while the centre hashes its own for the first
        // request: the two trees are made at the same time, not one after the other.
        let replica = self.replica
        let building = Task { () async -> Result<(tree: DigestTree, rowsHashed: Int), ReplicaError> in
            do throws(ReplicaError) {
                return .success(try await runBlocking { () throws(ReplicaError) in try replica.storedDigestTree(full: full) })
            } catch {
                return .failure(error)
            }
        }
        var report = VerifyReport()
        var frontier = [""]
        for level in 0...DigestTree.depth {
            var next: [String] = []
            // One round trip per level for every node that differs at it (in batches the centre accepts).
            var remote: [String: [String: String]] = [:]
            for start in stride(from: 0, to: frontier.count, by: WireProtocol.maxPageSize) {
                let batch = Array(frontier[start..<min(frontier.count, start + WireProtocol.maxPageSize)])
                let answer: CentralClient.Exchange<DigestsResponse>
                do { answer = try await client.digests(paths: batch) } catch { throw SyncAgentError(error) }
                report.requests += 1
                report.bytesSent += answer.bytesSent
                report.bytesReceived += answer.bytesReceived
                remote.merge(answer.value.nodes) { a, _ in a }
            }
            // Awaited once per level (at most six); the task keeps its result after the first.
            let local: DigestTree
            switch await building.value {
            case .success(let built):
                local = built.tree
                report.rowsHashed = built.rowsHashed
            case .failure(let error): throw SyncAgentError(error)
            }
            // The rows of the leaves reached are read from the stored digests.
            var leafRows: [String: [String: String]] = [:]
            if level == DigestTree.depth && local.rowCount == 0 {
                do { leafRows = try replica.storedDigestRows(leaves: frontier) } catch { throw SyncAgentError(error) }
            }
            for path in frontier {
                let mine = level == DigestTree.depth && local.rowCount == 0 ? leafRows[path] ?? [:] : local.children(of: path)
                let theirs = remote[path] ?? [:]
                for name in Set(mine.keys).union(theirs.keys).sorted() where mine[name] != theirs[name] {
                    if level < DigestTree.depth {
                        next.append(path.isEmpty ? name : "\(path)/\(name)")
                    } else {
                        // Leaves: `name` is a row id.
                        let table = String(path.split(separator: "/").first ?? "")
                        if theirs[name] == nil {
                            report.localOnly[table, default: []].append(name)
                        } else {
                            report.centralNewer[table, default: []].append(name)
                        }
                    }
                }
                if level == DigestTree.depth && mine != theirs { report.differingRanges.append(path) }
                report.rowsCompared += level == DigestTree.depth ? max(mine.count, theirs.count) : 0
            }
            frontier = next
            onProgress?(.compared(level: level, ranges: frontier.count))
            if frontier.isEmpty { break }
        }
        record("the verification") { () throws(ReplicaError) in try replica.recordVerification(report.summary) }
        return report
    }

    /// A forced resync when the epochs agree: push what is pending, compare digests, re-push the
    /// rows the centre lacks, fetch the rows where the centre differs, then sync. Safe to interrupt
    /// and run again.
    public func repair() async throws(SyncAgentError) -> (before: VerifyReport, after: VerifyReport) {
        let repaired = try await repair(rejoinedAt: nil) { () async throws(SyncAgentError) -> CycleReport in try await runCycle() }
        return (repaired.before, repaired.after)
    }

    /// What this office sent the centre after its changeset `sequence`, as the centre applied it;
    /// nil from a centre before 1.9.1, which cannot tell (404 or 405).
    func sentSince(_ sequence: ChangesetSequence) async throws(TransportError) -> SentChanges? {
        var sent = SentChanges()
        var after = sequence
        while true {
            let page: OwnChangesetsResponse
            do { page = try await client.ownChangesets(after: after) } catch {
                if error.status == 404 || error.status == 405 { return nil }
                throw error
            }
            for changeset in page.changesets { sent.add(changeset) }
            guard page.hasMore, let last = page.changesets.last?.sequence, last > after else { return sent }
            after = last
        }
    }

    /// The steps of ``repair()``, each sync made by `sync` (a whole cycle, or the steps of one the
    /// caller runs); returns what those syncs did, added up. `rejoinedAt`: a cycle rejoins the
    /// centre's chain by itself, and records when (``Replica/lastRejoin()``) with the rebase.
    func repair(
        rejoinedAt: Date?, sync: () async throws(SyncAgentError) -> CycleReport
    ) async throws(SyncAgentError) -> (report: CycleReport, before: VerifyReport, after: VerifyReport, withdrawn: Int) {
        // 1. Continue the changeset chain from what the centre holds (a replica restored from an
        //    old backup is behind it); unacknowledged changes are re-made on top, except what the
        //    lost server had sent already (``Replica/withdrawAlreadySent(_:)``).
        var withdrawn = 0
        do {
            let state = try await client.officeState()
            let position = try replica.status()
            if state.lastSequence != position.lastAckedSequence || position.pending.unacknowledgedChangesets > 0 {
                let sent = state.lastSequence > position.lastAckedSequence ? try await sentSince(position.lastAckedSequence) : nil
                try replica.rebaseChain(centralSequence: state.lastSequence, centralHash: state.lastHash, rejoinedAt: rejoinedAt)
                if let sent { withdrawn = try replica.withdrawAlreadySent(sent) }
            }
        } catch {
            throw SyncAgentError.wrap(error)
        }
        // 2. Push what is pending, then compare and fix only what differs.
        var report = try await sync()
        // After an outage nothing stored is trusted: every row is hashed again.
        let before = try await verify(full: true)
        // Parents first, so no changeset names a parent only a later one carries.
        for table in SyncedTable.parentsFirst {
            guard let ids = before.localOnly[table.rawValue] else { continue }
            do { try replica.queueForPush(table: table, ids: ids) } catch { throw SyncAgentError(error) }
        }
        let toFetch = before.centralNewer.values.reduce(0) { $0 + $1.count }
        var fetched = 0
        for (table, ids) in before.centralNewer {
            guard let t = SyncedTable(rawValue: table) else { continue }
            for start in stride(from: 0, to: ids.count, by: 1_000) {
                let chunk = Array(ids[start..<min(ids.count, start + 1_000)])
                do {
                    let answer = try await client.records(table: t, ids: chunk)
                    try replica.applyRecords(answer.value.records)
                } catch {
                    throw SyncAgentError.wrap(error)
                }
                fetched += chunk.count
                onProgress?(.fetched(rows: fetched, of: toFetch))
            }
        }
        report.add(try await sync())
        let after = try await verify()
        return (report, before, after, withdrawn)
    }
}

/// Rebuilds a damaged or lost replica from the centre.
public enum ReplicaRebuilder {
    /// What a rebuild did.
    public struct Outcome: Sendable {
        /// Records pulled from the centre into the new replica.
        public var recordsPulled: Int
        /// Rows and deletes rescued from the old file and the rescue copies, written into the new replica and pushed.
        public var rescuedChanges: Int
        /// What could not be read from the old file or the copies.
        public var unreadable: [String]
        /// Where the old file was kept aside (`….damaged-<time>`); nil when there was no old file.
        public var oldFileKeptAt: String?
        /// The daemon's rescue copies whose changes were taken back (renamed `….restored`).
        public var rescueCopies: [String]
    }

    /// What can be rescued from the file at `path` (nothing when there is no file) and from the
    /// rescue copies a daemon saved beside it when the file was deleted or replaced under it. A
    /// row found in several keeps the values of the file written last.
    public static func rescue(at path: String) -> RescuedChanges {
        let fm = FileManager.default
        func modified(_ file: String) -> Date {
            [file, file + "-wal"].compactMap { (try? fm.attributesOfItem(atPath: $0))?[.modificationDate] as? Date }.max() ?? .distantPast
        }
        var sources = Replica.rescueCopies(beside: path)
        if fm.fileExists(atPath: path) { sources.append(path) }
        var rescued = RescuedChanges()
        for source in sources.sorted(by: { modified($0) < modified($1) }) {
            var found = Replica.rescue(from: source)
            // A copy is marked taken only when all of it could be read; otherwise it stays for a person.
            if source != path && found.unreadable.isEmpty { found.copies = [source] }
            rescued.overlay(found)
        }
        return rescued
    }

    /// Builds a fresh replica from the centre's log page by page (memory stays at one page),
    /// writes the changes rescued from the old file (``rescue(at:)``) into it, swaps it in
    /// atomically keeping the old file aside, and pushes the rescued changes.
    public static func rebuild(
        at path: String, rescued: RescuedChanges, settings fallback: ReplicaSettings?, client: CentralClient,
        configuration: SyncEngineConfiguration, logger: Logger,
        onProgress: (@Sendable (SyncProgress) -> Void)? = nil
    ) async throws(SyncAgentError) -> Outcome {
        let fm = FileManager.default
        guard let settings = rescued.settings ?? fallback else {
            throw SyncAgentError(
                .configuration, "the old replica's settings cannot be read",
                hint: "Give them: promo-sync resync --rebuild --office CODE --central URL --token-file FILE", transient: false)
        }
        let building = path + ".rebuild"
        for suffix in ["", "-wal", "-shm"] { try? fm.removeItem(atPath: building + suffix) }
        do throws(any Error) {
            let state = try await client.officeState()
            let fresh = try Replica.create(at: building, settings: settings)
            try fresh.rebaseChain(centralSequence: state.lastSequence, centralHash: state.lastHash)
            let engine = SyncEngine(replica: fresh, client: client, configuration: configuration, logger: logger, onProgress: onProgress)
            let pulled = try await engine.runCycle()
            try fresh.restore(rescued)
            try fresh.checkpointAndClose()
            var aside: String?
            if fm.fileExists(atPath: path) || fm.fileExists(atPath: path + "-wal") {
                aside = try Replica.swap(rebuilt: building, into: path)
            } else {
                for suffix in ["-wal", "-shm", ""] where fm.fileExists(atPath: building + suffix) {
                    try fm.moveItem(atPath: building + suffix, toPath: path + suffix)
                }
            }
            // The rescued changes are in the new replica now: the copies have been taken back, even
            // if the push below fails (the daemon pushes them later).
            Replica.markTaken(rescued.copies)
            let replica = try Replica.open(at: path)
            try await SyncEngine(replica: replica, client: client, configuration: configuration, logger: logger, onProgress: onProgress).runCycle()
            return Outcome(
                recordsPulled: pulled.recordsPulled, rescuedChanges: rescued.count, unreadable: rescued.unreadable, oldFileKeptAt: aside,
                rescueCopies: rescued.copies)
        } catch {
            throw SyncAgentError.wrap(error)
        }
    }
}
