/// Llama 3.x JSON calls: the output is one or more call objects
/// `{"name": ..., "parameters": {...}}` separated by `;`, optionally after `<|python_tag|>`.
/// Output that does not begin that way is all content; text after the calls is content.
struct Llama3JSONFormat: OutputFormat {
    private let tag = "<|python_tag|>"

    func scan(_ text: Substring, final: Bool) -> Scan {
        var body = text.droppingLeadingWhitespace
        if body.hasPrefix(tag) {
            body = body.dropFirst(tag.count).droppingLeadingWhitespace
        } else if !final, tag.hasPrefix(body) {
            return Scan([])  // nothing but whitespace or the start of the tag so far
        }
        if body.isEmpty { return final ? .content([], rest: text) : Scan([]) }
        guard body.hasPrefix("{") else { return .content([], rest: text) }
        var items: [OutputItem] = []
        var fallback = text.startIndex  // where text becomes content if the next call fails
        while true {
            switch readJSONCalls(body) {
            case .read(let calls, let rest) where body.first == "{":
                items += calls
                let afterCall = rest.droppingLeadingWhitespace
                guard afterCall.hasPrefix(";") else {
                    return final || !afterCall.isEmpty ? .content(items, rest: rest) : Scan(items)
                }
                fallback = afterCall.startIndex
                body = afterCall.dropFirst().droppingLeadingWhitespace
                if body.isEmpty { return final ? .content(items, rest: text[fallback...]) : Scan(items) }
            case .incomplete where !final:
                return Scan(items, partials: body.first == "{" ? partialJSONCalls(body) : [])
            default:
                return .content(items, rest: text[fallback...])
            }
        }
    }
}
