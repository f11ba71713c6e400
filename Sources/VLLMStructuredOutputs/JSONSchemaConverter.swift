import Foundation
import VLLMTokenizers

/// Translates a JSON Schema into a grammar of the JSON texts it accepts, as xgrammar does in
/// strict mode: properties in schema order, required ones present, no other properties unless
/// `additionalProperties` allows them; whitespace `[ \n\r\t]*` between tokens when
/// `anyWhitespace`, otherwise none (with ", " and ": " as separators).
struct JSONSchemaConverter {
    private var grammar = Grammar()
    private let root: JSONValue
    private let anyWhitespace: Bool
    /// `GrammarOptions.disableAdditionalProperties`: an object schema with `properties` (even
    /// empty) and no `additionalProperties` takes no other members.
    private var closesListedObjects = false
    /// Rules already made, by the JSON text of their schema (shared sub-schemas become one rule).
    private var ruleBySchema: [String: Int] = [:]
    private var ruleByRef: [String: Int] = [:]
    private var basicRules: [String: Int] = [:]

    /// The grammar of `schema` (JSON text); errors name the unsupported feature.
    static func grammar(schema: String, options: GrammarOptions = GrammarOptions()) throws -> Grammar {
        let value: JSONValue
        do { value = try JSONParser.parse(Data(schema.utf8)) } catch {
            throw StructuredOutputError("the JSON schema is not valid JSON: \(error)")
        }
        return try grammar(schema: value, options: options)
    }

    /// The grammar of an already parsed schema.
    static func grammar(schema: JSONValue, options: GrammarOptions = GrammarOptions()) throws -> Grammar {
        var c = JSONSchemaConverter(root: schema, anyWhitespace: options.anyWhitespace)
        c.closesListedObjects = options.disableAdditionalProperties
        let start = c.grammar.declare("root")
        c.grammar.define(start, try c.schemaExpr(schema, path: "root"))
        return c.grammar
    }

    /// The grammar of any JSON value (`json_object` asks for an object).
    static func anyJSON(objectOnly: Bool, anyWhitespace: Bool = true) -> Grammar {
        var c = JSONSchemaConverter(root: .null, anyWhitespace: anyWhitespace)
        let start = c.grammar.declare("root")
        c.grammar.define(start, objectOnly ? c.anyObject(values: .rule(c.basic("any"))) : .rule(c.basic("any")))
        return c.grammar
    }

    private init(root: JSONValue, anyWhitespace: Bool) {
        self.root = root
        self.anyWhitespace = anyWhitespace
    }

    private var ws: GrammarExpr { anyWhitespace ? .star(.bytes([0x20...0x20, 0x0A...0x0A, 0x0D...0x0D, 0x09...0x09])) : .empty }
    private var comma: GrammarExpr { anyWhitespace ? .sequence([ws, .literal(","), ws]) : .literal(", ") }
    private var colon: GrammarExpr { anyWhitespace ? .sequence([ws, .literal(":"), ws]) : .literal(": ") }

    // MARK: - Basic values

    /// The shared rule of a basic JSON value kind.
    private mutating func basic(_ kind: String) -> Int {
        if let r = basicRules[kind] { return r }
        let r = grammar.declare("basic_" + kind)
        basicRules[kind] = r
        grammar.define(r, basicBody(kind))
        return r
    }

    private mutating func basicBody(_ kind: String) -> GrammarExpr {
        let digit = IntegerRanges.digit
        switch kind {
        case "string": return stringExpr(.star(jsonChar()))
        case "integer":
            return .choice([.literal("0"), .sequence([.optional(.literal("-")), IntegerRanges.nonZero, .star(digit)])])
        case "number":
            let intPart = GrammarExpr.choice([.literal("0"), .sequence([IntegerRanges.nonZero, .star(digit)])])
            let fraction = GrammarExpr.optional(.sequence([.literal("."), .repeated(digit, min: 1, max: nil)]))
            let exponent = GrammarExpr.optional(
                .sequence([
                    .bytes([0x45...0x45, 0x65...0x65]), .optional(.bytes([0x2B...0x2B, 0x2D...0x2D])), .repeated(digit, min: 1, max: nil),
                ]))
            return .sequence([.optional(.literal("-")), intPart, fraction, exponent])
        case "boolean": return .choice([.literal("true"), .literal("false")])
        case "null": return .literal("null")
        case "any":
            let value = GrammarExpr.rule(basic("any"))
            return .choice([
                .rule(basic("number")), .rule(basic("string")), .rule(basic("boolean")), .rule(basic("null")),
                anyArray(items: value), anyObject(values: value),
            ])
        default: fatalError("unknown basic kind \(kind)")
        }
    }

