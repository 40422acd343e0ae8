// Reference facts carried into the product from the project's reference sources
// (Decision 19/2025/QĐ-TTg province codes, Decree 45/2012 as amended by Decree 235/2025).
// The centre owns these and may change them at run time; this is the seed both sides start from.

/// A conference region of the ministry.
public enum Region: String, CaseIterable, Codable, Sendable {
    case north
    case centralHighlands = "central_highlands"
    case south

    /// The region's name for reports.
    public var displayName: String {
        switch self {
        case .north: "North"
        case .centralHighlands: "Central–Highlands"
        case .south: "South"
        }
    }
}

/// One of the 34 provincial units in force since 1 July 2025.
public struct Province: Hashable, Sendable {
    /// The two-digit code of Decision 19/2025, e.g. `79`.
    public let code: String
    /// The province's name in Vietnamese, e.g. `Tây Ninh`.
    public let name: String
    /// `tinh` (province) or `thanh_pho` (centrally run city).
    public let kind: String
    /// The conference region the province reports in.
    public let region: Region
    /// Codes of the former provinces merged into this one (its own code first where it kept it).
    public let mergedFrom: [String]
}

/// One of the 63 provinces before the July 2025 merger and the unit that succeeded it.
public struct FormerProvince: Hashable, Sendable {
    /// The former province's two-digit code, e.g. `02` (Hà Giang).
    public let code: String
    /// The former province's name in Vietnamese.
    public let name: String
    /// The code of the province in force that took it over (its own code where it kept it).
    public let successor: String
}

/// An activity content group of Decree 45/2012 Art. 4 (as amended by Decree 235/2025).
public struct ActivityCategory: Hashable, Sendable {
    /// The category's code as projects name it, e.g. `MH_TRINHDIEN`.
    public let code: String
    /// The category's name in Vietnamese.
    public let nameVi: String
    /// The category's name in English.
    public let nameEn: String
    /// The reporting group (1–6) this category is summed under.
    public let reportGroup: Int
    /// The legal text that provides for the category, e.g. `Decree 45/2012 Art. 4`.
    public let basis: String
}

/// One of the six groups the ministry reports progress in.
public struct ReportGroup: Hashable, Sendable {
    /// The group's number, 1 to 6.
    public let group: Int
    /// The group's name in English.
    public let nameEn: String
    /// The group's name in Vietnamese.
    public let nameVi: String
}

/// A ceiling on the support a project may receive, as data the centre owns and may change.
public struct SupportCap: Hashable, Sendable, Codable {
    /// A stable id, e.g. `national/MH_TRINHDIEN/*`.
    public var id: String { "\(fund.rawValue)/\(category)/\(province ?? "*")" }
    /// The fund source of the projects the cap applies to.
    public var fund: FundSource
    /// The activity category code of the projects the cap applies to, e.g. `MH_TRINHDIEN`.
    public var category: String
    /// nil: every province.
    public var province: String?
    /// Support may be at most this share of the total cost, in percent (nil: no share limit).
    public var maxPercentOfCost: Int64?
    /// Support may be at most this many VND (nil: no amount limit).
    public var maxAmount: Int64?

    /// Creates a cap from its parts; the amount is VND, the share whole percent.
    public init(fund: FundSource, category: String, province: String?, maxPercentOfCost: Int64?, maxAmount: Int64?) {
        self.fund = fund
        self.category = category
        self.province = province
        self.maxPercentOfCost = maxPercentOfCost
        self.maxAmount = maxAmount
    }

    /// Whether this cap binds a project of `fund` and `category` in `province` (a province in force).
    public func applies(fund: FundSource, category: String, province: String) -> Bool {
        self.fund == fund && self.category == category && (self.province == nil || self.province == province)
    }

    /// The most support this cap allows a project costing `totalCost`.
    public func limit(totalCost: Int64) -> Int64 {
        let share = maxPercentOfCost.map { totalCost.multipliedReportingOverflow(by: $0).overflow ? Int64.max : totalCost * $0 / 100 } ?? .max
        return min(share, maxAmount ?? .max)
    }

