import Testing

@testable import SyncCore

/// The one rule for who may read and write each kind of file (docs/SECURITY.md, "Files at rest").
@Suite struct FilePermissionsTests {
    @Test(
        arguments: [
            // kind, mode, refused?
            (FilePermissions.Kind.token, 0o600, false), (.token, 0o400, false), (.token, 0o640, true), (.token, 0o604, true), (.token, 0o620, true),
            (.database, 0o600, false), (.database, 0o640, false), (.database, 0o660, true), (.database, 0o604, true), (.database, 0o644, true),
            (.privateKey, 0o600, false), (.privateKey, 0o640, false), (.privateKey, 0o644, true), (.privateKey, 0o660, true),
            (.dataFolder, 0o700, false), (.dataFolder, 0o750, false), (.dataFolder, 0o755, false), (.dataFolder, 0o775, true),
            (.dataFolder, 0o777, true), (.dataFolder, 0o1777, true), (.dataFolder, 0o757, true),
            (.configuration, 0o600, false), (.configuration, 0o640, false), (.configuration, 0o644, false), (.configuration, 0o664, true),
            (.configuration, 0o646, true),
        ] as [(FilePermissions.Kind, Int, Bool)])
    func eachKindRefusesWhatOthersCouldMisuse(kind: FilePermissions.Kind, mode: Int, refused: Bool) {
        let problem = FilePermissions.problem(kind, name: "the file", path: "/srv/x", mode: mode)
        #expect((problem != nil) == refused, "\(kind) \(String(mode, radix: 8))")
        guard let problem else { return }
        #expect(problem.message.hasPrefix("the file /srv/x can be "))
        #expect(problem.message.hasSuffix("(mode \(String(mode, radix: 8)))"))
        switch kind {
        case .token, .privateKey, .database: #expect(problem.hint == "Try: chmod 600 /srv/x")
        case .dataFolder, .configuration: #expect(problem.hint == "Try: chmod go-w /srv/x")
        }
    }

    @Test func theMessageSaysWhetherOthersCanReadOrWrite() {
        #expect(
            FilePermissions.problem(.database, name: "the replica", path: "/r", mode: 0o644)?.message == "the replica /r can be read by other users (mode 644)")
        #expect(
            FilePermissions.problem(.database, name: "the replica", path: "/r", mode: 0o660)?.message
                == "the replica /r can be written by other users (mode 660)")
        #expect(
            FilePermissions.problem(.database, name: "the replica", path: "/r", mode: 0o666)?.message
                == "the replica /r can be read or written by other users (mode 666)")
        #expect(
            FilePermissions.problem(.dataFolder, name: "the data folder", path: "/d", mode: 0o777)?.message
                == "the data folder /d can be written by other users (mode 777)")
    }
}
