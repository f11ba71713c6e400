import Foundation
import Hummingbird
import NIOCore
import VLLMEngine

extension OpenAIServing {
    /// `POST /v1/completions`.
    func completions(_ body: CompletionRequest, abortOnClose: (any Abortable) -> Void) async throws -> Response {
        let f = body.sampling
        let size: Int =
            switch body.prompt {
            case .texts(let texts): texts.reduce(0) { $0 + $1.utf8.count }
            case .tokens(let lists): lists.reduce(0) { $0 + 8 * $1.count }
            }
        let (prompts, params) = try await Self.offload(bytes: size) { [self] in try completionPrompts(body) }
        let n = params[0].n
        let sequences = prompts.count * n
        try admit(sequences)
        let id = responseID("cmpl", clientID: f.requestID)
        let engineBase = engineID(for: id)
        if f.useBeamSearch == true {
            defer { release(sequences) }
            let cancel = BeamCancel()
            abortOnClose(cancel)
            var choices: [CompletionChoice] = []
            var generated = 0
            for (p, prompt) in prompts.enumerated() {
                let beams = try await beamSearch(
                    prompt: prompt.tokens, width: n, params: params[p], lengthPenalty: f.lengthPenalty ?? 1, baseID: "\(engineBase)-\(p)",
                    cancel: cancel)
                let echo = f.echo == true ? (prompt.text ?? tokenizer?.decode(prompt.tokens, skipSpecialTokens: false) ?? "") : ""
                for (k, beam) in beams.enumerated() {
                    generated += beam.tokenIDs.count
                    choices.append(CompletionChoice(index: p * n + k, text: echo + beam.text, finishReason: beam.finishReason.openAIName))
                }
            }
            let usage = Usage(promptTokens: prompts.reduce(0) { $0 + $1.tokens.count }, completionTokens: generated)
            return jsonResponse(
                CompletionResponse(id: id, created: Int(Date().timeIntervalSince1970), model: servedName, choices: choices, usage: usage))
        }
        for (i, prompt) in prompts.enumerated() {
            logRequest(prompts.count == 1 ? id : "\(id)-\(i)", promptTokens: prompt.tokens, params: params[i])
        }
        let run = GenerationRun(
            engine: engine, baseID: engineBase, prompts: prompts, params: params, priority: f.priority ?? 0, metrics: metrics,
            onComplete: { [self] in release(sequences) })
        abortOnClose(run)
        let echoText: [String] = prompts.map { p in
            guard f.echo == true else { return "" }
            return p.text ?? tokenizer?.decode(p.tokens, skipSpecialTokens: false) ?? ""
        }
        let promptTokenCount = prompts.reduce(0) { $0 + $1.tokens.count }
        let promptTokenLists = prompts.map(\.tokens)
        let asIDs = body.returnTokensAsTokenIDs ?? false
        if f.stream == true {
            let includeUsage = f.streamOptions?.includeUsage ?? false
            // vLLM's continuous_usage_stats: every chunk carries the usage so far.
            let continuousUsage = includeUsage && (f.streamOptions?.continuousUsageStats ?? false)
            let created = Int(Date().timeIntervalSince1970)
            return ServerSentEvents.response(
                write: { [self] writer in
                    var offsets = [Int](repeating: 0, count: sequences)
                    // What came before each choice's next token: its prompt, then its tokens so far.
                    var contexts = (0..<sequences).map { promptTokenLists[$0 / n] }
                    var echoed = [Bool](repeating: false, count: sequences)
                    var completionTokens = 0
                    for await event in run.events {
                        switch event {
                        case .failure(_, let error):
                            run.abort()
                            try await ServerSentEvents.fail(&writer, with: error)
                            return
                        case .output(let p, let output):
                            for piece in output.outputs {
                                let index = p * n + piece.index
                                completionTokens += piece.tokenIDs.count
                                var text = piece.text
                                if !echoed[index] {
                                    echoed[index] = true
                                    text = echoText[p] + text
                                }
                                let logprobs =
                                    body.logprobs == nil
                                    ? nil
                                    : completionLogprobs(
                                        piece.logprobs ?? [], context: contexts[index], offset: &offsets[index], asIDs: asIDs)
                                if body.logprobs != nil { contexts[index] += piece.tokenIDs }
                                if text.isEmpty, piece.finishReason == nil, logprobs?.tokens.isEmpty ?? true { continue }
                                let choice = CompletionChoice(
                                    index: index, text: text, logprobs: logprobs, finishReason: piece.finishReason?.openAIName,
                                    stopReason: StopReasonValue(piece.stopReason))
                                let usage =
                                    continuousUsage ? Usage(promptTokens: promptTokenCount, completionTokens: completionTokens) : nil
                                try await writer.write(
                                    ServerSentEvents.event(
                                        CompletionResponse(id: id, created: created, model: servedName, choices: [choice], usage: usage)))
                            }
                        }
                    }
                    if includeUsage {
                        let usage = Usage(promptTokens: promptTokenCount, completionTokens: completionTokens)
                        try await writer.write(
                            ServerSentEvents.event(
                                CompletionResponse(id: id, created: created, model: servedName, choices: [], usage: usage)))
                    }
                    try await writer.write(ServerSentEvents.done)
                },
                onEnd: { run.abort() })
        }
        let samples = try await run.collect(prompts: prompts.count, samplesPerPrompt: n)
        var choices: [CompletionChoice] = []
        for (index, sample) in samples.enumerated() {
            let p = index / n
            var offset = echoText[p].unicodeScalars.count
            choices.append(
                CompletionChoice(
                    index: index, text: echoText[p] + sample.text,
                    logprobs: body.logprobs == nil
                        ? nil : completionLogprobs(sample.logprobs, context: prompts[p].tokens, offset: &offset, asIDs: asIDs),
                    finishReason: sample.finishReason?.openAIName, stopReason: StopReasonValue(sample.stopReason)))
        }
        let usage = Usage(promptTokens: promptTokenCount, completionTokens: samples.reduce(0) { $0 + $1.tokenIDs.count })
        return jsonResponse(
            CompletionResponse(id: id, created: Int(Date().timeIntervalSince1970), model: servedName, choices: choices, usage: usage))
    }

