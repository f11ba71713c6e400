import SwiftVLLM
import Testing
import VLLMCPU
import VLLMCore

@testable import VLLMEngine

/// `--batch-invariant` / `VLLM_BATCH_INVARIANT`: read as vLLM reads it, carried to the backend, and
/// on the CPU (invariant by construction, docs/deterministic-mode.md) the same tokens however the
/// requests are batched.
@Suite struct BatchInvariantModeTests {
    @Test func environmentVariableIsReadAsVLLMReadsIt() {
        #expect(EngineArgs.batchInvariant(environment: ["VLLM_BATCH_INVARIANT": "1"]))
        #expect(EngineArgs.batchInvariant(environment: ["VLLM_BATCH_INVARIANT": "2"]))
        #expect(!EngineArgs.batchInvariant(environment: ["VLLM_BATCH_INVARIANT": "0"]))
        #expect(!EngineArgs.batchInvariant(environment: ["VLLM_BATCH_INVARIANT": "yes"]))
        #expect(!EngineArgs.batchInvariant(environment: [:]))
    }

    @Test func flagReachesTheBackends() throws {
        let config = try ModelFolder(path: EnginePaths.builtinModel).config
        for (invariant, ranks) in [(false, 1), (true, 1), (true, 2)] {
            var args = EngineArgs(model: EnginePaths.builtinModel)
            args.batchInvariant = invariant
            args.tensorParallelSize = ranks
            let options = args.loadOptions(maxModelLength: 128, budget: 2048)
            #expect(options.batchInvariant == invariant)
            let backends = try CPUPlatform().makeBackends(config: config, options)
            #expect(backends.count == ranks)
            #expect(backends.allSatisfy { $0.batchInvariant == invariant })
        }
    }

    /// SchedulingEquivalenceTests' runs with the mode on: the tokens of each prompt run alone
    /// without it, all at once, four at a time, with a budget of 7 tokens (chunked prefills) and
    /// with 9 blocks (preemption and recomputation).
    @Test func cpuOutputsMatchTheReferenceInEveryBatching() throws {
        let configurations: [(String, (inout EngineArgs) -> Void)] = [
            ("all at once", { _ in }), ("four at a time", { $0.maxNumSeqs = 4 }),
            ("budget 7", { $0.maxNumBatchedTokens = 7 }), ("9 blocks", { $0.numGPUBlocksOverride = 9 }),
        ]
        for (name, configure) in configurations {
            let llm = try makeLLM {
                $0.batchInvariant = true
                configure(&$0)
            }
            #expect(try SchedulingEquivalenceTests.outputs(llm) == SchedulingEquivalenceTests.reference, "\(name)")
            if name == "9 blocks" { #expect(llm.engine.stats.numPreemptions > 0) }
        }
    }
}
