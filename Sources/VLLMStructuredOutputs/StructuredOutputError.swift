/// Why a structured-output request cannot be compiled; the message names the feature or the
/// position at fault, for a 400 response.
public struct StructuredOutputError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What is wrong, in words.
    public let message: String
    /// An error with this message.
    public init(_ message: String) { self.message = message }
    /// The message.
    public var description: String { message }

    static func unsupported(_ feature: String) -> StructuredOutputError {
        StructuredOutputError("unsupported JSON Schema feature: \(feature)")
    }
}
