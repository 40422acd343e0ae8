import Foundation
import SyncCore

extension FilePermissions {
    /// The problem with the mode of the file or folder at `path` (following symbolic links), or
    /// nil when it is safe or absent. Central's own reading of the mode; the rule is SyncCore's.
    static func checkFile(_ kind: Kind, name: String, path: String) -> Problem? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return problem(kind, name: name, path: path, mode: Int(info.st_mode) & 0o7777)
    }
}

extension CentralError {
    /// A file or folder whose mode lets other users in; nothing was opened.
    init(_ problem: FilePermissions.Problem) {
        self.init(.internalServerError, .unsafePermissions, problem.message, hint: problem.hint)
    }
}

extension CentralStore {
    /// Refuses the store at `path` before anything opens it when other users could read or change
    /// it: the file (or its `-wal` and `-shm` files) readable by others or writable by its group
    /// or others, or the folder holding it writable by its group or others. Every `promo-central`
    /// command calls this before opening the store (docs/SECURITY.md). Files that are not there
    /// are not checked.
    public static func checkPermissions(at path: String) throws(CentralError) {
        let folder = (path as NSString).deletingLastPathComponent
        let files: [(FilePermissions.Kind, String, String)] = [
            (.database, "the central store", path),
            (.database, "the central store's write-ahead log", path + "-wal"),
            (.database, "the central store's shared-memory file", path + "-shm"),
            (.dataFolder, "the data folder", folder.isEmpty ? "." : folder),
        ]
        for (kind, name, file) in files {
            if let problem = FilePermissions.checkFile(kind, name: name, path: file) { throw CentralError(problem) }
        }
    }

    /// Makes a store file the program just wrote its owner's only (the `-wal` and `-shm` files
    /// SQLite makes later take the same mode).
    static func restrictToOwner(_ path: String) throws {
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: path)
    }

    /// Makes an empty file only its owner may read or write, for SQLite to fill (a new store, or
    /// a backup that `VACUUM INTO` writes): it is never readable by others, even while written.
    static func createOwnerOnly(_ path: String) throws {
        guard FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600]) else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
        }
        try restrictToOwner(path)
    }
}
