/// A call the output has begun but not finished, as far as later text cannot change it: its name,
/// and a prefix of the arguments' JSON text that the finished call will begin with (the members
/// read so far, a string value as far as it has come). The closing brace is never part of it, so
/// a call whose first pieces were streamed and which then turns out malformed never looks whole.
struct PartialCall: Equatable {
    var name: String
    var arguments: String
}

/// The arguments' text so far, written as `JSONValue.serialized` writes the whole object: a
/// stream sends it as it grows and the finished call's text begins with it.
struct ArgumentsPrefix {
    private(set) var text = "{"
    private var members = 0

    /// Adds a finished member.
    mutating func append(key: String, value: JSONValue) {
        text += memberStart(key) + value.serialized
        members += 1
    }

    /// The text with a string member that is still being written (no closing quote yet).
    func withOpenString(key: String, value: String) -> String {
        var out = text + memberStart(key)
        JSONValue.writeString(value, to: &out)
        return String(out.dropLast())
    }

    private func memberStart(_ key: String) -> String {
        var out = members > 0 ? ", " : ""
        JSONValue.writeString(key, to: &out)
        return out + ": "
    }
}

/// The calls of a JSON call object (`{`) or list of them (`[`) at the front of `text`, as far as
/// they have come: finished objects of an unfinished list, then the open one if its name is known.
func partialJSONCalls(_ text: Substring) -> [PartialCall] {
    var reader = JSONReader(Array(text.utf8))
    reader.skipWhitespace()
    guard !reader.atEnd else { return [] }
    if reader.byte == UInt8(ascii: "{") { return reader.partialCall().map { [$0] } ?? [] }
    guard reader.byte == UInt8(ascii: "[") else { return [] }
    reader.position += 1
    var calls: [PartialCall] = []
    while true {
        reader.skipWhitespace()
        guard !reader.atEnd, reader.byte == UInt8(ascii: "{") else { return calls }
        let start = reader.position
        guard let value = reader.value() else {
            reader.position = start
            return calls + (reader.partialCall().map { [$0] } ?? [])
        }
        guard case .call(let name, let arguments)? = jsonCall(value) else { return calls }
        // An object's text goes out without its closing brace; a string of JSON goes out whole at the end.
        let object: Bool
        if case .string? = argumentsMember(value) { object = false } else { object = true }
        calls.append(PartialCall(name: name, arguments: object ? String(arguments.dropLast()) : ""))
        reader.skipWhitespace()
        guard !reader.atEnd, reader.byte == UInt8(ascii: ",") else { return calls }
        reader.position += 1
    }
}

extension JSONReader {
    /// The byte at the reading position (which must not be at the end).
    var byte: UInt8 { bytes[position] }

    /// A call object from its `{`, as far as it has come; nil until its name is known.
    mutating func partialCall() -> PartialCall? {
        position += 1
        var name: String?
        var arguments = ""
        var argumentsSeen = false
        members: while true {
            skipWhitespace()
            guard !atEnd, byte == UInt8(ascii: "\""), let key = string() else { break }
            skipWhitespace()
            guard !atEnd, byte == UInt8(ascii: ":") else { break }
            position += 1
            skipWhitespace()
            if isArgumentsKey(key) && !argumentsSeen {
                argumentsSeen = true
                if !atEnd, byte == UInt8(ascii: "{") {
                    let (prefix, closed) = partialObject()
                    arguments = prefix
                    if !closed { break members }
                } else if value()?.stringValue == nil {
                    break members  // a string of JSON is sent whole when the call ends
                }
            } else {
                guard let member = value() else { break }
                if key == "name", name == nil {
                    guard let s = member.stringValue else { break }
                    name = s
                }
            }
            skipWhitespace()
            guard !atEnd, byte == UInt8(ascii: ",") else { break }
            position += 1
        }
        guard let name, !name.isEmpty else { return nil }
        return PartialCall(name: name, arguments: arguments)
    }

    /// An object from its `{`, as far as it has come: the serialized text of the members that are
    /// certain (a number or literal needs the byte after it; a string is streamed as it grows) and
    /// whether the object closed.
    mutating func partialObject() -> (prefix: String, closed: Bool) {
        position += 1
        var prefix = ArgumentsPrefix()
        while true {
            skipWhitespace()
            guard !atEnd else { return (prefix.text, false) }
            if byte == UInt8(ascii: "}") {
                position += 1
                return (prefix.text, true)
            }
            guard byte == UInt8(ascii: "\""), let key = string() else { return (prefix.text, false) }
            skipWhitespace()
            guard !atEnd, byte == UInt8(ascii: ":") else { return (prefix.text, false) }
            position += 1
            skipWhitespace()
            guard !atEnd else { return (prefix.text, false) }
            let member: JSONValue
            if byte == UInt8(ascii: "\"") {
                let (text, closed) = stringPrefix(waitingForEscapes: true)
                guard closed else { return (prefix.withOpenString(key: key, value: text), false) }
                member = .string(text)
            } else {
                guard let parsed = value() else { return (prefix.text, false) }
                member = parsed
            }
            skipWhitespace()
            if atEnd {
                // A number or a literal may go on (`1` → `12`); anything else has ended.
                switch member {
                case .number, .bool, .null: break
                default: prefix.append(key: key, value: member)
                }
                return (prefix.text, false)
            }
            prefix.append(key: key, value: member)
            if byte == UInt8(ascii: ",") {
                position += 1
            } else if byte != UInt8(ascii: "}") {
                return (prefix.text, false)
            }
        }
    }
}
