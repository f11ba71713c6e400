import ArgumentParser
import Foundation
import SwiftVLLM
import VLLMCore
import VLLMEngine
import VLLMStructuredOutputs

/// Flags that build an engine, shared by the commands that load a model (vLLM's names).
struct EngineOptions: ParsableArguments {
    @Option(
        help:
            "Hugging Face model folder, a GGUF file, or a Hub id (org/name) resolved through the Hugging Face cache (default: the built-in stories260K model)."
    )
    var model: String?

    @Option(help: "Branch, tag or commit of a Hub model id (default: main).")
    var revision: String?

    @Option(help: "Folder for Hub downloads instead of the Hugging Face cache (HF_HUB_CACHE).")
    var downloadDir: String?

    @Option(help: "Hugging Face tokenizer folder (or Hub id) to use instead of the model's tokenizer.")
    var tokenizer: String?

    @Option(help: "Branch, tag or commit of a Hub tokenizer id (default: main).")
    var tokenizerRevision: String?

    @Option(help: "How to get the weights: auto, safetensors, or dummy (random, from config.json).")
    var loadFormat: String = "auto"

    @Option(
        help:
            "Quantization: fp8, compressed-tensors, awq, gptq or squeezellm (default: config.json's quantization_config, or a SqueezeLLM quant_config.json); fp8 on a float checkpoint quantizes at load; gguf with --load-format dummy makes random blocks in llama.cpp's Q4_K_M layout."
    )
    var quantization: String?

    @Option(help: "Tokens per KV cache block.")
    var blockSize: Int = 16

    @Option(
        help:
            "KV cache element type: auto (the backend's own), or fp8 (alias fp8_e4m3): e4m3 codes with the checkpoint's k_scale/v_scale per layer (1.0 where it has none)."
    )
    var kvCacheDtype: String = "auto"

    @Option(help: "Longest prompt plus output (default: the model's max_position_embeddings).")
    var maxModelLen: Int?

    @Option(help: "Most requests running at once.")
    var maxNumSeqs: Int = 256

    @Option(help: "Token budget of one engine step (chunked prefill splits longer prompts).")
    var maxNumBatchedTokens: Int?

    @Option(help: "Number of KV cache blocks, overriding the memory budget.")
    var numGpuBlocksOverride: Int?

    @Option(help: "GiB of memory for the KV cache on the CPU.")
    var cpuKvCacheSpace: Double = 4

    @Option(
        name: [.customLong("quantized-activations"), .customLong("gguf-activations"), .customLong("cpu-gguf-activations")],
        help:
            "What quantized weights multiply: auto (the default: int8 for GGUF blocks, as llama.cpp and vLLM's GGUF kernels do, float32 for every other format), float32 (the activations as they are, the exact product with the dequantized weights) or int8 (activations quantized per 32 values as llama.cpp does; faster). On the CPU (x86-64, prompt and decode steps) int8 applies to GGUF blocks and packed-integer GPTQ/AWQ/compressed-tensors weights (groups of 32, 64, 128... or per channel); on CUDA it changes only GGUF decode products. --gguf-activations and --cpu-gguf-activations are older names."
    )
    var quantizedActivations: String = "auto"

    @Option(name: [.customLong("tensor-parallel-size"), .customShort("t")], help: "Ranks to split the model over.")
    var tensorParallelSize = 1

    @Flag(inversion: .prefixedEnableDisable, help: "Automatic prefix caching.")
    var prefixCaching = true

    @Flag(help: "Turn automatic prefix caching off.")
    var noEnablePrefixCaching = false

    @Option(help: "Where to run: auto (CUDA when a GPU is usable), cpu or cuda.")
    var device: String = "auto"

    @Option(help: "Share of GPU memory for weights, activations and the KV cache.")
    var gpuMemoryUtilization: Double = 0.9

    @Flag(help: "Run every step eagerly, without CUDA graphs.")
    var enforceEager = false

    @Flag(
        help:
            "Batch-invariant (deterministic) mode: a request's tokens are bitwise the same alone or in any batch (also VLLM_BATCH_INVARIANT=1)."
    )
    var batchInvariant = false

    @Flag(inversion: .prefixedNo, help: "Schedule each step while the device computes the one before (off: one step at a time).")
    var asyncScheduling = true

