import Foundation
import VLLMCore
import VLLMStructuredOutputs
import VLLMTokenizers

// grammar-bench: measures the grammar engine and checks it against recorded xgrammar masks.
//
//   grammar-bench bench TOKENIZER_DIR CASES.json       compile time per case; mask time per step
//                                                      (median, p99) over random walks, one core
//   grammar-bench compare CASES.json [TOKENIZER_DIR]    masks equal to the recorded ones on their paths
//   grammar-bench walk TOKENIZER_DIR CASES.json N SEED  N random outputs per case, as JSON lines
//   grammar-bench step TOKENIZER_DIR SCHEMA.json ROWS STEPS  host time per serving step for ROWS
//                                                      constrained rows, before and after the device mask

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data((message + "\n").utf8))
    exit(1)
}

func loadVocabulary(tokenizerDir: String) -> TokenVocabulary {
    do {
        let tokenizer = try Tokenizer.load(folder: URL(fileURLWithPath: tokenizerDir))
        return TokenVocabulary(tokenizer: tokenizer)
    } catch {
        fail("cannot load the tokenizer: \(error)")
    }
}

func readJSON(_ path: String) -> Any {
    guard let data = FileManager.default.contents(atPath: path),
        let value = try? JSONSerialization.jsonObject(with: data)
    else { fail("cannot read JSON from \(path)") }
    return value
}

/// The spec of a case of the cases file (`kind` and `spec` as the comparison script writes them).
func spec(of c: [String: Any]) -> StructuredOutputSpec {
    let kind = c["kind"] as? String ?? ""
    switch kind {
    case "json": return .jsonSchema(c["spec"] as? String ?? "")
    case "json_object": return .jsonObject
    case "regex": return .regex(c["spec"] as? String ?? "")
    case "choice": return .choice(c["spec"] as? [String] ?? [])
    case "grammar": return .grammar(c["spec"] as? String ?? "")
    default: fail("unknown case kind \(kind)")
    }
}

func allowedIDs(_ mask: [UInt32], _ size: Int) -> [Int] {
    var out: [Int] = []
    for (w, word) in mask.enumerated() where word != 0 {
        for b in 0..<32 where word & (1 << UInt32(b)) != 0 && w * 32 + b < size { out.append(w * 32 + b) }
    }
    return out
}

func maskFromHex(_ hex: String, words: Int) -> [UInt32] {
    var bytes: [UInt8] = []
    var it = hex.utf8.makeIterator()
    while let a = it.next(), let b = it.next() {
        bytes.append(UInt8(String(decoding: [a, b], as: UTF8.self), radix: 16)!)
    }
    return (0..<words).map { w in
        (0..<4).reduce(UInt32(0)) { acc, k in w * 4 + k < bytes.count ? acc | UInt32(bytes[w * 4 + k]) << (8 * UInt32(k)) : acc }
    }
}

/// Picks the next token of a random walk: the stop token half the time it is allowed, often a
/// token that closes something (so that walks end), otherwise any allowed token.
func pickToken(_ allowed: [Int], _ vocabulary: TokenVocabulary, _ closers: Set<Int>, _ rng: inout SplitMixRandom) -> Int? {
    if allowed.isEmpty { return nil }
    let stops = allowed.filter { vocabulary.stopTokenIDs.contains(Int32($0)) }
    if !stops.isEmpty && rng.next() % 2 == 0 { return stops[0] }
    let closing = allowed.filter { closers.contains($0) }
    if !closing.isEmpty && rng.next() % 10 < 4 { return closing[Int(rng.next() % UInt64(closing.count))] }
    return allowed[Int(rng.next() % UInt64(allowed.count))]
}

func closerTokens(_ tokenizer: TokenVocabulary, bytesOf: (Int) -> [UInt8]?) -> Set<Int> {
    var out: Set<Int> = []
    for id in 0..<tokenizer.size {
        if let b = bytesOf(id), b.count <= 3, b.contains(where: { $0 == 0x22 || $0 == 0x7D || $0 == 0x5D }) { out.insert(id) }
    }
    return out
}

