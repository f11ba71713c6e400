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

    /// The byte grammar of the spec; `options` apply to JSON only. Errors name the unsupported
    /// feature or the syntax error.
    public func grammar(_ options: GrammarOptions = GrammarOptions()) throws -> Grammar {
        switch self {
        case .jsonSchema(let schema): return try JSONSchemaConverter.grammar(schema: schema, options: options)
        case .jsonObject: return JSONSchemaConverter.anyJSON(objectOnly: true, anyWhitespace: options.anyWhitespace)
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
    /// The engine's options (`--structured-outputs-config`), which every compilation follows.
    public let defaults: GrammarOptions
    /// Threads used to precompute one grammar's masks.
    public let threads: Int
    private let capacity: Int
    private let lock = NSLockish()
    private var cache: [Key: CompiledGrammar] = [:]
    private var order: [Key] = []

    private struct Key: Hashable {
        var spec: StructuredOutputSpec
        var options: GrammarOptions
    }

    /// A compiler with room for `capacity` grammars (the oldest is dropped beyond that), whose
    /// grammars all follow `defaults`.
    public init(vocabulary: TokenVocabulary, threads: Int = 1, capacity: Int = 256, defaults: GrammarOptions = GrammarOptions()) {
        self.vocabulary = vocabulary
        self.defaults = defaults
        self.threads = threads
        self.capacity = capacity
    }

    /// The compiled grammar of `spec`, from the cache when it was compiled before; `anyWhitespace:
    /// false` (a request's `disable_any_whitespace`) writes JSON compact whatever `defaults` say.
    public func compile(_ spec: StructuredOutputSpec, anyWhitespace: Bool = true) throws -> CompiledGrammar {
        let options = defaults.restricted(by: GrammarOptions(anyWhitespace: anyWhitespace))
        let key = Key(spec: spec, options: options)
        if let hit = lock.withLock({ cache[key] }) { return hit }
        let compiled = try CompiledGrammar(try spec.grammar(options), vocabulary: vocabulary, threads: threads)
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