    @Option(
        help: ArgumentHelp(
            "Speculative decoding as vLLM's JSON, e.g. '{\"method\": \"ngram\", \"num_speculative_tokens\": 4, \"prompt_lookup_max\": 4, \"prompt_lookup_min\": 2}' or '{\"method\": \"draft_model\", \"model\": \"DIR or org/name\", \"num_speculative_tokens\": 4}' (\"eagle3\" with an EAGLE-3 head as the model).",
            valueName: "json"))
    var speculativeConfig: String?

    @Option(
        help: ArgumentHelp(
            "Structured outputs as vLLM's JSON, e.g. '{\"backend\": \"auto\", \"disable_any_whitespace\": true, \"disable_additional_properties\": true}' (backend: auto or swift-vllm; reasoning_parser: as --reasoning-parser, serve only).",
            valueName: "json"))
    var structuredOutputsConfig: String?

    @Option(
        help:
            "How prefix-cache blocks are hashed: builtin, or sha256_cbor (vLLM's, reproducible from token ids with PYTHONHASHSEED, for routers)."
    )
    var prefixCachingHashAlgo: String = "builtin"

    @Option(help: "Compute dtype on the GPU: auto, bfloat16, float16 or float32; on the CPU, float32 widens bfloat16 weights.")
    var dtype: String = "auto"