    /// Why `requested` for a project costing `totalCost` breaks this cap, or nil when it does not.
    public func violation(requested: Int64, totalCost: Int64) -> String? {
        if let percent = maxPercentOfCost {
            // requested / totalCost > percent / 100, in integers.
            let (lhs, o1) = requested.multipliedReportingOverflow(by: 100)
            let (rhs, o2) = totalCost.multipliedReportingOverflow(by: percent)
            if o1 || o2 || lhs > rhs {
                return
                    "support above the cap in force: at most \(percent) % of the total cost (\(totalCost) VND) for \(category), \(fund.rawValue) fund\(province.map { ", province \($0)" } ?? "")"
            }
        }
        if let max = maxAmount, requested > max {
            return "support above the cap in force: at most \(max) VND for \(category), \(fund.rawValue) fund\(province.map { ", province \($0)" } ?? "")"
        }
        return nil
    }
}

/// The seed reference data.
public enum ReferenceData {
    /// Support caps in force at the start (the centre changes them with `promo-central cap`):
    /// a national demonstration model gets at most 30 % of its cost and at most 1 bn VND.
    public static let supportCaps: [SupportCap] = [
        SupportCap(fund: .national, category: "MH_TRINHDIEN", province: nil, maxPercentOfCost: 30, maxAmount: 1_000_000_000)
    ]

    /// The 34 provinces in force, by code.
    public static let provinces: [Province] = [
        Province(code: "01", name: "Hà Nội", kind: "thanh_pho", region: .north, mergedFrom: ["01"]),
        Province(code: "04", name: "Cao Bằng", kind: "tinh", region: .north, mergedFrom: ["04"]),
        Province(code: "08", name: "Tuyên Quang", kind: "tinh", region: .north, mergedFrom: ["08", "02"]),
        Province(code: "11", name: "Điện Biên", kind: "tinh", region: .north, mergedFrom: ["11"]),
        Province(code: "12", name: "Lai Châu", kind: "tinh", region: .north, mergedFrom: ["12"]),
        Province(code: "14", name: "Sơn La", kind: "tinh", region: .north, mergedFrom: ["14"]),
        Province(code: "15", name: "Lào Cai", kind: "tinh", region: .north, mergedFrom: ["15", "10"]),
        Province(code: "19", name: "Thái Nguyên", kind: "tinh", region: .north, mergedFrom: ["19", "06"]),
        Province(code: "20", name: "Lạng Sơn", kind: "tinh", region: .north, mergedFrom: ["20"]),
        Province(code: "22", name: "Quảng Ninh", kind: "tinh", region: .north, mergedFrom: ["22"]),
        Province(code: "24", name: "Bắc Ninh", kind: "tinh", region: .north, mergedFrom: ["24", "27"]),
        Province(code: "25", name: "Phú Thọ", kind: "tinh", region: .north, mergedFrom: ["25", "26", "17"]),
        Province(code: "31", name: "Hải Phòng", kind: "thanh_pho", region: .north, mergedFrom: ["31", "30"]),
        Province(code: "33", name: "Hưng Yên", kind: "tinh", region: .north, mergedFrom: ["33", "34"]),
        Province(code: "37", name: "Ninh Bình", kind: "tinh", region: .north, mergedFrom: ["37", "35", "36"]),
        Province(code: "38", name: "Thanh Hóa", kind: "tinh", region: .north, mergedFrom: ["38"]),
        Province(code: "40", name: "Nghệ An", kind: "tinh", region: .north, mergedFrom: ["40"]),
        Province(code: "42", name: "Hà Tĩnh", kind: "tinh", region: .north, mergedFrom: ["42"]),
        Province(code: "44", name: "Quảng Trị", kind: "tinh", region: .centralHighlands, mergedFrom: ["44", "45"]),
        Province(code: "46", name: "Huế", kind: "thanh_pho", region: .centralHighlands, mergedFrom: ["46"]),
        Province(code: "48", name: "Đà Nẵng", kind: "thanh_pho", region: .centralHighlands, mergedFrom: ["48", "49"]),
        Province(code: "51", name: "Quảng Ngãi", kind: "tinh", region: .centralHighlands, mergedFrom: ["51", "62"]),
        Province(code: "52", name: "Gia Lai", kind: "tinh", region: .centralHighlands, mergedFrom: ["52", "64"]),
        Province(code: "56", name: "Khánh Hòa", kind: "tinh", region: .centralHighlands, mergedFrom: ["56", "58"]),
        Province(code: "66", name: "Đắk Lắk", kind: "tinh", region: .centralHighlands, mergedFrom: ["66", "54"]),
        Province(code: "68", name: "Lâm Đồng", kind: "tinh", region: .centralHighlands, mergedFrom: ["68", "67", "60"]),
        Province(code: "75", name: "Đồng Nai", kind: "tinh", region: .south, mergedFrom: ["75", "70"]),
        Province(code: "79", name: "Hồ Chí Minh", kind: "thanh_pho", region: .south, mergedFrom: ["79", "74", "77"]),
        Province(code: "80", name: "Tây Ninh", kind: "tinh", region: .south, mergedFrom: ["80", "72"]),
        Province(code: "82", name: "Đồng Tháp", kind: "tinh", region: .south, mergedFrom: ["82", "87"]),
        Province(code: "86", name: "Vĩnh Long", kind: "tinh", region: .south, mergedFrom: ["86", "83", "84"]),
        Province(code: "91", name: "An Giang", kind: "tinh", region: .south, mergedFrom: ["91", "89"]),
        Province(code: "92", name: "Cần Thơ", kind: "thanh_pho", region: .south, mergedFrom: ["92", "94", "93"]),
        Province(code: "96", name: "Cà Mau", kind: "tinh", region: .south, mergedFrom: ["96", "95"]),
    ]

