import Testing
import VLLMCPU
import VLLMCore

@testable import VLLMEngine

/// The CPU backend with its own `geluTanhGLU`, as the CUDA backend has (a fused kernel): it notes
/// the token count of each call, then runs the product and the activation apart.
final class GeGLUCountingCPUBackend: CPUWrappingBackend {
    let cpu = CPUBackend()
    /// The rows of `x` of each `geluTanhGLU` call, in order.
    private(set) var calls: [Int] = []

    var name: String { "geglu-counting-cpu" }

    func geluTanhGLU(_ x: CPUTensor, gateUp: CPUTensor) -> CPUTensor {
        calls.append(x.rows)
        return cpu.geluTanhAndMul(cpu.linear(x, weight: gateUp, bias: nil))
    }
}

/// Gemma's MLP reaches a backend's `geluTanhGLU` (the dense weight's overload, where the CUDA
/// backend fuses the gate/up product and the activation): once per layer and step, prefill and
/// decode, with the CPU backend's logits.
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
        #expect(got == (try logits(CPUBackend())))
    }
}