    /// Checks a completion request and tokenizes its prompts: CPU work, run off the I/O threads.
    func completionPrompts(_ body: CompletionRequest) throws -> ([(text: String?, tokens: [Int])], [SamplingParams]) {
        let f = body.sampling
        try checkLimits(f)
        if body.suffix != nil { throw APIError.invalid("suffix", "suffix is not currently supported") }
        if let bestOf = body.bestOf, bestOf != (f.n ?? 1) {
            throw APIError.invalid("best_of", "best_of is not supported (it must equal n when given), got \(bestOf)")
        }
        if body.prompt.count == 0 { throw APIError.invalid("prompt", "the prompt list is empty") }
        // Before tokenizing: a list of many prompts that could never be admitted costs nothing.
        try checkAdmissible(body.prompt.count * (f.n ?? 1))
        if body.sampling.echo == true, body.logprobs != nil {
            throw APIError.invalid("echo", "echo together with logprobs is not supported (prompt log-probabilities are not computed)")
        }
        var prompts: [(text: String?, tokens: [Int])] = []
        switch body.prompt {
        case .texts(let texts):
            let tokenizer = try requireTokenizer()
            // An empty text is refused whatever the special tokens would add, as vLLM does.
            if let i = texts.firstIndex(of: "") {
                throw APIError.invalid(texts.count == 1 ? "prompt" : "prompt[\(i)]", "the prompt is empty")
            }
            for text in texts { prompts.append((text, tokenizer.encode(text, addSpecialTokens: f.addSpecialTokens ?? true))) }
        case .tokens(let lists):
            prompts = lists.map { (nil, $0) }
        }
        var params: [SamplingParams] = []
        for (i, prompt) in prompts.enumerated() {
            try checkPrompt(prompt.tokens, param: prompts.count == 1 ? "prompt" : "prompt[\(i)]")
            params.append(
                try samplingParams(
                    f, promptLength: prompt.tokens.count, maxTokens: f.maxTokensIsNull ? nil : (f.maxTokens ?? 16),
                    maxTokensParam: "max_tokens", defaultMaxTokens: nil, logprobs: body.logprobs))
        }
        return (prompts, params)
    }

    /// The legacy `logprobs` object for `positions`, with text offsets counted from `offset`.
    func completionLogprobs(_ positions: [PositionLogprobs], context: [Int], offset: inout Int, asIDs: Bool) -> CompletionLogprobs {
        var result = CompletionLogprobs()
        for (position, texts) in zip(positions, positionTexts(positions, context: context, asID: asIDs)) {
            let token = texts.chosen
            result.tokens.append(token)
            result.tokenLogprobs.append(finiteLogprob(position.chosen.logprob))
            var top: [String: Double] = [:]
            for (entry, text) in zip(position.top, texts.top) { top[text] = finiteLogprob(entry.logprob) }
            top[token] = finiteLogprob(position.chosen.logprob)
            result.topLogprobs.append(top)
            result.textOffset.append(offset)
            offset += token.unicodeScalars.count
        }
        return result
    }
}

extension FinishReason {
    /// The reason as OpenAI names it; an aborted request reports "abort" as vLLM does.
    var openAIName: String { rawValue }
}
