/// Why a model could not be had from the Hugging Face Hub or its cache: one case per thing a user
/// can fix, each saying what to do.
public enum HubError: Error, CustomStringConvertible, Equatable {
    /// The repository does not exist, or is private and no token with access was given.
    case repositoryNotFound(repo: String, endpoint: String)
    /// The repository exists but the revision (branch, tag or commit) does not.
    case revisionNotFound(repo: String, revision: String)
    /// The repository is gated and the token has no access (or no token was given).
    case gated(repo: String)
    /// The token was refused.
    case unauthorized(repo: String)
    /// Offline (`HF_HUB_OFFLINE=1`) and the cache does not hold what is needed.
    case notInCache(repo: String, revision: String, cache: String, missing: String)
    /// The revision has no weights this engine reads.
    case noSafetensors(repo: String, revision: String)
    /// The Hub answered something other than what its protocol says.
    case badResponse(url: String, detail: String)
    /// The connection failed or the server answered with an error.
    case network(url: String, detail: String)
    /// A downloaded file does not have the size or the sha256 the Hub announced.
    case corrupt(file: String, detail: String)
    /// Writing to the cache failed (a full disk, permissions).
    case cacheWrite(path: String, detail: String)

    /// The message for the user: what failed and what to check.
    public var description: String {
        switch self {
        case .repositoryNotFound(let repo, let endpoint):
            "\(repo): repository not found on \(endpoint) (check the id; a private repository needs HF_TOKEN)"
        case .revisionNotFound(let repo, let revision):
            "\(repo): revision '\(revision)' not found (a branch, tag or commit of the repository)"
        case .gated(let repo):
            "\(repo): the repository is gated; accept its terms on the Hub and set HF_TOKEN to a token with access"
        case .unauthorized(let repo):
            "\(repo): the Hub refused the token (HF_TOKEN or the token file); check that it is valid"
        case .notInCache(let repo, let revision, let cache, let missing):
            "\(repo)@\(revision): \(missing) not in the cache \(cache), and HF_HUB_OFFLINE=1 forbids downloading"
        case .noSafetensors(let repo, let revision):
            "\(repo)@\(revision): no *.safetensors weights in the repository (other formats are not supported)"
        case .badResponse(let url, let detail):
            "\(url): unexpected answer from the Hub: \(detail)"
        case .network(let url, let detail):
            "\(url): \(detail)"
        case .corrupt(let file, let detail):
            "\(file): download is corrupt (\(detail)); it was removed, run again to download it anew"
        case .cacheWrite(let path, let detail):
            "\(path): cannot write to the Hugging Face cache: \(detail)"
        }
    }
}