    func engineArgs() throws -> EngineArgs {
        var args = EngineArgs(model: model)
        args.revision = revision
        args.downloadDir = downloadDir
        guard let format = LoadFormat(rawValue: loadFormat) else {
            throw ValidationError("--load-format must be one of \(LoadFormat.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        args.loadFormat = format
        args.quantization = quantization
        args.blockSize = blockSize
        do {
            args.kvCacheDType = try KVCacheDType(flag: kvCacheDtype)
        } catch {
            throw ValidationError(String(describing: error))
        }
        args.maxModelLength = maxModelLen
        args.tokenizer = tokenizer
        args.tokenizerRevision = tokenizerRevision
        args.maxNumSeqs = maxNumSeqs
        args.maxNumBatchedTokens = maxNumBatchedTokens
        args.numGPUBlocksOverride = numGpuBlocksOverride
        // Checked before the conversion, which traps on NaN or a value past Int's range.
        guard cpuKvCacheSpace > 0, cpuKvCacheSpace <= Double(1 << 30) else {
            throw ValidationError("--cpu-kv-cache-space must be a positive number of GiB (at most 2^30)")
        }
        args.cpuKVCacheBytes = Int(cpuKvCacheSpace * Double(1 << 30))
        guard let activations = ActivationPrecision(rawValue: quantizedActivations) else {
            throw ValidationError(
                "--quantized-activations must be one of \(ActivationPrecision.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        args.quantizedActivations = activations
        args.enablePrefixCaching = prefixCaching && !noEnablePrefixCaching
        args.tensorParallelSize = tensorParallelSize
        guard Platforms.deviceNames.contains(device) else {
            throw ValidationError("--device must be one of \(Platforms.deviceNames.joined(separator: ", "))")
        }
        args.device = device
        guard gpuMemoryUtilization > 0, gpuMemoryUtilization <= 1 else {
            throw ValidationError("--gpu-memory-utilization must be in (0, 1]")
        }
        args.gpuMemoryUtilization = gpuMemoryUtilization
        args.enforceEager = enforceEager
        if batchInvariant { args.batchInvariant = true }
        args.asyncScheduling = asyncScheduling
        args.speculative = try speculativeConfig.map(SpeculativeConfig.init(json:))
        args.structuredOutputs = try structuredOutputsConfig.map(StructuredOutputsConfig.init(json:)) ?? StructuredOutputsConfig()
        guard let algorithm = PrefixCachingHashAlgorithm(rawValue: prefixCachingHashAlgo) else {
            throw ValidationError(
                "--prefix-caching-hash-algo must be one of \(PrefixCachingHashAlgorithm.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        args.prefixCachingHashAlgorithm = algorithm
        if dtype != "auto" {
            guard let d = DType(configName: dtype) else { throw ValidationError("--dtype must be auto, bfloat16, float16 or float32") }
            args.dtype = d
            args.cpuKeepBFloat16Weights = d != .float32
        }
        guard maxNumSeqs > 0 else { throw ValidationError("--max-num-seqs must be positive") }
        if let budget = maxNumBatchedTokens, budget <= 0 { throw ValidationError("--max-num-batched-tokens must be positive") }
        if let blocks = numGpuBlocksOverride, blocks <= 0 { throw ValidationError("--num-gpu-blocks-override must be positive") }
        return args
    }
}

/// Sampling flags (vLLM's `SamplingParams` fields); unset ones come from generation_config.json.
/// The numeric ones read the next argument even when it starts with a dash (`--top-k -1`,
/// `--presence-penalty -0.5`), which the parser would otherwise take for a flag and report as a
/// missing value; out-of-range numbers then get SamplingParams' own message.
struct SamplingOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: "Outputs per prompt.") var n: Int = 1
    @Option(parsing: .unconditional, help: "0 for greedy.") var temperature: Double?
    @Option(parsing: .unconditional) var topP: Double?
    @Option(parsing: .unconditional, help: "-1 or 0 keeps every token.") var topK: Int?
    @Option(parsing: .unconditional) var minP: Double?
    @Option var seed: UInt64?
    @Option(parsing: .unconditional) var presencePenalty: Double = 0
    @Option(parsing: .unconditional) var frequencyPenalty: Double = 0
    @Option(parsing: .unconditional) var repetitionPenalty: Double?
    @Option(help: "Stop string (repeatable).") var stop: [String] = []
    @Option(help: "Comma-separated token ids that stop generation.") var stopTokenIds: String?
    @Flag var includeStopStrInOutput = false
    @Flag var ignoreEos = false
    @Option(parsing: .unconditional) var maxTokens: Int = 16
    @Option(parsing: .unconditional) var minTokens: Int = 0
    @Option(parsing: .unconditional, help: "Top log-probabilities to return per token.") var logprobs: Int?
    @Option(parsing: .unconditional, help: "Top log-probabilities to return per prompt token.") var promptLogprobs: Int?
    @Flag(inversion: .prefixedNo, help: "Leave special tokens out of the text.") var skipSpecialTokens = true
    @Option(help: "Constrain the output to this JSON schema (JSON text, or a file holding it).") var jsonSchema: String?
    @Flag(help: "Constrain the output to a JSON object.") var jsonObject = false
    @Option(help: "Constrain the output to this regular expression.") var regex: String?
    @Option(help: "Constrain the output to one of these strings (repeatable).") var choice: [String] = []
    @Option(help: "Constrain the output to this EBNF/GBNF grammar (text, or a file holding it; start rule root).") var grammar: String?

    /// The structured-output constraint the flags ask for; at most one.
    func structuredOutputs() throws -> StructuredOutputSpec? {
        func textOrFile(_ value: String) -> String {
            FileManager.default.fileExists(atPath: value) ? (try? String(contentsOfFile: value, encoding: .utf8)) ?? value : value
        }
        var specs: [StructuredOutputSpec] = []
        if let jsonSchema { specs.append(.jsonSchema(textOrFile(jsonSchema))) }
        if jsonObject { specs.append(.jsonObject) }
        if let regex { specs.append(.regex(regex)) }
        if !choice.isEmpty { specs.append(.choice(choice)) }
        if let grammar { specs.append(.grammar(textOrFile(grammar))) }
        guard specs.count <= 1 else {
            throw ValidationError("give at most one of --json-schema, --json-object, --regex, --choice and --grammar")
        }
        return specs.first
    }

    func params(defaults: GenerationConfig) throws -> SamplingParams {
        var p = SamplingParams()
        p.n = n
        p.temperature = temperature ?? defaults.temperature ?? (defaults.doSample == false ? 0 : 1)
        p.topP = topP ?? defaults.topP ?? 1
        p.topK = topK ?? defaults.topK ?? 0
        p.minP = minP ?? defaults.minP ?? 0
        p.seed = seed
        p.presencePenalty = presencePenalty
        p.frequencyPenalty = frequencyPenalty
        p.repetitionPenalty = repetitionPenalty ?? defaults.repetitionPenalty ?? 1
        p.stop = stop
        p.stopTokenIDs = try stopTokenIds.map(parseTokenIDs) ?? []
        p.includeStopStringInOutput = includeStopStrInOutput
        p.ignoreEOS = ignoreEos
        p.maxTokens = maxTokens
        p.minTokens = minTokens
        p.logprobs = logprobs
        p.promptLogprobs = promptLogprobs
        p.skipSpecialTokens = skipSpecialTokens
        p.structuredOutputs = try structuredOutputs()
        try p.validate()
        return p
    }
}

/// Parses "1,2,3" into token ids.
func parseTokenIDs(_ text: String) throws -> [Int] {
    try text.split(separator: ",").map {
        guard let id = Int($0.trimmingCharacters(in: .whitespaces)) else {
            throw ValidationError("'\(text)' is not a comma-separated list of token ids")
        }
        return id
    }
}
