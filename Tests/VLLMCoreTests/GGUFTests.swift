import Foundation
import Testing
import VLLMCore
import VLLMTestSupport

/// The GGUF reader and the ggml block decoders, against Tests/Fixtures/gguf/blocks.gguf, which the
/// `gguf` Python package wrote (scripts/make_gguf_fixtures.py).
@Suite struct GGUFTests {
    static let fixture = RepositoryFiles.path("Tests/Fixtures/gguf/blocks.gguf")

    /// Every block type decodes bit for bit as `gguf.quants.dequantize` does.
    @Test(arguments: [
        "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "BF16", "F16", "F32", "Q4_K-random", "Q5_K-random", "Q6_K-random",
        "Q4_K-qwen", "Q6_K-qwen",
    ])
    func blocksDecodeExactly(name: String) throws {
        let file = try GGUFFile(path: Self.fixture)
        let raw = try #require(file.tensors.first { $0.name == name + ".raw" })
        let expected = try #require(file.tensors.first { $0.name == name + ".expected" })
        #expect(expected.type == .f32 && raw.count == expected.count)
        var decoded = [Float](repeating: .nan, count: raw.count)
        let rowValues = raw.dimensions[0]
        for row in 0..<(raw.count / rowValues) {
            decoded.withUnsafeMutableBufferPointer {
                raw.type.dequantize(
                    file.data(raw) + row * raw.type.rowBytes(rowValues), count: rowValues, to: $0.baseAddress! + row * rowValues)
            }
        }
        let want = UnsafeBufferPointer(start: file.data(expected).assumingMemoryBound(to: Float.self), count: expected.count)
        let mismatches = zip(decoded, want).filter { $0.bitPattern != $1.bitPattern }.count
        #expect(mismatches == 0, "\(name): \(mismatches) of \(raw.count) values differ")
    }

    /// The CUDA kernels' copy of Q6_K rows: each 210-byte block at the start of a 224-byte slot, the
    /// rest zeros, so that the blocks decode as before at the new stride; other types are not copied.
    @Test func kernelRowsPadOnlyQ6K() throws {
        let file = try GGUFFile(path: Self.fixture)
        let raw = try #require(file.tensors.first { $0.name == "Q6_K-qwen.raw" })
        let type = GGMLType.q6_K
        let (k, rows) = (raw.dimensions[0], raw.count / raw.dimensions[0])
        let stored = HostTensor(shape: [rows, type.rowBytes(k)], dtype: .uint8, copying: file.data(raw))
        let padded = type.kernelRows(stored)
        #expect(type.kernelBlockBytes == 224 && type.kernelBlockBytes % 16 == 0)
        #expect(padded.shape == [rows, k / 256 * 224])
        var before = [Float](repeating: 0, count: k * rows), after = before
        for block in 0..<(rows * k / 256) {
            let slot = padded.bytes + block * 224
            #expect(memcmp(slot, stored.bytes + block * 210, 210) == 0)
            #expect((210..<224).allSatisfy { slot.load(fromByteOffset: $0, as: UInt8.self) == 0 })
            before.withUnsafeMutableBufferPointer { type.decodeBlock(stored.bytes + block * 210, to: $0.baseAddress! + block * 256) }
            after.withUnsafeMutableBufferPointer { type.decodeBlock(slot, to: $0.baseAddress! + block * 256) }
        }
        #expect(zip(before, after).allSatisfy { $0.bitPattern == $1.bitPattern })
        for other in GGMLType.allCases where other != .q6_K {
            #expect(other.kernelBlockBytes == other.blockBytes)
            #expect(other.kernelRows(stored).bytes == stored.bytes)
        }
    }

