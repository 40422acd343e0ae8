import Foundation
import SyncCore

extension FilePermissions {
    /// The permission bits of what is at `path`, following symbolic links (the target's mode is
    /// what guards it), or nil when nothing is there.
    public static func mode(at path: String) -> Int? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return Int(info.st_mode) & 0o7777
    }

    /// The problem with the mode of the file or folder at `path`, or nil when it is safe or
    /// absent (a missing file is for the caller to report in its own words).
    public static func check(_ kind: Kind, name: String, path: String) -> Problem? {
        mode(at: path).flatMap { problem(kind, name: name, path: path, mode: $0) }
    }
}
