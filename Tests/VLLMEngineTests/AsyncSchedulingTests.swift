import Foundation
import SwiftVLLM
import Testing
import VLLMCPU
import VLLMCUDA
import VLLMCore
import VLLMStructuredOutputs

@testable import VLLMEngine

/// An executor that logs when each step is launched and when waiting for its samples returns, and
/// how many rows each step samples, around a real model.
final class LoggingExecutor: ModelExecutor {
    let inner: any ModelExecutor
    private(set) var events: [String] = []
    private(set) var sampledRows: [Int] = []
    /// Steps whose logits came to the host (`execute`).
    private(set) var hostLogitSteps = 0

    init(_ inner: any ModelExecutor) { self.inner = inner }

    var config: ModelConfig { inner.config }
    var backendName: String { inner.backendName }
    func kvCacheBytesPerBlock(blockSize: Int) -> Int { inner.kvCacheBytesPerBlock(blockSize: blockSize) }
    func allocateKVCache(numBlocks: Int, blockSize: Int) { inner.allocateKVCache(numBlocks: numBlocks, blockSize: blockSize) }
    func execute(_ batch: ForwardBatch) -> [Float] {
        hostLogitSteps += 1
        return inner.execute(batch)
    }
    var samplesOnDevice: Bool { inner.samplesOnDevice }
    func captureGraphs(_ plan: StepRecordingPlan) -> Int { inner.captureGraphs(plan) }
    func profileRun(tokens: Int, sequences: Int, blockSize: Int) {
        inner.profileRun(tokens: tokens, sequences: sequences, blockSize: blockSize)
    }
    var launchesAhead: Bool { inner.launchesAhead }

    func launch(_ batch: ForwardBatch, rows: [DeviceSamplingRow]) -> PendingSamples {
        let step = sampledRows.count + 1
        sampledRows.append(rows.count)
        events.append("launch \(step)")
        let samples = inner.launch(batch, rows: rows)
        return PendingSamples { [self] in
            let result = samples.wait()
            events.append("wait \(step)")
            return result
        }
    }

    /// Logs the launch when the forward pass is launched; the rows come later.
    func launchForward(_ batch: ForwardBatch) -> (_ rows: [DeviceSamplingRow]) -> PendingSamples {
        let step = sampledRows.count + 1
        sampledRows.append(0)
        events.append("launch \(step)")
        let sample = inner.launchForward(batch)
        return { [self] rows in
            sampledRows[step - 1] = rows.count
            let samples = sample(rows)
            return PendingSamples { [self] in
                let result = samples.wait()
                events.append("wait \(step)")
                return result
            }
        }
    }

    /// Steps launched before waiting for the step before them returned.
    var numLaunchedAhead: Int {
        let steps = sampledRows.count
        guard steps > 1 else { return 0 }
        return (2...steps).filter { k in
            events.firstIndex(of: "launch \(k)")! < events.firstIndex(of: "wait \(k - 1)")!
        }.count
    }

    /// Whether every step but the first was launched ahead.
    var launchedAhead: Bool { sampledRows.count > 1 && numLaunchedAhead == sampledRows.count - 1 }
}

/// The CPU backend acting as the CUDA backend does with launched steps: sampling keeps the tokens
/// "on the device" (`sampled`) and hands back samples that are not ready until waited for, so the
/// model leaves placeholder ids to `embedding`, which resolves them from `sampled`; steps are
/// "recorded" (padded to recorded sizes) as with CUDA graphs.
final class DeviceLikeCPUBackend: CPUWrappingBackend {
    let cpu = CPUBackend()
    private var sampled: [Int32] = []
    /// Placeholder ids `embedding` resolved, and decode steps that went through `recorded`.
    private(set) var resolvedPlaceholders = 0, recordedSteps = 0

