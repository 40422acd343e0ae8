import Foundation
import Replica

extension SyncLock {
    /// Takes the sync lock of `replica`, waiting while another process syncs it (looking again
    /// every 50 ms); `waiting` is called once, when it must wait. Nil when `stop` turns true first
    /// (a daemon told to stop), or the task is cancelled.
    public static func wait(
        for replica: Replica, waiting: @Sendable () -> Void, stop: @Sendable () -> Bool = { false }
    ) async throws(SyncAgentError) -> SyncLock? {
        var told = false
        while true {
            do {
                if let lock = try take(replicaPath: replica.path) { return lock }
            } catch {
                throw SyncAgentError(error)
            }
            if stop() || Task.isCancelled { return nil }
            if !told {
                waiting()
                told = true
            }
            try? await Task.sleep(for: .milliseconds(50))
        }
    }
}
