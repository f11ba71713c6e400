import Testing
import VLLMCPU
import VLLMCore

@testable import VLLMEngine

/// The CPU backend with its own `geluTanhGLU` and `normAddRMSNorm`, as the CUDA backend has (fused
/// kernels): it notes the token count of each call, then runs the parts apart.
final class GeGLUCountingCPUBackend: CPUWrappingBackend {
    let cpu = CPUBackend()
    /// The rows of `x` of each `geluTanhGLU` call, in order.
    private(set) var calls: [Int] = []
    /// The rows of `x` of each `normAddRMSNorm` call, in order.
    private(set) var normCalls: [Int] = []

    var name: String { "geglu-counting-cpu" }

    func geluTanhGLU(_ x: CPUTensor, gateUp: CPUTensor) -> CPUTensor {
        calls.append(x.rows)
        return cpu.geluTanhAndMul(cpu.linear(x, weight: gateUp, bias: nil))
    }

    func normAddRMSNorm(_ x: CPUTensor, normWeight: CPUTensor, residual: CPUTensor, weight: CPUTensor, eps: Float) -> CPUTensor {
        normCalls.append(x.rows)
        return cpu.addRMSNorm(cpu.rmsNorm(x, weight: normWeight, eps: eps), residual: residual, weight: weight, eps: eps)
    }
}

/// Gemma's MLP reaches a backend's `geluTanhGLU` (the dense weight's overload, where the CUDA
/// backend fuses the gate/up product and the activation): once per layer and step, prefill and
/// decode, with the CPU backend's logits. Its post-norms reach `normAddRMSNorm` (fused on CUDA),
/// twice a layer: after attention, and the MLP's with the next layer's (or the final) norm.
@Suite struct GeGLUOperationTests {
    @Test(arguments: ["gemma2", "gemma3"])
    func gemmaMLPGoesThroughTheBackendOperation(model: String) throws {
        let folder = try ModelFolder(path: EnginePaths.fixtureModels + "/" + model)
        let prompt: [Int32] = [2, 17, 45, 99, 3, 150, 8]
        func logits<B: Backend>(_ backend: B) throws -> [Float] {
            let runner = try ModelRegistry.load(
                config: folder.config, weights: folder.weights(format: .auto), backend: backend, maxPositions: 64)
            runner.allocateKVCache(numBlocks: 4, blockSize: 16)
            let prefill = ForwardBatch(chunks: [SequenceChunk(tokenIDs: prompt, numCached: 0, blockTable: [0])], blockSize: 16)
            let decode = ForwardBatch(
                chunks: [SequenceChunk(tokenIDs: [5], numCached: prompt.count, blockTable: [0])], blockSize: 16)
            return runner.execute(prefill) + runner.execute(decode)
        }
        let counting = GeGLUCountingCPUBackend()
        let got = try logits(counting)
        let layers = folder.config.numLayers
        #expect(counting.calls == Array(repeating: prompt.count, count: layers) + Array(repeating: 1, count: layers))
        #expect(counting.normCalls == Array(repeating: prompt.count, count: 2 * layers) + Array(repeating: 1, count: 2 * layers))
        #expect(got == (try logits(CPUBackend())))
    }
}
