import Foundation
import Testing
import VLLMCPU
import VLLMCore

/// Random-weight Gemma 2, Gemma 3 and Phi-3 models against the logits and greedy tokens of
/// transformers (scripts/make_family_fixtures.py): soft-capping, sliding and global layers with a
/// prompt longer than the window, per-layer-type rope, q/k norm, fused projections, LongRoPE past
/// its switch and partial rotary.
@Suite struct FamilyReferenceTests {
    static let variants = ["gemma2", "gemma3", "gemma3-bf16", "phi3"]

    @Test(arguments: variants)
    func promptLogitsMatchTransformers(variant: String) throws {
        let folder = TestPaths.fixtureModels + "/" + variant
        let reference = try TransformersReferenceTests.Reference(folder)
        let runner = try DirectRunner(folder: folder, maxLength: 128)
        let worst = worstRelativeError(runner.promptLogits(reference.prompt), reference.logits)
        print("\(variant): worst relative logit error \(worst)")
        #expect(worst < 1e-4, "\(variant): worst relative logit error \(worst)")
    }

    @Test(arguments: variants)
    func greedyTokensMatchTransformers(variant: String) throws {
        let folder = TestPaths.fixtureModels + "/" + variant
        let reference = try TransformersReferenceTests.Reference(folder)
        let runner = try DirectRunner(folder: folder, maxLength: 128)
        #expect(runner.greedy(reference.prompt, count: reference.greedy.count) == reference.greedy)
    }

    /// A context within `original_max_position_embeddings` (32) takes LongRoPE's short factors, as
    /// transformers does for a sequence that short.
    @Test func longRopeShortFactorsWithinTheSwitch() throws {
        let folder = TestPaths.fixtureModels + "/phi3"
        let reference = try TransformersReferenceTests.Reference(folder)
        let short = try SafetensorsFile(path: folder + "/reference_logits.safetensors").tensor("short_logits")
        let runner = try DirectRunner(folder: folder, maxLength: 32)
        let worst = worstRelativeError(runner.promptLogits(Array(reference.prompt.prefix(short.shape[0]))), short)
        #expect(worst < 1e-4, "phi3 short factors: worst relative logit error \(worst)")
    }

    /// The multimodal Gemma 3 class loads its language model from `text_config` and the
    /// `language_model.model.` tensor names of Hub checkpoints, and computes what Gemma3ForCausalLM does.
    @Test func gemma3ConditionalGenerationTextWeights() throws {
        let source = TestPaths.fixtureModels + "/gemma3"
        let folder = try conditionalGenerationCopy(of: source)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let reference = try TransformersReferenceTests.Reference(source)
        let runner = try DirectRunner(folder: folder, maxLength: 128)
        #expect(runner.model.config.architecture == "Gemma3ForConditionalGeneration")
        #expect(worstRelativeError(runner.promptLogits(reference.prompt), reference.logits) < 1e-4)
    }

    /// A copy of a Gemma 3 text folder laid out as a Gemma3ForConditionalGeneration checkpoint's
    /// language model (config nested in text_config, tensors renamed).
    private func conditionalGenerationCopy(of source: String) throws -> String {
        let folder = NSTemporaryDirectory() + "gemma3-cg-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let text =
            try JSONSerialization.jsonObject(
                with: Data(contentsOf: URL(fileURLWithPath: source + "/config.json"))) as! [String: Any]
        let config: [String: Any] = [
            "architectures": ["Gemma3ForConditionalGeneration"], "model_type": "gemma3", "text_config": text,
            "dtype": text["dtype"] ?? "float32",
        ]
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: folder + "/config.json"))
        let file = try SafetensorsFile(path: source + "/model.safetensors")
        var tensors: [(String, HostTensor)] = []
        for name in file.tensorNames {
            tensors.append((name.replacingOccurrences(of: "model.", with: "language_model.model."), try file.tensor(name)))
        }
        try writeSafetensors(tensors, to: folder + "/model.safetensors")
        return folder
    }
}

/// The largest error over all positions, each relative to the largest magnitude of its reference row.
func worstRelativeError(_ logits: [[Float]], _ expected: HostTensor) -> Float {
    let want = expected.floats(), vocab = expected.shape[1]
    var worst: Float = 0
    for (position, row) in logits.enumerated() {
        let reference = want[(position * vocab)..<((position + 1) * vocab)]
        let scale = reference.map(abs).max()!
        worst = max(worst, zip(row, reference).map { abs($0 - $1) }.max()! / scale)
    }
    return worst
}

/// Writes float32 tensors as a safetensors file (8-byte header length, JSON header, data).
func writeSafetensors(_ tensors: [(String, HostTensor)], to path: String) throws {
    var header: [String: Any] = [:]
    var data = Data()
    for (name, tensor) in tensors {
        let values = tensor.floats()
        let start = data.count
        values.withUnsafeBufferPointer { data.append(Data(buffer: $0)) }
        header[name] = ["dtype": "F32", "shape": tensor.shape, "data_offsets": [start, data.count]]
    }
    let json = try JSONSerialization.data(withJSONObject: header)
    var file = Data()
    withUnsafeBytes(of: UInt64(json.count).littleEndian) { file.append(contentsOf: $0) }
    file.append(json)
    file.append(data)
    try file.write(to: URL(fileURLWithPath: path))
}
