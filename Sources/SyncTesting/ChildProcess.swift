import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A program run as a child of the tests (or of the benchmark harness), started with
/// `posix_spawn` rather than Foundation's `Process`: on Linux `Process.run()` reads
/// `/proc/self/fd` past the end of glibc's buffer and crashes once the process holds some 1,300
/// descriptors (swift-corelibs-foundation #5472, fixed after Swift 6.3.1), which a full test run,
/// with its centres and offices, passes (2,280 were measured). Descriptors above standard error
/// are closed in the child.
public final class ChildProcess: Sendable {
    /// The child's process id.
    public let processIdentifier: Int32
    /// The read end of its standard output, when it was asked for (`captureOutput`).
    public let output: FileHandle?
    /// Its wait status once it was reaped.
    private let reaped = Mutex<Int32?>(nil)

    /// Starts `path` with `arguments` and `environment` (the whole environment); standard input
    /// from /dev/null, standard output to a pipe (`captureOutput`), a file or /dev/null, standard
    /// error to a file or /dev/null (`errorFile`; the same file as `outputFile` takes both).
    public init(
        path: String, arguments: [String], environment: [String: String], captureOutput: Bool = false, outputFile: String? = nil,
        errorFile: String? = nil
    ) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        var pipeEnds: [Int32] = [-1, -1]
        if captureOutput {
            guard pipe(&pipeEnds) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
            posix_spawn_file_actions_adddup2(&actions, pipeEnds[1], 1)
        } else {
            posix_spawn_file_actions_addopen(&actions, 1, outputFile ?? "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0o644)
        }
        if let errorFile, errorFile == outputFile, !captureOutput {
            posix_spawn_file_actions_adddup2(&actions, 1, 2)
        } else {
            posix_spawn_file_actions_addopen(&actions, 2, errorFile ?? "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0o644)
        }
        if let closeFrom = Self.closeFrom { _ = closeFrom(&actions, 3) }
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        // The child starts with no signal blocked: the spawning thread (one of the task pool's,
        // which block signals) would otherwise pass its mask on, and a daemon's `sync --now`
        // (SIGUSR1) never arrived. What the tests' process ignores, the child ignores too.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK))
        var pid: pid_t = 0
        let result = posix_spawn(&pid, path, &actions, &attributes, argv, envp)
        if captureOutput { close(pipeEnds[1]) }
        guard result == 0 else {
            if captureOutput { close(pipeEnds[0]) }
            throw POSIXError(POSIXErrorCode(rawValue: result) ?? .EIO)
        }
        processIdentifier = pid
        output = captureOutput ? FileHandle(fileDescriptor: pipeEnds[0], closeOnDealloc: true) : nil
    }

    /// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34 and later), which Swift's Glibc
    /// module does not declare.
    private static let closeFrom: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32)? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32).self)
    }()

    /// Whether it has not exited yet.
    public var isRunning: Bool { status(waiting: false) == nil }

    /// Blocks until it exits.
    public func waitUntilExit() { _ = status(waiting: true) }

    /// Its exit code (or 128 plus the signal that ended it); waits for it to exit.
    public var terminationStatus: Int32 {
        let status = self.status(waiting: true) ?? 0
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : 128 + signal
    }

    /// Sends SIGTERM, if it has not exited: once it is reaped its process id may be another's.
    public func terminate() { if isRunning { kill(processIdentifier, SIGTERM) } }

    private func status(waiting: Bool) -> Int32? {
        if let status = reaped.withLock({ $0 }) { return status }
        var status: Int32 = 0
        while true {
            let pid = waitpid(processIdentifier, &status, waiting ? 0 : WNOHANG)
            if pid == processIdentifier {
                reaped.withLock { $0 = status }
                return status
            }
            if pid == -1 && errno == EINTR { continue }
            // 0: still running; -1 (ECHILD): reaped by another waiter meanwhile.
            return pid == 0 ? nil : reaped.withLock { $0 } ?? status
        }
    }
}