    /// One character of a JSON string that needs no escape: any scalar but `"`, `\` and controls.
    private func plainChar() -> GrammarExpr { UTF8Ranges.expr(UTF8Ranges.complement([0...0x1F, 0x22...0x22, 0x5C...0x5C])) }

    /// One character of a JSON string: a plain one or an escape.
    private func jsonChar() -> GrammarExpr {
        let plain = plainChar()
        let hex = GrammarExpr.bytes([0x30...0x39, 0x41...0x46, 0x61...0x66])
        let escape = GrammarExpr.choice([.bytes(Array("\"\\/bfnrt".utf8).map { $0...$0 }), .sequence([.literal("u"), hex, hex, hex, hex])])
        return .choice([plain, .sequence([.literal("\\"), escape])])
    }

    private func stringExpr(_ content: GrammarExpr) -> GrammarExpr { .sequence([.literal("\""), content, .literal("\"")]) }

    private func anyArray(items: GrammarExpr) -> GrammarExpr {
        .choice([
            .sequence([.literal("["), ws, items, .star(.sequence([comma, items])), ws, .literal("]")]),
            .sequence([.literal("["), ws, .literal("]")]),
        ])
    }

    private mutating func anyObject(values: GrammarExpr) -> GrammarExpr {
        let member = GrammarExpr.sequence([.rule(basic("string")), colon, values])
        return .choice([
            .sequence([.literal("{"), ws, member, .star(.sequence([comma, member])), ws, .literal("}")]),
            .sequence([.literal("{"), ws, .literal("}")]),
        ])
    }

    // MARK: - Schemas

    /// A rule for a sub-schema, shared with every identical sub-schema.
    private mutating func schemaRule(_ schema: JSONValue, path: String) throws -> GrammarExpr {
        let key = JSONText.serialize(schema)
        if let r = ruleBySchema[key] { return .rule(r) }
        let r = grammar.declare(path)
        ruleBySchema[key] = r
        grammar.define(r, try schemaExpr(schema, path: path))
        return .rule(r)
    }

    private static let ignoredKeys: Set<String> = [
        "title", "description", "default", "examples", "$schema", "$id", "$comment", "deprecated", "readOnly",
        "writeOnly", "$defs", "definitions", "strict", "discriminator", "nullable",
    ]
    private static let unsupportedKeys: [String] = [
        "not", "if", "then", "else", "patternProperties", "dependentRequired", "dependentSchemas", "dependencies",
        "minProperties", "maxProperties", "propertyNames", "contains", "minContains", "maxContains", "multipleOf",
        "unevaluatedProperties", "unevaluatedItems", "$anchor", "$dynamicRef",
    ]

    private mutating func schemaExpr(_ schema: JSONValue, path: String) throws -> GrammarExpr {
        if let b = schema.boolValue {
            guard b else { throw StructuredOutputError.unsupported("the schema false (at \(path))") }
            return .rule(basic("any"))
        }
        guard let s = schema.objectValue else { throw StructuredOutputError("schema at \(path) is not an object") }
        for key in Self.unsupportedKeys where s[key] != nil {
            throw StructuredOutputError.unsupported("\(key) (at \(path))")
        }
        if s["uniqueItems"]?.boolValue == true { throw StructuredOutputError.unsupported("uniqueItems (at \(path))") }
        if let ref = s["$ref"]?.stringValue { return try refRule(ref, path: path) }
        if let c = s["const"] { return .literal(JSONText.serialize(c)) }
        if let e = s["enum"] {
            guard let values = e.arrayValue, !values.isEmpty else {
                throw StructuredOutputError("enum at \(path) must be a non-empty array")
            }
            return .choice(values.map { .literal(JSONText.serialize($0)) })
        }
        for key in ["anyOf", "oneOf"] {
            if let alts = s[key] {
                guard let list = alts.arrayValue, !list.isEmpty else {
                    throw StructuredOutputError("\(key) at \(path) must be a non-empty array")
                }
                return .choice(try list.enumerated().map { try schemaRule($1, path: "\(path)_\(key)_\($0)") })
            }
        }
        if let all = s["allOf"] {
            guard let list = all.arrayValue, list.count == 1 else {
                throw StructuredOutputError.unsupported("allOf with more than one schema (at \(path))")
            }
            return try schemaRule(list[0], path: path + "_allOf")
        }
        if let types = s["type"]?.arrayValue {
            return .choice(
                try types.map { t in
                    guard let name = t.stringValue else { throw StructuredOutputError("type at \(path) must be a string or strings") }
                    return try typedExpr(name, s, path: path)
                })
        }
        if let t = s["type"] {
            guard let name = t.stringValue else { throw StructuredOutputError("type at \(path) must be a string or strings") }
            return try typedExpr(name, s, path: path)
        }
        if s["properties"] != nil || s["additionalProperties"] != nil || s["required"] != nil {
            return try typedExpr("object", s, path: path)
        }
        if s["items"] != nil || s["prefixItems"] != nil { return try typedExpr("array", s, path: path) }
        return .rule(basic("any"))
    }