    /// The 63 former provinces and their successors.
    public static let formerProvinces: [FormerProvince] = [
        FormerProvince(code: "01", name: "Hà Nội", successor: "01"),
        FormerProvince(code: "02", name: "Hà Giang", successor: "08"),
        FormerProvince(code: "04", name: "Cao Bằng", successor: "04"),
        FormerProvince(code: "06", name: "Bắc Kạn", successor: "19"),
        FormerProvince(code: "08", name: "Tuyên Quang", successor: "08"),
        FormerProvince(code: "10", name: "Lào Cai", successor: "15"),
        FormerProvince(code: "11", name: "Điện Biên", successor: "11"),
        FormerProvince(code: "12", name: "Lai Châu", successor: "12"),
        FormerProvince(code: "14", name: "Sơn La", successor: "14"),
        FormerProvince(code: "15", name: "Yên Bái", successor: "15"),
        FormerProvince(code: "17", name: "Hòa Bình", successor: "25"),
        FormerProvince(code: "19", name: "Thái Nguyên", successor: "19"),
        FormerProvince(code: "20", name: "Lạng Sơn", successor: "20"),
        FormerProvince(code: "22", name: "Quảng Ninh", successor: "22"),
        FormerProvince(code: "24", name: "Bắc Giang", successor: "24"),
        FormerProvince(code: "25", name: "Phú Thọ", successor: "25"),
        FormerProvince(code: "26", name: "Vĩnh Phúc", successor: "25"),
        FormerProvince(code: "27", name: "Bắc Ninh", successor: "24"),
        FormerProvince(code: "30", name: "Hải Dương", successor: "31"),
        FormerProvince(code: "31", name: "Hải Phòng", successor: "31"),
        FormerProvince(code: "33", name: "Hưng Yên", successor: "33"),
        FormerProvince(code: "34", name: "Thái Bình", successor: "33"),
        FormerProvince(code: "35", name: "Hà Nam", successor: "37"),
        FormerProvince(code: "36", name: "Nam Định", successor: "37"),
        FormerProvince(code: "37", name: "Ninh Bình", successor: "37"),
        FormerProvince(code: "38", name: "Thanh Hóa", successor: "38"),
        FormerProvince(code: "40", name: "Nghệ An", successor: "40"),
        FormerProvince(code: "42", name: "Hà Tĩnh", successor: "42"),
        FormerProvince(code: "44", name: "Quảng Bình", successor: "44"),
        FormerProvince(code: "45", name: "Quảng Trị", successor: "44"),
        FormerProvince(code: "46", name: "Thừa Thiên Huế", successor: "46"),
        FormerProvince(code: "48", name: "Đà Nẵng", successor: "48"),
        FormerProvince(code: "49", name: "Quảng Nam", successor: "48"),
        FormerProvince(code: "51", name: "Quảng Ngãi", successor: "51"),
        FormerProvince(code: "52", name: "Bình Định", successor: "52"),
        FormerProvince(code: "54", name: "Phú Yên", successor: "66"),
        FormerProvince(code: "56", name: "Khánh Hòa", successor: "56"),
        FormerProvince(code: "58", name: "Ninh Thuận", successor: "56"),
        FormerProvince(code: "60", name: "Bình Thuận", successor: "68"),
        FormerProvince(code: "62", name: "Kon Tum", successor: "51"),
        FormerProvince(code: "64", name: "Gia Lai", successor: "52"),
        FormerProvince(code: "66", name: "Đắk Lắk", successor: "66"),
        FormerProvince(code: "67", name: "Đắk Nông", successor: "68"),
        FormerProvince(code: "68", name: "Lâm Đồng", successor: "68"),
        FormerProvince(code: "70", name: "Bình Phước", successor: "75"),
        FormerProvince(code: "72", name: "Tây Ninh", successor: "80"),
        FormerProvince(code: "74", name: "Bình Dương", successor: "79"),
        FormerProvince(code: "75", name: "Đồng Nai", successor: "75"),
        FormerProvince(code: "77", name: "Bà Rịa – Vũng Tàu", successor: "79"),
        FormerProvince(code: "79", name: "Hồ Chí Minh", successor: "79"),
        FormerProvince(code: "80", name: "Long An", successor: "80"),
        FormerProvince(code: "82", name: "Tiền Giang", successor: "82"),
        FormerProvince(code: "83", name: "Bến Tre", successor: "86"),
        FormerProvince(code: "84", name: "Trà Vinh", successor: "86"),
        FormerProvince(code: "86", name: "Vĩnh Long", successor: "86"),
        FormerProvince(code: "87", name: "Đồng Tháp", successor: "82"),
        FormerProvince(code: "89", name: "An Giang", successor: "91"),
        FormerProvince(code: "91", name: "Kiên Giang", successor: "91"),
        FormerProvince(code: "92", name: "Cần Thơ", successor: "92"),
        FormerProvince(code: "93", name: "Hậu Giang", successor: "92"),
        FormerProvince(code: "94", name: "Sóc Trăng", successor: "92"),
        FormerProvince(code: "95", name: "Bạc Liêu", successor: "96"),
        FormerProvince(code: "96", name: "Cà Mau", successor: "96"),
    ]

