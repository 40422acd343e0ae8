// Fuzzes `Gzip.decompress(_:limit:)` (GzipCodec/Gzip.swift), which the centre runs on every
// gzip-encoded request body before reading it, with the body limit as `limit`.
//
// An input is two bytes of limit (big-endian, times 16: 0 to about 1 MB) and then the body. Besides
// "never traps, never hangs, never holds much more than the limit":
// - what comes out is never larger than the limit,
// - the limit is exact: the same body with the limit set to the output's size decompresses to the
//   same bytes, and with one byte less is refused as too large,
// - what comes out compresses and decompresses back to itself.
//
// zlib itself is the system's (not instrumented): the fuzzer steers by the wrapper's branches and
// the seeds (Fuzz/corpus/gzip) carry the interesting streams.

import Foundation
import FuzzSupport
import GzipCodec

@_cdecl("LLVMFuzzerTestOneInput") public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size >= 2 else { return 0 }
    let limit = (Int(data[0]) << 8 | Int(data[1])) * 16
    let body = Data(bytes: data + 2, count: size - 2)
    let output: Data
    do {
        output = try Gzip.decompress(body, limit: limit)
    } catch .tooLarge(let reported) {
        Fuzzing.expect(reported == limit, "refused with the limit \(reported) instead of \(limit)")
        return 0
    } catch {
        return 0
    }
    Fuzzing.expect(output.count <= limit, "\(output.count) bytes out with a limit of \(limit)")
    Fuzzing.expect((try? Gzip.decompress(body, limit: output.count)) == output, "the same body at a limit of exactly its size read differently")
    if !output.isEmpty {
        do {
            _ = try Gzip.decompress(body, limit: output.count - 1)
            Fuzzing.expect(false, "\(output.count) bytes out with a limit of \(output.count - 1)")
        } catch {
            Fuzzing.expect(error == .tooLarge(limit: output.count - 1), "one byte over the limit refused as \(error)")
        }
    }
    Fuzzing.expect((try? Gzip.decompress(Gzip.compress(output), limit: output.count)) == output, "the output does not survive compress and decompress")
    return 0
}

Fuzzing.run { data, size in fuzz(data!, size) }
