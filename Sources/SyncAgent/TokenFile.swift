import Foundation
import Replica
import SyncCore
import Synchronization
import Transport

/// Reads the office token from its own file, refusing a file that others can read or write.
public enum TokenFile {
    /// The token in the file at `path`, without surrounding white space; refuses, as `configuration`, a missing, unsafe or empty file.
    public static func read(path: String) throws(SyncAgentError) -> String {
        guard let mode = FilePermissions.mode(at: path) else {
            throw SyncAgentError(
                .configuration, "cannot read the token file \(path)",
                hint: "Put the token printed by 'promo-central office add' in that file (chmod 600), or fix token_file in the settings.",
                transient: false)
        }
        if let problem = FilePermissions.problem(.token, name: "the token file", path: path, mode: mode) {
            throw SyncAgentError(.configuration, problem.message, hint: problem.hint, transient: false)
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SyncAgentError(.configuration, "cannot read the token file \(path)", hint: "Check that the service user owns it.", transient: false)
        }
        let token = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard !token.isEmpty, token.allSatisfy({ $0.isASCII && !$0.isWhitespace }) else {
            throw SyncAgentError(
                .configuration, "the token file \(path) does not hold a token",
                hint: "It should hold the one line printed by 'promo-central office add'.", transient: false)
        }
        return token
    }

    /// Writes a token file readable only by its owner.
    public static func write(_ token: String, to path: String) throws {
        let created = FileManager.default.createFile(atPath: path, contents: Data((token + "\n").utf8), attributes: [.posixPermissions: 0o600])
        if !created { throw CocoaError(.fileWriteUnknown) }
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: path)
    }
}

/// The token file as a ``TokenSource``: read again whenever the file changes (its inode, size or
/// modification time), so a token rotated at the centre and written to the file works at the
/// next request, without restarting the daemon (docs/OPERATIONS.md, Tokens). If the new file
/// cannot be read or is unsafe, the request fails with the reason and the hint, and the file is
/// read again at the next one.
public final class TokenFileSource: TokenSource {
    /// The token file's path.
    public let path: String
    private struct Read {
        var token: String
        var stamp: [Int]
    }
    private let last: Mutex<Read>

    /// Reads the file once now, so that a missing or unsafe file is reported at start.
    public init(path: String) throws(SyncAgentError) {
        self.path = path
        last = Mutex(Read(token: try TokenFile.read(path: path), stamp: Self.stamp(path)))
    }

    /// The token as the file holds it now, read again only when the file changed; a file that cannot be read or is unsafe fails the request.
    public func token() throws(TransportError) -> String {
        let stamp = Self.stamp(path)
        if let token = last.withLock({ $0.stamp == stamp ? $0.token : nil }) { return token }
        do {
            let token = try TokenFile.read(path: path)
            last.withLock { $0 = Read(token: token, stamp: stamp) }
            return token
        } catch {
            throw TransportError(.invalidRequest, error.message, hint: error.hint, transient: false)
        }
    }

    /// Whether the file changed (inode, size or modification time) since it was last read.
    public func changed() -> Bool { last.withLock { $0.stamp } != Self.stamp(path) }

    /// What tells a rewritten file: inode, size, modification time (ns); empty when it cannot be read.
    static func stamp(_ path: String) -> [Int] {
        var info = stat()
        guard stat(path, &info) == 0 else { return [] }
        return [Int(info.st_ino), Int(info.st_size), Int(info.st_mtim.tv_sec), Int(info.st_mtim.tv_nsec)]
    }
}
