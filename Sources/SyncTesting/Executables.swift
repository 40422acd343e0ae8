import Foundation

/// The built programs, for tests that run them as a person would (their exit codes, messages and
/// permission checks): promo-sync and promo-central sit in the folder of the test bundle.
public enum Executables {
    /// The folder of the running test bundle, where the built programs are.
    public static var directory: String { URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path }

    /// The path of `tool` (`promo-sync`, `promo-central`).
    public static func path(_ tool: String) -> String { directory + "/" + tool }
}
