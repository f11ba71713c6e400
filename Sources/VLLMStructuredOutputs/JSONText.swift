import VLLMTokenizers

/// Compact JSON text of a parsed value (no spaces, as xgrammar writes enum and const literals):
/// enum and const literals, and cache keys of sub-schemas.
enum JSONText {
    static func serialize(_ v: JSONValue) -> String {
        var out = ""
        write(v, &out)
        return out
    }

    private static func write(_ v: JSONValue, _ out: inout String) {
        switch v {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .number(let d): out += number(d)
        case .string(let s): JSONEscape.write(s, into: &out)
        case .array(let items):
            out += "["
            for (k, item) in items.enumerated() {
                if k > 0 { out += "," }
                write(item, &out)
            }
            out += "]"
        case .object(let o):
            out += "{"
            for (k, pair) in o.pairs.enumerated() {
                if k > 0 { out += "," }
                JSONEscape.write(pair.key, into: &out)
                out += ":"
                write(pair.value, &out)
            }
            out += "}"
        }
    }

    static func number(_ d: Double) -> String {
        if d.rounded() == d && abs(d) < 1e15 { return String(Int(d)) }
        return "\(d)"
    }
}
