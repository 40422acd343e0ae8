import Foundation
import SyncCore
import WireFormat

/// An office's health as the centre sees it: the health the office last reported (judged by the
/// rules of `promo-sync status`, on the office), made worse by what only the centre can see:
/// silence (the same rule as `status`'s "no pull for longer than an hour": an office that stops
/// cannot report it), an epoch other than the centre's, an office never seen.
struct FleetHealth: Sendable, Equatable {
    /// `ok`, `degraded` or `broken`; nil for an office that no longer syncs (revoked, merged).
    var level: OfficeReport.Health?
    var reasons: [String]

    static func evaluate(_ entry: FleetEntry, epoch: Epoch, now: Date, silentAfter: TimeInterval) -> FleetHealth {
        if let merged = entry.mergedInto { return FleetHealth(level: nil, reasons: ["đã sáp nhập vào \(merged) (merged)"]) }
        if entry.revoked { return FleetHealth(level: nil, reasons: ["mã truy cập đã thu hồi (token revoked)"]) }
        var level = OfficeReport.Health.ok
        var reasons: [String] = []
        func flag(_ l: OfficeReport.Health, _ reason: String) {
            level = max(level, l)
            reasons.append(reason)
        }
        guard let seen = Timestamps.parse(entry.seenAt) else {
            return FleetHealth(level: .degraded, reasons: ["chưa từng đồng bộ (never synced)"])
        }
        let pulled = Timestamps.parse(entry.lastPullAt) ?? seen
        let silence = now.timeIntervalSince(pulled)
        if silence > silentAfter {
            flag(.degraded, "không kéo dữ liệu \(Self.duration(silence)) (silent: no pull for \(Self.duration(silence, english: true)))")
        }
        if let report = entry.report {
            if let reported = report.epoch, reported != epoch.rawValue {
                flag(.broken, "epoch khác trung tâm (epoch \(reported) differs from the centre's)")
            }
            if report.health != .ok { flag(report.health, report.reason ?? "văn phòng báo \(report.health.rawValue)") }
        }
        return FleetHealth(level: level, reasons: reasons)
    }

    /// `40 giây`, `12 phút`, `3 giờ`, `2 ngày` (or `40 s`, `12 min`, `3 h`, `2 days`).
    static func duration(_ seconds: TimeInterval, english: Bool = false) -> String {
        let s = max(0, Int(seconds))
        if s < 60 { return "\(s) \(english ? "s" : "giây")" }
        if s < 3600 { return "\(s / 60) \(english ? "min" : "phút")" }
        if s < 86_400 { return "\(s / 3600) \(english ? "h" : "giờ")" }
        return "\(s / 86_400) \(english ? "days" : "ngày")"
    }

    var label: String {
        switch level {
        case .ok?: "Tốt (ok)"
        case .degraded?: "Chậm (degraded)"
        case .broken?: "Lỗi (broken)"
        case nil: "Ngừng (inactive)"
        }
    }

    var cssClass: String { level?.rawValue ?? "inactive" }

    /// Broken first, then degraded, ok, and offices that no longer sync last.
    var sortRank: Int {
        switch level {
        case .broken?: 0
        case .degraded?: 1
        case .ok?: 2
        case nil: 3
        }
    }
}
