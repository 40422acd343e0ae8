import Foundation
import GRDB
import Replica
import SyncCore
import SyncTesting

#if canImport(Glibc)
    import Glibc
#endif

/// Wall-clock timing, medians, child processes and their resource use, for the scenarios.
public enum Harness {
    public static func seconds(_ work: () throws -> Void) rethrows -> Double {
        let start = DispatchTime.now().uptimeNanoseconds
        try work()
        return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }

    public static func seconds(_ work: () async throws -> Void) async rethrows -> Double {
        let start = DispatchTime.now().uptimeNanoseconds
        try await work()
        return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }

    /// Wall-clock seconds and this process's CPU seconds (all threads, user and system) spent by
    /// `work`. The CPU time leaves out the waits for the disk, which move with the machine.
    public static func wallAndCPUSeconds(_ work: () throws -> Void) rethrows -> (wall: Double, cpu: Double) {
        func cpuNow() -> Double {
            var now = timespec()
            clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now)
            return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
        }
        let cpuStart = cpuNow()
        let wall = try seconds(work)
        return (wall, cpuNow() - cpuStart)
    }

    public static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        guard !sorted.isEmpty else { return .nan }
        return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    }

    public static func percentile(_ values: [Double], _ p: Double) -> Double {
        let sorted = values.sorted()
        guard !sorted.isEmpty else { return .nan }
        return sorted[min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.up)) - 1)]
    }

    /// The folder holding promo-sync and promo-central: the one this executable is in.
    public static var binDirectory: String { URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path }

    /// A fresh folder, mode 700 whatever the umask: the data folders of the processes started
    /// here must pass their permission checks (docs/SECURITY.md).
    public static func temporaryDirectory(_ name: String) throws -> String {
        let path = NSTemporaryDirectory() + "promo-bench-\(name)-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        return path
    }

    /// Runs a product binary to completion; throws with its standard error when it fails.
    @discardableResult
    public static func run(_ tool: String, _ arguments: [String], environment: [String: String] = [:]) throws -> String {
        let process = try start(tool, arguments, environment: environment, stdout: true)
        let data = process.output?.readDataToEndOfFile() ?? Data()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw BenchError("\(tool) \(arguments.joined(separator: " ")) exited with \(process.terminationStatus)")
        }
        return String(decoding: data, as: UTF8.self)
    }

    /// Drops a file's clean pages from the page cache, so that the next process to map it reads
    /// it from disk.
    public static func evictFromPageCache(_ path: String) {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return }
        _ = posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED)
        close(fd)
    }

    /// Runs a system tool and returns its standard output, or nil when it cannot run or fails.
    public static func systemOutput(_ path: String, _ arguments: [String]) -> String? {
        guard let p = try? ChildProcess(path: path, arguments: arguments, environment: ProcessInfo.processInfo.environment, captureOutput: true)
        else { return nil }
        let data = p.output?.readDataToEndOfFile() ?? Data()
        p.waitUntilExit()
        return p.terminationStatus == 0 ? String(decoding: data, as: UTF8.self) : nil
    }

    /// Runs a system tool, ignoring its output; returns whether it succeeded.
    @discardableResult
    public static func runQuiet(_ path: String, _ arguments: [String]) -> Bool {
        systemOutput(path, arguments) != nil
    }

    public static func start(
        _ tool: String, _ arguments: [String], environment: [String: String] = [:], stdout: Bool = false,
        stderrFile: String? = nil
    ) throws -> ChildProcess {
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        env["PROMO_SYNC_LOG_LEVEL"] = env["PROMO_SYNC_LOG_LEVEL"] ?? "warning"
        env["PROMO_CENTRAL_LOG_LEVEL"] = env["PROMO_CENTRAL_LOG_LEVEL"] ?? "warning"
        if let stderrFile { _ = FileManager.default.createFile(atPath: stderrFile, contents: nil) }
        // A path runs that program (another release's); a bare name, this build's.
        return try ChildProcess(
            path: tool.hasPrefix("/") ? tool : binDirectory + "/" + tool, arguments: arguments, environment: env, captureOutput: stdout,
            errorFile: stderrFile)
    }

    /// A running process's memory (resident, and of that its own anonymous memory as opposed to
    /// shared library pages), CPU seconds (user + system), and context switches per thread.
    public struct Usage {
        public var rssBytes: Int64
        public var anonymousBytes: Int64
        public var cpuSeconds: Double
        public var switchesByThread: [String: Int64]

        /// Context switches between two samples, counting only threads alive at both.
        public func switches(since earlier: Usage) -> Int64 {
            switchesByThread.reduce(0) { total, entry in total + (earlier.switchesByThread[entry.key].map { entry.value - $0 } ?? 0) }
        }
    }

    public static func usage(of pid: Int32) -> Usage? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
        else { return nil }
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

    public static func fileSize(_ path: String) -> Int64 {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.int64Value ?? 0
    }

    public static func megabytes(_ bytes: Int64) -> String { String(format: "%.1f MB", Double(bytes) / 1_048_576) }
}