    /// The activity categories.
    public static let categories: [ActivityCategory] = [
        ActivityCategory(
            code: "DT_NGHE", nameVi: "Đào tạo nghề, truyền nghề, phát triển nghề", nameEn: "Vocational training and craft transfer", reportGroup: 4,
            basis: "Decree 45/2012 Art. 4"),
        ActivityCategory(
            code: "NL_QUANLY", nameVi: "Nâng cao năng lực quản lý cơ sở công nghiệp nông thôn, khởi sự doanh nghiệp",
            nameEn: "Management capacity of rural industrial establishments, business start-up", reportGroup: 4, basis: "Decree 45/2012 Art. 4"),
        ActivityCategory(
            code: "MH_TRINHDIEN", nameVi: "Mô hình trình diễn kỹ thuật, chuyển giao công nghệ, ứng dụng máy móc thiết bị tiên tiến, sản xuất sạch hơn",
            nameEn: "Demonstration models, technology transfer, advanced machinery, cleaner production", reportGroup: 1, basis: "Decree 45/2012 Art. 4"),
        ActivityCategory(
            code: "SP_CNNT", nameVi: "Phát triển sản phẩm công nghiệp nông thôn tiêu biểu",
            nameEn: "Typical rural industrial products: contests, fairs, brands, showrooms", reportGroup: 2, basis: "Decree 45/2012 Art. 4"),
        ActivityCategory(
            code: "TUVAN_TT", nameVi: "Tư vấn, cung cấp thông tin, tuyên truyền", nameEn: "Consulting, information, propaganda", reportGroup: 5,
            basis: "Decree 45/2012 Art. 4"),
        ActivityCategory(
            code: "LK_CCN", nameVi: "Liên doanh, liên kết, hợp tác kinh tế, phát triển cụm công nghiệp",
            nameEn: "Linkages, associations, industrial clusters, pollution treatment", reportGroup: 3, basis: "Decree 45/2012 Art. 4"),
        ActivityCategory(
            code: "HTQT", nameVi: "Hợp tác quốc tế về khuyến công", nameEn: "International cooperation on industrial promotion", reportGroup: 6,
            basis: "Decree 45/2012 Art. 4"),
        ActivityCategory(
            code: "NL_TOCHUC", nameVi: "Nâng cao năng lực quản lý và tổ chức thực hiện khuyến công",
            nameEn: "Capacity of the industrial-promotion system itself", reportGroup: 6, basis: "Decree 45/2012 Art. 4"),
        ActivityCategory(
            code: "CDS", nameVi: "Chuyển đổi số trong sản xuất", nameEn: "Digital transformation in production", reportGroup: 1, basis: "Decree 235/2025"),
        ActivityCategory(
            code: "SXTDBV", nameVi: "Sản xuất và tiêu dùng bền vững", nameEn: "Sustainable production and consumption", reportGroup: 1, basis: "Decree 235/2025"
        ),
        ActivityCategory(
            code: "NGHE_NHAN", nameVi: "Hỗ trợ nghệ nhân bảo tồn, phát triển nghề", nameEn: "Support to artisans preserving crafts", reportGroup: 2,
            basis: "Decree 235/2025"),
    ]

