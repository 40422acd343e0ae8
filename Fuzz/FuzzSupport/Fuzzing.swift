import CFuzzer
import Foundation

/// What every fuzz target shares: starting libFuzzer, and failing on a broken property.
public enum Fuzzing {
    /// Runs libFuzzer with this process's arguments (`-max_total_time=60 CORPUS…`), feeding each
    /// input to `test`, and exits with libFuzzer's status.
    public static func run(_ test: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> Never {
        var argc = CommandLine.argc
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv, test))
    }

    /// Stops the process when a property of the decoder does not hold, so that libFuzzer keeps
    /// the input as a crash (`crash-…` under the artifact prefix) and prints it.
    public static func expect(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String,
                              file: StaticString = #fileID, line: UInt = #line) {
        guard !condition() else { return }
        FileHandle.standardError.write(Data("property failed (\(file):\(line)): \(message())\n".utf8))
        fatalError(message(), file: file, line: line)
    }
}