    /// Adjacent parts of one type share a group (one product), others keep their own, in order.
    @Test func adjacentPartsOfOneTypeShareAGroup() throws {
        func part(_ type: GGMLType, rows: Int) -> HostLinearWeight {
            let bytes = [UInt8](repeating: 0, count: rows * type.rowBytes(256))
            let tensor = bytes.withUnsafeBytes { HostTensor(shape: [bytes.count], dtype: .uint8, copying: $0.baseAddress!) }
            return HostLinearWeight(format: .ggml(type), outFeatures: rows, inFeatures: 256, tensors: [tensor])
        }
        let qkv = try GGMLParts([part(.q4_K, rows: 4), part(.q4_K, rows: 2), part(.q6_K, rows: 2)], backend: "test")
        #expect(qkv.format == .stacked([.ggml(.q4_K), .ggml(.q6_K)]))
        #expect(qkv.groups.map { $0.tensors.map { $0.shape[0] } } == [[4, 2], [2]])
        let same = try GGMLParts([part(.q8_0, rows: 3), part(.q8_0, rows: 5)], backend: "test")
        #expect(same.format == .ggml(.q8_0) && same.groups.count == 1)
        let apart = try GGMLParts([part(.q6_K, rows: 2), part(.q4_K, rows: 2), part(.q6_K, rows: 2)], backend: "test")
        #expect(apart.format == .stacked([.ggml(.q6_K), .ggml(.q4_K), .ggml(.q6_K)]))
    }

    /// Metadata of every GGUF value type reads back as written.
    @Test func metadataValues() throws {
        let m = try GGUFFile(path: Self.fixture).metadata
        #expect(m["test.uint8"] == .uint(200))
        #expect(m["test.int8"] == .int(-100))
        #expect(m["test.uint16"] == .uint(60000))
        #expect(m["test.int16"] == .int(-30000))
        #expect(m["test.uint32"] == .uint(4_000_000_000))
        #expect(m["test.int32"] == .int(-2_000_000_000))
        #expect(m["test.float32"] == .float(Double(Float(0.1))))
        #expect(m["test.uint64"] == .uint(1 << 63 + 5))
        #expect(m["test.int64"] == .int(-(1 << 62)))
        #expect(m["test.float64"] == .float(0.1))
        #expect(m["test.bool"] == .bool(true))
        #expect(m["test.string"] == .string("héllo ✓"))
        #expect(m["test.array.int"] == .array([.int(1), .int(-2), .int(3)]))
        #expect(m["test.array.string"] == .array([.string("a"), .string(""), .string("ü")]))
        #expect(m["test.array.float"] == .array([.float(0.5), .float(-1.25)]))
        #expect(m["general.architecture"] == .string("llama"))
    }

