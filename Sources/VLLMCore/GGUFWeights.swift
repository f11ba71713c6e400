import Dispatch

/// The weights of a GGUF model under the Hugging Face names that model code asks for. Linear
/// layers stay in the file's format (`WeightFormat.ggml` for block types, views into the mapping
/// where no reordering is needed); other tensors (embeddings, norms, biases) are given as float
/// tensors, decoded from blocks where the file quantized them.
///
/// llama.cpp's converter reorders the rows of Llama's q and k projections so that each head's
/// rotary pairs are adjacent (`x0, x_{d/2}, x1, ...`); they are put back in Hugging Face's order
/// (first halves, then second halves) here, so that the model code sees one layout.
public final class GGUFWeights: WeightStore, @unchecked Sendable {
    /// The model's files.
    public let checkpoint: GGUFCheckpoint
    /// Heads of q and of k whose rows are reordered (Llama), nil when the file keeps Hugging Face's order.
    private let permutedHeads: (q: Int, k: Int)?

    /// The weights of `checkpoint`, whose metadata `config` was read from.
    public init(_ checkpoint: GGUFCheckpoint, config: ModelConfig) {
        self.checkpoint = checkpoint
        permutedHeads = config.modelType == "llama" ? (config.numHeads, config.numKVHeads) : nil
    }

    /// The GGUF name of a Hugging Face tensor name, nil for names GGUF files do not hold.
    public static func ggufName(_ name: String) -> String? {
        let fixed = [
            "model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight",
            "lm_head.weight": "output.weight",
        ]
        if let known = fixed[name] { return known }
        let parts = name.split(separator: ".", maxSplits: 3).map(String.init)
        guard parts.count == 4, parts[0] == "model", parts[1] == "layers", let layer = Int(parts[2]) else { return nil }
        let layerParts = [
            "input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm", "self_attn.q_proj": "attn_q",
            "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output",
            "self_attn.q_norm": "attn_q_norm", "self_attn.k_norm": "attn_k_norm", "mlp.gate_proj": "ffn_gate",
            "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down",
        ]
        let rest = parts[3]
        guard let dot = rest.lastIndex(of: "."), let mapped = layerParts[String(rest[..<dot])] else { return nil }
        return "blk.\(layer).\(mapped)\(rest[dot...])"
    }

    /// Whether the GGUF file holds the tensor that the Hugging Face name `name` maps to.
    public func contains(_ name: String) -> Bool { Self.ggufName(name).flatMap(checkpoint.tensor) != nil }

    /// The stored tensor called `name` (a Hugging Face name), checked to have `shape`.
    private func located(_ name: String, shape: [Int]) throws -> (file: GGUFFile, info: GGUFTensorInfo) {
        guard let gguf = Self.ggufName(name), let found = checkpoint.tensor(gguf) else {
            throw ModelLoadError.missingTensor(name: "\(Self.ggufName(name) ?? name) (\(name))", path: checkpoint.path)
        }
        // A 2-D tensor of one row may be stored as 1-D.
        guard found.info.shape == shape || found.info.count == shape.reduce(1, *) && shape.count == 1 else {
            throw ModelLoadError.wrongShape(name: found.info.name, path: found.file.path, expected: shape, actual: found.info.shape)
        }
        return found
    }

    /// The heads whose rows llama.cpp reordered in tensor `name`, or nil.
    private func reorderedHeads(_ name: String) -> Int? {
        guard let heads = permutedHeads else { return nil }
        if name.contains("self_attn.q_proj.") { return heads.q }
        if name.contains("self_attn.k_proj.") { return heads.k }
        return nil
    }

    /// The tensor that the Hugging Face name `name` maps to, decoded to float32 when block-quantized, its rows put back in Hugging Face
    /// order for q and k. Throws `ModelLoadError.missingTensor` or `.wrongShape`.
    public func tensor(_ name: String, shape: [Int]) throws -> HostTensor {
        let (file, info) = try located(name, shape: shape)
        var tensor: HostTensor
        if let dtype = info.type.floatDType {
            tensor = HostTensor(dtype: dtype, shape: shape, bytes: file.data(info), owner: file.owner)
        } else {
            tensor = Self.decode(info, from: file, shape: shape)
        }
        if let heads = reorderedHeads(name) { tensor = Self.unpermuteRows(tensor, heads: heads) }
        return tensor
    }