func percentile(_ sorted: [Double], _ p: Double) -> Double {
    sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int(Double(sorted.count - 1) * p))]
}

func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18 }

func bench(_ args: [String]) {
    guard args.count == 2, let file = readJSON(args[1]) as? [String: Any], let cases = file["cases"] as? [[String: Any]] else {
        fail("usage: grammar-bench bench TOKENIZER_DIR CASES.json")
    }
    let clock = ContinuousClock()
    let tokenizer = try! Tokenizer.load(folder: URL(fileURLWithPath: args[0]))
    let vocabulary = TokenVocabulary(tokenizer: tokenizer)
    let closers = closerTokens(vocabulary) { tokenizer.tokenBytes(forID: $0) }
    print("vocabulary: \(vocabulary.size) ids")
    var allSteps: [Double] = []
    var compileTimes: [Double] = []
    for c in cases {
        let name = c["name"] as? String ?? "?"
        let compiler = GrammarCompiler(vocabulary: vocabulary, threads: 1)
        var grammar: CompiledGrammar!
        let compile = clock.measure {
            do { grammar = try compiler.compile(spec(of: c)) } catch { fail("\(name): \(error)") }
        }
        let cached = clock.measure { _ = try! compiler.compile(spec(of: c)) }
        compileTimes.append(seconds(compile) * 1e3)
        var steps: [Double] = []
        var mask = [UInt32](repeating: 0, count: vocabulary.maskWords)
        var rng = SplitMixRandom(seed: 42)
        for _ in 0..<20 {
            var matcher = GrammarMatcher(grammar: grammar)
            for _ in 0..<300 {
                let t = clock.measure { matcher.fillNextTokenBitmask(&mask) }
                steps.append(seconds(t) * 1e6)
                guard let id = pickToken(allowedIDs(mask, vocabulary.size), vocabulary, closers, &rng), matcher.acceptToken(id),
                    !matcher.isTerminated
                else { break }
            }
        }
        allSteps += steps
        steps.sort()
        let stats = grammar.maskStatistics
        print(
            String(
                format:
                    "%@: compile %.1f ms (cache hit %.3f ms), %d nodes; mask per step median %.1f µs, p99 %.1f µs, max %.1f µs over %d steps",
                name, seconds(compile) * 1e3, seconds(cached) * 1e3, stats.nodes,
                percentile(steps, 0.5), percentile(steps, 0.99), steps.last ?? 0, steps.count))
    }
    allSteps.sort()
    compileTimes.sort()
    print(String(format: "compile time per grammar: median %.1f ms, max %.1f ms", percentile(compileTimes, 0.5), compileTimes.last ?? 0))
    print(
        String(
            format: "all cases: mask per step median %.1f µs, p99 %.1f µs over %d steps", percentile(allSteps, 0.5),
            percentile(allSteps, 0.99), allSteps.count))
}

