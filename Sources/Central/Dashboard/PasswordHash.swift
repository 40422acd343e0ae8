import Crypto
import Foundation
import SyncCore
import _CryptoExtras

/// A dashboard user's password as stored: scrypt (RFC 7914) with a random salt, in the form
/// `scrypt$N$r$p$SALT$KEY` (salt and key hex). Costly on purpose: N = 2^15, r = 8, p = 1 takes
/// 32 MiB and about a tenth of a second per guess, so a copied store does not give up its
/// passwords to a fast search. The cost is in the stored form, so it can be raised later
/// without locking anyone out.
public enum PasswordHash {
    static let rounds = 1 << 15
    static let blockSize = 8
    static let parallelism = 1
    static let keyBytes = 32

    /// The shortest password `user add` accepts.
    public static let minimumLength = 12

    /// The stored form of a new password.
    public static func make(_ password: String) throws -> String {
        var salt = [UInt8](repeating: 0, count: 16)
        var generator = SystemRandomNumberGenerator()
        for i in salt.indices { salt[i] = UInt8.random(in: 0...255, using: &generator) }
        let key = try derive(password, salt: salt, rounds: rounds, blockSize: blockSize, parallelism: parallelism)
        return "scrypt$\(rounds)$\(blockSize)$\(parallelism)$\(Hex.string(salt))$\(Hex.string(key))"
    }

    /// Whether `password` is the one `stored` was made from. A malformed stored form matches nothing.
    public static func verify(_ password: String, against stored: String) -> Bool {
        let parts = stored.split(separator: "$", omittingEmptySubsequences: false)
        guard parts.count == 6, parts[0] == "scrypt", let n = Int(parts[1]), let r = Int(parts[2]), let p = Int(parts[3]),
            n >= 2, n <= 1 << 20, n & (n - 1) == 0, (1...32).contains(r), (1...16).contains(p),
            let salt = Hex.bytes(String(parts[4])), let expected = Hex.bytes(String(parts[5])), expected.count == keyBytes,
            let key = try? derive(password, salt: salt, rounds: n, blockSize: r, parallelism: p)
        else { return false }
        // Compared in constant time: how long a wrong guess takes says nothing of how wrong it was.
        return CentralStore.constantTimeEqual(key, expected)
    }

    static func derive(_ password: String, salt: [UInt8], rounds: Int, blockSize: Int, parallelism: Int) throws -> [UInt8] {
        let key = try KDF.Scrypt.deriveKey(
            from: Array(password.utf8), salt: salt, outputByteCount: keyBytes, rounds: rounds, blockSize: blockSize, parallelism: parallelism)
        return key.withUnsafeBytes { Array($0) }
    }
}
