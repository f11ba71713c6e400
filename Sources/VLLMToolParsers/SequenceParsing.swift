/// The outcome of reading one piece of a call sequence from the front of some text.
enum ReadStep<Value> {
    /// The piece, and the text after it.
    case read(Value, rest: Substring)
    /// The text ends inside the piece: more output may complete it.
    case incomplete
    /// The text cannot be this piece.
    case invalid
}

/// Reads a JSON object or array at the front of `text` as whole calls: an object is one call, an
/// array a list of them (all must be calls).
func readJSONCalls(_ text: Substring) -> ReadStep<[OutputItem]> {
    guard text.first == "{" || text.first == "[" else { return .invalid }
    guard case .complete(let end) = bracketExtent(of: text, from: text.startIndex) else { return .incomplete }
    let rest = text[end...]
    switch JSONValue.parse(text[..<end]) {
    case .object(let members)?:
        return jsonCall(.object(members)).map { .read([$0], rest: rest) } ?? .invalid
    case .array(let elements)?:
        let calls = elements.compactMap(jsonCall)
        return calls.count == elements.count && !calls.isEmpty ? .read(calls, rest: rest) : .invalid
    default:
        return .invalid
    }
}

extension Substring {
    /// The text without leading whitespace.
    var droppingLeadingWhitespace: Substring { drop { $0.isWhitespace } }
}
