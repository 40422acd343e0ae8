import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A power cut for one process's folder (docs/RELIABILITY.md, "Power cuts"): the process runs with
/// `libPowerCutShim.so` preloaded, which logs the size of every file of the folder it syncs to
/// disk; after the process is killed with SIGKILL, ``cut()`` truncates each SQLite file of the
/// folder to the size last made durable (a file not synced since the last cut or
/// ``markDurable()`` keeps its size then) and removes the `-shm` index, which lives in memory.
/// Only the process under the shim may write the folder between those points. A disk that keeps its promises holds
/// at least that after a power cut, so anything acknowledged must survive it.
///
/// Sizes only: bytes overwritten inside the durable size without a sync are kept, so the cut is
/// exact for appends (a WAL's new frames, a grown file) and lenient for overwrites.
public struct PowerCut {
    public let directory: String
    /// The SQLite files watched: those whose names start with this.
    public let filePrefix: String
    public let log: String
    private var baseline: [String: Int64] = [:]

    public init(directory: String, filePrefix: String) throws {
        self.directory = directory
        self.filePrefix = filePrefix
        log = try Harness.temporaryDirectory("power-cut") + "/synced.log"
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        baseline = sizes()
    }

    /// The shim, built beside the harness (`swift build` makes it with the release products).
    public static var shim: String { Harness.binDirectory + "/libPowerCutShim.so" }

    /// For the process's environment.
    public var environment: [String: String] {
        ["LD_PRELOAD": Self.shim, "PROMO_POWERCUT_DIR": directory, "PROMO_POWERCUT_LOG": log]
    }

    private func sizes() -> [String: Int64] {
        var sizes: [String: Int64] = [:]
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] where name.hasPrefix(filePrefix) {
            let path = directory + "/" + name
            sizes[path] = Harness.fileSize(path)
        }
        return sizes
    }

    /// Takes the folder as it is now as durable: call it after another program (without the shim)
    /// wrote to the folder and closed, since its syncs were not logged.
    public mutating func markDurable() throws {
        guard truncate(log, 0) == 0 else { throw BenchError("cannot empty \(log)") }
        baseline = sizes()
    }

    /// Cuts the folder back to what was durable; the process must be dead. Returns how many
    /// bytes were cut and from how many files.
    public mutating func cut() throws -> (files: Int, bytes: Int64) {
        var synced: [String: Int64] = [:]
        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        for line in text.split(separator: "\n") {
            guard let space = line.firstIndex(of: " "), let size = Int64(line[..<space]) else { continue }
            synced[String(line[line.index(after: space)...])] = size
        }
        var files = 0
        var bytes: Int64 = 0
        for (path, size) in sizes() {
            if path.hasSuffix("-shm") {
                try FileManager.default.removeItem(atPath: path)
                continue
            }
            let keep = synced[path] ?? baseline[path] ?? 0
            if size > keep {
                guard truncate(path, off_t(keep)) == 0 else { throw BenchError("cannot cut \(path) to \(keep) bytes: errno \(errno)") }
                files += 1
                bytes += size - keep
            }
        }
        try markDurable()
        return (files, bytes)
    }
}
