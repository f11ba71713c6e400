import Testing
import VLLMCore

@testable import VLLMCUDA

/// Runs everywhere: what the CUDA module does without a GPU.
@Suite struct CUDAWithoutGPUTests {
    @Test func availabilityExplainsItself() {
        // On a machine without the driver the answer names what is missing; with one it is nil.
        if let problem = CUDAAvailability.problem() {
            #expect(!problem.isEmpty)
        } else {
            #expect(throws: Never.self) { _ = try CUDABackend(computeDType: .float32) }
        }
    }

    @Test func missingLibraryErrorNamesTheLibrary() {
        #expect(throws: CUDAError.self) { _ = try DynamicLibrary(["libdoes-not-exist-vllm.so.1"]) }
        do {
            _ = try DynamicLibrary(["libdoes-not-exist-vllm.so.1"])
        } catch {
            #expect("\(error)".contains("libdoes-not-exist-vllm.so.1"))
        }
    }

    @Test func kernelSourceIsEmbeddedWithEveryKernel() throws {
        let source = try KernelManifest.embedded().source()
        for name in [
            "embedding", "rms_norm", "add_rms_norm", "head_rms_norm", "rotary_write_kv", "write_kv_cache", "paged_attention",
            "silu_and_mul", "gather_rows", "add_bias", "to_float", "argmax_rows",
        ] {
            for suffix in ["f32", "bf16", "f16"] {
                #expect(source.contains(" \(name)_##S(") || source.contains("\(name)_\(suffix)"), "\(name)")
            }
        }
        // flash_prefill.cu, joined after common.cuh whose helpers it uses.
        #expect(source.contains("flash_prefill_##S##_hd##HD##_w##WARPS"))
        #expect(source.range(of: "__device__ void flash_prefill")!.lowerBound > source.range(of: "#define PDL_ENTER")!.lowerBound)
    }

    @Test func kernelCacheKeyDependsOnEveryInput() {
        #expect(KernelCache.fnv1a("a") != KernelCache.fnv1a("b"))
        #expect(KernelCache.fnv1a("kernels") == KernelCache.fnv1a("kernels"))
    }

    @Test func parallelDummyWeightsAreDeterministicAndBounded() throws {
        let store = ParallelDummyWeights(dtype: .bfloat16)
        let a = try store.tensor("model.layers.0.mlp.up_proj.weight", shape: [300, 7000]).floats()
        let b = try store.tensor("model.layers.0.mlp.up_proj.weight", shape: [300, 7000]).floats()
        #expect(a == b)
        #expect(a.allSatisfy { abs($0) <= 0.0201 })
        #expect(Set(a.prefix(1000)).count > 100)
        let norm = try store.tensor("model.norm.weight", shape: [64]).floats()
        #expect(norm.allSatisfy { $0 == 1 })
    }

    @Test func activationEstimateGrowsWithTokens() throws {
        let config = try ModelConfig(
            json: [
                "architectures": ["LlamaForCausalLM"], "hidden_size": 64, "intermediate_size": 128, "num_attention_heads": 4,
                "num_key_value_heads": 2, "num_hidden_layers": 2, "vocab_size": 100, "max_position_embeddings": 128,
            ], path: "config.json")
        let small = CUDAActivationEstimate.bytes(config: config, dtype: .bfloat16, tokens: 16, sequences: 4)
        let large = CUDAActivationEstimate.bytes(config: config, dtype: .bfloat16, tokens: 4096, sequences: 4)
        #expect(large.ring > small.ring && large.step > small.step)
    }
}

/// Runs only where a GPU is usable: each operation against a hand-computed value.
@Suite(.enabled(if: CUDAAvailability.problem() == nil)) struct CUDABackendTests {
    @Test func rmsNormMatchesFormula() throws {
        let gpu = try CUDABackend(computeDType: .float32)
        let x = try gpu.upload([1, 2, 3, 4], shape: [1, 4])
        let w = try gpu.upload([1, 1, 2, 2], shape: [4])
        let out = gpu.toHost(gpu.rmsNorm(x, weight: w, eps: 0))
        let inv = 1 / ((1 + 4 + 9 + 16) / Float(4)).squareRoot()
        #expect(zip(out, [1 * inv, 2 * inv, 6 * inv, 8 * inv]).allSatisfy { abs($0 - $1) < 1e-6 })
    }
}
