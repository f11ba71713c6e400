"""A local stand-in for the Hugging Face Hub, answering the endpoints that model downloads use as
the real Hub answers them, so that swift-vllm's downloads and huggingface_hub's can be checked
against each other on loopback:

- GET  /api/models/<org>/<name>/revision/<rev>: {"id", "sha", "siblings": [{"rfilename"}]}
- GET  /api/models/<org>/<name>/tree/<rev>: the file list (huggingface_hub's snapshot_download)
- HEAD/GET /<org>/<name>/resolve/<rev>/<path>: small files directly (ETag = git blob sha1); large
  files (*.safetensors) as a 302 to /storage/<sha256> with X-Linked-Etag and X-Linked-Size
- GET  /storage/<sha256>: the bytes, with Range requests
Errors carry X-Error-Code as the Hub's do (RepoNotFound, RevisionNotFound, GatedRepo).

Switches for failure tests (POST /control with JSON): {"cut_after": N} makes the next storage
download stop after N bytes; {"corrupt": true} flips a byte of the next one. GET /stats counts
storage downloads per sha256.
"""
import hashlib
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlparse


class Repository:
    def __init__(self, repo_id, folder, gated=False):
        self.repo_id = repo_id
        self.files = {}
        for root, _, names in os.walk(folder):
            for name in sorted(names):
                path = os.path.join(root, name)
                rel = os.path.relpath(path, folder)
                with open(path, "rb") as f:
                    self.files[rel] = f.read()
        listing = "".join(f"{k}:{hashlib.sha1(v).hexdigest()}" for k, v in sorted(self.files.items()))
        self.commit = hashlib.sha1(listing.encode()).hexdigest()
        self.refs = {"main": self.commit, "v1.0": self.commit}
        self.gated = gated

    def resolve(self, revision):
        return self.refs.get(revision) or (revision if revision == self.commit else None)


def git_blob_sha1(data):
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def is_large(path):
    return path.endswith(".safetensors")


class Hub:
    def __init__(self, repositories, token="hf_test_token"):
        self.repositories = {r.repo_id: r for r in repositories}
        self.token = token
        self.lock = threading.Lock()
        self.cut_after = None
        self.corrupt = False
        self.downloads = {}
        self.blobs = {}
        for r in repositories:
            for data in r.files.values():
                self.blobs[hashlib.sha256(data).hexdigest()] = data


