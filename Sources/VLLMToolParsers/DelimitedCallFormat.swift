/// Calls in `<tool_call>…</tool_call>` blocks between ordinary text (hermes, qwen3_coder): the
/// text outside the blocks is content; a block whose body does not parse stays content, markers
/// included. A block still open when the output ends counts if its body parses.
struct DelimitedCallFormat: OutputFormat {
    var start = "<tool_call>"
    var end = "</tool_call>"
    /// Reads a block's body (between the markers) as a call, or nil.
    let parseBody: @Sendable (Substring) -> OutputItem?
    /// Reads the body of a block still open as far as it has come.
    let partialBody: @Sendable (Substring) -> PartialCall?

    func scan(_ text: Substring, final: Bool) -> Scan {
        var items: [OutputItem] = []
        var rest = text
        var settled = text.startIndex
        while !rest.isEmpty {
            guard let open = rest.firstRange(ofMarker: start) else {
                let released = rest.releasable(final: final, markers: [start])
                items.appendContent(released)
                settled = released.endIndex
                break
            }
            items.appendContent(rest[..<open.lowerBound])
            settled = open.lowerBound
            let afterOpen = rest[open.upperBound...]
            guard let close = afterOpen.firstRange(ofMarker: end) else {
                if final {
                    items.append(parseBody(afterOpen) ?? .content(String(rest[open.lowerBound...])))
                    break
                }
                // Text that may be the start of the end marker is not part of the body.
                let partial = partialBody(afterOpen.releasable(final: false, markers: [end]))
                return Scan(items, settled: (settled, self), partials: partial.map { [$0] } ?? [])
            }
            items.append(parseBody(afterOpen[..<close.lowerBound]) ?? .content(String(rest[open.lowerBound..<close.upperBound])))
            rest = rest[close.upperBound...]
            settled = rest.startIndex
        }
        return Scan(items, settled: (settled, self))
    }
}

/// A hermes block body: one JSON call object.
@Sendable func hermesCall(_ body: Substring) -> OutputItem? {
    JSONValue.parse(body).flatMap(jsonCall)
}

/// The body of an open hermes block: a JSON call object as far as it has come.
@Sendable func partialHermesCall(_ body: Substring) -> PartialCall? {
    let object = body.droppingLeadingWhitespace
    return object.first == "{" ? partialJSONCalls(object).first : nil
}
