/// Turns a model's output, fed as text deltas, into OpenAI stream deltas: content, reasoning and
/// tool calls (first piece: index, id, name; then argument text).
///
/// Each step reads the items of all text so far and sends what is new since the last step. The
/// formats only decide what later text cannot change, so nothing is sent twice or lost, and the
/// deltas added up equal the whole-output parse.
public struct ParsedOutputStream: Sendable {
    private let format: any OutputFormat
    private let ids: ToolCallIDs
    private var text = ""
    private var sentContent = 0
    private var sentReasoning = 0
    private var sentCalls = 0

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
        var content = String.UnicodeScalarView()
        var reasoning = String.UnicodeScalarView()
        var calls: [(name: String, arguments: String)] = []
        for item in format.items(in: text[...], final: final) {
            switch item {
            case .content(let s): content.append(contentsOf: s.unicodeScalars)
            case .reasoning(let s): reasoning.append(contentsOf: s.unicodeScalars)
            case .call(let name, let arguments): calls.append((name, arguments))
            }
        }
        var delta = OutputDelta()
        delta.content = String(String.UnicodeScalarView(content.dropFirst(sentContent)))
        delta.reasoning = String(String.UnicodeScalarView(reasoning.dropFirst(sentReasoning)))
        sentContent = max(sentContent, content.count)
        sentReasoning = max(sentReasoning, reasoning.count)
        while sentCalls < calls.count {
            let call = calls[sentCalls]
            delta.toolCalls.append(ToolCallDelta(index: sentCalls, id: ids.id(sentCalls), name: call.name, arguments: ""))
            delta.toolCalls.append(ToolCallDelta(index: sentCalls, id: nil, name: nil, arguments: call.arguments))
            sentCalls += 1
        }
        return delta
    }
}
