/// Llama 3.x JSON calls: the output is one or more call objects
/// `{"name": ..., "parameters": {...}}` separated by `;`, optionally after `<|python_tag|>`.
/// Output that does not begin that way is all content; text after the calls is content.
struct Llama3JSONFormat: OutputFormat {
    private let tag = "<|python_tag|>"

    func items(in text: Substring, final: Bool) -> [OutputItem] {
        var body = text.droppingLeadingWhitespace
        if body.hasPrefix(tag) {
            body = body.dropFirst(tag.count).droppingLeadingWhitespace
        } else if !final, tag.hasPrefix(body) {
            return []  // nothing but whitespace or the start of the tag so far
        }
        if body.isEmpty { return final ? [.content(String(text))] : [] }
        guard body.hasPrefix("{") else { return [.content(String(text))] }
        var items: [OutputItem] = []
        var fallback = text.startIndex  // where text becomes content if the next call fails
        while true {
            switch readJSONCalls(body) {
            case .read(let calls, let rest) where body.first == "{":
                items += calls
                let afterCall = rest.droppingLeadingWhitespace
                guard afterCall.hasPrefix(";") else {
                    if final || !afterCall.isEmpty { items.appendContent(rest) }
                    return items
                }
                fallback = afterCall.startIndex
                body = afterCall.dropFirst().droppingLeadingWhitespace
                if body.isEmpty {
                    if final { items.appendContent(text[fallback...]) }
                    return items
                }
            case .incomplete where !final:
                return items
            default:
                items.appendContent(text[fallback...])
                return items
            }
        }
    }
}
