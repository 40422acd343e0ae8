import ArgumentParser
import Central
import Foundation
import SyncCore
import WireFormat

struct FleetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fleet",
        abstract: "The offices with what they run and when they were last seen; the releases the centre accepts.",
        discussion: "docs/OPERATIONS.md, \"Rolling out a release\": upgrade the centre first, then the offices in waves.",
        subcommands: [List.self, Limits.self], defaultSubcommand: List.self)

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Each office: release, protocol and schema versions, last seen, last changeset.")
        @OptionGroup var location: StoreLocation

        func run() async throws {
            let store = try await location.open(.reading)
            let limits = try store.fleetLimits()
            print(
                "accepted releases: \(limits.minOfficeVersion.map { "from \($0)" } ?? "any") \(limits.maxOfficeVersion.map { "up to \($0)" } ?? "and later")"
                    + " (this centre: promo-central \(SoftwareVersion.current), protocols \(WireProtocol.supportedVersions.lowerBound)–\(WireProtocol.supportedVersions.upperBound))"
            )
            print("office  release           protocol  schema  last seen             last changeset  state")
            for entry in try store.fleet() {
                let state = entry.mergedInto.map { "merged into \($0)" } ?? (entry.revoked ? "revoked" : "active")
                let accepted = limits.refusal(office: entry.office, software: entry.software, protocol: entry.protocolVersion) == nil
                print(
                    [
                        entry.office.rawValue.padding(toLength: 6, withPad: " ", startingAt: 0),
                        (entry.software ?? (entry.seenAt == nil ? "-" : "before 1.1.0")).padding(toLength: 17, withPad: " ", startingAt: 0),
                        (entry.protocolVersion.map(String.init) ?? "-").padding(toLength: 8, withPad: " ", startingAt: 0),
                        (entry.schemaVersion.map { "v\($0)" } ?? "-").padding(toLength: 6, withPad: " ", startingAt: 0),
                        (entry.seenAt ?? "never").padding(toLength: 21, withPad: " ", startingAt: 0),
                        String(entry.lastSequence.rawValue).padding(toLength: 14, withPad: " ", startingAt: 0),
                        state + (entry.seenAt != nil && !accepted ? ", refused by the limits" : ""),
                    ].joined(separator: "  "))
            }
        }
    }

    struct Limits: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show or set the releases of promo-sync the centre accepts (takes effect while serving, within seconds).",
            discussion: "Freeze a rollout: --max-office-version 1.1.0. Retire an old release: --min-office-version 1.1.0. Journaled.")
        @OptionGroup var location: StoreLocation
        @Option(help: "Refuse offices running an older release (426 upgrade_office).") var minOfficeVersion: String?
        @Option(help: "Refuse offices running a newer release (426 office_version_frozen).") var maxOfficeVersion: String?
        @Flag(help: "Remove the minimum.") var clearMin = false
        @Flag(help: "Remove the maximum.") var clearMax = false

        func validate() throws {
            if clearMin && minOfficeVersion != nil { throw ValidationError("give --min-office-version or --clear-min, not both") }
            if clearMax && maxOfficeVersion != nil { throw ValidationError("give --max-office-version or --clear-max, not both") }
        }

        func run() async throws {
            let changing = minOfficeVersion != nil || maxOfficeVersion != nil || clearMin || clearMax
            let store = try await location.open(changing ? .writing : .reading)
            var limits = try store.fleetLimits()
            if changing {
                if let minOfficeVersion { limits.minOfficeVersion = minOfficeVersion }
                if let maxOfficeVersion { limits.maxOfficeVersion = maxOfficeVersion }
                if clearMin { limits.minOfficeVersion = nil }
                if clearMax { limits.maxOfficeVersion = nil }
                try store.setFleetLimits(limits)
            }
            print("min_office_version = \(limits.minOfficeVersion ?? "(none)")")
            print("max_office_version = \(limits.maxOfficeVersion ?? "(none)")")
        }
    }
}
