import Foundation
@testable import Replica
import SyncCore
import SyncTesting
import Testing
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
