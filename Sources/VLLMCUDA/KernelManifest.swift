import Foundation

/// A kernel family of `Kernels/manifest.json`, named by its manifest `id`. Swift code names kernels
/// only through these constants, so that a CUDA name is written once in its `.cu` file and once in
/// the manifest; `KernelManifest` checks at load that the two lists agree.
enum Kernel: String, CaseIterable, Sendable {
    case embedding, gatherRows, rmsNorm, addRMSNorm, normAddRMSNorm, addRMSNormInt8, headRMSNorm, rotaryWriteKV, writeKVCache
    case pagedAttention, flashAttention, attentionCombine, attentionCombineInt8, decodeAttention, gemv, gemvSwiGLU, gemvGeGLU, gemvMMA
    case siluAndMul, siluAndMulInt8, addBias, toFloat, fromFloat, argmaxRows, adjustLogits, sampleRows, flashPrefill
    case moeRoute, moeGroup, moeGemm, moeCombine, moeGemvSwiGLU, moeGemvCombine, moeGemmMMA
    case gemvInt, gemvFP8, dequantizeInt, dequantizeFP8, permuteColumns, quantizeRowsFP8, scaleProduct, gemvLUT, dequantizeLUT
    case geluTanhAndMul, gelu, softCap, scale, layerNorm, encoderEmbedding, bidirectionalAttention, copyColumns
    case gemvGGML, dequantizeGGML, gemvGGMLInt8, quantizeGGMLInt8, gemvInt4Int8
    case writeKVCacheFP8, rotaryWriteKVFP8, pagedAttentionFP8, decodeAttentionFP8, flashPrefillFP8
    case rotaryNormWriteKV, rotaryNormWriteKVFP8
    case applyTokenBitmask

    /// Kernels the backend can do without (it samples on the host, takes another attention kernel,
    /// runs a product and its activation apart, or refuses `--kv-cache-dtype fp8`) when a module
    /// lacks them: a `VLLM_CUDA_KERNEL_SOURCE` from before they existed.
    var isOptional: Bool {
        [
            .adjustLogits, .sampleRows, .decodeAttention, .flashPrefill, .gemvInt, .gemvFP8, .dequantizeInt, .dequantizeFP8,
            .permuteColumns, .quantizeRowsFP8, .scaleProduct, .moeGemvSwiGLU, .moeGemvCombine, .moeGemmMMA, .gemvGGML,
            .dequantizeGGML,
            .gemvGGMLInt8, .quantizeGGMLInt8, .gemvInt4Int8, .gemvLUT, .dequantizeLUT,
            .writeKVCacheFP8, .rotaryWriteKVFP8, .pagedAttentionFP8, .decodeAttentionFP8, .flashPrefillFP8,
            .rotaryNormWriteKV, .rotaryNormWriteKVFP8,
            .applyTokenBitmask, .gemvGeGLU, .normAddRMSNorm, .gemvMMA, .addRMSNormInt8, .siluAndMulInt8, .attentionCombineInt8,
        ].contains(self)
    }
}

/// A macro parameter of a manifest kernel name (`HD` in `flash_attention_{S}_hd{HD}`); `S`, the
/// activation dtype, is the one that is not a number.
enum KernelParameter: String, Sendable {
    case dtype = "S"
    case headDim = "HD"
    case tokens = "NT"
    case warps = "WARPS"
    case bits = "BITS"
    /// A ggml block type, by its id (`GGMLType.rawValue`).
    case ggmlType = "GT"
}

/// `Kernels/manifest.json`: the kernel files in the order the backend joins them into one NVRTC
/// source, and the kernels each file defines, with the values each name is instantiated with.
struct KernelManifest: Sendable {
    /// One manifest kernel family.
    struct Entry: Decodable, Sendable {
        let id: String
        /// The CUDA name with each macro parameter `##P` written `{P}`.
        let name: String
        /// The values of each parameter, as the file's instantiation macros are invoked.
        let parameters: [String: [String]]
        /// The kernel waits for the previous grid itself, so it may be launched to overlap it.
        let waitsForPrevious: Bool
    }

    /// One instantiated kernel: its name in the module and its numeric parameters.
    struct Instance: Sendable {
        let name: String
        let values: [KernelParameter: Int]
    }

    private struct File: Decodable {
        let file: String
        let use: String?
        let kernels: [Entry]
    }
    private struct Document: Decodable { let files: [File] }

    /// The kernel files, in the order they are joined.
    let files: [String]
    /// The files only some models need, by what needs them (`use` in the manifest).
    let uses: [String: KernelSelection.Use]
    /// Each family's entry and the file that defines it.
    let entries: [Kernel: (file: String, entry: Entry)]

