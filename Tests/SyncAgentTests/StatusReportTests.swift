import Foundation
import SyncCore
import SyncTesting
import Testing

@testable import Replica
@testable import SyncAgent

@Suite struct StatusReportTests {
    let now = Date(timeIntervalSince1970: 1_764_000_000)

    func base() throws -> ReplicaStatus {
        ReplicaStatus(
            settings: ReplicaSettings(office: try OfficeCode("79"), centralURL: "http://127.0.0.1:1", tokenFile: "/t"),
            position: SyncPosition(cursor: PullCursor(10), epoch: Epoch("e")),
            pending: PendingSummary(changes: 0, unacknowledgedChangesets: 0, oldestChangeAt: nil),
            lastSequence: ChangesetSequence(3), lastAckedSequence: ChangesetSequence(3),
            lastPushAt: now - 60, lastPullAt: now - 60, lastAttemptAt: now - 60, lastContactAt: now - 60,
            lastError: nil, lastErrorHint: nil, lastErrorAt: nil, lastErrorTransient: false, failingSince: nil,
            agentState: "idle", nextAttemptAt: nil, daemonPID: 4242, daemonHeartbeatAt: now - 60, epochMismatch: nil)
    }

    func evaluate(_ s: ReplicaStatus) -> StatusReport {
        StatusReport.evaluate(s, now: now, thresholds: StatusThresholds(), isRunning: { $0 == 4242 })
    }

    @Test func inSyncIsZero() throws {
        let report = evaluate(try base())
        #expect(report.health == .ok && report.exitCode == 0 && report.reasons.isEmpty)
        #expect(report.daemon.running && report.centralReachable == true)
    }

    @Test func centreDownPastTheThresholdIsDegraded() throws {
        var s = try base()
        s.failingSince = now - 16 * 60
        s.lastError = "cannot reach the centre"
        s.lastErrorTransient = true
        s.lastErrorAt = now - 5
        s.lastContactAt = now - 16 * 60
        let report = evaluate(s)
        #expect(report.exitCode == 1)
        #expect(report.centralReachable == false)
        // Briefly down is still fine.
        s.failingSince = now - 60
        #expect(evaluate(s).exitCode == 0)
    }

    @Test func oldPendingChangesAreDegraded() throws {
        var s = try base()
        s.pending = PendingSummary(changes: 12, unacknowledgedChangesets: 1, oldestChangeAt: now - 20 * 60)
        #expect(evaluate(s).exitCode == 1)
    }

    @Test func neverSyncedIsDegraded() throws {
        var s = try base()
        s.lastPullAt = nil
        #expect(evaluate(s).exitCode == 1)
    }

    @Test func aPermanentFailureOrAnEpochMismatchIsBroken() throws {
        var s = try base()
        s.failingSince = now - 10
        s.lastError = "the office token was refused"
        s.lastErrorTransient = false
        #expect(evaluate(s).exitCode == 2)
        s = try base()
        s.epochMismatch = "the centre's epoch changed"
        #expect(evaluate(s).exitCode == 2)
    }

    @Test func aMissingReplicaIsBroken() throws {
        let dir = try TemporaryDirectory()
        do {
            _ = try Replica.open(at: dir.file("replica.sqlite"))
            Issue.record("expected notInitialised")
        } catch {
            let report = StatusReport.broken(error.message, hint: error.hint)
            #expect(report.exitCode == 2)
            #expect(report.lastError?.hint?.contains("promo-sync init") == true)
        }
    }

    @Test func aStalePullAndOpenConflictsAreDegradedAndSayWhy() throws {
        var s = try base()
        s.lastPullAt = now - 61 * 60  // the threshold is an hour
        var report = evaluate(s)
        #expect(report.exitCode == 1 && report.reasons == ["last pull from the centre was 61 min ago"])
        s.lastPullAt = now - 59 * 60
        #expect(evaluate(s).exitCode == 0)

        s.openConflicts = 2
        report = evaluate(s)
        #expect(report.exitCode == 1 && report.reasons == ["2 conflicts wait for a person: promo-sync conflicts list"])
        // Degraded and broken together: the worse wins, every reason is listed.
        s.epochMismatch = "the centre's epoch changed"
        report = evaluate(s)
        #expect(report.health == .broken && report.exitCode == 2 && report.reasons.count == 2)
    }

