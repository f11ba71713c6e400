import Foundation
import VLLMCore
import VLLMStructuredOutputs
import VLLMTokenizers

/// `grammar-bench step`: the host's work per serving step for `rows` constrained rows, the way
/// the engine did it before the device mask (each row in turn: fill its mask, copy its logits row,
/// mask it and take the argmax, `SamplingMath.sample` as the host sampler runs it) and the way it
/// does it now (every mask filled at once, in parallel over the rows, by
/// `GrammarMatcher.fillNextTokenBitmasks`, then packed into the one buffer uploaded to the device).
/// The rows walk the grammar with random allowed tokens (untimed); a row whose grammar ends starts
/// again. The old path's copy of the logits from the device is not included.
func stepBench(_ args: [String]) {
    guard args.count == 4, let rows = Int(args[2]), let steps = Int(args[3]), rows > 0, steps > 0,
        let schema = FileManager.default.contents(atPath: args[1]).map({ String(decoding: $0, as: UTF8.self) })
    else { fail("usage: grammar-bench step TOKENIZER_DIR SCHEMA.json ROWS STEPS") }
    let clock = ContinuousClock()
    let vocabulary = loadVocabulary(tokenizerDir: args[0])
    let threads = ProcessInfo.processInfo.activeProcessorCount
    let grammar: CompiledGrammar
    do {
        grammar = try GrammarCompiler(vocabulary: vocabulary, threads: threads).compile(.jsonSchema(schema))
    } catch { fail("the schema does not compile: \(error)") }
    let words = vocabulary.maskWords
    var rng = SplitMixRandom(seed: 7)
    let logits = (0..<vocabulary.size).map { _ in Float(rng.next() >> 40) * 0x1p-24 }
    var matchers = [GrammarMatcher](repeating: GrammarMatcher(grammar: grammar), count: rows)
    var masks = [[UInt32]](repeating: [UInt32](repeating: 0, count: words), count: rows)
    var staging = [UInt32](repeating: 0, count: rows * words)
    var before: [Double] = [], after: [Double] = []
    for _ in 0..<steps {
        before.append(
            seconds(
                clock.measure {
                    for r in 0..<rows {
                        matchers[r].fillNextTokenBitmask(&masks[r])
                        var row = DeviceSamplingRow()
                        row.tokenMask = masks[r]
                        var values = Array(logits[...])
                        _ = SamplingMath.sample(&values, row, key: 0)
                    }
                }) * 1e3)
        after.append(
            seconds(
                clock.measure {
                    GrammarMatcher.fillNextTokenBitmasks(&matchers, into: &masks)
                    staging.withUnsafeMutableBufferPointer { out in
                        for r in 0..<rows {
                            masks[r].withUnsafeBufferPointer {
                                out.baseAddress!.advanced(by: r * words).update(from: $0.baseAddress!, count: words)
                            }
                        }
                    }
                }) * 1e3)
        for r in 0..<rows {
            let allowed = allowedIDs(masks[r], vocabulary.size).filter { !vocabulary.stopTokenIDs.contains(Int32($0)) }
            if allowed.isEmpty || !matchers[r].acceptToken(allowed[Int(rng.next() % UInt64(allowed.count))]) {
                matchers[r] = GrammarMatcher(grammar: grammar)
            }
        }
    }
    before.sort()
    after.sort()
    print("vocabulary \(vocabulary.size) ids, \(rows) rows, \(steps) steps, \(threads) threads")
    print(
        String(
            format: "before (host sampling, one row at a time): median %.2f ms, p99 %.2f ms per step", percentile(before, 0.5),
            percentile(before, 0.99)))
    print(
        String(
            format: "after (masks in parallel, packed for upload): median %.2f ms, p99 %.2f ms per step", percentile(after, 0.5),
            percentile(after, 0.99)))
}
