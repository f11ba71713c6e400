import Foundation
import Hummingbird

/// vLLM's `--api-key`: every route needs `Authorization: Bearer <key>` except the ones a load
/// balancer or a monitoring system polls (`/health`, `/metrics`, `/version`) and the API description.
struct APIKeyMiddleware<Context: RequestContext>: RouterMiddleware {
    let key: String
    static var openPaths: Set<String> { ["/health", "/metrics", "/version", "/openapi.json", "/ping"] }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if Self.openPaths.contains(request.uri.path) { return try await next(request, context) }
        guard let token = Self.bearerToken(request.headers[.authorization] ?? ""), constantTimeEqual(token, key) else {
            throw APIError(
                status: .unauthorized, message: "Unauthorized: a valid API key is required (Authorization: Bearer <key>)",
                type: "AuthenticationError")
        }
        return try await next(request, context)
    }

    /// The credentials of a `Bearer` authorization; the scheme name is case-insensitive (RFC 7235).
    static func bearerToken(_ header: String) -> String? {
        let parts = header.trimmingCharacters(in: .whitespaces).split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        return parts[1].trimmingCharacters(in: .whitespaces)
    }

    /// Compares without stopping at the first difference, so timing does not tell how much of a guess was right.
    private func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        var difference = UInt8(x.count == y.count ? 0 : 1)
        for i in 0..<max(x.count, y.count) {
            difference |= (i < x.count ? x[i] : 0) ^ (i < y.count ? y[i] : 0)
        }
        return difference == 0
    }
}
