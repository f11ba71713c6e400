import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import VLLMCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Brings a model repository's files into the Hugging Face cache, speaking the Hub's HTTP protocol
/// as `huggingface_hub` does: the revision's file list and commit from
/// `/api/models/<repo>/revision/<revision>`, each file's ETag, size and commit from a HEAD of its
/// `resolve` URL (redirects not followed, so that `X-Linked-Etag` and `X-Linked-Size` of large
/// files are seen), then the file itself, resumed from `<blob>.incomplete`, checked against its
/// size and (for large files, whose ETag is their sha256) its hash, under a file lock.
public final class HubDownloader: Sendable {
    /// Endpoint, cache, token and offline mode.
    public let settings: HubSettings
    /// The cache files go to.
    public var cache: HubCache { HubCache(root: settings.cacheDirectory) }

    /// A downloader for `settings`.
    public init(settings: HubSettings = HubSettings()) { self.settings = settings }

    /// The snapshot folder of `repo` at `revision`, holding the files `select` picks from the
    /// revision's file list (everything by default); missing ones are downloaded unless offline.
    public func snapshot(
        _ repo: String, revision: String = "main", select: @Sendable ([String]) throws -> [String] = { $0 }
    ) async throws -> String {
        if settings.offline { return try cachedSnapshot(repo, revision: revision) }
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(redirectConfiguration: .disallow))
        do {
            let folder = try await download(repo, revision: revision, select: select, client: client)
            try await client.shutdown()
            return folder
        } catch {
            try? await client.shutdown()
            throw error
        }
    }

    /// `snapshot`, waited for from synchronous code (not from a task of the cooperative pool that
    /// other work is waiting on).
    public func snapshotBlocking(
        _ repo: String, revision: String = "main", select: @escaping @Sendable ([String]) throws -> [String] = { $0 }
    ) throws -> String {
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var result: Result<String, Error>!
        Task.detached {
            do { result = .success(try await self.snapshot(repo, revision: revision, select: select)) } catch { result = .failure(error) }
            done.signal()
        }
        done.wait()
        return try result.get()
    }

    private func cachedSnapshot(_ repo: String, revision: String) throws -> String {
        let missing = { HubError.notInCache(repo: repo, revision: revision, cache: self.settings.cacheDirectory, missing: $0) }
        guard let commit = cache.commit(repo, revision: revision) else { throw missing("the revision") }
        let folder = cache.snapshotFolder(repo, commit: commit)
        guard FileManager.default.fileExists(atPath: folder) else { throw missing("the snapshot \(commit)") }
        return folder
    }

    private func download(
        _ repo: String, revision: String, select: ([String]) throws -> [String], client: HTTPClient
    ) async throws -> String {
        let info = try await revisionInfo(repo, revision: revision, client: client)
        let files = try select(info.files)
        for file in files where !cache.hasFile(repo, commit: info.commit, file: file) {
            try await fetch(file, repo: repo, commit: info.commit, client: client)
        }
        try cache.writeRef(repo, revision: revision, commit: info.commit)
        return cache.snapshotFolder(repo, commit: info.commit)
    }

    /// The commit of `revision` and the files of the repository at that commit.
    private func revisionInfo(_ repo: String, revision: String, client: HTTPClient) async throws -> (commit: String, files: [String]) {
        let url = settings.endpoint + "/api/models/" + repo + "/revision/" + Self.escape(revision)
        let response: HTTPClientResponse
        do {
            response = try await client.execute(request(url, method: .GET, authorized: true), timeout: .seconds(30))
        } catch {
            // No connection: a cached snapshot of the revision still serves, as huggingface_hub allows.
            if let cached = try? cachedSnapshot(repo, revision: revision) {
                FileHandle.standardError.write(Data("warning: the Hub is unreachable (\(error)); using the cached \(cached)\n".utf8))
                return (URL(fileURLWithPath: cached).lastPathComponent, [])
            }
            throw HubError.network(url: url, detail: "\(error)")
        }
        let body = try await response.body.collect(upTo: 64 << 20)
        try check(response, url: url, repo: repo, revision: revision)
        guard let object = try? JSONSerialization.jsonObject(with: Data(buffer: body)) as? [String: Any],
            let commit = object["sha"] as? String, let siblings = object["siblings"] as? [[String: Any]]
        else { throw HubError.badResponse(url: url, detail: "no 'sha' and 'siblings' in the revision's information") }
        return (commit, siblings.compactMap { $0["rfilename"] as? String })
    }

    /// One clear error per way the Hub refuses.
    private func check(_ response: HTTPClientResponse, url: String, repo: String, revision: String) throws {
        guard !(200..<400).contains(response.status.code) else { return }
        let code = response.headers.first(name: "X-Error-Code") ?? ""
        let message = response.headers.first(name: "X-Error-Message") ?? ""
        switch (response.status.code, code) {
        case (_, "GatedRepo"): throw HubError.gated(repo: repo)
        case (_, "RevisionNotFound"): throw HubError.revisionNotFound(repo: repo, revision: revision)
        case (_, "RepoNotFound"): throw HubError.repositoryNotFound(repo: repo, endpoint: settings.endpoint)
        case (401, _) where message.localizedCaseInsensitiveContains("credentials"): throw HubError.unauthorized(repo: repo)
        case (401, _), (404, _): throw HubError.repositoryNotFound(repo: repo, endpoint: settings.endpoint)
        case (403, _): throw HubError.gated(repo: repo)
        default: throw HubError.network(url: url, detail: "HTTP \(response.status.code) \(message)")
        }
    }

    /// Downloads one file into its blob, under the blob's lock, and links it into the snapshot.
    private func fetch(_ file: String, repo: String, commit: String, client: HTTPClient) async throws {
        let url =
            settings.endpoint + "/" + repo + "/resolve/" + commit + "/"
            + file.split(separator: "/").map { Self.escape(String($0)) }.joined(separator: "/")
        let head = try await client.execute(request(url, method: .HEAD, authorized: true), timeout: .seconds(30))
        try check(head, url: url, repo: repo, revision: commit)
        guard let etag = Self.normalize(head.headers.first(name: "X-Linked-Etag") ?? head.headers.first(name: "ETag")) else {
            throw HubError.badResponse(url: url, detail: "no ETag")
        }
        let redirected = (300..<400).contains(head.status.code)
        let size = (head.headers.first(name: "X-Linked-Size") ?? (redirected ? nil : head.headers.first(name: "Content-Length"))).flatMap(
            Int.init)
        let location = redirected ? head.headers.first(name: "Location").map { Self.absolute($0, base: url) } ?? url : url
        let blob = cache.blobPath(repo, etag: etag)
        try cache.createFolder((blob as NSString).deletingLastPathComponent)
        let lock = try FileLock(cache.lockPath(repo, etag: etag), cache: cache)
        defer { lock.release() }
        if !FileManager.default.fileExists(atPath: blob) {
            try await stream(location, to: blob, name: file, size: size, sha256: etag.count == 64 ? etag : nil, client: client, origin: url)
        }
        try cache.link(repo, commit: commit, file: file, etag: etag)
    }

    /// Streams `url` into `blob + ".incomplete"` (resuming what is there), checks it and moves it
    /// into place. A check that fails removes the partial file.
    private func stream(
        _ url: String, to blob: String, name: String, size: Int?, sha256: String?, client: HTTPClient, origin: String
    ) async throws {
        let partial = blob + ".incomplete"
        if !FileManager.default.fileExists(atPath: partial) { _ = FileManager.default.createFile(atPath: partial, contents: nil) }
        guard let handle = FileHandle(forUpdatingAtPath: partial) else { throw HubError.cacheWrite(path: partial, detail: "cannot open") }
        defer { try? handle.close() }
        var hash = SHA256()
        var have = 0
        // Hash what an earlier, interrupted download left, then ask only for the rest.
        while let chunk = try? handle.read(upToCount: 8 << 20), !chunk.isEmpty {
            hash.update(chunk)
            have += chunk.count
        }
        var target = url
        var response: HTTPClientResponse
        var hops = 0
        while true {
            var req = request(target, method: .GET, authorized: Self.sameHost(target, origin))
            if have > 0 { req.headers.replaceOrAdd(name: "Range", value: "bytes=\(have)-") }
            response = try await client.execute(req, timeout: .hours(6))
            guard (300..<400).contains(response.status.code), let next = response.headers.first(name: "Location"), hops < 5 else { break }
            target = Self.absolute(next, base: target)
            hops += 1
        }
        if response.status.code == 200, have > 0 {
            // The server ignored the range: start over.
            try handle.truncate(atOffset: 0)
            (hash, have) = (SHA256(), 0)
        } else if response.status.code == 416, let size, have == size {
            // Already complete.
        } else if !(200..<300).contains(response.status.code) {
            throw HubError.network(url: target, detail: "HTTP \(response.status.code)")
        }
        try handle.seekToEnd()
        let progress = DownloadProgress(name: name, total: size, done: have)
        do {
            for try await buffer in response.body {
                let bytes = Data(buffer: buffer)
                do { try handle.write(contentsOf: bytes) } catch {
                    throw HubError.cacheWrite(path: partial, detail: error.localizedDescription)
                }
                hash.update(bytes)
                have += bytes.count
                progress.update(have)
            }
        } catch let error as HubError {
            throw error
        } catch {
            throw HubError.network(url: target, detail: "connection lost after \(have) bytes (\(error)); run again to resume")
        }
        progress.finish()
        if let size, have != size {
            try? FileManager.default.removeItem(atPath: partial)
            throw HubError.corrupt(file: name, detail: "\(have) bytes, expected \(size)")
        }
        if let sha256, hash.hexDigest() != sha256 {
            try? FileManager.default.removeItem(atPath: partial)
            throw HubError.corrupt(file: name, detail: "sha256 \(hash.hexDigest()), expected \(sha256)")
        }
        do { try FileManager.default.moveItem(atPath: partial, toPath: blob) } catch {
            throw HubError.cacheWrite(path: blob, detail: error.localizedDescription)
        }
    }

    private func request(_ url: String, method: HTTPMethod, authorized: Bool) -> HTTPClientRequest {
        var request = HTTPClientRequest(url: url)
        request.method = method
        request.headers.add(name: "User-Agent", value: "swift-vllm")
        request.headers.add(name: "Accept-Encoding", value: "identity")
        if authorized, let token = settings.token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        return request
    }

    /// An ETag as a file name: without `W/` and quotes.
    static func normalize(_ etag: String?) -> String? {
        guard var value = etag else { return nil }
        if value.hasPrefix("W/") { value.removeFirst(2) }
        value = value.trimmingCharacters(in: CharacterSet(charactersIn: "\""))
        return value.isEmpty ? nil : value
    }

    static func escape(_ component: String) -> String {
        component.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/?#"))) ?? component
    }

    static func absolute(_ location: String, base: String) -> String {
        URL(string: location, relativeTo: URL(string: base))?.absoluteString ?? location
    }

    /// The token goes only to the Hub itself, not to the storage a large file redirects to.
    static func sameHost(_ a: String, _ b: String) -> Bool { URL(string: a)?.host == URL(string: b)?.host }
}

