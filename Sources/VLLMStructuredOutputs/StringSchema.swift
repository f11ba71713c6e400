import VLLMTokenizers

/// The string part of JSON Schema: `minLength`/`maxLength`, `pattern` (matched whole, as
/// xgrammar does) and the common `format`s, each as a regular expression over the string's
/// content. A length-limited string counts characters without escapes, as xgrammar does; unlike
/// xgrammar it also leaves out raw control characters, which JSON forbids.
enum StringSchema {
    /// Regular expressions of the supported formats (RFC 3339 dates and times, and the usual
    /// shapes of the others); a format not listed is an error.
    /// A calendar date: days within the month, February 29 only in leap years.
    static let date =
        #"\d{4}-((0[13578]|1[02])-(0[1-9]|[12]\d|3[01])|(0[469]|11)-(0[1-9]|[12]\d|30)|02-(0[1-9]|1\d|2[0-8]))"#
        + #"|(\d\d(0[48]|[2468][048]|[13579][26])|([02468][048]|[13579][26])00)-02-29"#

    static let formats: [String: String] = [
        "date": date,
        "time": #"([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)(\.\d+)?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)"#,
        "date-time": "(" + date + #")T([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)(\.\d+)?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)"#,
        "uuid": #"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"#,
        "ipv4": #"((25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"#,
        "email": #"[a-zA-Z0-9_.+-]+@[a-zA-Z0-9-]+(\.[a-zA-Z0-9-]+)+"#,
        "hostname": #"[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*"#,
        "uri": #"[a-zA-Z][a-zA-Z0-9+.-]*:[^\s"\\<>{}|^`]+"#,
    ]

    static func expr(_ s: JSONObject, path: String, lengthChar: GrammarExpr, basic: () -> GrammarExpr, quote: (GrammarExpr) -> GrammarExpr)
        throws -> GrammarExpr
    {
        let minLength = s["minLength"]?.intValue ?? 0
        let maxLength = s["maxLength"]?.intValue
        if let maxLength, maxLength < minLength { throw StructuredOutputError("maxLength below minLength at \(path)") }
        let hasLength = minLength > 0 || maxLength != nil
        if let pattern = s["pattern"]?.stringValue {
            if hasLength { throw StructuredOutputError.unsupported("pattern together with minLength/maxLength (at \(path))") }
            return quote(try RegexParser.parse(pattern))
        }
        if let format = s["format"]?.stringValue {
            guard let regex = formats[format] else { throw StructuredOutputError.unsupported("string format \(format) (at \(path))") }
            if hasLength { throw StructuredOutputError.unsupported("format together with minLength/maxLength (at \(path))") }
            return quote(try RegexParser.parse(regex))
        }
        if !hasLength { return basic() }
        return quote(.repeated(lengthChar, min: minLength, max: maxLength))
    }
}
