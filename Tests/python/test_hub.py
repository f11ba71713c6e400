"""Models by Hugging Face id: our downloads and huggingface_hub's, against a local stand-in of the
Hub (hub_server.py) on loopback, produce caches that each other accept; interrupted downloads
resume, corrupt ones are caught, concurrent runs share one download, and each failure gives one
clear error."""
import json
import os
import subprocess
import sys
import threading
import urllib.request

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hub_server  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BINARY = os.environ.get("VLLM_BIN", os.path.join(ROOT, ".build", "debug", "vllm"))
MODEL_FOLDER = os.path.join(ROOT, "Models", "stories260K")
REPO = "test-org/stories260K"
GATED = "test-org/gated"


@pytest.fixture(scope="module")
def hub():
    repositories = [hub_server.Repository(REPO, MODEL_FOLDER), hub_server.Repository(GATED, MODEL_FOLDER, gated=True)]
    server, state = hub_server.serve(repositories)
    state.endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    yield state
    server.shutdown()


def control(hub, **settings):
    request = urllib.request.Request(hub.endpoint + "/control", data=json.dumps(settings).encode(), method="POST")
    urllib.request.urlopen(request).read()


def generate(hub, cache, model=REPO, extra=(), env=None):
    environment = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    environment.update({"HF_ENDPOINT": hub.endpoint, "HF_HUB_CACHE": str(cache), "HF_HOME": str(cache) + "-home"})
    environment.update(env or {})
    args = [BINARY, "generate", "--model", model, "--prompt", "Once upon a time", "--max-tokens", "12",
            "--temperature", "0", "--json", *extra]
    return subprocess.run(args, capture_output=True, text=True, env=environment, timeout=120)


def reference_text():
    args = [BINARY, "generate", "--model", MODEL_FOLDER, "--prompt", "Once upon a time", "--max-tokens", "12",
            "--temperature", "0", "--json"]
    return json.loads(subprocess.run(args, capture_output=True, text=True, check=True).stdout.splitlines()[-1])["outputs"][0]["text"]


def output_text(result):
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])["outputs"][0]["text"]


def test_download_by_id_gives_the_folders_output_and_a_cache_huggingface_hub_accepts(hub, tmp_path):
    from huggingface_hub import scan_cache_dir, snapshot_download

    cache = tmp_path / "ours"
    assert output_text(generate(hub, cache)) == reference_text()
    folder = cache / "models--test-org--stories260K"
    commit = (folder / "refs" / "main").read_text()
    assert len(commit) == 40
    weights = folder / "snapshots" / commit / "model.safetensors"
    assert weights.is_symlink() and os.readlink(weights).startswith("../../blobs/")
    # Theirs, offline, on our cache.
    path = snapshot_download(REPO, cache_dir=str(cache), local_files_only=True)
    assert os.path.samefile(path, folder / "snapshots" / commit)
    info = scan_cache_dir(str(cache))
    assert info.warnings == []
    assert [r.repo_id for r in info.repos] == [REPO]
    # A tag resolves to the same snapshot, recorded in refs/.
    assert output_text(generate(hub, cache, extra=["--revision", "v1.0"])) == reference_text()
    assert (folder / "refs" / "v1.0").read_text() == commit


def test_huggingface_hub_download_loads_offline(hub, tmp_path, monkeypatch):
    from huggingface_hub import snapshot_download

    cache = tmp_path / "theirs"
    monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
    snapshot_download(REPO, cache_dir=str(cache), endpoint=hub.endpoint)
    result = generate(hub, cache, env={"HF_HUB_OFFLINE": "1", "HF_ENDPOINT": "http://127.0.0.1:9"})
    assert output_text(result) == reference_text()


def test_interrupted_download_resumes(hub, tmp_path):
    cache = tmp_path / "resume"
    control(hub, cut_after=300_000, reset_stats=True)
    first = generate(hub, cache)
    assert first.returncode != 0
    assert "run again to resume" in first.stderr or "connection lost" in first.stderr, first.stderr
    partial = list((cache / "models--test-org--stories260K" / "blobs").glob("*.incomplete"))
    # The server sends 300,000 bytes and then cuts the connection; what was still in the socket
    # buffers may be lost with it, so the client keeps some prefix of those bytes, never more.
    assert len(partial) == 1 and 0 < partial[0].stat().st_size <= 300_000, partial
    assert output_text(generate(hub, cache)) == reference_text()
    assert not list((cache / "models--test-org--stories260K" / "blobs").glob("*.incomplete"))


def test_corrupt_download_is_caught_and_removed(hub, tmp_path):
    cache = tmp_path / "corrupt"
    control(hub, corrupt=True)
    result = generate(hub, cache)
    assert result.returncode != 0
    assert "corrupt" in result.stderr and "sha256" in result.stderr, result.stderr
    blobs = cache / "models--test-org--stories260K" / "blobs"
    assert not any(p.stat().st_size > 500_000 for p in blobs.iterdir())
    assert output_text(generate(hub, cache)) == reference_text()


def test_two_concurrent_runs_share_one_download(hub, tmp_path):
    cache = tmp_path / "shared"
    control(hub, reset_stats=True)
    results = [None, None]

    def run(i):
        results[i] = generate(hub, cache)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(output_text(r) == reference_text() for r in results)
    stats = json.loads(urllib.request.urlopen(hub.endpoint + "/stats").read())
    assert list(stats.values()) == [1], stats


@pytest.mark.parametrize("model, extra, env, message", [
    ("test-org/missing", [], {}, "repository not found"),
    (REPO, ["--revision", "nope"], {}, "revision 'nope' not found"),
    (GATED, [], {}, "gated"),
    (GATED, [], {"HF_TOKEN": "wrong"}, "refused the token"),
])
def test_failures_give_one_clear_error(hub, tmp_path, model, extra, env, message):
    result = generate(hub, tmp_path / "errors", model=model, extra=extra, env=env)
    assert result.returncode != 0
    assert message in result.stderr, result.stderr
    assert "Fatal error" not in result.stderr


def test_gated_repository_with_a_token(hub, tmp_path):
    assert output_text(generate(hub, tmp_path / "gated", model=GATED, env={"HF_TOKEN": hub.token})) == reference_text()


def test_offline_without_the_files_says_so(hub, tmp_path):
    result = generate(hub, tmp_path / "empty", env={"HF_HUB_OFFLINE": "1"})
    assert result.returncode != 0
    assert "HF_HUB_OFFLINE=1" in result.stderr, result.stderr


def test_tokenizer_by_id_with_its_revision(hub, tmp_path):
    cache = tmp_path / "tokenizer"
    result = generate(hub, cache, model=MODEL_FOLDER, extra=["--tokenizer", REPO, "--tokenizer-revision", "v1.0"])
    assert output_text(result) == reference_text()
    snapshot = next((cache / "models--test-org--stories260K" / "snapshots").iterdir())
    assert (snapshot / "tokenizer.json").exists() and not (snapshot / "model.safetensors").exists()