    private mutating func typedExpr(_ type: String, _ s: JSONObject, path: String) throws -> GrammarExpr {
        switch type {
        case "string":
            return try StringSchema.expr(s, path: path, lengthChar: plainChar(), basic: { .rule(basic("string")) }, quote: stringExpr)
        case "integer": return try integerExpr(s, path: path)
        case "number":
            for key in ["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"] where s[key] != nil {
                throw StructuredOutputError.unsupported("\(key) on a number (at \(path)); use type integer")
            }
            return .rule(basic("number"))
        case "boolean": return .rule(basic("boolean"))
        case "null": return .rule(basic("null"))
        case "object": return try objectExpr(s, path: path)
        case "array": return try arrayExpr(s, path: path)
        default: throw StructuredOutputError("unknown type \(type) (at \(path))")
        }
    }

    private mutating func integerExpr(_ s: JSONObject, path: String) throws -> GrammarExpr {
        func bound(_ key: String) throws -> Double? {
            guard let v = s[key] else { return nil }
            guard let d = v.doubleValue else { throw StructuredOutputError("\(key) at \(path) must be a number") }
            return d
        }
        var lo = try bound("minimum").map { Int($0.rounded(.up)) }
        var hi = try bound("maximum").map { Int($0.rounded(.down)) }
        if let e = try bound("exclusiveMinimum") { lo = max(lo ?? Int.min, Int(e.rounded(.down)) + 1) }
        if let e = try bound("exclusiveMaximum") { hi = min(hi ?? Int.max, Int(e.rounded(.up)) - 1) }
        if lo == nil && hi == nil { return .rule(basic("integer")) }
        return try IntegerRanges.expr(lo: lo, hi: hi)
    }

    private mutating func arrayExpr(_ s: JSONObject, path: String) throws -> GrammarExpr {
        let minItems = s["minItems"]?.intValue ?? 0
        let maxItems = s["maxItems"]?.intValue
        var prefix: [GrammarExpr] = []
        if let p = s["prefixItems"] {
            guard let list = p.arrayValue else { throw StructuredOutputError("prefixItems at \(path) must be an array") }
            prefix = try list.enumerated().map { try schemaRule($1, path: "\(path)_prefix_\($0)") }
        }
        var rest: GrammarExpr? = .rule(basic("any"))
        if let items = s["items"] {
            if items.boolValue == false {
                rest = nil
            } else if items.arrayValue != nil {
                throw StructuredOutputError.unsupported("items as an array (use prefixItems) (at \(path))")
            } else {
                rest = try schemaRule(items, path: path + "_item")
            }
        } else if !prefix.isEmpty, s["additionalItems"]?.boolValue == false {
            rest = nil
        }
        if let maxItems, maxItems < minItems { throw StructuredOutputError("maxItems below minItems at \(path)") }
        // Elements in order: the prefix ones (each needed up to minItems), then `rest` repeated.
        var elements: [(GrammarExpr, Bool)] = prefix.enumerated().map { ($1, $0 < minItems) }
        if let maxItems, maxItems < elements.count { elements = Array(elements.prefix(maxItems)) }
        let restMin = max(0, minItems - prefix.count)
        let restMax = maxItems.map { max(0, $0 - prefix.count) }
        if rest == nil && restMin > 0 { throw StructuredOutputError("minItems exceeds the prefixItems at \(path) while items is false") }
        return .choice(arraySequences(elements, rest: rest, restMin: restMin, restMax: restMax))
    }

    /// The bracketed, comma-separated element lists: prefix elements in order (optional ones
    /// may stop the list), then the repeated rest.
    private func arraySequences(_ prefix: [(GrammarExpr, Bool)], rest: GrammarExpr?, restMin: Int, restMax: Int?) -> [GrammarExpr] {
        // tail(k): the elements from prefix index k on, each preceded by a comma.
        func tail(_ k: Int) -> GrammarExpr {
            if k == prefix.count {
                guard let rest, restMax != 0 else { return .empty }
                return .repeated(.sequence([comma, rest]), min: restMin, max: restMax)
            }
            let item = GrammarExpr.sequence([comma, prefix[k].0, tail(k + 1)])
            return prefix[k].1 ? item : .choice([.empty, item])
        }
        let open = GrammarExpr.sequence([.literal("["), ws]), close = GrammarExpr.sequence([ws, .literal("]")])
        var alts: [GrammarExpr] = []
        if let first = prefix.first {
            alts.append(.sequence([open, first.0, tail(1), close]))
            if !first.1 { alts.append(.sequence([.literal("["), ws, .literal("]")])) }
        } else if let rest, restMax != 0 {
            let more = GrammarExpr.repeated(.sequence([comma, rest]), min: max(0, restMin - 1), max: restMax.map { $0 - 1 })
            alts.append(.sequence([open, rest, more, close]))
            if restMin == 0 { alts.append(.sequence([.literal("["), ws, .literal("]")])) }
        } else {
            alts.append(.sequence([.literal("["), ws, .literal("]")]))
        }
        return alts
    }

