import Foundation
import Hummingbird
import NIOCore
import VLLMEngine

/// An error as the OpenAI API reports it: `{"error": {"message", "type", "param", "code"}}` with an
/// HTTP status. Every failure a client can cause ends up as one of these, so that no response ever
/// carries a stack trace or a framework's own error page.
public struct APIError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The HTTP status (400, 404, 503, ...).
    public var status: HTTPResponse.Status
    /// The message for the client.
    public var message: String
    /// vLLM's error types: "BadRequestError", "NotFoundError", ...
    public var type: String
    /// The request field at fault, when there is one.
    public var param: String?
    /// Seconds after which a retry may succeed (the `Retry-After` header of a 503).
    public var retryAfterSeconds: Int?

    /// An error; `type` defaults to vLLM's name for the status.
    public init(status: HTTPResponse.Status, message: String, type: String? = nil, param: String? = nil, retryAfterSeconds: Int? = nil) {
        self.status = status
        self.message = message
        self.type = type ?? Self.typeName(status)
        self.param = param
        self.retryAfterSeconds = retryAfterSeconds
    }

    /// The status code, type and message, for logs.
    public var description: String { "\(status.code) \(type): \(message)" }

    /// A 400 for a bad field.
    public static func invalid(_ param: String?, _ message: String) -> APIError {
        APIError(status: .badRequest, message: message, param: param)
    }

    /// The JSON body, with `code` the HTTP status as vLLM sends it.
    public var body: ErrorBody {
        ErrorBody(error: .init(message: message, type: type, param: param, code: Int(status.code)))
    }

    /// The response carrying this error.
    public func response() -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        if status == .unauthorized { headers[.wwwAuthenticate] = "Bearer" }
        if let retryAfterSeconds { headers[.retryAfter] = String(retryAfterSeconds) }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: encodeJSON(body))))
    }

    static func typeName(_ status: HTTPResponse.Status) -> String {
        switch status.code {
        case 400: "BadRequestError"
        case 401: "AuthenticationError"
        case 404: "NotFoundError"
        case 405: "MethodNotAllowedError"
        case 409: "ConflictError"
        case 413: "RequestTooLargeError"
        case 415: "UnsupportedMediaTypeError"
        case 503: "ServiceUnavailableError"
        default: status.code >= 500 ? "InternalServerError" : "BadRequestError"
        }
    }

    /// Maps any error thrown while serving a request to the error the client sees.
    public static func from(_ error: any Error) -> APIError {
        switch error {
        case let error as APIError:
            return error
        case let error as EngineError:
            switch error {
            case .invalidParameter(let field, _): return .invalid(field, error.description)
            case .promptTooLong, .invalidPrompt: return .invalid("prompt", error.description)
            // The server makes every engine id unique, so a duplicate is its own fault.
            case .duplicateRequestID: return APIError(status: .internalServerError, message: error.description)
            case .notEnoughCache: return APIError(status: .serviceUnavailable, message: error.description, retryAfterSeconds: 1)
            }
        case let error as DecodingError:
            return fromDecoding(error)
        case is NIOTooManyBytesError:
            return APIError(status: .contentTooLarge, message: "the request body is larger than the server accepts")
        case let error as HTTPError:
            return APIError(status: error.status, message: error.body ?? error.status.reasonPhrase)
        case let error as any HTTPResponseError:
            return APIError(status: error.status, message: error.status.reasonPhrase)
        default:
            return APIError(status: .internalServerError, message: "internal error: \(Swift.type(of: error))")
        }
    }

    private static func fromDecoding(_ error: DecodingError) -> APIError {
        func path(_ context: DecodingError.Context) -> String? {
            let keys = context.codingPath.map { key in key.intValue.map { "[\($0)]" } ?? key.stringValue }
            guard !keys.isEmpty else { return nil }
            return keys.enumerated().map { $0.offset > 0 && !$0.element.hasPrefix("[") ? "." + $0.element : $0.element }.joined()
        }
        switch error {
        case .dataCorrupted(let context):
            if context.codingPath.isEmpty { return .invalid(nil, "the request body is not valid JSON") }
            return .invalid(path(context), "invalid value for '\(path(context) ?? "")': \(context.debugDescription)")
        case .keyNotFound(let key, let context):
            let name = (path(context).map { $0 + "." } ?? "") + key.stringValue
            return .invalid(name, "'\(name)' is a required field")
        case .typeMismatch(let type, let context):
            let name = path(context) ?? "body"
            return .invalid(name, "invalid type for '\(name)': expected \(typeDescription(type))")
        case .valueNotFound(let type, let context):
            let name = path(context) ?? "body"
            return .invalid(name, "'\(name)' must not be null (expected \(typeDescription(type)))")
        @unknown default:
            return .invalid(nil, "the request body could not be decoded")
        }
    }

    private static func typeDescription(_ type: Any.Type) -> String {
        let name = String(describing: type)
        return switch type {
        case is String.Type: "a string"
        case is Int.Type, is UInt64.Type: "an integer"
        case is Double.Type: "a number"
        case is Bool.Type: "a boolean"
        default: name.hasPrefix("Array") ? "a list" : name.hasPrefix("Dictionary") ? "an object" : "a valid value"
        }
    }
}

