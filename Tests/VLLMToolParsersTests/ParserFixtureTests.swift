import Foundation
import Testing

@testable import VLLMToolParsers

/// One recorded output and what its parser must make of it (Fixtures/tool-call-cases.json).
struct ToolCallCase: Sendable, CustomTestStringConvertible {
    let parser: String
    let name: String
    let output: String
    let content: String
    let calls: [[String]]
    /// The output holds a call the model broke: a stream may have begun it before it broke.
    let malformed: Bool
    var testDescription: String { "\(parser): \(name)" }
}

/// One recorded output for a reasoning parser.
struct ReasoningCase: Sendable, CustomTestStringConvertible {
    let parser: String
    let name: String
    let output: String
    let startsInReasoning: Bool?
    let reasoning: String?
    let content: String
    var testDescription: String { "\(parser): \(name)" }
}

enum Fixtures {
    nonisolated(unsafe) static let root: [String: Any] = {
        let url = Bundle.module.url(forResource: "Fixtures/tool-call-cases", withExtension: "json")!
        return try! JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
    }()

    static let tools: [ToolDefinition] = {
        let data = try! JSONSerialization.data(withJSONObject: root["tools"]!)
        return ToolDefinition.list(fromToolsJSON: JSONValue.parse(String(decoding: data, as: UTF8.self))!)
    }()

    static let toolCases: [ToolCallCase] = (root["cases"] as! [[String: Any]]).map {
        ToolCallCase(
            parser: $0["parser"] as! String, name: $0["name"] as! String, output: $0["output"] as! String,
            content: $0["content"] as! String, calls: $0["calls"] as! [[String]], malformed: $0["malformed"] as? Bool ?? false)
    }

    static let reasoningCases: [ReasoningCase] = (root["reasoning"] as! [[String: Any]]).map {
        ReasoningCase(
            parser: $0["parser"] as! String, name: $0["name"] as! String, output: $0["output"] as! String,
            startsInReasoning: $0["startsInReasoning"] as? Bool, reasoning: $0["reasoning"] as? String,
            content: $0["content"] as! String)
    }
}

/// Deterministic ids, so that a streamed run and a whole parse can be compared.
let indexIDs = ToolCallIDs { "call_\($0)" }

/// What a stream sent, added up as a client adds it up.
struct StreamedOutput {
    var content = ""
    var reasoning = ""
    var calls: [ToolCall] = []
    /// How many argument fragments each call got.
    var fragments: [Int] = []
    /// The calls whose arguments were sent whole (a call begun and then found malformed is not).
    var wholeCalls: [ToolCall] { calls.filter { JSONValue.parse($0.arguments) != nil } }

    /// Adds a delta, checking that a call's first piece carries its id and name and later ones do not.
    mutating func add(_ delta: OutputDelta) {
        content += delta.content
        reasoning += delta.reasoning
        for piece in delta.toolCalls {
            if piece.index == calls.count {
                #expect(piece.id != nil && piece.name != nil, "a call's first piece names it")
                calls.append(ToolCall(id: piece.id ?? "", name: piece.name ?? "", arguments: piece.arguments))
                fragments.append(0)
            } else {
                #expect(piece.index < calls.count && piece.id == nil && piece.name == nil, "later pieces extend a named call")
                guard piece.index < calls.count else { continue }
                calls[piece.index].arguments += piece.arguments
                fragments[piece.index] += 1
            }
        }
    }
}

/// Feeds `pieces` to a fresh stream and adds the deltas up.
func streamed(_ stream: ParsedOutputStream, pieces: [String]) -> StreamedOutput {
    var stream = stream
    var out = StreamedOutput()
    for piece in pieces { out.add(stream.feed(piece)) }
    out.add(stream.finish())
    return out
}

/// Feeds `output` to a fresh stream in pieces cut at `cuts` (ascending character offsets).
func streamed(_ stream: ParsedOutputStream, _ output: String, cuts: [Int]) -> StreamedOutput {
    var pieces: [String] = []
    var start = output.startIndex
    for cut in cuts {
        let end = output.index(output.startIndex, offsetBy: cut)
        pieces.append(String(output[start..<end]))
        start = end
    }
    pieces.append(String(output[start...]))
    return streamed(stream, pieces: pieces)
}

/// Checks a stream against the whole parse: the same content, the same calls; a call begun and
/// then found malformed may be left over only where the case says the model broke one, and then
/// the calls sent whole are the whole parse's calls (their indexes, and so ids, come later).
func expectSame(_ s: StreamedOutput, _ whole: ToolParseResult, malformed: Bool, _ comment: Comment) {
    #expect(s.content == whole.content, comment)
    #expect(s.reasoning.isEmpty, comment)
    if malformed {
        #expect(s.wholeCalls.map { [$0.name, $0.arguments] } == whole.toolCalls.map { [$0.name, $0.arguments] }, comment)
    } else {
        #expect(s.calls == whole.toolCalls, comment)
    }
}

/// Every split of the text into two deltas, one delta per character, and some seeded random splits.
func splits(of text: String) -> [[Int]] {
    let n = text.count
    var result = (0...n).map { [$0] }
    result.append(Array(1..<max(n, 1)))
    var rng = SplitMix(seed: UInt64(n))
    for _ in 0..<20 {
        result.append((0..<4).map { _ in Int(rng.next() % UInt64(n + 1)) }.sorted())
    }
    return result
}

struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite struct ParserFixtureTests {
    @Test(arguments: Fixtures.toolCases)
    func wholeOutput(_ c: ToolCallCase) throws {
        let parser = try ToolCallParser(named: c.parser, tools: Fixtures.tools, ids: indexIDs)
        let result = parser.parse(c.output)
        #expect(result.content == c.content)
        #expect(result.toolCalls.map { [$0.name, $0.arguments] } == c.calls)
        #expect(result.toolCalls.map(\.id) == c.calls.indices.map { "call_\($0)" })
        for call in result.toolCalls {
            #expect(JSONValue.parse(call.arguments) != nil, "arguments are JSON")
        }
    }

    @Test(arguments: Fixtures.toolCases)
    func streamedEqualsWhole(_ c: ToolCallCase) throws {
        let parser = try ToolCallParser(named: c.parser, tools: Fixtures.tools, ids: indexIDs)
        let whole = parser.parse(c.output)
        for cuts in splits(of: c.output) {
            expectSame(streamed(parser.makeStream(), c.output, cuts: cuts), whole, malformed: c.malformed, "cuts \(cuts)")
        }
    }

    @Test(arguments: Fixtures.reasoningCases)
    func reasoningWholeAndStreamed(_ c: ReasoningCase) throws {
        let parser = try ReasoningParser(named: c.parser, startsInReasoning: c.startsInReasoning)
        let whole = parser.parse(c.output)
        #expect(whole.reasoning == c.reasoning)
        #expect(whole.content == c.content)
        for cuts in splits(of: c.output) {
            let s = streamed(parser.makeStream(), c.output, cuts: cuts)
            #expect(s.reasoning == (c.reasoning ?? ""), "cuts \(cuts)")
            #expect(s.content == c.content, "cuts \(cuts)")
        }
    }
}