    var name: String { "device-like-cpu" }
    func embedding(_ table: CPUTensor, _ batch: CPUBatch) -> CPUTensor {
        let placeholders = batch.batch.tokenIDs.filter { $0 < 0 }.count
        resolvedPlaceholders += placeholders
        return cpu.embedding(table, placeholders > 0 ? cpu.prepare(batch.batch.resolvingPlaceholders(sampled)) : batch)
    }
    var samplesOnDevice: Bool { true }

    func launchSampling(_ x: CPUTensor, rows: [DeviceSamplingRow]) -> PendingSamples {
        let samples =
            rows.allSatisfy(\.isPlainGreedy)
            ? cpu.argmaxRows(x, rows: rows.count).map { DeviceSample(token: Int($0)) } : cpu.sampleRows(x, rows: rows)
        sampled = samples.map { Int32($0.token) }
        return PendingSamples { samples }
    }

    var recordsSteps: Bool { true }
    func recorded(_ key: RecordedStep, batch: CPUBatch, _ forward: () -> [CPUTensor]) -> [CPUTensor] {
        recordedSteps += 1
        return forward()
    }
}

/// Async scheduling gives exactly the outputs of one step at a time, whatever finishes a request
/// while its next token is being computed.
@Suite struct AsyncSchedulingTests {
    /// The outputs of `prompts` with `params` (one each) on a fresh engine, without queue times.
    static func outputs(
        _ prompts: [[Int]], _ params: [SamplingParams], async: Bool, backendSampling: Bool? = nil,
        _ configure: (inout EngineArgs) -> Void = { _ in }
    ) throws -> (outputs: [RequestOutput], stats: EngineStats) {
        let llm = try makeLLM {
            $0.asyncScheduling = async
            configure(&$0)
        }
        llm.engine.runner.samplesOnBackend = backendSampling
        var outputs = try llm.generate(prompts.map(Prompt.tokens), params: params, showProgress: false)
        for r in outputs.indices {
            outputs[r].numCachedTokens = 0
            for o in outputs[r].outputs.indices { outputs[r].outputs[o].queueTime = nil }
        }
        #expect(llm.engine.numFreeBlocks == llm.engine.config.numBlocks, "blocks leaked")
        return (outputs, llm.engine.stats)
    }

    /// Runs both ways and expects the same outputs; returns them.
    @discardableResult
    static func expectSame(
        _ prompts: [[Int]], _ params: [SamplingParams], backendSampling: Bool? = nil,
        _ configure: (inout EngineArgs) -> Void = { _ in }
    ) throws -> [RequestOutput] {
        let sync = try outputs(prompts, params, async: false, backendSampling: backendSampling, configure)
        let async = try outputs(prompts, params, async: true, backendSampling: backendSampling, configure)
        #expect(async.outputs == sync.outputs)
        return async.outputs
    }

    static let prompts = mixedPrompts(count: 12, seed: 11, maxLength: 30)

    @Test func greedyRequestsJoiningAndLeaving() throws {
        let params = Self.prompts.indices.map { greedyParams(1 + $0 * 5 % 17) }
        let outputs = try Self.expectSame(Self.prompts, params) { $0.maxNumSeqs = 5 }
        #expect(outputs.map { $0.outputs[0].tokenIDs.count } == params.map(\.maxTokens))
        #expect(outputs.allSatisfy { $0.outputs[0].finishReason == .length })
    }

    @Test func chunkedPrefillsBesideDecodes() throws {
        let params = Self.prompts.indices.map { greedyParams(3 + $0 % 9) }
        try Self.expectSame(Self.prompts, params) { $0.maxNumBatchedTokens = 13 }
    }

    @Test func eosAndStopTokens() throws {
        let eos = Self.tokens("Once upon a time, there was a dog.")
        var stopEOS = SamplingParams.greedy(maxTokens: 300)
        stopEOS.ignoreEOS = false
        // Stop at the fourth greedy token of each prompt, a token the request has in flight by then.
        let reference = try Self.outputs(Self.prompts, Self.prompts.map { _ in greedyParams(10) }, async: false).outputs
        let stopping = reference.map { output in
            var p = greedyParams(10)
            p.stopTokenIDs = [output.outputs[0].tokenIDs[3]]
            return p
        }
        let outputs = try Self.expectSame([eos] + Self.prompts, [stopEOS] + stopping) { $0.maxModelLength = 512 }
        #expect(outputs[0].outputs[0].finishReason == .stop && outputs[0].outputs[0].tokenIDs.last == 1)
        #expect(outputs.dropFirst().allSatisfy { $0.outputs[0].stopReason != nil && $0.outputs[0].tokenIDs.count <= 4 })
    }