public struct BenchError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A promo-central process on loopback with its own data folder.
public final class CentralProcess {
    public let directory: String
    public private(set) var process: ChildProcess
    public let url: String
    public let port: Int

    /// Starts `promo-central serve` on a free loopback port. The request rate limit is raised for
    /// the benchmarks (a thousand single-row syncs in a row is not an office's normal pace).
    /// Added to the server's environment at every start (the power-cut campaign's LD_PRELOAD).
    public let environment: [String: String]

    /// With `tls`, it serves HTTPS with that certificate and key (the production path). With
    /// `waitUntilServing` false, returns once started (a standby centre listens only once it
    /// serves; see ``waitUntilServing(timeout:)``), and `requested` must name the port.
    public init(
        directory: String, port requested: Int = 0, environment: [String: String] = [:], tls: (certificate: String, key: String)? = nil,
        waitUntilServing: Bool = true
    ) throws {
        self.directory = directory
        var environment = environment
        if let tls {
            environment["PROMO_CENTRAL_SERVER_TLS_CERTIFICATE"] = tls.certificate
            environment["PROMO_CENTRAL_SERVER_TLS_KEY"] = tls.key
        }
        self.environment = environment
        process = try Self.launch(directory: directory, port: requested, environment: environment)
        if waitUntilServing {
            try Self.waitForPortFile(directory: directory, process: process, timeout: 30)
        } else {
            precondition(requested != 0, "a centre that is not waited for needs its port named")
        }
        let port = waitUntilServing ? (try? String(contentsOfFile: directory + "/central.port", encoding: .utf8)) ?? "" : "\(requested)"
        guard let number = Int(port.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw BenchError("promo-central did not start; see \(directory)/central.log")
        }
        self.port = number
        url = "\(tls == nil ? "http" : "https")://127.0.0.1:\(number)"
    }

