/// How JSON specs become grammars: vLLM's `disable_any_whitespace` and
/// `disable_additional_properties` (`--structured-outputs-config`). Part of the grammar cache key.
public struct GrammarOptions: Hashable, Sendable {
    /// Whitespace `[ \n\r\t]*` between JSON tokens (xgrammar's `any_whitespace`); false writes
    /// compact JSON with ", " and ": " as separators.
    public var anyWhitespace: Bool
    /// An object schema that has `properties` but no `additionalProperties` is read as
    /// `additionalProperties: false`, as vLLM's option of that name rewrites schemas. Objects
    /// listing properties are closed already (xgrammar's strict mode); this also closes an object
    /// whose `properties` is empty, which otherwise takes any members.
    public var disableAdditionalProperties: Bool

    /// Options with xgrammar's defaults unless given.
    public init(anyWhitespace: Bool = true, disableAdditionalProperties: Bool = false) {
        self.anyWhitespace = anyWhitespace
        self.disableAdditionalProperties = disableAdditionalProperties
    }

    /// These options where `other` asks for no more: each restriction applies when either asks
    /// for it (a request cannot lift what the server's configuration sets).
    public func restricted(by other: GrammarOptions) -> GrammarOptions {
        GrammarOptions(
            anyWhitespace: anyWhitespace && other.anyWhitespace,
            disableAdditionalProperties: disableAdditionalProperties || other.disableAdditionalProperties)
    }
}