    /// A stop string ends a request while its next token is computed beside the other requests.
    @Test(arguments: [false, true])
    func stopStrings(include: Bool) throws {
        var params = greedyParams(200)
        params.stop = ["no such text", "ily. She"]
        params.includeStopStringInOutput = include
        let others = Self.prompts.prefix(5).map { _ in greedyParams(40) }
        let outputs = try Self.expectSame([[1]] + Self.prompts.prefix(5), [params] + others) { $0.maxModelLength = 256 }
        #expect(outputs[0].outputs[0].stopReason == .string("ily. She"))
    }

    @Test func seededSamplingOnTheBackend() throws {
        var params = SamplingParams()
        params.temperature = 0.9
        params.topK = 30
        params.topP = 0.85
        params.minP = 0.01
        params.maxTokens = 14
        params.ignoreEOS = true
        params.logprobs = 3
        let all = Self.prompts.indices.map { i in
            var p = params
            p.seed = UInt64(40 + i)
            p.n = i % 3 == 0 ? 3 : 1
            return p
        }
        let outputs = try Self.expectSame(Self.prompts, all, backendSampling: true)
        #expect(outputs[0].outputs.count == 3 && outputs[0].outputs[0].logprobs?.count == 14)
    }

    /// On the CPU, rows beyond the argmax are sampled by the host (the logits come back), so these
    /// steps are not launched ahead, and the outputs still match.
    @Test func hostSamplingFallsBack() throws {
        var params = greedyParams(9)
        params.logprobs = 2
        params.minTokens = 3
        params.logitBias = [77: 0.5]
        try Self.expectSame(Self.prompts, Self.prompts.map { _ in params })
    }

    @Test func penaltiesFallBackBesideGreedyRequests() throws {
        var penalised = greedyParams(12)
        penalised.repetitionPenalty = 1.4
        penalised.frequencyPenalty = 0.3
        penalised.presencePenalty = 0.2
        let params = Self.prompts.indices.map { $0 % 4 == 1 ? penalised : greedyParams(6 + $0) }
        try Self.expectSame(Self.prompts, params, backendSampling: true)
        try Self.expectSame(Self.prompts, params, backendSampling: false)
    }

    @Test func promptLogprobsFallBack() throws {
        var params = greedyParams(5)
        params.promptLogprobs = 2
        let all = Self.prompts.indices.map { $0 == 6 ? params : greedyParams(8) }
        let outputs = try Self.expectSame(Self.prompts, all)
        #expect(outputs[6].promptLogprobs?.count == Self.prompts[6].count)
    }

    @Test func preemptionWithTokensInFlight() throws {
        let prompts = mixedPrompts(count: 16, seed: 5)
        let params = prompts.indices.map { greedyParams(10 + $0 % 11) }
        let sync = try Self.outputs(prompts, params, async: false) { $0.numGPUBlocksOverride = 9 }
        let async = try Self.outputs(prompts, params, async: true) { $0.numGPUBlocksOverride = 9 }
        #expect(async.outputs == sync.outputs)
        #expect(async.stats.numPreemptions > 0)
    }

