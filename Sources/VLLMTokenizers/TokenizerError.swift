import Foundation

/// Everything that can go wrong while loading a tokenizer folder.
///
/// Each case names the file and the problem so that a user pointing the engine at the wrong
/// folder (or at a half-downloaded one) sees what to fix rather than a bare decoding failure.
public enum TokenizerError: Error, CustomStringConvertible, Sendable {
    /// A file the tokenizer needs does not exist.
    case missingFile(path: String)
    /// A file exists but could not be read or parsed as JSON.
    case unreadableFile(path: String, reason: String)
    /// The JSON is valid but a field is missing, has the wrong type or an unsupported value.
    case invalidField(file: String, field: String, reason: String)
    /// A component (model, normalizer, ...) type is not implemented.
    case unsupported(file: String, component: String, type: String)

    /// A one-line, human-readable message naming the file and the problem.
    public var description: String {
        switch self {
        case .missingFile(let path):
            return "tokenizer file not found: \(path)"
        case .unreadableFile(let path, let reason):
            return "cannot read \(path): \(reason)"
        case .invalidField(let file, let field, let reason):
            return "\(file): field '\(field)': \(reason)"
        case .unsupported(let file, let component, let type):
            return "\(file): unsupported \(component) type '\(type)'"
        }
    }
}
