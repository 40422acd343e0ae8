import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Wall-clock timing, medians, child processes and their resource use, for the scenarios.
enum Harness {
    static func seconds(_ work: () throws -> Void) rethrows -> Double {
        let start = DispatchTime.now().uptimeNanoseconds
        try work()
        return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }

    static func seconds(_ work: () async throws -> Void) async rethrows -> Double {
        let start = DispatchTime.now().uptimeNanoseconds
        try await work()
        return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }

    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        guard !sorted.isEmpty else { return .nan }
        return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    }

    static func percentile(_ values: [Double], _ p: Double) -> Double {
        let sorted = values.sorted()
        guard !sorted.isEmpty else { return .nan }
        return sorted[min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.up)) - 1)]
    }

    /// The folder holding promo-sync and promo-central: the one this executable is in.
    static var binDirectory: String { URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path }

    static func temporaryDirectory(_ name: String) throws -> String {
        let path = NSTemporaryDirectory() + "promo-bench-\(name)-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// Runs a product binary to completion; throws with its standard error when it fails.
    @discardableResult
    static func run(_ tool: String, _ arguments: [String], environment: [String: String] = [:]) throws -> String {
        let process = try start(tool, arguments, environment: environment, stdout: true)
        let output = process.standardOutput as! Pipe
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw BenchError("\(tool) \(arguments.joined(separator: " ")) exited with \(process.terminationStatus)")
        }
        return String(decoding: data, as: UTF8.self)
    }

    static func start(_ tool: String, _ arguments: [String], environment: [String: String] = [:], stdout: Bool = false,
                      stderrFile: String? = nil) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binDirectory + "/" + tool)
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        env["PROMO_SYNC_LOG_LEVEL"] = env["PROMO_SYNC_LOG_LEVEL"] ?? "warning"
        env["PROMO_CENTRAL_LOG_LEVEL"] = env["PROMO_CENTRAL_LOG_LEVEL"] ?? "warning"
        process.environment = env
        if stdout { process.standardOutput = Pipe() }
        if let stderrFile {
            FileManager.default.createFile(atPath: stderrFile, contents: nil)
            process.standardError = FileHandle(forWritingAtPath: stderrFile)
        }
        try process.run()
        return process
    }

    /// A running process's memory (resident, and of that its own anonymous memory as opposed to
    /// shared library pages), CPU seconds (user + system), and context switches per thread.
    struct Usage {
        var rssBytes: Int64
        var anonymousBytes: Int64
        var cpuSeconds: Double
        var switchesByThread: [String: Int64]

        /// Context switches between two samples, counting only threads alive at both.
        func switches(since earlier: Usage) -> Int64 {
            switchesByThread.reduce(0) { total, entry in total + (earlier.switchesByThread[entry.key].map { entry.value - $0 } ?? 0) }
        }
    }

    static func usage(of pid: Int32) -> Usage? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return nil }
        func kilobytes(_ key: String) -> Int64 {
            for line in status.split(separator: "\n") where line.hasPrefix(key) {
                return (Int64(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "0") ?? 0) * 1024
            }
            return 0
        }
        // Fields after the command name (which may hold spaces) start at ") ".
        let after = stat[stat.range(of: ") ")!.upperBound...].split(separator: " ")
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        let cpu = (Double(after[11]) ?? 0) / ticks + (Double(after[12]) ?? 0) / ticks
        var switches: [String: Int64] = [:]
        for task in (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? [] {
            guard let s = try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/status", encoding: .utf8) else { continue }
            for line in s.split(separator: "\n") where line.contains("ctxt_switches:") {
                switches[task, default: 0] += Int64(line.split(separator: "\t").last.map { $0.trimmingCharacters(in: .whitespaces) } ?? "0") ?? 0
            }
        }
        return Usage(rssBytes: kilobytes("VmRSS:"), anonymousBytes: kilobytes("RssAnon:"), cpuSeconds: cpu, switchesByThread: switches)
    }

    static func fileSize(_ path: String) -> Int64 {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.int64Value ?? 0
    }

    static func megabytes(_ bytes: Int64) -> String { String(format: "%.1f MB", Double(bytes) / 1_048_576) }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A promo-central process on loopback with its own data folder.
final class CentralProcess {
    let directory: String
    let process: Process
    let url: String

    /// Starts `promo-central serve` on a free loopback port. The request rate limit is raised for
    /// the benchmarks (a thousand single-row syncs in a row is not an office's normal pace).
    init(directory: String) throws {
        self.directory = directory
        let portFile = directory + "/central.port"
        process = try Harness.start("promo-central", ["serve", "--data-dir", directory, "--host", "127.0.0.1", "--port", "0", "--port-file", portFile],
                                    environment: ["PROMO_CENTRAL_LIMITS_REQUESTS_PER_SECOND": "100000", "PROMO_CENTRAL_LIMITS_BURST": "100000"],
                                    stderrFile: directory + "/central.log")
        var port = ""
        for _ in 0..<300 {
            if let text = try? String(contentsOfFile: portFile, encoding: .utf8), !text.isEmpty { port = text.trimmingCharacters(in: .whitespacesAndNewlines); break }
            usleep(20_000)
        }
        guard !port.isEmpty else { throw BenchError("promo-central did not start; see \(directory)/central.log") }
        url = "http://127.0.0.1:\(port)"
    }

    /// Registers an office and writes its token file.
    func addOffice(_ code: String, tokenFile: String) throws {
        try Harness.run("promo-central", ["office", "add", code, "--data-dir", directory, "--token-file", tokenFile])
    }

    func stop() {
        process.terminate()
        process.waitUntilExit()
    }
}