    /// Aborting a request whose next token is in flight drops that token and frees its blocks.
    @Test func abortMidRun() throws {
        func run(async: Bool) throws -> [String: [Int]] {
            let llm = try makeLLM { $0.asyncScheduling = async }
            let engine = llm.engine
            for (i, prompt) in Self.prompts.enumerated() {
                try engine.addRequest(id: "r\(i)", promptTokenIDs: prompt, params: greedyParams(12))
            }
            var tokens: [String: [Int]] = [:]
            var steps = 0
            while engine.hasUnfinishedRequests {
                for update in engine.step() { tokens[update.requestID, default: []] += update.newTokenIDs }
                steps += 1
                if steps == 4 || steps == 7 {
                    let final = engine.abort("r\(steps)")
                    #expect(final?.finishReason == .abort)
                }
            }
            #expect(engine.numFreeBlocks == engine.config.numBlocks)
            return tokens
        }
        let sync = try run(async: false), async = try run(async: true)
        #expect(async == sync)
        #expect(async["r4"]?.count == 4 && async["r7"]?.count == 7)
    }

    /// An engine over the built-in model on the CPU whose executor logs launches and waits.
    static func loggedEngine(
        async: Bool, grammars: Bool = false, speculative: SpeculativeConfig? = nil
    ) throws -> (EngineCore, LoggingExecutor) {
        let folder = try ModelFolder(path: EnginePaths.builtinModel)
        let model = try ModelRegistry.load(
            config: folder.config, weights: folder.weights(format: .auto), backend: CPUBackend(), maxPositions: 128)
        let executor = LoggingExecutor(model)
        let config = EngineCoreConfig(
            blockSize: 16, numBlocks: 64, enablePrefixCaching: true,
            scheduler: SchedulerConfig(maxNumBatchedTokens: 256, maxNumSeqs: 8, maxModelLength: 128), asyncScheduling: async,
            speculative: speculative)
        guard grammars else { return (try EngineCore(executor: executor, config: config, eosTokenIDs: []), executor) }
        let eos = try makeLLM().tokenizer!.eosTokenID!
        let compiler = makeGrammarCompiler(try makeLLM().tokenizer!, eosTokenIDs: [eos])
        return (try EngineCore(executor: executor, config: config, eosTokenIDs: [eos], grammarCompiler: compiler), executor)
    }

    /// Constrained requests stay launched ahead: a step's grammar masks are filled once the tokens
    /// of the step in flight are in (`LaunchedStep.queueSampling`), and the outputs, greedy and
    /// seeded, are those of one step at a time, each a path through its grammar.
    @Test func grammarRowsLaunchedAhead() throws {
        let spec = StructuredOutputSpec.jsonSchema(StructuredOutputEngineTests.schema)
        func run(async: Bool) throws -> (tokens: [String: [Int]], executor: LoggingExecutor) {
            let (engine, executor) = try Self.loggedEngine(async: async, grammars: true)
            engine.runner.samplesOnBackend = true
            for (i, prompt) in Self.prompts.prefix(6).enumerated() {
                var params = SamplingParams.greedy(maxTokens: 20)
                params.structuredOutputs = spec
                if i % 2 == 1 {
                    params.temperature = 0.9
                    params.seed = UInt64(i)
                }
                try engine.addRequest(id: "r\(i)", promptTokenIDs: prompt, params: params)
            }
            let tokens = engine.generatedTokensUntilDone()
            return (tokens, executor)
        }
        let sync = try run(async: false), async = try run(async: true)
        #expect(async.tokens == sync.tokens)
        #expect(async.executor.launchedAhead, "\(async.executor.events)")
        let tokenizer = try makeLLM().tokenizer!
        let compiler = makeGrammarCompiler(tokenizer, eosTokenIDs: [tokenizer.eosTokenID!])
        for (id, tokens) in async.tokens {
            var matcher = GrammarMatcher(grammar: try compiler.compile(spec))
            #expect(tokens.allSatisfy { matcher.acceptToken($0) }, "\(id)")
        }
    }