def make_handler(hub):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def send(self, status, body=b"", headers=None, head=False):
            self.send_response(status)
            for k, v in (headers or {}).items():
                self.send_header(k, str(v))
            if "Content-Length" not in (headers or {}):
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if not head and body:
                self.wfile.write(body)

        def error(self, status, code, message, head=False):
            body = json.dumps({"error": message}).encode()
            self.send(status, body, {"X-Error-Code": code, "X-Error-Message": message, "Content-Type": "application/json"}, head)

        def authorized(self, repo):
            auth = self.headers.get("Authorization")
            if auth is not None and auth != f"Bearer {hub.token}":
                return "bad"
            if repo.gated and auth is None:
                return "gated"
            return "ok"

        def repository(self, org, name, head=False):
            repo = hub.repositories.get(f"{org}/{name}")
            if repo is None:
                self.error(401, "RepoNotFound", "Repository not found", head)
                return None
            state = self.authorized(repo)
            if state == "bad":
                self.error(401, "", "Invalid credentials in Authorization header", head)
                return None
            if state == "gated":
                self.error(403, "GatedRepo", "Access to this model is restricted", head)
                return None
            return repo

        def do_POST(self):
            if self.path == "/control":
                settings = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with hub.lock:
                    hub.cut_after = settings.get("cut_after", hub.cut_after)
                    hub.corrupt = settings.get("corrupt", hub.corrupt)
                    if settings.get("reset_stats"):
                        hub.downloads = {}
                self.send(200, b"{}")
            else:
                self.send(404)

        def do_HEAD(self):
            self.handle_get(head=True)

        def do_GET(self):
            self.handle_get(head=False)

        def handle_get(self, head):
            url = urlparse(self.path)
            parts = [unquote(p) for p in url.path.split("/")[1:]]
            if parts[:1] == ["stats"]:
                return self.send(200, json.dumps(hub.downloads).encode(), {"Content-Type": "application/json"})
            if parts[:1] == ["storage"] and len(parts) == 2:
                return self.storage(parts[1], head)
            if parts[:2] == ["api", "models"] and len(parts) >= 6 and parts[4] in ("revision", "tree"):
                repo = self.repository(parts[2], parts[3], head)
                if repo is None:
                    return
                commit = repo.resolve(parts[5])
                if commit is None:
                    return self.error(404, "RevisionNotFound", f"Invalid rev id: {parts[5]}", head)
                if parts[4] == "revision":
                    body = {"id": repo.repo_id, "modelId": repo.repo_id, "sha": commit,
                            "siblings": [{"rfilename": k} for k in sorted(repo.files)]}
                else:
                    body = []
                    for k, v in sorted(repo.files.items()):
                        entry = {"type": "file", "path": k, "size": len(v), "oid": git_blob_sha1(v)}
                        if is_large(k):
                            entry["lfs"] = {"oid": hashlib.sha256(v).hexdigest(), "size": len(v), "pointerSize": 134}
                        body.append(entry)
                return self.send(200, json.dumps(body).encode(), {"Content-Type": "application/json"}, head)
            if len(parts) >= 5 and parts[2] == "resolve":
                repo = self.repository(parts[0], parts[1], head)
                if repo is None:
                    return
                commit = repo.resolve(parts[3])
                if commit is None:
                    return self.error(404, "RevisionNotFound", f"Invalid rev id: {parts[3]}", head)
                path = "/".join(parts[4:])
                data = repo.files.get(path)
                if data is None:
                    return self.error(404, "EntryNotFound", f"{path} does not exist", head)
                if is_large(path):
                    digest = hashlib.sha256(data).hexdigest()
                    # Storage on another host (localhost, where the Hub is 127.0.0.1), as the Hub's CDN is:
                    # clients take the metadata from this response and send no token there.
                    location = f"http://localhost:{self.server.server_address[1]}/storage/{digest}"
                    return self.send(302, b"", {"Location": location, "X-Repo-Commit": commit,
                                                "X-Linked-Etag": f'"{digest}"', "X-Linked-Size": len(data),
                                                "ETag": f'"{git_blob_sha1(data)}"', "Content-Length": 0}, head)
                return self.send(200, data, {"X-Repo-Commit": commit, "ETag": f'"{git_blob_sha1(data)}"',
                                             "Content-Type": "application/octet-stream"}, head)
            self.send(404, b"not found")

        def storage(self, digest, head):
            data = hub.blobs.get(digest)
            if data is None:
                return self.send(404)
            start = 0
            status = 200
            ranged = self.headers.get("Range")
            if ranged and ranged.startswith("bytes="):
                start = int(ranged[6:].split("-")[0])
                if start >= len(data):
                    return self.send(416, b"", {"Content-Range": f"bytes */{len(data)}"}, head)
                status = 206
            body = data[start:]
            headers = {"ETag": f'"{digest}"', "Content-Type": "application/octet-stream", "Accept-Ranges": "bytes"}
            if status == 206:
                headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
            if head:
                return self.send(status, body, headers, head=True)
            with hub.lock:
                hub.downloads[digest] = hub.downloads.get(digest, 0) + 1
                cut, hub.cut_after = hub.cut_after, None
                corrupt, hub.corrupt = hub.corrupt, False
            if corrupt and body:
                body = bytes([body[0] ^ 0xFF]) + body[1:]
            if cut is not None:
                headers["Content-Length"] = len(body)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, str(v))
                self.end_headers()
                self.wfile.write(body[:cut])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(2)
                return
            self.send(status, body, headers)

    return Handler


def serve(repositories, port=0):
    """Starts the hub in a thread; returns (server, hub)."""
    hub = Hub(repositories)
    server = ThreadingHTTPServer(("127.0.0.1", port), make_handler(hub))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, hub


if __name__ == "__main__":
    # python3 hub_server.py PORT org/name=FOLDER ...
    repos = [Repository(spec.split("=")[0], spec.split("=")[1]) for spec in sys.argv[2:]]
    server, _ = serve(repos, int(sys.argv[1]))
    print(f"serving on 127.0.0.1:{server.server_address[1]}", flush=True)
    threading.Event().wait()
