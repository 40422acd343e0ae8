import Foundation
import GRDB
import SyncCore

extension CentralStore {
    /// Writes a consistent copy of the store to `path` (SQLite's `VACUUM INTO`), safe while serving.
    public func backup(to path: String) throws(CentralError) {
        guard !FileManager.default.fileExists(atPath: path) else {
            throw CentralError(.conflict, .exists, "\(path) already exists", hint: "Choose a new file name for the backup.")
        }
        do {
            // A copy of the store is as private as the store, from its first byte (VACUUM INTO
            // fills an empty file).
            try Self.createOwnerOnly(path)
            do {
                try database.writeWithoutTransaction { db in try db.execute(sql: "VACUUM INTO ?", arguments: [path]) }
            } catch {
                try? FileManager.default.removeItem(atPath: path)
                throw error
            }
        } catch {
            throw CentralError(.internalServerError, .storage, "backup to \(path) failed: \(error)", hint: "Check the free space and permissions there.")
        }
    }

    /// Replaces the store at `storePath` with the backup at `backupPath` and starts a new epoch,
    /// so every office notices that the centre may have lost changes it had acknowledged.
    /// The previous store is kept beside it with a `.before-restore-…` suffix. The server must be stopped.
    @discardableResult
    public static func restore(from backupPath: String, to storePath: String, now: Date = Date()) throws(CentralError) -> Epoch {
        let fm = FileManager.default
        guard fm.fileExists(atPath: backupPath) else {
            throw CentralError(.notFound, .notFound, "no backup at \(backupPath)", hint: "Give the file written by promo-central backup.")
        }
        do {
            // Check the backup is a readable central store before touching anything.
            let check = try DatabaseQueue(
                path: backupPath,
                configuration: {
                    var c = Configuration()
                    c.readonly = true
                    return c
                }())
            _ = try check.read { db in try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'epoch'") }
            let later = try check.read { db in try migrator().hasBeenSuperseded(db) }
            try check.close()
            if later { throw newerRelease(backupPath) }
            if fm.fileExists(atPath: storePath) {
                let stamp = Int(now.timeIntervalSince1970)
                for suffix in ["", "-wal", "-shm"] where fm.fileExists(atPath: storePath + suffix) {
                    try fm.moveItem(atPath: storePath + suffix, toPath: storePath + ".before-restore-\(stamp)" + suffix)
                }
            }
            try fm.copyItem(atPath: backupPath, toPath: storePath)
            try restrictToOwner(storePath)
            let epoch = Epoch.random()
            let queue = try DatabaseQueue(path: storePath)
            // A backup from before the journal is brought up to it first, so the restore is journaled too.
            try migrator().migrate(queue)
            try queue.write { db in try restoredEpoch(db, epoch, now: now, position: nextPosition(db)) }
            try queue.close()
            return epoch
        } catch let error as CentralError {
            throw error
        } catch {
            throw CentralError(
                .internalServerError, .storage, "restore from \(backupPath) failed: \(error)",
                hint: "The backup must be a file written by promo-central backup; the current store was left as it was or kept aside.")
        }
    }

    /// Makes a new store file at `storePath` (owner-only) with this release's tables and no row:
    /// what a restore from the PostgreSQL record fills (`promo-central store restore --from`).
    /// Refuses a path where a store already is.
    public static func makeEmpty(at storePath: String) throws(CentralError) -> DatabaseQueue {
        guard !FileManager.default.fileExists(atPath: storePath) else {
            throw CentralError(
                .conflict, .exists, "a store already exists at \(storePath)",
                hint: "Restore into a new data folder, or move the old store aside first; a restore never overwrites a store.")
        }
        do {
            try createOwnerOnly(storePath)
            let queue = try DatabaseQueue(path: storePath)
            try queue.writeWithoutTransaction { try $0.execute(sql: "PRAGMA journal_mode = WAL") }
            try migrator().migrate(queue)
            return queue
        } catch {
            throw CentralError(.internalServerError, .storage, "cannot make a store at \(storePath): \(error)", hint: "Check the folder and its free space.")
        }
    }

    /// Starts a new epoch in a restored store, and journals it.
    static func restoredEpoch(_ db: Database, _ epoch: Epoch, now: Date, position: Int64) throws {
        try db.execute(sql: "UPDATE meta SET value = ? WHERE key = 'epoch'", arguments: [epoch.rawValue])
        try journal(db, .restored(.init(epoch: epoch.rawValue)), at: now, position: position)
    }
}
