/// A reasoning parser chosen by its vLLM `--reasoning-parser` name: splits `<think>…</think>` off
/// the output into `reasoning_content`.
public struct ReasoningParser: Sendable {
    /// The parser names this module knows, as vLLM spells them.
    public static let names = ["deepseek_r1", "qwen3"]

    private let format: ThinkFormat

    /// The parser called `name`. `startsInReasoning` says the prompt already opened the block (the
    /// chat template ended with `<think>`, see `promptOpensReasoning`), so the output begins inside
    /// it and only `</think>` appears. It defaults to true for deepseek_r1, whose templates do that,
    /// and false for qwen3, whose output opens the block itself unless thinking is off.
    public init(named name: String, startsInReasoning: Bool? = nil) throws {
        switch name {
        case "deepseek_r1": format = ThinkFormat(startsInReasoning: startsInReasoning ?? true)
        case "qwen3": format = ThinkFormat(startsInReasoning: startsInReasoning ?? false)
        default: throw ParserError.unknownParser(name, known: Self.names)
        }
    }

    /// The text that ends the reasoning block; structured output applies after it.
    public let endMarker = "</think>"

    /// True when a rendered prompt has already closed the reasoning block (its last think marker is
    /// `</think>`, as Qwen3's template writes with thinking off): the output holds no reasoning to
    /// wait for. vLLM's `is_reasoning_end` reads the prompt the same way.
    public static func promptClosesReasoning(_ prompt: String) -> Bool {
        guard let close = prompt.range(of: "</think>", options: .backwards) else { return false }
        return !prompt[close.upperBound...].contains("<think>")
    }

    /// True when a rendered prompt ends inside an opened `<think>` block.
    public static func promptOpensReasoning(_ prompt: String) -> Bool {
        guard let open = prompt.range(of: "<think>", options: .backwards) else { return false }
        return !prompt[open.upperBound...].contains("</think>")
    }

    /// Splits a whole output into reasoning (nil when there was none) and content.
    public func parse(_ text: String) -> (reasoning: String?, content: String) {
        var reasoning: String?
        var content = ""
        for item in format.scan(text[...], final: true).items {
            switch item {
            case .reasoning(let s): reasoning = (reasoning ?? "") + s
            case .content(let s): content += s
            case .call: break
            }
        }
        return (reasoning, content)
    }

    /// A stream for one response: feed it the output's text deltas.
    public func makeStream() -> ParsedOutputStream { ParsedOutputStream(format: format, ids: .random) }
}

/// `<think>reasoning</think>content`. Without `<think>` at the start (and not opened by the
/// prompt), everything is content; with no `</think>`, everything after the opening is reasoning.
struct ThinkFormat: OutputFormat {
    let startsInReasoning: Bool
    /// True once the start of the output has been read (a stream goes on from inside the block).
    var pastStart = false
    private let open = "<think>"
    private let close = "</think>"

    func scan(_ text: Substring, final: Bool) -> Scan {
        var rest = text
        let leading = rest.droppingLeadingWhitespace
        if pastStart {
            // Inside the block already.
        } else if leading.hasPrefix(open) {
            rest = leading.dropFirst(open.count)
        } else if !final, open.hasPrefix(leading) {
            return Scan([])  // the output may still be opening the block
        } else if !startsInReasoning {
            return .content([], rest: text)
        }
        let inside = ThinkFormat(startsInReasoning: true, pastStart: true)
        guard let end = rest.firstRange(ofMarker: close) else {
            let released = rest.releasable(final: final, markers: [close])
            return Scan(released.isEmpty ? [] : [.reasoning(String(released))], settled: (released.endIndex, inside))
        }
        let reasoning = rest[..<end.lowerBound]
        return .content(reasoning.isEmpty ? [] : [.reasoning(String(reasoning))], rest: rest[end.upperBound...])
    }
}
