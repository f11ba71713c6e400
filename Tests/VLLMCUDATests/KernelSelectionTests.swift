import Foundation
import Testing
import VLLMCore
import VLLMTestSupport

@testable import VLLMCUDA

/// Which kernel files and instances a model's backend compiles, decided from its config.json and
/// the engine's options, without a GPU.
@Suite struct KernelSelectionTests {
    let manifest: KernelManifest

    init() throws { manifest = try KernelManifest.embedded() }

    func config(_ fixture: String) throws -> ModelConfig {
        try ModelConfig(contentsOf: RepositoryFiles.url("Tests/Fixtures/models/\(fixture)/config.json").path)
    }

    var options: ModelLoadOptions { ModelLoadOptions(maxModelLength: 128, maxNumBatchedTokens: 256) }

    /// The files every model needs: all but the MoE, quantized, GGUF and encoder ones.
    let common = [
        "gather.cu", "norm.cu", "rotary.cu", "kv_cache.cu", "attention.cu", "decode_attention.cu", "gemv.cu", "activation.cu",
        "elementwise.cu", "argmax.cu", "sampling.cu", "flash_prefill.cu",
    ]

    @Test func denseLlamaCompilesTheCommonFilesForItsHeadDimensionWithoutFP8Cache() throws {
        let llama = try config("llama3")
        let selection = KernelSelection(config: llama, options: options)
        #expect(selection == KernelSelection(uses: [], headDim: llama.headDim, fp8KVCache: false))
        #expect(manifest.kernelFiles(selection) == common)
        let decode = manifest.instances(of: .decodeAttention, dtype: "bf16")
        #expect(decode.filter { selection.instantiates(.decodeAttention, $0) }.isEmpty, "head dim \(llama.headDim): no decode kernel")
        let at128 = KernelSelection(uses: [], headDim: 128, fp8KVCache: false)
        #expect(decode.filter { at128.instantiates(.decodeAttention, $0) }.map(\.name) == ["decode_attention_bf16_hd128"])
        #expect(
            manifest.instances(of: .flashPrefill, dtype: "bf16").filter { at128.instantiates(.flashPrefill, $0) }.map(\.name).sorted()
                == ["flash_prefill_bf16_hd128_w4", "flash_prefill_bf16_hd128_w8"])
        for kernel in [Kernel.writeKVCacheFP8, .rotaryWriteKVFP8, .pagedAttentionFP8, .decodeAttentionFP8, .flashPrefillFP8] {
            #expect(manifest.instances(of: kernel, dtype: "bf16").allSatisfy { !at128.instantiates(kernel, $0) }, "\(kernel)")
        }
        #expect(manifest.instances(of: .rmsNorm, dtype: "bf16").allSatisfy { at128.instantiates(.rmsNorm, $0) })
    }

    @Test func mixtureOfExpertsModelsAddMoE() throws {
        for fixture in ["mixtral", "qwen2moe", "qwen3moe"] {
            let selection = KernelSelection(config: try config(fixture), options: options)
            #expect(selection.uses == [.mixtureOfExperts], "\(fixture)")
            #expect(manifest.kernelFiles(selection) == common + ["moe.cu"])
        }
    }

    @Test func encoderModelsAddEncoderAttention() throws {
        let selection = KernelSelection(config: try config("bert"), options: options)
        #expect(selection.uses == [.encoder])
        #expect(manifest.kernelFiles(selection).contains("encoder_attention.cu"))
    }

    @Test func quantizationAddsQuantizedAndGGUFAddsBoth() throws {
        let llama = try config("llama3")
        var fp8 = options
        fp8.quantization = "fp8"
        #expect(KernelSelection(config: llama, options: fp8).uses == [.quantized])
        var gguf = options
        gguf.quantization = "gguf"
        let selection = KernelSelection(config: llama, options: gguf)
        #expect(selection.uses == [.quantized, .ggml])
        #expect(manifest.kernelFiles(selection) == common + ["quantized.cu", "ggml.cu"])
        var quantizedConfig = llama
        quantizedConfig.quantization = .awq(groupSize: 128)
        #expect(KernelSelection(config: quantizedConfig, options: options).uses == [.quantized])
    }

    @Test func fp8KVCacheAddsTheFP8Twins() throws {
        var fp8 = options
        fp8.kvCacheDType = .fp8
        let selection = KernelSelection(config: try config("llama3"), options: fp8)
        #expect(selection.fp8KVCache)
        #expect(manifest.instances(of: .writeKVCacheFP8, dtype: "bf16").allSatisfy { selection.instantiates(.writeKVCacheFP8, $0) })
    }

    @Test func allCompilesEveryFileAndInstance() {
        #expect(manifest.kernelFiles(.all) == manifest.files.filter { $0.hasSuffix(".cu") })
        for kernel in Kernel.allCases {
            #expect(manifest.instances(of: kernel, dtype: "bf16").allSatisfy { KernelSelection.all.instantiates(kernel, $0) })
        }
        #expect(KernelSelection.all.defines.isEmpty)
    }

    @Test func addingUsesWidensOnlyTheFiles() {
        let start = KernelSelection(uses: [], headDim: 128, fp8KVCache: false)
        let wider = start.adding([.ggml])
        #expect(wider == KernelSelection(uses: [.ggml, .quantized], headDim: 128, fp8KVCache: false))
        #expect(wider.defines == start.defines, "the files compiled before keep their cache keys")
    }
}

/// `VLLM_CUDA_SHARED_CARVEOUT`: a percentage of L1 for shared memory, or nothing.
@Suite struct SharedCarveoutTests {
    @Test func readsPercentagesAndIgnoresTheRest() {
        #expect(CUDAKernels.sharedCarveout("100") == 100)
        #expect(CUDAKernels.sharedCarveout("0") == 0)
        #expect(CUDAKernels.sharedCarveout(nil) == nil)
        for bad in ["", "101", "-1", "50%", "max"] { #expect(CUDAKernels.sharedCarveout(bad) == nil) }
    }
}

@Suite struct SkippedKernelsTests {
    @Test func readsCommaSeparatedPrefixes() {
        #expect(CUDABackend.skippedKernels(nil).isEmpty)
        #expect(CUDABackend.skippedKernels("").isEmpty)
        #expect(CUDABackend.skippedKernels("add_rms_norm") == ["add_rms_norm"])
        #expect(CUDABackend.skippedKernels(" gemv , attention_combine,,") == ["gemv", "attention_combine"])
    }
}

@Suite struct GEMVBlockTests {
    @Test func takesFourWarpBlocksOnlyWhereTheyLoadTheMultiprocessorsMoreEvenly() {
        // 448 blocks of 8 warps on 132 multiprocessors: 3.4 on average, 4 on the busiest.
        #expect(CUDABackend.gemvWarps(rows: 3584, multiprocessors: 132) == 4)
        // 512 blocks: 3.9 against 4 already.
        #expect(CUDABackend.gemvWarps(rows: 4096, multiprocessors: 132) == 8)
        #expect(CUDABackend.gemvWarps(rows: 128_256, multiprocessors: 132) == 8)
        #expect(CUDABackend.gemvWarps(rows: 6144, multiprocessors: 132) == 8)
    }
}