    @Test func theReportForPeopleShowsHealthReasonsAndWhatToDo() throws {
        var s = try base()
        s.pending = PendingSummary(changes: 12, unacknowledgedChangesets: 1, oldestChangeAt: now - 20 * 60)
        s.failingSince = now - 20 * 60
        s.lastError = "cannot reach the centre at http://127.0.0.1:1"
        s.lastErrorHint = "Check the link; the daemon retries by itself."
        s.lastErrorTransient = true
        s.lastErrorAt = now - 5
        s.lastContactAt = now - 20 * 60
        let lines = evaluate(s).humanReadable().split(separator: "\n").map(String.init)
        #expect(lines.first == "promo-sync office 79 → http://127.0.0.1:1")
        #expect(lines.contains("health:        DEGRADED (exit 1)"))
        #expect(lines.contains("  - the centre has not been reached for 20 min"))
        #expect(lines.contains("  - 12 local changes wait to be pushed, the oldest for 20 min"))
        #expect(lines.contains("daemon:        running (pid 4242, idle)"))
        #expect(lines.contains("pending:       12 changes in 1 unacknowledged changesets, oldest 1200 s"))
        #expect(lines.contains("centre:        unreachable since \(Timestamps.format(now - 20 * 60))"))
        #expect(lines.contains("last verify:   never"))
        #expect(
            Array(lines.suffix(2)) == [
                "last error:    cannot reach the centre at http://127.0.0.1:1",
                "  hint: Check the link; the daemon retries by itself.",
            ])
    }

    @Test func aDeadDaemonIsReportedNotRunning() throws {
        var s = try base()
        s.daemonPID = 1_234_567
        let report = evaluate(s)
        #expect(report.daemon.running == false && report.daemon.pid == nil)
    }
}

@Suite struct BackoffTests {
    @Test func backoffGrowsExponentiallyWithJitterAndACap() {
        let schedule = DaemonSchedule()
        #expect(schedule.backoff(afterFailures: 1, random: 1) == .seconds(1))
        #expect(schedule.backoff(afterFailures: 4, random: 1) == .seconds(8))
        #expect(schedule.backoff(afterFailures: 40, random: 1) == .seconds(300))
        #expect(schedule.backoff(afterFailures: 4, random: 0.5) == .seconds(4))
        #expect(schedule.backoff(afterFailures: 4, random: 0) == .milliseconds(100))
    }
}

/// Status never says OK while nothing is pushing (the durability issue's cases).
@Suite struct StatusTruthTests {
    let now = Date(timeIntervalSince1970: 1_764_000_000)

    func base() throws -> ReplicaStatus { try StatusReportTests().base() }
    func evaluate(_ s: ReplicaStatus) -> StatusReport {
        StatusReport.evaluate(s, now: now, thresholds: StatusThresholds(), isRunning: { $0 == 4242 })
    }

    @Test func pendingChangesWithoutADaemonAreDegraded() throws {
        var s = try base()
        s.daemonPID = nil
        #expect(evaluate(s).exitCode == 0)
        // 6,507 captured changes no daemon has made into a changeset: no age, but not OK.
        s.pending = PendingSummary(changes: 6_507, unacknowledgedChangesets: 0, oldestChangeAt: nil)
        let report = evaluate(s)
        #expect(report.exitCode == 1)
        #expect(report.reasons == ["6507 local changes wait to be pushed and no daemon is running: systemctl start promo-sync (or promo-sync sync)"])
        // A dead daemon's pid counts as none.
        s.daemonPID = 999
        #expect(evaluate(s).exitCode == 1)
    }

    @Test(arguments: ["backing_off", "offline", "failed"])
    func aDaemonInBackoffIsDegradedWithItsNextAttempt(state: String) throws {
        var s = try base()
        s.agentState = state
        s.nextAttemptAt = now + 240
        s.failingSince = now - 30
        s.lastError = "the centre refused /v1/changes (503): the central store failed"
        s.lastErrorTransient = true
        let report = evaluate(s)
        #expect(report.exitCode == 1)
        #expect(report.reasons.count == 1)
        #expect(report.reasons[0].contains("next attempt at \(Timestamps.format(now + 240))"))
        #expect(report.reasons[0].contains("last error: the centre refused /v1/changes (503)"))
        // The same state from a daemon that is not running says nothing about backoff.
        s.daemonPID = nil
        #expect(evaluate(s).exitCode == 0)
    }
}