    /// Each step is launched before the engine waits for the one before, and a request is never
    /// scheduled past its max_tokens: every sampled row gives a token.
    @Test func stepsOverlapAndNoRowIsWasted() throws {
        let (engine, executor) = try Self.loggedEngine(async: true)
        let maxTokens = Self.prompts.indices.map { 2 + $0 % 5 }
        for (i, prompt) in Self.prompts.enumerated() {
            try engine.addRequest(id: "r\(i)", promptTokenIDs: prompt, params: greedyParams(maxTokens[i]))
        }
        var generated = 0
        while engine.hasUnfinishedRequests { generated += engine.step().reduce(0) { $0 + $1.newTokenIDs.count } }
        #expect(executor.launchedAhead, "\(executor.events)")
        #expect(generated == maxTokens.reduce(0, +))
        #expect(executor.sampledRows.reduce(0, +) == generated)
    }

    /// Placeholders left to the backend (as on CUDA, where the previous step's tokens are still on
    /// the device) give the same tokens, through padded recorded decode steps too.
    @Test func placeholdersResolvedByTheBackend() throws {
        let folder = try ModelFolder(path: EnginePaths.builtinModel)
        func run(async: Bool) throws -> (tokens: [String: [Int]], backend: DeviceLikeCPUBackend) {
            let backend = DeviceLikeCPUBackend()
            let model = try ModelRegistry.load(
                config: folder.config, weights: folder.weights(format: .auto), backend: backend, maxPositions: 128)
            let config = EngineCoreConfig(
                blockSize: 8, numBlocks: 256, enablePrefixCaching: true,
                scheduler: SchedulerConfig(maxNumBatchedTokens: 64, maxNumSeqs: 7, maxModelLength: 128),
                graphBatchSizes: EngineCoreConfig.graphBatchSizes(maxNumSeqs: 7), asyncScheduling: async)
            let engine = try EngineCore(executor: model, config: config, eosTokenIDs: [])
            var seeded = SamplingParams()
            seeded.temperature = 0.8
            seeded.topK = 50
            seeded.maxTokens = 11
            seeded.ignoreEOS = true
            for (i, prompt) in Self.prompts.enumerated() {
                var params = i % 2 == 0 ? greedyParams(4 + i) : seeded
                params.seed = UInt64(i)
                try engine.addRequest(id: "r\(i)", promptTokenIDs: prompt, params: params)
            }
            let tokens = engine.generatedTokensUntilDone()
            return (tokens, backend)
        }
        let sync = try run(async: false), async = try run(async: true)
        #expect(async.tokens == sync.tokens)
        #expect(sync.backend.resolvedPlaceholders == 0)
        #expect(async.backend.resolvedPlaceholders > 0)
        #expect(async.backend.recordedSteps > 0)
    }

    /// Constrained rows beside plain ones on a backend that keeps the tokens on the device (as
    /// CUDA does): the forward pass reads the placeholders there, steps are padded to recorded
    /// sizes, and the masks added after the launch give the outputs of one step at a time.
    @Test func grammarRowsWithPlaceholdersOnTheBackend() throws {
        let folder = try ModelFolder(path: EnginePaths.builtinModel)
        let tokenizer = try makeLLM().tokenizer!
        let eos = tokenizer.eosTokenID!
        func run(async: Bool) throws -> (tokens: [String: [Int]], backend: DeviceLikeCPUBackend) {
            let backend = DeviceLikeCPUBackend()
            let model = try ModelRegistry.load(
                config: folder.config, weights: folder.weights(format: .auto), backend: backend, maxPositions: 128)
            let config = EngineCoreConfig(
                blockSize: 8, numBlocks: 256, enablePrefixCaching: true,
                scheduler: SchedulerConfig(maxNumBatchedTokens: 64, maxNumSeqs: 7, maxModelLength: 128),
                graphBatchSizes: EngineCoreConfig.graphBatchSizes(maxNumSeqs: 7), asyncScheduling: async)
            let engine = try EngineCore(
                executor: model, config: config, eosTokenIDs: [eos],
                grammarCompiler: makeGrammarCompiler(tokenizer, eosTokenIDs: [eos]))
            for (i, prompt) in Self.prompts.enumerated() {
                var params = SamplingParams.greedy(maxTokens: 6 + i)
                if i % 3 != 2 { params.structuredOutputs = .jsonSchema(StructuredOutputEngineTests.schema) }
                if i % 2 == 1 {
                    params.temperature = 0.8
                    params.seed = UInt64(i)
                }
                try engine.addRequest(id: "r\(i)", promptTokenIDs: prompt, params: params)
            }
            let tokens = engine.generatedTokensUntilDone()
            return (tokens, backend)
        }
        let sync = try run(async: false), async = try run(async: true)
        #expect(async.tokens == sync.tokens)
        #expect(async.backend.resolvedPlaceholders > 0)
        #expect(async.backend.recordedSteps > 0)
    }

