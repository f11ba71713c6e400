import Foundation

/// An error raised while parsing or rendering a Jinja template.
///
/// The `kind` mirrors the exception classes of Python's jinja2 so that callers (and the fixtures
/// generated with jinja2) can tell a syntax problem from a runtime one, and a template that
/// deliberately rejects its input through `raise_exception` from an engine bug.
public struct JinjaError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The family of the error, after the jinja2 / Python exception it corresponds to.
    public enum Kind: String, Sendable {
        /// `TemplateSyntaxError`: the template could not be parsed.
        case syntax
        /// `raise_exception(...)` was called by the template (`TemplateError` in transformers).
        case raised
        /// `UndefinedError`: an undefined value was used in a way that needs a real value.
        case undefined
        /// `SecurityError`: the sandbox refused an operation (e.g. `list.append`).
        case security
        /// `TypeError` / `ValueError` and other Python runtime errors.
        case runtime
        /// The render ran past its `JinjaRenderBudget` (steps or bytes) and was stopped.
        case limit
    }

    /// The family of the error.
    public var kind: Kind
    /// The message, as close to jinja2's wording as practical.
    public var message: String
    /// The 1-based template line the error was detected on, when known.
    public var line: Int?

    /// Creates an error; `line` is usually filled in later by the interpreter.
    public init(_ kind: Kind, _ message: String, line: Int? = nil) {
        self.kind = kind
        self.message = message
        self.line = line
    }

    /// The kind of error, its template line when known, and what is wrong.
    public var description: String {
        let prefix: String
        switch kind {
        case .syntax: prefix = "template syntax error"
        case .raised: prefix = "template error"
        case .undefined: prefix = "undefined error"
        case .security: prefix = "sandbox security error"
        case .runtime: prefix = "template runtime error"
        case .limit: prefix = "template limit exceeded"
        }
        if let line { return "\(prefix) (line \(line)): \(message)" }
        return "\(prefix): \(message)"
    }

    /// The same error tagged with `line` unless it already carries one, so that the innermost
    /// (most precise) location wins as the error travels up the tree.
    func at(_ line: Int) -> JinjaError {
        if self.line != nil { return self }
        var copy = self
        copy.line = line
        return copy
    }

    static func type(_ message: String) -> JinjaError { JinjaError(.runtime, message) }

    /// The largest string or list a template may build from a count it computes (`'x' * n`,
    /// `center(n)`, ...). Python would exhaust memory instead; a server must not.
    static let maxBuiltSize = 1 << 26

    /// Throws Python's MemoryError stand-in when `count` exceeds `maxBuiltSize`.
    static func checkSize(_ count: Int) throws {
        if count > maxBuiltSize { throw JinjaError(.runtime, "MemoryError: result too large (\(count) items)") }
    }
}