    /// Waits until the centre writes its port file (it listens), failing early when it exits.
    static func waitForPortFile(directory: String, process: ChildProcess, timeout: Double) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let text = try? String(contentsOfFile: directory + "/central.port", encoding: .utf8), !text.isEmpty { return }
            guard process.isRunning else { throw BenchError("promo-central exited (\(process.terminationStatus)); see \(directory)/central.log") }
            usleep(20_000)
        }
        throw BenchError("promo-central did not listen within \(Int(timeout)) s; see \(directory)/central.log")
    }

    /// Waits until a centre started without waiting (a standby) serves.
    public func waitUntilServing(timeout: Double) throws {
        try Self.waitForPortFile(directory: directory, process: process, timeout: timeout)
    }

    static func launch(directory: String, port: Int, environment: [String: String]) throws -> ChildProcess {
        let portFile = directory + "/central.port"
        try? FileManager.default.removeItem(atPath: portFile)
        return try Harness.start(
            "promo-central", ["serve", "--data-dir", directory, "--host", "127.0.0.1", "--port", String(port), "--port-file", portFile],
            environment: environment.merging(["PROMO_CENTRAL_LIMITS_REQUESTS_PER_SECOND": "100000", "PROMO_CENTRAL_LIMITS_BURST": "100000"]) { a, _ in a },
            stderrFile: directory + "/central.log")
    }

    /// Kills the server with SIGKILL (no chance to finish anything).
    public func kill9() {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// Starts it again on the same port after a kill; waits until it answers unless told not to.
    public func restart(waitUntilServing: Bool = true) throws {
        process = try Self.launch(directory: directory, port: port, environment: environment)
        if waitUntilServing { try Self.waitForPortFile(directory: directory, process: process, timeout: 30) }
    }

    /// A self-signed certificate for 127.0.0.1 and its key (owner-only), made with openssl in
    /// `directory`: the centre serves it and the office trusts it as its CA bundle.
    public static func makeCertificate(in directory: String) throws -> (certificate: String, key: String) {
        let certificate = directory + "/centre.pem"
        let key = directory + "/centre.key"
        let made = Harness.runQuiet(
            "/usr/bin/openssl",
            [
                "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", certificate,
            ])
        guard made else { throw BenchError("openssl could not make a certificate (apt install openssl)") }
        chmod(key, 0o600)
        return (certificate, key)
    }

    /// Registers an office and writes its token file.
    public func addOffice(_ code: String, tokenFile: String) throws {
        try Harness.run("promo-central", ["office", "add", code, "--data-dir", directory, "--token-file", tokenFile])
    }

    /// Copies the store in `directory` (no centre serving it) into the empty PostgreSQL database at
    /// `url` (`promo-central store migrate`) and returns the environment that makes a centre
    /// started on it serve with that copy as its durable record (`store.postgres_url`).
    public static func durableRecord(directory: String, url: String) throws -> [String: String] {
        try Harness.run("promo-central", ["store", "migrate", "--data-dir", directory, "--to", url])
        return ["PROMO_CENTRAL_STORE_POSTGRES_URL": url]
    }

    /// Stops the server (SIGTERM) if it still runs; a second call does nothing.
    public func stop() {
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
    }
}

/// One office's folder: replica, token, and the central it syncs with.
public struct OfficeFolder: Sendable {
    public let directory: String
    public init(directory: String) { self.directory = directory }
    public var replicaPath: String { directory + "/" + Replica.fileName }
    public var tokenFile: String { directory + "/office.token" }

    /// Registers office `code` at the central and runs `promo-sync init` for it.
    public static func make(_ code: String, central: CentralProcess, name: String) throws -> OfficeFolder {
        let folder = OfficeFolder(directory: try Harness.temporaryDirectory(name))
        try central.addOffice(code, tokenFile: folder.tokenFile)
        try Harness.run("promo-sync", ["init", "--data-dir", folder.directory, "--office", code, "--central", central.url, "--token-file", folder.tokenFile])
        return folder
    }

    /// Runs a promo-sync command for this office under /usr/bin/time; returns seconds, peak RSS and output.
    public func timed(_ arguments: [String]) throws -> (seconds: Double, peakRSS: Int64, output: String) {
        let rssFile = directory + "/rss.txt"
        var output = ""
        let seconds = try Harness.seconds {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/time")
            process.arguments = ["-f", "%M", "-o", rssFile, Harness.binDirectory + "/promo-sync"] + arguments + ["--data-dir", directory]
            var env = ProcessInfo.processInfo.environment
            env["PROMO_SYNC_LOG_LEVEL"] = "warning"
            process.environment = env
            let pipe = Pipe()
            process.standardOutput = pipe
            try process.run()
            output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            // verify exits 1 when it finds differences; that is its answer, not a failure.
            guard process.terminationStatus == 0 || (arguments.first == "verify" && process.terminationStatus == 1) else {
                throw BenchError("promo-sync \(arguments.joined(separator: " ")) exited with \(process.terminationStatus)")
            }
        }
        let kb =
            Int64((try String(contentsOfFile: rssFile, encoding: .utf8)).trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "\n").last ?? "0")
            ?? 0
        return (seconds, kb * 1024, output)
    }
}
