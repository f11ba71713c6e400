/// How a checkpoint's linear layers are quantized: config.json's `quantization_config` (or a
/// SqueezeLLM folder's `quant_config.json`), or `--quantization fp8` asking for FP8 weights made
/// at load from a float checkpoint.
///
/// Only the variants that the loaders and kernels implement are accepted; anything else is an
/// `invalidConfig` error naming the field, never weights read the wrong way.
public enum QuantizationConfig: Sendable, Equatable {
    /// AutoGPTQ / GPTQModel checkpoints: `qweight` packed along the input dimension, `qzeros`,
    /// `scales`, optional `g_idx` (act-order). `lmHead` (config key `lm_head`, GPTQModel's
    /// `lm_head=True`): the LM head is quantized too, as vLLM's `lm_head_quantized` reads it.
    case gptq(bits: Int, groupSize: Int?, descAct: Bool, zeroOffset: Int, lmHead: Bool = false)
    /// AutoAWQ GEMM checkpoints: `qweight` packed along the output dimension in AWQ's nibble order.
    case awq(groupSize: Int?)
    /// FP8 e4m3 weights with float32 scales: per tensor (`weight_scale`), per output channel
    /// (`weight_scale` `[out, 1]`) or per 128×128 block (`weight_scale_inv`).
    case fp8(FP8Scales)
    /// compressed-tensors `pack-quantized` symmetric int4: `weight_packed` along the input
    /// dimension, `weight_scale` per group or per channel.
    case packedInt4(groupSize: Int?)
    /// FP8 weights made at load from a float checkpoint, one scale per output channel.
    case onlineFP8
    /// SqueezeLLM (dense-only): `qweight [in/8, out]` of 4-bit indices packed along the input
    /// dimension as GPTQ packs its values, and `lookup_table [out, 16]`: `w[n, k] = table[n, q]`.
    case squeezeLLM(bits: Int)

    /// Whether the config says that the LM head is quantized with the other linear layers (GPTQ's
    /// `lm_head`). Other methods keep it in the checkpoint's float dtype, unless the checkpoint
    /// stores it quantized (a compressed-tensors head not in `ignore`): the files decide then.
    public var quantizesLMHead: Bool {
        if case .gptq(_, _, _, _, let lmHead) = self { lmHead } else { false }
    }

    /// The methods `--quantization` names.
    public static let methods = ["fp8", "compressed-tensors", "awq", "gptq", "squeezellm"]

    /// Reads a SqueezeLLM `quant_config.json` (`{"wbits": 4}`) at `path`; nil when the object is
    /// not SqueezeLLM's (no `wbits`, or another `quant_method`).
    public init?(quantConfigJSON q: [String: Any], path: String) throws {
        let method = (q["quant_method"] as? String)?.lowercased()
        guard method == "squeezellm" || method == nil && q["wbits"] != nil else { return nil }
        let bits = q["wbits"] as? Int ?? 0
        guard bits == 4 else {
            throw ModelLoadError.invalidConfig(path: path, field: "wbits", detail: "\(bits) is not supported (SqueezeLLM: 4)")
        }
        self = .squeezeLLM(bits: bits)
    }

    /// Reads `quantization_config` of config.json at `path`; nil when the checkpoint is not quantized.
    public init?(json config: [String: Any], path: String) throws {
        guard let q = config["quantization_config"] as? [String: Any] else { return nil }
        func fail(_ field: String, _ detail: String) -> ModelLoadError {
            .invalidConfig(path: path, field: "quantization_config." + field, detail: detail)
        }
        let method = (q["quant_method"] as? String)?.lowercased() ?? "(missing)"
        switch method {
        case "gptq": self = try Self.gptq(q, fail)
        case "awq": self = try Self.awq(q, fail)
        case "fp8": self = try Self.fp8(q, fail)
        case "compressed-tensors": self = try Self.compressedTensors(q, fail)
        default:
            throw fail("quant_method", "'\(method)' is not supported (supported: \(Self.methods.joined(separator: ", ")))")
        }
    }

    /// The group size as config.json spells it: -1 (or absent) is one group per output channel.
    private static func groupSize(_ raw: Any?, field: String, _ fail: (String, String) -> ModelLoadError) throws -> Int? {
        let value = (raw as? Int) ?? -1
        guard value == -1 || value > 0 && value % 8 == 0 else { throw fail(field, "\(value) is not -1 or a positive multiple of 8") }
        return value == -1 ? nil : value
    }

    private static func gptq(_ q: [String: Any], _ fail: (String, String) -> ModelLoadError) throws -> QuantizationConfig {
        let bits = q["bits"] as? Int ?? 0
        guard bits == 4 || bits == 8 else { throw fail("bits", "\(bits) is not supported (GPTQ: 4 or 8)") }
        // GPTQ v1 checkpoints store each zero point minus one; v2 stores it as is.
        let format = q["checkpoint_format"] as? String ?? "gptq"
        guard format == "gptq" || format == "gptq_v2" else { throw fail("checkpoint_format", "'\(format)' is not supported") }
        return .gptq(
            bits: bits, groupSize: try groupSize(q["group_size"], field: "group_size", fail),
            descAct: q["desc_act"] as? Bool ?? false, zeroOffset: format == "gptq" ? 1 : 0, lmHead: q["lm_head"] as? Bool ?? false)
    }