/// An exclusive lock on a file (flock), so that two processes fetch one blob once: the second
/// waits, then finds the blob there.
final class FileLock {
    private let descriptor: Int32

    init(_ path: String, cache: HubCache) throws {
        try cache.createFolder((path as NSString).deletingLastPathComponent)
        descriptor = open(path, O_CREAT | O_RDWR, 0o644)
        guard descriptor >= 0 else { throw HubError.cacheWrite(path: path, detail: "cannot create the lock file") }
        while flock(descriptor, LOCK_EX) != 0 && errno == EINTR {}
    }

    func release() {
        flock(descriptor, LOCK_UN)
        close(descriptor)
    }
}

/// A progress line on standard error when it is a terminal.
final class DownloadProgress {
    private let name: String
    private let total: Int?
    private let enabled = isatty(2) == 1
    private var lastPrinted = DispatchTime.now().uptimeNanoseconds

    init(name: String, total: Int?, done: Int) {
        self.name = name
        self.total = total
        update(done)
    }

    func update(_ done: Int) {
        guard enabled else { return }
        let now = DispatchTime.now().uptimeNanoseconds
        guard now - lastPrinted > 100_000_000 || done == total else { return }
        lastPrinted = now
        let mb = Double(done) / 1e6
        let line =
            total.map { String(format: "%.1f / %.1f MB (%.0f%%)", mb, Double($0) / 1e6, 100 * Double(done) / Double(max($0, 1))) }
            ?? String(format: "%.1f MB", mb)
        FileHandle.standardError.write(Data("\rDownloading \(name): \(line)".utf8))
    }

    func finish() {
        if enabled { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}