    /// The embedded kernel files by name (Package.swift embeds each with `.embedInCode`).
    static let embeddedFiles: [String: [UInt8]] = [
        "common.cuh": PackageResources.common_cuh, "gather.cu": PackageResources.gather_cu, "norm.cu": PackageResources.norm_cu,
        "rotary.cu": PackageResources.rotary_cu, "kv_cache.cu": PackageResources.kv_cache_cu,
        "attention.cu": PackageResources.attention_cu, "encoder_attention.cu": PackageResources.encoder_attention_cu,
        "decode_attention.cu": PackageResources.decode_attention_cu,
        "gemv.cu": PackageResources.gemv_cu, "activation.cu": PackageResources.activation_cu,
        "elementwise.cu": PackageResources.elementwise_cu, "argmax.cu": PackageResources.argmax_cu,
        "sampling.cu": PackageResources.sampling_cu, "flash_prefill.cu": PackageResources.flash_prefill_cu,
        "moe.cu": PackageResources.moe_cu, "quantized.cu": PackageResources.quantized_cu,
        "ggml_blocks.cuh": PackageResources.ggml_blocks_cuh, "ggml.cu": PackageResources.ggml_cu,
    ]

    /// The manifest embedded in the binary.
    static func embedded() throws -> KernelManifest { try KernelManifest(json: PackageResources.manifest_json) }

    /// Parses a manifest and checks it against the `Kernel` constants and the embedded files.
    init(json: [UInt8]) throws {
        let document: Document
        do {
            document = try JSONDecoder().decode(Document.self, from: Data(json))
        } catch {
            throw KernelManifestError("cannot read Kernels/manifest.json: \(error)")
        }
        files = document.files.map(\.file)
        var uses: [String: KernelSelection.Use] = [:]
        for file in document.files {
            guard let name = file.use else { continue }
            guard let use = KernelSelection.Use(rawValue: name) else {
                throw KernelManifestError("Kernels/manifest.json: \(file.file) has use '\(name)', not one of KernelSelection.Use")
            }
            uses[file.file] = use
        }
        self.uses = uses
        var entries: [Kernel: (file: String, entry: Entry)] = [:]
        for file in document.files {
            guard Self.embeddedFiles[file.file] != nil else {
                throw KernelManifestError(
                    "Kernels/manifest.json lists \(file.file), which the binary does not embed (Package.swift, KernelManifest.embeddedFiles)"
                )
            }
            for entry in file.kernels {
                guard let kernel = Kernel(rawValue: entry.id) else {
                    throw KernelManifestError(
                        "Kernels/manifest.json: kernel id '\(entry.id)' (\(entry.name)) has no Swift constant in Kernel")
                }
                guard entries[kernel] == nil else { throw KernelManifestError("Kernels/manifest.json lists '\(entry.id)' twice") }
                try Self.checkParameters(entry)
                entries[kernel] = (file.file, entry)
            }
        }
        if let absent = Kernel.allCases.first(where: { entries[$0] == nil }) {
            throw KernelManifestError("Kernels/manifest.json has no kernel with id '\(absent.rawValue)'")
        }
        self.entries = entries
    }

    /// Every parameter is a known one and appears in the name; all but the dtype are numbers.
    private static func checkParameters(_ entry: Entry) throws {
        for (key, values) in entry.parameters {
            guard let parameter = KernelParameter(rawValue: key), entry.name.contains("{\(key)}") else {
                throw KernelManifestError(
                    "Kernels/manifest.json: '\(entry.id)' has parameter \(key), unknown or not in its name \(entry.name)")
            }
            if parameter != .dtype, let bad = values.first(where: { Int($0) == nil }) {
                throw KernelManifestError("Kernels/manifest.json: '\(entry.id)' has \(key) = \(bad), not a number")
            }
        }
    }

    /// The joined source: the files in order, separated by newlines.
    func source() -> String { join(files) }

    /// The kernel files (`.cu`) that `selection` compiles, in manifest order.
    func kernelFiles(_ selection: KernelSelection) -> [String] {
        files.filter { $0.hasSuffix(".cu") && selection.compiles(uses[$0]) }
    }

    /// The source NVRTC compiles for one kernel file: the headers (`.cuh`) listed before it, then
    /// the file, joined as `source()` joins them (so each file compiles as it does in the whole).
    func source(of file: String) -> String {
        let before = files.prefix { $0 != file }
        return join(before.filter { $0.hasSuffix(".cuh") } + [file])
    }

    private func join(_ names: [String]) -> String {
        names.map { String(decoding: Self.embeddedFiles[$0] ?? [], as: UTF8.self) }.joined(separator: "\n")
    }

    /// The instances of `kernel` for the activation dtype `suffix` (f32, bf16, f16): every
    /// combination of its parameter values; none when the kernel is not made for that dtype.
    func instances(of kernel: Kernel, dtype suffix: String) -> [Instance] {
        guard let entry = entries[kernel]?.entry else { return [] }
        var parameters = entry.parameters
        if let dtypes = parameters[KernelParameter.dtype.rawValue] {
            guard dtypes.contains(suffix) else { return [] }
            parameters[KernelParameter.dtype.rawValue] = [suffix]
        }
        var instances = [Instance(name: entry.name, values: [:])]
        for (key, values) in parameters.sorted(by: { $0.key < $1.key }) {
            let parameter = KernelParameter(rawValue: key)!
            instances = instances.flatMap { partial in
                values.map { value in
                    var numbers = partial.values
                    if parameter != .dtype { numbers[parameter] = Int(value) }
                    return Instance(name: partial.name.replacingOccurrences(of: "{\(key)}", with: value), values: numbers)
                }
            }
        }
        return instances
    }
}

/// The embedded kernel manifest disagrees with the Swift side or the embedded files.
struct KernelManifestError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
