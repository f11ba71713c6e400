/// Turns a model's output, fed as text deltas, into OpenAI stream deltas: content, reasoning and
/// tool calls (first piece: index, id, name; then fragments of the arguments as the model writes
/// them, as vLLM streams them).
///
/// Each step reads the items of the text not yet settled and sends what is new since the last
/// step. Formats only decide what later text cannot change, so nothing is sent twice or lost, and
/// the deltas added up equal the whole-output parse. Text a format marks as settled is dropped,
/// so a long answer costs the same per delta from start to end.
///
/// A call still open is sent as far as its format reports it (`Scan.partials`): its first piece
/// once the name is known, then each new part of the arguments' text. A call that then turns out
/// malformed (the model broke its syntax, or the output ended inside it) cannot be taken back: it
/// stays as sent, its arguments never closed, its text comes as content (as in the whole parse),
/// and later calls take the next indexes.
public struct ParsedOutputStream: Sendable {
    /// A call of the current text whose first piece went out.
    private struct StartedCall {
        var index: Int
        var name: String
        /// The arguments' text sent so far.
        var sent: String
    }

    private var format: any OutputFormat
    private let ids: ToolCallIDs
    private var text = ""
    /// What was sent from the items of `text` (unicode scalars of content and reasoning).
    private var sentContent = 0
    private var sentReasoning = 0
    /// The calls of `text` begun on the client, in order.
    private var started: [StartedCall] = []
    /// The index the next call gets.
    private var nextIndex = 0

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
        var calls: [PartialCall] = []
        for item in scan.items {
            switch item {
            case .content(let s): content.append(contentsOf: s.unicodeScalars)
            case .reasoning(let s): reasoning.append(contentsOf: s.unicodeScalars)
            case .call(let name, let arguments): calls.append(PartialCall(name: name, arguments: arguments))
            }
        }
        let finished = calls.count
        calls += scan.partials
        var delta = OutputDelta()
        delta.content = String(String.UnicodeScalarView(content.dropFirst(sentContent)))
        delta.reasoning = String(String.UnicodeScalarView(reasoning.dropFirst(sentReasoning)))
        delta.toolCalls = sendCalls(calls, finished: finished)
        if let settled = scan.settled {
            // Everything read so far has just been sent: start again from the settled point.
            text = String(text[settled.index...])
            format = settled.next
            started.removeFirst(finished)
            (sentContent, sentReasoning) = (0, 0)
        } else {
            (sentContent, sentReasoning) = (content.count, reasoning.count)
        }
        return delta
    }

    /// The pieces that bring the client's calls up to `calls` (the first `finished` are whole,
    /// the rest still open).
    private mutating func sendCalls(_ calls: [PartialCall], finished: Int) -> [ToolCallDelta] {
        // A begun call that is no longer read as a call, or whose text no longer goes on from what
        // was sent, was malformed: it, and any begun after it, stay as they are.
        let broken = started.indices.first { position in
            guard position < calls.count, calls[position].name == started[position].name else { return true }
            let now = calls[position].arguments.utf8
            let sent = started[position].sent.utf8
            return !(now.starts(with: sent) || (position >= finished && sent.starts(with: now)))
        }
        if let broken { started.removeSubrange(broken...) }
        var pieces: [ToolCallDelta] = []
        for (position, call) in calls.enumerated() {
            if position == started.count {
                started.append(StartedCall(index: nextIndex, name: call.name, sent: ""))
                pieces.append(ToolCallDelta(index: nextIndex, id: ids.id(nextIndex), name: call.name, arguments: ""))
                nextIndex += 1
            }
            let sent = started[position].sent.utf8.count
            guard call.arguments.utf8.count > sent else { continue }
            let fragment = String(decoding: call.arguments.utf8.dropFirst(sent), as: UTF8.self)
            pieces.append(ToolCallDelta(index: started[position].index, id: nil, name: nil, arguments: fragment))
            started[position].sent = call.arguments
        }
        return pieces
    }
}