    /// A block-quantized layer kept in its GGUF blocks (`.ggml`); a float one as a dense weight. Throws `ModelLoadError.missingTensor` or
    /// `.wrongShape`.
    public func linear(_ prefix: String, out: Int, in inFeatures: Int) throws -> HostLinearWeight {
        let name = prefix + ".weight"
        let (file, info) = try located(name, shape: [out, inFeatures])
        guard info.type.floatDType == nil else { return .dense(try tensor(name, shape: [out, inFeatures])) }
        var blocks = HostTensor(
            dtype: .uint8, shape: [out, info.type.rowBytes(inFeatures)], bytes: file.data(info), owner: file.owner)
        if let heads = reorderedHeads(name) { blocks = Self.unpermuteRows(blocks, heads: heads) }
        return HostLinearWeight(format: .ggml(info.type), outFeatures: out, inFeatures: inFeatures, tensors: [blocks])
    }

    /// `token_embd` in its block format (SmolLM2 keeps it in Q8_0), so that a tied LM head reads
    /// a quarter of the bytes that the decoded float32 copy would take.
    public func quantizedEmbeddings(vocabSize: Int, hidden: Int) throws -> HostLinearWeight? {
        let weight = try linear("model.embed_tokens", out: vocabSize, in: hidden)
        return weight.format == .dense ? nil : weight
    }

    /// A block-quantized tensor decoded to float32, rows in parallel.
    static func decode(_ info: GGUFTensorInfo, from file: GGUFFile, shape: [Int]) -> HostTensor {
        let (rowValues, rows) = (info.dimensions[0], info.count / info.dimensions[0])
        let rowBytes = info.type.rowBytes(rowValues)
        let buffer = OwnedBuffer(byteCount: info.count * 4)
        let (source, target) = (UncheckedPointers(file.data(info)), UncheckedPointers(buffer.pointer))
        let parts = min(rows, 64)
        DispatchQueue.concurrentPerform(iterations: parts) { part in
            for row in (rows * part / parts)..<(rows * (part + 1) / parts) {
                info.type.dequantize(
                    source.pointer + row * rowBytes, count: rowValues,
                    to: target.pointer.assumingMemoryBound(to: Float.self) + row * rowValues)
            }
        }
        return HostTensor(dtype: .float32, shape: shape, bytes: UnsafeRawPointer(buffer.pointer), owner: buffer)
    }

    /// The rows of `tensor` (elements of a 1-D one) put back from llama.cpp's rotary order: within
    /// each head of `d` rows, stored row `2i + j` becomes row `j·d/2 + i`.
    static func unpermuteRows(_ tensor: HostTensor, heads: Int) -> HostTensor {
        let rows = tensor.shape[0]
        let rowBytes = tensor.shape.dropFirst().reduce(1, *) * tensor.dtype.byteSize
        let (headRows, buffer) = (rows / heads, OwnedBuffer(byteCount: rows * rowBytes))
        for head in 0..<heads {
            for i in 0..<(headRows / 2) {
                for j in 0..<2 {
                    let stored = head * headRows + 2 * i + j, wanted = head * headRows + j * headRows / 2 + i
                    (buffer.pointer + wanted * rowBytes).copyMemory(from: tensor.bytes + stored * rowBytes, byteCount: rowBytes)
                }
            }
        }
        return HostTensor(dtype: tensor.dtype, shape: tensor.shape, bytes: UnsafeRawPointer(buffer.pointer), owner: buffer)
    }
}

/// Raw pointers carried into concurrent work on disjoint parts of their memory.
private struct UncheckedPointers<P>: @unchecked Sendable {
    let pointer: P
    init(_ pointer: P) { self.pointer = pointer }
}
