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
            content: $0["content"] as! String, calls: $0["calls"] as! [[String]])
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

/// Feeds `output` to a fresh stream in pieces cut at `cuts` (ascending character offsets) and adds
/// the deltas up, checking that every call's first piece carries its id and name and later ones do not.
func streamed(_ stream: ParsedOutputStream, _ output: String, cuts: [Int]) -> (content: String, reasoning: String, calls: [ToolCall]) {
    var stream = stream
    var pieces: [String] = []
    var start = output.startIndex
    for cut in cuts {
        let end = output.index(output.startIndex, offsetBy: cut)
        pieces.append(String(output[start..<end]))
        start = end
    }
    pieces.append(String(output[start...]))
    var content = ""
    var reasoning = ""
    var calls: [ToolCall] = []
    let deltas = pieces.map { stream.feed($0) } + [stream.finish()]
    for delta in deltas {
        content += delta.content
        reasoning += delta.reasoning
        for piece in delta.toolCalls {
            if piece.index == calls.count {
                #expect(piece.id != nil && piece.name != nil, "a call's first piece names it")
                calls.append(ToolCall(id: piece.id ?? "", name: piece.name ?? "", arguments: piece.arguments))
            } else {
                #expect(piece.index == calls.count - 1 && piece.id == nil && piece.name == nil, "later pieces only extend the last call")
                calls[calls.count - 1].arguments += piece.arguments
            }
        }
    }
    return (content, reasoning, calls)
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
            let s = streamed(parser.makeStream(), c.output, cuts: cuts)
            #expect(s.content == whole.content, "cuts \(cuts)")
            #expect(s.calls == whole.toolCalls, "cuts \(cuts)")
            #expect(s.reasoning.isEmpty)
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
