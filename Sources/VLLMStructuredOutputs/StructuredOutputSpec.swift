import VLLMTokenizers

/// What a request constrains its output to (vLLM's `structured_outputs`, OpenAI's
/// `response_format`).
public enum StructuredOutputSpec: Hashable, Sendable {
    /// A JSON document valid under this JSON Schema (JSON text).
    case jsonSchema(String)
    /// Any JSON object (`response_format: json_object`).
    case jsonObject
    /// A string matching this regular expression whole.
    case regex(String)
    /// Exactly one of these strings.
    case choice([String])
    /// A string of this EBNF/GBNF grammar (start rule `root`).
    case grammar(String)

    /// A JSON Schema given as a parsed value (its keys in the order they came).
    public static func jsonSchema(_ schema: JSONValue) -> StructuredOutputSpec { .jsonSchema(JSONText.serialize(schema)) }

    /// The byte grammar of the spec; `anyWhitespace` as xgrammar's option of that name
    /// (JSON only). Errors name the unsupported feature or the syntax error.
    public func grammar(anyWhitespace: Bool = true) throws -> Grammar {
        switch self {
        case .jsonSchema(let schema): return try JSONSchemaConverter.grammar(schema: schema, anyWhitespace: anyWhitespace)
        case .jsonObject: return JSONSchemaConverter.anyJSON(objectOnly: true, anyWhitespace: anyWhitespace)
        case .regex(let pattern):
            var g = Grammar()
            g.add("root", try RegexParser.parse(pattern))
            return g
        case .choice(let options):
            guard !options.isEmpty else { throw StructuredOutputError("choice needs at least one option") }
            var g = Grammar()
            g.add("root", .choice(options.map { .literal($0) }))
            return g
        case .grammar(let text): return try EBNFParser.parse(text)
        }
    }
}

/// Compiles specs against one vocabulary and keeps the results, so that requests with the same
/// schema share one compiled grammar (compilation costs milliseconds; a cache hit nothing).
public final class GrammarCompiler: @unchecked Sendable {
    /// The vocabulary every grammar is compiled for.
    public let vocabulary: TokenVocabulary
    /// Threads used to precompute one grammar's masks.
    public let threads: Int
    private let capacity: Int
    private let lock = NSLockish()
    private var cache: [Key: CompiledGrammar] = [:]
    private var order: [Key] = []

    private struct Key: Hashable {
        var spec: StructuredOutputSpec
        var anyWhitespace: Bool
    }

    /// A compiler with room for `capacity` grammars (the oldest is dropped beyond that).
    public init(vocabulary: TokenVocabulary, threads: Int = 1, capacity: Int = 256) {
        self.vocabulary = vocabulary
        self.threads = threads
        self.capacity = capacity
    }

    /// The compiled grammar of `spec`, from the cache when it was compiled before.
    public func compile(_ spec: StructuredOutputSpec, anyWhitespace: Bool = true) throws -> CompiledGrammar {
        let key = Key(spec: spec, anyWhitespace: anyWhitespace)
        if let hit = lock.withLock({ cache[key] }) { return hit }
        let compiled = try CompiledGrammar(try spec.grammar(anyWhitespace: anyWhitespace), vocabulary: vocabulary, threads: threads)
        lock.withLock {
            if cache[key] == nil {
                cache[key] = compiled
                order.append(key)
                if order.count > capacity { cache[order.removeFirst()] = nil }
            }
        }
        return compiled
    }

    /// Number of grammars held.
    public var cachedCount: Int { lock.withLock { cache.count } }
}