    private mutating func objectExpr(_ s: JSONObject, path: String) throws -> GrammarExpr {
        let props = s["properties"]?.objectValue?.pairs ?? []
        let required = Set((s["required"]?.arrayValue ?? []).compactMap { $0.stringValue })
        for r in required where !props.contains(where: { $0.key == r }) {
            throw StructuredOutputError.unsupported("required property \(r) without a schema in properties (at \(path))")
        }
        // Strict mode: no other properties beside listed ones unless allowed; an object schema
        // that lists none takes any properties (as xgrammar does), unless `properties` is there
        // and closesListedObjects says so.
        let closed = !props.isEmpty || closesListedObjects && s["properties"] != nil
        var additional: GrammarExpr? = closed ? nil : .rule(basic("any"))
        if let a = s["additionalProperties"] {
            additional =
                a.boolValue == false ? nil : a.boolValue == true ? .rule(basic("any")) : try schemaRule(a, path: path + "_additional")
        }
        if props.isEmpty { return anyObjectOrEmpty(values: additional) }
        var members: [(GrammarExpr, Bool)] = []
        for (k, p) in props.enumerated() {
            let value = try schemaRule(p.value, path: "\(path)_prop_\(k)")
            members.append((.sequence([.literal(JSONEscape.quoted(p.key)), colon, value]), required.contains(p.key)))
        }
        if let additional { members.append((.star(.sequence([.rule(basic("string")), colon, additional])), false)) }
        return objectMembers(members, hasAdditional: additional != nil, path: path)
    }

    private mutating func anyObjectOrEmpty(values: GrammarExpr?) -> GrammarExpr {
        guard let values else { return .sequence([.literal("{"), ws, .literal("}")]) }
        return anyObject(values: values)
    }

    /// `{`, a subsequence of the members in order containing every required one, comma
    /// separated, `}`. Made of one rule per position so the grammar stays linear in size.
    private mutating func objectMembers(_ members: [(GrammarExpr, Bool)], hasAdditional: Bool, path: String) -> GrammarExpr {
        var after = [Int](repeating: 0, count: members.count + 1)  // some member already written
        var first = [Int](repeating: 0, count: members.count + 1)  // none written yet
        for k in stride(from: members.count, through: 0, by: -1) {
            after[k] = grammar.declare("\(path)_after_\(k)")
            first[k] = grammar.declare("\(path)_from_\(k)")
            if k == members.count {
                grammar.define(after[k], .empty)
                grammar.define(first[k], .empty)
                continue
            }
            let (m, req) = members[k]
            if hasAdditional && k == members.count - 1 {
                // The additional members: `m` is already their repetition, each after a comma.
                let extra = Self.starBody(m)
                grammar.define(after[k], .star(.sequence([comma, extra])))
                grammar.define(first[k], .optional(.sequence([extra, .star(.sequence([comma, extra]))])))
                continue
            }
            let take = GrammarExpr.sequence([comma, m, .rule(after[k + 1])])
            grammar.define(after[k], req ? take : .choice([take, .rule(after[k + 1])]))
            let start = GrammarExpr.sequence([m, .rule(after[k + 1])])
            grammar.define(first[k], req ? start : .choice([start, .rule(first[k + 1])]))
        }
        return .sequence([.literal("{"), ws, .rule(first[0]), ws, .literal("}")])
    }

    private static func starBody(_ e: GrammarExpr) -> GrammarExpr {
        if case .repeated(let x, _, _) = e { return x }
        return e
    }

    // MARK: - References

    private mutating func refRule(_ ref: String, path: String) throws -> GrammarExpr {
        if let r = ruleByRef[ref] { return .rule(r) }
        guard ref.hasPrefix("#") else { throw StructuredOutputError.unsupported("$ref to another document (\(ref))") }
        var target = root
        for part in ref.dropFirst().split(separator: "/", omittingEmptySubsequences: true) {
            let key = part.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
            if let o = target.objectValue, let v = o[key] {
                target = v
            } else if let a = target.arrayValue, let i = Int(key), i >= 0, i < a.count {
                target = a[i]
            } else {
                throw StructuredOutputError("$ref \(ref) does not resolve (at \(path))")
            }
        }
        let name = ref == "#" ? "root_ref" : "ref" + ref.dropFirst().replacingOccurrences(of: "/", with: "_")
        let r = grammar.declare(name)
        ruleByRef[ref] = r
        grammar.define(r, try schemaExpr(target, path: name))
        return .rule(r)
    }
}