    /// The six reporting groups.
    public static let reportGroups: [ReportGroup] = [
        ReportGroup(
            group: 1, nameEn: "Machinery, technology transfer, demonstration models, cleaner production",
            nameVi: "Máy móc thiết bị, chuyển giao công nghệ, mô hình trình diễn, sản xuất sạch hơn"),
        ReportGroup(group: 2, nameEn: "Rural industrial products", nameVi: "Sản phẩm công nghiệp nông thôn tiêu biểu"),
        ReportGroup(group: 3, nameEn: "Linkages and industrial clusters", nameVi: "Liên kết, cụm công nghiệp"),
        ReportGroup(group: 4, nameEn: "Human-resource training", nameVi: "Đào tạo nguồn nhân lực"),
        ReportGroup(group: 5, nameEn: "Propaganda and trade promotion", nameVi: "Tuyên truyền, xúc tiến thương mại"),
        ReportGroup(group: 6, nameEn: "Organisational capacity", nameVi: "Nâng cao năng lực tổ chức"),
    ]

    private static let provincesByCode: [String: Province] = Dictionary(
        uniqueKeysWithValues: provinces.map { ($0.code, $0) })
    private static let categoriesByCode: [String: ActivityCategory] = Dictionary(
        uniqueKeysWithValues: categories.map { ($0.code, $0) })

    /// The province in force with this code, if any.
    public static func province(code: String) -> Province? { provincesByCode[code] }

    /// Whether `code` is a province in force or a former one (records made under it keep its code).
    public static func isKnownProvince(_ code: String) -> Bool {
        provincesByCode[code] != nil || formerProvinces.contains { $0.code == code }
    }

    /// The province in force that `code` reports under: itself, or a former province's successor.
    public static func provinceInForce(_ code: String) -> String {
        provincesByCode[code] != nil ? code : formerProvinces.first { $0.code == code }?.successor ?? code
    }

    /// The activity category with this code, if any.
    public static func category(code: String) -> ActivityCategory? { categoriesByCode[code] }
}
