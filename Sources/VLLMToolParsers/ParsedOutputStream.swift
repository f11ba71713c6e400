/// Turns a model's output, fed as text deltas, into OpenAI stream deltas: content, reasoning and
/// tool calls (first piece: index, id, name; then the arguments).
///
/// Each step reads the items of the text not yet settled and sends what is new since the last
/// step. Formats only decide what later text cannot change, so nothing is sent twice or lost, and
/// the deltas added up equal the whole-output parse. Text a format marks as settled is dropped,
/// so a long answer costs the same per delta from start to end.
public struct ParsedOutputStream: Sendable {
    private var format: any OutputFormat
    private let ids: ToolCallIDs
    private var text = ""
    /// What was sent from the items of `text` (unicode scalars of content and reasoning, calls).
    private var sentContent = 0
    private var sentReasoning = 0
    private var sentCalls = 0
    /// Calls sent before the current `text`, so that indexes go on counting.
    private var earlierCalls = 0

    init(format: any OutputFormat, ids: ToolCallIDs) {
        self.format = format
        self.ids = ids
    }

    /// Adds the next piece of model output and returns what the client should be sent now.
    public mutating func feed(_ delta: String) -> OutputDelta {
        text += delta
        return step(final: false)
    }

    /// Ends the output (the request finished) and returns what was held back.
    public mutating func finish() -> OutputDelta {
        step(final: true)
    }

    private mutating func step(final: Bool) -> OutputDelta {
        let scan = format.scan(text[...], final: final)
        var content = String.UnicodeScalarView()
        var reasoning = String.UnicodeScalarView()
        var calls: [(name: String, arguments: String)] = []
        for item in scan.items {
            switch item {
            case .content(let s): content.append(contentsOf: s.unicodeScalars)
            case .reasoning(let s): reasoning.append(contentsOf: s.unicodeScalars)
            case .call(let name, let arguments): calls.append((name, arguments))
            }
        }
        var delta = OutputDelta()
        delta.content = String(String.UnicodeScalarView(content.dropFirst(sentContent)))
        delta.reasoning = String(String.UnicodeScalarView(reasoning.dropFirst(sentReasoning)))
        for (offset, call) in calls.enumerated().dropFirst(sentCalls) {
            let index = earlierCalls + offset
            delta.toolCalls.append(ToolCallDelta(index: index, id: ids.id(index), name: call.name, arguments: ""))
            delta.toolCalls.append(ToolCallDelta(index: index, id: nil, name: nil, arguments: call.arguments))
        }
        if let settled = scan.settled {
            // Everything read so far has just been sent: start again from the settled point.
            text = String(text[settled.index...])
            format = settled.next
            earlierCalls += calls.count
            (sentContent, sentReasoning, sentCalls) = (0, 0, 0)
        } else {
            (sentContent, sentReasoning, sentCalls) = (content.count, reasoning.count, calls.count)
        }
        return delta
    }
}