    private static func awq(_ q: [String: Any], _ fail: (String, String) -> ModelLoadError) throws -> QuantizationConfig {
        let bits = (q["bits"] ?? q["w_bit"]) as? Int ?? 0
        guard bits == 4 else { throw fail("bits", "\(bits) is not supported (AWQ: 4)") }
        let version = (q["version"] as? String ?? "gemm").lowercased()
        guard version == "gemm" else { throw fail("version", "'\(version)' is not supported (AWQ: gemm)") }
        guard q["zero_point"] as? Bool ?? true else { throw fail("zero_point", "false is not supported (AWQ: zero points)") }
        if let skipped = q["modules_to_not_convert"] as? [String], !skipped.isEmpty {
            throw fail("modules_to_not_convert", "\(skipped) left unquantized is not supported")
        }
        return .awq(groupSize: try groupSize(q["group_size"] ?? q["q_group_size"], field: "group_size", fail))
    }

    private static func fp8(_ q: [String: Any], _ fail: (String, String) -> ModelLoadError) throws -> QuantizationConfig {
        if let format = q["fmt"] as? String, format != "e4m3" { throw fail("fmt", "'\(format)' is not supported (e4m3)") }
        guard let block = q["weight_block_size"] as? [Int] else { return .fp8(.perTensor) }
        guard block.count == 2, block.allSatisfy({ $0 > 0 }) else { throw fail("weight_block_size", "\(block) is not [rows, columns]") }
        return .fp8(.block(rows: block[0], columns: block[1]))
    }

    private static func compressedTensors(
        _ q: [String: Any], _ fail: (String, String) -> ModelLoadError
    ) throws -> QuantizationConfig {
        guard let groups = q["config_groups"] as? [String: Any], groups.count == 1,
            let (name, rawGroup) = groups.first, let group = rawGroup as? [String: Any]
        else { throw fail("config_groups", "expected exactly one quantization group") }
        let field = "config_groups.\(name)"
        guard let targets = group["targets"] as? [String], targets == ["Linear"] else {
            throw fail(field + ".targets", "only [\"Linear\"] is supported")
        }
        if let ignored = q["ignore"] as? [String], ignored.contains(where: { $0 != "lm_head" }) {
            throw fail("ignore", "layers other than lm_head left unquantized are not supported: \(ignored)")
        }
        guard let weights = group["weights"] as? [String: Any] else { throw fail(field + ".weights", "missing") }
        let bits = weights["num_bits"] as? Int ?? 0
        let type = weights["type"] as? String ?? "int"
        let strategy = weights["strategy"] as? String ?? "tensor"
        guard weights["symmetric"] as? Bool ?? true else {
            throw fail(field + ".weights.symmetric", "asymmetric weights are not supported")
        }
        let format = q["format"] as? String ?? ""
        switch (type, bits, format) {
        case ("float", 8, "float-quantized"), ("float", 8, "naive-quantized"):
            switch strategy {
            case "tensor": return .fp8(.perTensor)
            case "channel": return .fp8(.perChannel)
            case "block":
                guard let block = weights["block_structure"] as? [Int], block.count == 2, block.allSatisfy({ $0 > 0 }) else {
                    throw fail(field + ".weights.block_structure", "missing or not two positive sizes for strategy block")
                }
                return .fp8(.block(rows: block[0], columns: block[1]))
            default: throw fail(field + ".weights.strategy", "'\(strategy)' is not supported for FP8 (tensor, channel, block)")
            }
        case ("int", 4, "pack-quantized"):
            switch strategy {
            case "channel": return .packedInt4(groupSize: nil)
            case "group":
                return .packedInt4(groupSize: try groupSize(weights["group_size"], field: field + ".weights.group_size", fail))
            default: throw fail(field + ".weights.strategy", "'\(strategy)' is not supported for int4 (channel, group)")
            }
        default:
            throw fail(field + ".weights", "\(type) \(bits)-bit weights in format '\(format)' are not supported")
        }
    }
}

/// Where an FP8 matrix keeps its float32 scales.
public enum FP8Scales: Sendable, Hashable {
    /// One scale for the whole matrix.
    case perTensor
    /// One scale per output row.
    case perChannel
    /// One scale per `rows × columns` block (`weight_scale_inv` of DeepSeek-V3 / Qwen3-FP8).
    case block(rows: Int, columns: Int)
}

/// How the integers of a packed-int weight lie in its `int32` words.
public enum IntPacking: String, Sendable, Hashable {
    /// GPTQ: `qweight [in·bits/32, out]`, each word holds consecutive input rows, low bits first.
    case gptq
    /// AWQ: `qweight [in, out/8]`, each word holds 8 output columns in the order 0 2 4 6 1 3 5 7.
    case awq
    /// compressed-tensors: `weight_packed [out, in/8]`, each word holds consecutive inputs, low
    /// bits first, stored with +8 (symmetric, no zero points).
    case compressedTensors
}
