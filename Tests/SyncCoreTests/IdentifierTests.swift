import Foundation
import Testing

@testable import SyncCore

@Suite struct IdentifierTests {
    @Test func rowIDsAreVersion7UUIDsThatSortByTime() throws {
        let early = RowID.make(now: Date(timeIntervalSince1970: 1_700_000_000))
        let late = RowID.make(now: Date(timeIntervalSince1970: 1_700_000_001))
        #expect(early < late)
        let text = early.rawValue
        #expect(text.count == 36)
        #expect(Array(text)[14] == "7")  // version nibble
        #expect("89ab".contains(Array(text)[19]))  // RFC variant
        #expect(try RowID(text) == early)
        #expect(UUID(uuidString: text) != nil)
    }

    @Test func rowIDTextIsExactFromItsBytes() {
        // A fixed generator pins the layout: 6 bytes of milliseconds, version and variant bits, 8-4-4-4-12.
        struct Counting: RandomNumberGenerator {
            var state: UInt64 = 0x0123_4567_89AB_CDEF
            mutating func next() -> UInt64 {
                defer { state &+= 0x1111_1111_1111_1111 }
                return state
            }
        }
        var generator = Counting()
        let id = RowID.make(now: Date(timeIntervalSince1970: 1_700_000_000.123), using: &generator)
        #expect(id.rawValue.count == 36)
        #expect(id.rawValue.hasPrefix("018bcfe5-687b-7"))  // 1,700,000,000,123 ms = 0x018bcfe5687b
        #expect(id.rawValue == id.rawValue.lowercased())
        #expect((try? RowID(id.rawValue)) == id)
        #expect(Hex.string([0x00, 0x0f, 0xa0, 0xff]) == "000fa0ff")
        #expect(Hex.string([]) == "")
        var out: [UInt8] = []
        Hex.append(UInt64(0x0123_4567_89ab_cdef), to: &out)
        Hex.appendUUID(high: 0xffff_ffff_0000_7000, low: 0x8000_0000_0000_00a1, to: &out)
        #expect(String(decoding: out, as: UTF8.self) == "0123456789abcdefffffffff-0000-7000-8000-0000000000a1")
    }

    @Test func rowIDsAreReadAsFoundationReadsUUIDsAndKeptInLowerCase() throws {
        // The byte-level reader accepts and refuses what Foundation's UUID(uuidString:) does, and spells
        // an accepted id in lower case as Foundation's text lower-cased.
        var samples = (0..<200).map { _ in UUID().uuidString }
        samples += (0..<50).map { _ in RowID.make().rawValue }
        samples += [
            "0192F1A4-7B3C-7D2E-8F00-1A2B3C4D5E6F", "0192f1a4-7B3C-7d2e-8F00-1a2b3c4d5e6f", "00000000-0000-0000-0000-000000000000",
            "0192f1a4-7b3c-7d2e-8f00-1a2b3c4d5e6", "0192f1a4-7b3c-7d2e-8f00-1a2b3c4d5e6f0", "0192f1a47b3c-7d2e-8f00-1a2b3c4d5e6f0",
            "0192f1a4_7b3c_7d2e_8f00_1a2b3c4d5e6f", "0192f1a4-7b3c-7d2e-8f00-1a2b3c4d5e6g", "{0192f1a4-7b3c-7d2e-8f00-1a2b3c4d5e}",
            "0192f1a4-7b3c-7d2e-8f00-1a2b3c4d5é", "", "p", "KB-1",
        ]
        for text in samples {
            let foundation = UUID(uuidString: text)?.uuidString.lowercased()
            #expect((try? RowID(text))?.rawValue == foundation, "\(text)")
        }
        // Stricter than Foundation (6.3), whose sscanf skips a blank before a group of digits.
        #expect((try? RowID(" 0192f1a4-7b3c-7d2e-8f00-1a2b3c4d5e6")) == nil)
        #expect(try RowID("0192F1A4-7B3C-7D2E-8F00-1A2B3C4D5E6F").rawValue == "0192f1a4-7b3c-7d2e-8f00-1a2b3c4d5e6f")
        let error = #expect(throws: SyncCoreError.self) { try RowID("KB-1") }
        #expect(error?.message.contains("not a UUID") == true)
    }

    @Test func officeCodesAreProvinceCodes() throws {
        #expect(try OfficeCode("79").rawValue == "79")
        #expect(try OfficeCode(" 96 ").rawValue == "96")
        // 77 (Bà Rịa – Vũng Tàu) was merged into 79 in 2025; its office runs until `office merge`.
        #expect(try OfficeCode("77").rawValue == "77")
        let error = #expect(throws: SyncCoreError.self) { try OfficeCode("99") }
        #expect(error?.hint?.contains("Decision 19/2025") == true)
    }

    @Test func referenceDataHasTheMergedProvinces() {
        #expect(ReferenceData.provinces.count == 34)
        #expect(ReferenceData.formerProvinces.count == 63)
        #expect(ReferenceData.categories.count == 11)
        let south = ReferenceData.provinces.filter { $0.region == .south }.map(\.code).sorted()
        #expect(south == ["75", "79", "80", "82", "86", "91", "92", "96"])
        // Every former province's successor is a province in force.
        for former in ReferenceData.formerProvinces {
            #expect(ReferenceData.province(code: former.successor) != nil, "\(former.code)")
        }
        #expect(Set(ReferenceData.categories.map(\.reportGroup)) == Set(1...6))
    }
}
