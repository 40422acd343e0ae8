/// Who besides its owner may read or write each file the two programs trust, and the `chmod`
/// that fixes a mode letting more in (docs/SECURITY.md, "Files at rest"). The rule for each kind
/// is written here once; the modules that read modes from the file system (Replica, SyncAgent,
/// Central) ask it, and every command of both programs goes through them.
public enum FilePermissions {
    /// What a file is for, which decides who may read and write it.
    public enum Kind: String, Sendable, CaseIterable {
        /// The office token: a bearer secret, its owner only.
        case token
        /// A TLS private key: no other users. Its group may read it (Debian's `ssl-cert` group
        /// convention) but not change it.
        case privateKey = "private_key"
        /// The replica or the central store, and their `-wal` and `-shm` files. Whoever can write
        /// one can change the records, the central URL and the token file path the office uses,
        /// so only the owner writes; its group may read (a backup user), others nothing.
        case database
        /// The folder holding a database: whoever can write it can put files there (a `-wal` the
        /// next open replays) or swap the database for another, so only the owner writes.
        case dataFolder = "data_folder"
        /// A configuration file: it names the data folder, the central URL and the token file,
        /// so only the owner writes it. Reading it is harmless (it holds no secret).
        case configuration
    }

    /// The permission bits refused for a kind of file.
    public static func refusedBits(_ kind: Kind) -> Int {
        switch kind {
        case .token: 0o077
        case .privateKey, .database: 0o027
        case .dataFolder, .configuration: 0o022
        }
    }

    /// A refused mode: what is wrong, naming the file and its mode, and the `chmod` that fixes it.
    public struct Problem: Sendable, Equatable, CustomStringConvertible {
        /// What is wrong: the file, its path and mode, and who else may read or write it.
        public var message: String
        /// The `chmod` that fixes it, e.g. `Try: chmod 600 /var/lib/promo-sync/office.token`.
        public var hint: String
        /// The message, then the hint.
        public var description: String { "\(message). \(hint)" }
    }

    /// The problem with `mode` (the permission bits, as `stat` gives them) for a file of `kind`
    /// at `path`, or nil when the mode is safe. `name` says what the file is in the message
    /// ("the replica", "the central store").
    public static func problem(_ kind: Kind, name: String, path: String, mode: Int) -> Problem? {
        let refused = mode & refusedBits(kind)
        guard refused != 0 else { return nil }
        let octal = String(mode & 0o7777, radix: 8)
        let readable = refused & 0o044 != 0
        let writable = refused & 0o022 != 0
        let access = readable && writable ? "read or written" : writable ? "written" : readable ? "read" : "used"
        let message = "\(name) \(path) can be \(access) by other users (mode \(octal))"
        switch kind {
        case .token, .privateKey, .database:
            return Problem(message: message, hint: "Try: chmod 600 \(path)")
        case .dataFolder, .configuration:
            return Problem(message: message, hint: "Try: chmod go-w \(path)")
        }
    }
}