/// The JSON of an `APIError`.
public struct ErrorBody: Codable, Sendable {
    /// The fields of the `error` object.
    public struct Info: Codable, Sendable {
        /// `message`: what went wrong.
        public var message: String
        /// `type`: vLLM's error type, e.g. `BadRequestError`.
        public var type: String
        /// `param`: the request field at fault, or null.
        public var param: String?
        /// `code`: the HTTP status code.
        public var code: Int

        /// Encodes every field, `param` as null when absent.
        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(message, forKey: .message)
            try c.encode(type, forKey: .type)
            try c.encode(param, forKey: .param)
            try c.encode(code, forKey: .code)
        }
    }

    /// `error`: the error's fields.
    public var error: Info
}

/// Turns every error thrown below it into an OpenAI error response, and an unknown method on a known
/// path into 405 instead of the router's 404.
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    /// Known paths and the methods each accepts.
    let routes: [String: Set<HTTPRequest.Method>]

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            var apiError = APIError.from(error)
            if apiError.status == .notFound, let methods = routes[request.uri.path] {
                if !methods.contains(request.method) {
                    apiError = APIError(
                        status: .methodNotAllowed,
                        message:
                            "method \(request.method.rawValue) is not allowed on \(request.uri.path); use \(methods.map(\.rawValue).sorted().joined(separator: " or "))"
                    )
                    var response = apiError.response()
                    response.headers[.allow] = methods.map(\.rawValue).sorted().joined(separator: ", ")
                    return response
                }
            } else if apiError.status == .notFound, case let error as HTTPError = error, error.body == nil {
                apiError.message = "no route for \(request.method.rawValue) \(request.uri.path)"
            }
            if apiError.status.code >= 500, apiError.status != .serviceUnavailable {
                context.logger.error("\(request.method.rawValue) \(request.uri.path) failed: \(error)")
            }
            return apiError.response()
        }
    }
}

/// Compact JSON for responses; slashes stay as they are.
func encodeJSON(_ value: some Encodable) -> [UInt8] {
    let encoder = JSONEncoder()
    // Sorted keys: the same response always has the same bytes.
    encoder.outputFormatting = [.withoutEscapingSlashes, .sortedKeys]
    do {
        return Array(try encoder.encode(value))
    } catch {
        // Only non-finite numbers can fail here; they have no JSON form.
        return Array(#"{"error":{"message":"response could not be encoded","type":"InternalServerError","param":null,"code":500}}"#.utf8)
    }
}

/// A JSON response with status 200.
func jsonResponse(_ value: some Encodable, status: HTTPResponse.Status = .ok) -> Response {
    var headers = HTTPFields()
    headers[.contentType] = "application/json"
    return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: encodeJSON(value))))
}
