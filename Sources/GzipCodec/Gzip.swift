import CZlib
import Foundation

/// gzip (RFC 1952) compression over the system zlib, for request and response bodies.
public enum Gzip {
    /// Why a body could not be decompressed.
    public enum Failure: Error, Sendable, Equatable {
        /// Not gzip, or damaged.
        case invalid(String)
        /// It would decompress to more than the limit (a "zip bomb" is refused, not expanded).
        case tooLarge(limit: Int)
    }

    /// Compresses `data` at a middle level (fast, and most of the gain on JSON).
    public static func compress(_ data: Data, level: Int32 = 5) -> Data {
        var stream = z_stream()
        guard ps_deflate_init_gzip(&stream, level) == Z_OK else { return data }
        defer { deflateEnd(&stream) }
        var output = Data(count: Int(deflateBound(&stream, UInt(data.count))) + 32)
        let written: Int = data.withUnsafeBytes { input in
            output.withUnsafeMutableBytes { out in
                stream.next_in = UnsafeMutablePointer(mutating: input.bindMemory(to: Bytef.self).baseAddress)
                stream.avail_in = uInt(input.count)
                stream.next_out = out.bindMemory(to: Bytef.self).baseAddress
                stream.avail_out = uInt(out.count)
                let result = deflate(&stream, Z_FINISH)
                return result == Z_STREAM_END ? Int(stream.total_out) : -1
            }
        }
        guard written >= 0 else { return data }
        output.count = written
        return output
    }

    /// Decompresses gzip `data`, refusing to produce more than `limit` bytes.
    public static func decompress(_ data: Data, limit: Int) throws(Failure) -> Data {
        var stream = z_stream()
        guard ps_inflate_init_gzip(&stream) == Z_OK else { throw .invalid("zlib could not start") }
        defer { inflateEnd(&stream) }
        var output = Data()
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        let status: Int32 = data.withUnsafeBytes { input in
            stream.next_in = UnsafeMutablePointer(mutating: input.bindMemory(to: Bytef.self).baseAddress)
            stream.avail_in = uInt(input.count)
            while true {
                let result: Int32 = chunk.withUnsafeMutableBufferPointer { buffer in
                    stream.next_out = buffer.baseAddress
                    stream.avail_out = uInt(buffer.count)
                    return inflate(&stream, Z_NO_FLUSH)
                }
                let produced = chunk.count - Int(stream.avail_out)
                output.append(contentsOf: chunk[0..<produced])
                if output.count > limit { return Z_MEM_ERROR }
                if result == Z_STREAM_END { return Z_STREAM_END }
                if result != Z_OK { return result }
                if stream.avail_in == 0 && produced == 0 { return Z_BUF_ERROR }
            }
        }
        if output.count > limit { throw .tooLarge(limit: limit) }
        guard status == Z_STREAM_END else { throw .invalid("the gzip stream is damaged or cut short") }
        guard stream.avail_in == 0 else { throw .invalid("bytes follow the end of the gzip stream") }
        return output
    }
}