    /// With async scheduling off, each step is waited for before the next is launched.
    @Test func syncModeLaunchesOneStepAtATime() throws {
        let (engine, executor) = try Self.loggedEngine(async: false)
        try engine.addRequest(id: "a", promptTokenIDs: [1, 5, 9], params: greedyParams(4))
        while engine.hasUnfinishedRequests { _ = engine.step() }
        #expect(executor.events == (1...4).flatMap { ["launch \($0)", "wait \($0)"] })
    }

    /// Token ids of `text` with the built-in model's tokenizer.
    static func tokens(_ text: String) -> [Int] { try! makeLLM().tokenizer!.encode(text) }
}

/// Runs only where a GPU is usable: async scheduling on the CUDA backend, where placeholders are
/// resolved by the embedding kernel from the previous step's tokens on the device, samples are read
/// back after the next step is launched, and decode steps replay CUDA graphs.
@Suite(.enabled(if: CUDAPlatform().unavailableReason() == nil)) struct CUDAAsyncSchedulingTests {
    struct Run {
        var outputs: [String: [Int]] = [:]
        var logprobs: [String: [PositionLogprobs]] = [:]
        var finishReasons: [String: FinishReason] = [:]
    }

    func run(async: Bool) throws -> (Run, LoggingExecutor, graphs: Int) {
        var args = EngineArgs(model: EnginePaths.builtinModel)
        args.device = "cuda"
        args.dtype = .float32
        args.maxModelLength = 128
        args.maxNumSeqs = 8
        args.numGPUBlocksOverride = 256
        args.asyncScheduling = async
        let loaded = try LoadedModel(args)
        let executor = LoggingExecutor(loaded.executor)
        let engine = try EngineCore(executor: executor, config: loaded.coreConfig, eosTokenIDs: loaded.eosTokenIDs)
        let prompts = mixedPrompts(count: 12, seed: 21, maxLength: 40)
        for (i, prompt) in prompts.enumerated() {
            var params = greedyParams(3 + i * 7 % 19)
            if i % 3 == 1 {
                params.temperature = 0.8
                params.topP = 0.9
                params.seed = UInt64(i)
                params.logprobs = 2
            }
            if i % 4 == 2 { params.stopTokenIDs = [426, 411] }
            try engine.addRequest(id: "r\(i)", promptTokenIDs: prompt, params: params)
        }
        var run = Run()
        while engine.hasUnfinishedRequests {
            for update in engine.step() {
                run.outputs[update.requestID, default: []] += update.newTokenIDs
                run.logprobs[update.requestID, default: []] += update.newLogprobs
                if let reason = update.finishReason { run.finishReasons[update.requestID] = reason }
            }
        }
        #expect(engine.numFreeBlocks == 256)
        return (run, executor, engine.graphsRecorded)
    }

    @Test func asyncGivesTheTokensOfOneStepAtATime() throws {
        let (sync, _, _) = try run(async: false)
        let (async, executor, graphs) = try run(async: true)
        #expect(graphs > 0)
        // Steps are not launched ahead only while every running request awaits its last token.
        #expect(executor.numLaunchedAhead > executor.sampledRows.count / 2, "\(executor.events)")
        #expect(async.outputs == sync.outputs)
        #expect(async.finishReasons == sync.finishReasons)
        #expect(async.logprobs == sync.logprobs)
    }
}