func compare(_ args: [String]) {
    guard let file = readJSON(args.first ?? "") as? [String: Any], let cases = file["cases"] as? [[String: Any]] else {
        fail("usage: grammar-bench compare CASES.json [TOKENIZER_DIR]")
    }
    let vocabulary: TokenVocabulary
    if args.count > 1 {
        vocabulary = loadVocabulary(tokenizerDir: args[1])
    } else {
        let hex = file["vocab_hex"] as? [String] ?? []
        let bytes = hex.map { h in stride(from: 0, to: h.count, by: 2).map { UInt8(h.dropFirst($0).prefix(2), radix: 16)! } }
        vocabulary = TokenVocabulary(tokenBytes: bytes, stopTokenIDs: file["stop_token_ids"] as? [Int] ?? [])
    }
    var failures = 0, steps = 0, controlOnly = 0
    for c in cases {
        let name = c["name"] as? String ?? "?"
        let grammar: CompiledGrammar
        do {
            grammar = try CompiledGrammar(
                try spec(of: c).grammar(GrammarOptions(anyWhitespace: c["any_whitespace"] as? Bool ?? true)), vocabulary: vocabulary,
                threads: 4)
        } catch {
            print("\(name): compile error \(error)"); failures += 1; continue
        }
        var matcher = GrammarMatcher(grammar: grammar)
        let path = c["path"] as? [Int] ?? [], masks = c["masks"] as? [String] ?? []
        for (k, hex) in masks.enumerated() {
            steps += 1
            let expected = Set(allowedIDs(maskFromHex(hex, words: vocabulary.maskWords), vocabulary.size))
            let ours = Set(allowedIDs(matcher.nextTokenBitmask(), vocabulary.size))
            if ours != expected {
                let extra = ours.subtracting(expected), missing = expected.subtracting(ours)
                if extra.isEmpty && missing.allSatisfy({ vocabulary.bytes(of: $0)?.contains(where: { $0 < 0x20 }) ?? false }) {
                    // xgrammar lets raw control characters into length-limited strings (not JSON).
                    controlOnly += 1
                } else {
                    print(
                        "\(name) step \(k): ours \(ours.count) ids, xgrammar \(expected.count); only ours \(extra.sorted().prefix(8)), only xgrammar \(missing.sorted().prefix(8))"
                    )
                    failures += 1
                    break
                }
            }
            if k < path.count, !matcher.acceptToken(path[k]) { print("\(name) step \(k): token \(path[k]) rejected"); failures += 1; break }
        }
    }
    print(
        "compared \(steps) steps of \(cases.count) walks: \(failures) mismatching walks; \(controlOnly) steps differ only by xgrammar's raw control characters"
    )
    if failures > 0 { exit(1) }
}

func walk(_ args: [String]) {
    guard args.count == 4, let file = readJSON(args[1]) as? [String: Any], let cases = file["cases"] as? [[String: Any]],
        let n = Int(args[2]), let seed = UInt64(args[3])
    else { fail("usage: grammar-bench walk TOKENIZER_DIR CASES.json N SEED") }
    let tokenizer = try! Tokenizer.load(folder: URL(fileURLWithPath: args[0]))
    let vocabulary = TokenVocabulary(tokenizer: tokenizer)
    let closers = closerTokens(vocabulary) { tokenizer.tokenBytes(forID: $0) }
    let compiler = GrammarCompiler(vocabulary: vocabulary, threads: 2)
    var rng = SplitMixRandom(seed: seed)
    var mask = [UInt32](repeating: 0, count: vocabulary.maskWords)
    for c in cases {
        let name = c["name"] as? String ?? "?"
        let grammar: CompiledGrammar
        do { grammar = try compiler.compile(spec(of: c)) } catch {
            print(String(data: try! JSONSerialization.data(withJSONObject: ["name": name, "error": "\(error)"]), encoding: .utf8)!)
            continue
        }
        for _ in 0..<n {
            var matcher = GrammarMatcher(grammar: grammar)
            var bytes: [UInt8] = []
            for _ in 0..<2000 where !matcher.isTerminated {
                matcher.fillNextTokenBitmask(&mask)
                guard let id = pickToken(allowedIDs(mask, vocabulary.size), vocabulary, closers, &rng) else { break }
                precondition(matcher.acceptToken(id), "a token from the mask was rejected")
                if !matcher.isTerminated { bytes += tokenizer.tokenBytes(forID: id) ?? [] }
            }
            let record: [String: Any] = ["name": name, "finished": matcher.isTerminated, "output": String(decoding: bytes, as: UTF8.self)]
            print(String(data: try! JSONSerialization.data(withJSONObject: record), encoding: .utf8)!)
        }
    }
}

let arguments = Array(CommandLine.arguments.dropFirst())
switch arguments.first {
case "bench": bench(Array(arguments.dropFirst()))
case "compare": compare(Array(arguments.dropFirst()))
case "walk": walk(Array(arguments.dropFirst()))
case "step": stepBench(Array(arguments.dropFirst()))
default: fail("usage: grammar-bench bench|compare|walk|step ...")
}