    func error(opening bytes: Data) -> String {
        let path = NSTemporaryDirectory() + "vllm-broken-\(UUID().uuidString).gguf"
        FileManager.default.createFile(atPath: path, contents: bytes)
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            _ = try GGUFFile(path: path)
            return "no error"
        } catch {
            #expect("\(error)".hasPrefix(path), "the error names the file: \(error)")
            return "\(error)"
        }
    }

    /// A file cut anywhere gives a clear error, never a crash.
    @Test func truncatedFilesAreErrors() throws {
        let whole = try Data(contentsOf: URL(fileURLWithPath: Self.fixture))
        for length in [0, 3, 7, 20, 100, 1000, 4000, whole.count / 2, whole.count - 1] {
            let message = error(opening: whole.prefix(length))
            #expect(message.contains("truncated") || message.contains("not a GGUF file"), "\(length) bytes: \(message)")
        }
    }

    @Test func badHeadersAreErrors() throws {
        let whole = try Data(contentsOf: URL(fileURLWithPath: Self.fixture))
        var version = whole
        version[4] = 7
        #expect(error(opening: version).contains("GGUF version 7 is not supported"))
        var magic = whole
        magic[0] = UInt8(ascii: "X")
        #expect(error(opening: magic).contains("not a GGUF file"))
        var count = whole
        count.replaceSubrange(8..<16, with: [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0])
        #expect(error(opening: count).contains("more than the"))
    }

    /// `general.alignment` that is not a power of two, or a uint64 past `Int.max`, is named (the
    /// latter fell back to 32 before).
    @Test func badAlignmentIsAnError() {
        func file(alignment: UInt64) -> Data {
            var d = Data("GGUF".utf8)
            func put<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { d.append(contentsOf: $0) } }
            put(UInt32(3))
            put(UInt64(0))  // tensors
            put(UInt64(1))  // metadata entries
            put(UInt64(17))
            d.append(contentsOf: Data("general.alignment".utf8))
            put(UInt32(10))  // uint64
            put(alignment)
            return d
        }
        #expect(error(opening: file(alignment: 1 << 63 + 1)).contains("general.alignment is uint(9223372036854775809)"))
        #expect(error(opening: file(alignment: 48)).contains("general.alignment is uint(48), not a power of two"))
        #expect(error(opening: file(alignment: 64)) == "no error")
    }

    /// A tensor type this project cannot decode is named in the error.
    @Test func unknownTensorTypeIsAnError() throws {
        var whole = try Data(contentsOf: URL(fileURLWithPath: Self.fixture))
        let file = try GGUFFile(path: Self.fixture)
        // The type field of the first tensor info follows its name and dimensions; find it by
        // its value (Q4_0 = 2) right after the two dimensions 256 and 3.
        let name = Data("Q4_0.raw".utf8)
        let at = try #require(whole.range(of: name)).upperBound + 4 + 16
        #expect(whole[at] == UInt8(GGMLType.q4_0.rawValue) && file.tensors[0].name == "Q4_0.raw")
        whole[at] = 11
        #expect(error(opening: whole).contains("tensor 'Q4_0.raw' has type Q3_K (type 11), which is not supported"))
    }

    /// Split files are found from any of them, and a missing part is named.
    @Test func splitFilesAndFolders() throws {
        let folder = NSTemporaryDirectory() + "vllm-gguf-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try FileManager.default.copyItem(atPath: Self.fixture, toPath: folder + "/m-00001-of-00002.gguf")
        func message(_ path: String) -> String {
            do { return "opened \(try GGUFCheckpoint(path: path).files.count) files" } catch { return "\(error)" }
        }
        #expect(
            message(folder + "/m-00001-of-00002.gguf").contains("m-00002-of-00002.gguf (part 2 of the split GGUF model): file not found"))
        // Two copies of one file hold the same tensors: the checkpoint refuses the duplicate.
        try FileManager.default.copyItem(atPath: Self.fixture, toPath: folder + "/m-00002-of-00002.gguf")
        #expect(message(folder + "/m-00002-of-00002.gguf").contains("is also in"))
        #expect(message(folder).contains("is also in"))
        try FileManager.default.copyItem(atPath: Self.fixture, toPath: folder + "/other.gguf")
        #expect(message(folder).contains("exactly one GGUF model; found m, other.gguf"))
        #expect(GGUFCheckpoint.isGGUF(folder) && GGUFCheckpoint.isGGUF(Self.fixture))
    }

    /// Hugging Face names map to llama.cpp's.
    @Test func tensorNames() {
        #expect(GGUFWeights.ggufName("model.layers.11.self_attn.q_proj.bias") == "blk.11.attn_q.bias")
        #expect(GGUFWeights.ggufName("model.layers.0.mlp.down_proj.weight") == "blk.0.ffn_down.weight")
        #expect(GGUFWeights.ggufName("model.layers.3.post_attention_layernorm.weight") == "blk.3.ffn_norm.weight")
        #expect(GGUFWeights.ggufName("model.layers.3.self_attn.k_norm.weight") == "blk.3.attn_k_norm.weight")
        #expect(GGUFWeights.ggufName("model.embed_tokens.weight") == "token_embd.weight")
        #expect(GGUFWeights.ggufName("lm_head.weight") == "output.weight")
        #expect(GGUFWeights.ggufName("model.layers.0.self_attn.rotary_emb.inv_freq") == nil)
    }

    /// An architecture this project does not run is named in the error, with the supported ones.
    @Test func unknownArchitectureIsAnError() throws {
        var whole = try Data(contentsOf: URL(fileURLWithPath: Self.fixture))
        let value = try #require(whole.range(of: Data("general.architecture".utf8))).upperBound + 4 + 8
        #expect(whole[value..<(value + 5)] == Data("llama".utf8))
        whole.replaceSubrange(value..<(value + 5), with: Data("gemma".utf8))
        let path = NSTemporaryDirectory() + "vllm-arch-\(UUID().uuidString).gguf"
        FileManager.default.createFile(atPath: path, contents: whole)
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(throws: ModelLoadError.unknownArchitecture(path: path, name: "gemma", supported: ["llama", "qwen2", "qwen3"])) {
            _ = try ModelFolder(path: path)
        }
    }

    /// The fixture's architecture is llama but it has no hyperparameters: the error names the key.
    @Test func missingHyperparametersAreErrors() throws {
        do {
            _ = try GGUFCheckpoint(path: Self.fixture).modelConfig()
            Issue.record("no error")
        } catch {
            #expect("\(error)".contains("hidden_size"), "\(error)")
        }
    }
}
