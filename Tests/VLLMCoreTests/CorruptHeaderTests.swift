import Foundation
import Testing
import VLLMCore
import VLLMTestSupport

/// Safetensors and GGUF headers whose numbers are corrupt (lengths past `Int.max`, negative or
/// overflowing shapes) give an error naming the file instead of trapping in an unchecked conversion
/// or multiplication.
@Suite struct CorruptHeaderTests {
    /// Writes `bytes` to a temporary file and returns the error of opening it with `open`.
    func error(_ bytes: Data, suffix: String, _ open: (String) throws -> Void) -> String {
        let path = NSTemporaryDirectory() + "vllm-corrupt-\(UUID().uuidString)" + suffix
        FileManager.default.createFile(atPath: path, contents: bytes)
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            try open(path)
            return "no error"
        } catch {
            #expect("\(error)".hasPrefix(path), "the error names the file: \(error)")
            return "\(error)"
        }
    }

    /// A safetensors file: the 8-byte header length, the header JSON, then `dataBytes` zero bytes.
    func safetensors(header: String, length: UInt64? = nil, dataBytes: Int = 0) -> Data {
        let json = Data(header.utf8)
        var data = Data()
        withUnsafeBytes(of: (length ?? UInt64(json.count)).littleEndian) { data.append(contentsOf: $0) }
        data.append(json)
        data.append(Data(count: dataBytes))
        return data
    }

    func safetensorsError(_ bytes: Data) -> String {
        error(bytes, suffix: ".safetensors") { _ = try SafetensorsFile(path: $0) }
    }

    @Test func safetensorsHeaderLengthPastIntMax() {
        let message = safetensorsError(safetensors(header: "{}", length: .max))
        #expect(message.hasSuffix("header length 18446744073709551615 does not fit in a file of 10 bytes (truncated?)"), "\(message)")
    }

    @Test func safetensorsNegativeShape() {
        let header = #"{"w": {"dtype": "F32", "shape": [-2, -3], "data_offsets": [0, 24]}}"#
        let message = safetensorsError(safetensors(header: header, dataBytes: 24))
        #expect(message.hasSuffix("tensor 'w' has shape [-2, -3], which is negative or too large"), "\(message)")
    }

    @Test func safetensorsShapePastIntMax() {
        let header = #"{"w": {"dtype": "F32", "shape": [1099511627776, 1099511627776], "data_offsets": [0, 4]}}"#
        let message = safetensorsError(safetensors(header: header, dataBytes: 4))
        #expect(message.hasSuffix("which is negative or too large"), "\(message)")
    }

    /// A GPTQ `qweight` tagged F32 (the bytes of I32 words) is refused, not unpacked as if it were
    /// words: the loader reads packed tensors by their bytes, so only the tag can catch it.
    @Test func packedWordsOfTheWrongDType() throws {
        let folder = NSTemporaryDirectory() + "vllm-corrupt-\(UUID().uuidString)"
        try FileManager.default.copyItem(atPath: RepositoryFiles.path("Tests/Fixtures/quantized/gptq-int4-actorder"), toPath: folder)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = folder + "/model.safetensors"
        let whole = try Data(contentsOf: URL(fileURLWithPath: path))
        let length = Int(whole.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        var header = try #require(try JSONSerialization.jsonObject(with: whole[8..<(8 + length)]) as? [String: Any])
        let name = "model.layers.0.self_attn.q_proj.qweight"
        var entry = try #require(header[name] as? [String: Any])
        #expect(entry["dtype"] as? String == "I32")
        entry["dtype"] = "F32"
        header[name] = entry
        let json = try JSONSerialization.data(withJSONObject: header)
        var rewritten = withUnsafeBytes(of: UInt64(json.count).littleEndian) { Data($0) }
        rewritten.append(json)
        rewritten.append(whole[(8 + length)...])
        try rewritten.write(to: URL(fileURLWithPath: path))
        let model = try ModelFolder(path: folder)
        let error = ModelLoadError.wrongDType(name: name, path: path, dtype: "F32", expected: "I32")
        #expect(
            error.description
                == "\(path): tensor '\(name)' has dtype F32, but config.json's quantization_config needs I32 there")
        #expect(throws: error) {
            _ = try model.weights(format: .auto).linear("model.layers.0.self_attn.q_proj", out: 96, in: 96)
        }
    }

    /// A GGUF tensor whose dimensions multiply past `Int.max` is refused while its info is read.
    @Test func ggufDimensionsPastIntMax() throws {
        var whole = try Data(contentsOf: URL(fileURLWithPath: RepositoryFiles.path("Tests/Fixtures/gguf/blocks.gguf")))
        // The first tensor's rank (2) and dimensions (256, 3) follow its name.
        let dims = try #require(whole.range(of: Data("Q4_0.raw".utf8))).upperBound + 4
        let huge = withUnsafeBytes(of: UInt64(1 << 39).littleEndian) { Data($0) }
        whole.replaceSubrange(dims..<(dims + 8), with: huge)
        whole.replaceSubrange((dims + 8)..<(dims + 16), with: huge)
        let message = error(whole, suffix: ".gguf") { _ = try GGUFFile(path: $0) }
        #expect(message.contains("tensor 'Q4_0.raw' has dimensions [549755813888], more values than the file can hold"))
    }
}
