import Foundation
import Replica
import SyncCore

/// Reads the office token from its own file, refusing a file that others can read or write.
public enum TokenFile {
    public static func read(path: String) throws(SyncAgentError) -> String {
        guard let mode = FilePermissions.mode(at: path) else {
            throw SyncAgentError(.configuration, "cannot read the token file \(path)",
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
            throw SyncAgentError(.configuration, "the token file \(path) does not hold a token",
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
