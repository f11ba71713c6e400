"""Starts `vllm serve` on the built-in model for the OpenAI-client tests.

VLLM_BIN names the binary (default: .build/debug/vllm); the server listens on a free loopback port
with an API key and the fixture chat template, and is stopped with SIGINT at the end (which must
stop it cleanly).
"""
import os
import signal
import socket
import subprocess
import time
import urllib.request

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
API_KEY = "test-key"
MODEL = "stories"


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def server():
    binary = os.environ.get("VLLM_BIN", os.path.join(ROOT, ".build", "debug", "vllm"))
    port = _free_port()
    args = [
        binary, "serve", os.path.join(ROOT, "Models", "stories260K"), "--host", "127.0.0.1", "--port", str(port),
        "--api-key", API_KEY, "--served-model-name", MODEL,
        "--chat-template", os.path.join(ROOT, "Tests", "VLLMServerTests", "Fixtures", "simple_chat.jinja"),
        "--num-gpu-blocks-override", "2048", "--disable-log-requests",
    ]
    log = open(os.path.join(ROOT, ".server-test.log"), "w")
    process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while True:
        try:
            urllib.request.urlopen(base + "/health", timeout=1)
            break
        except Exception:
            if process.poll() is not None or time.time() > deadline:
                process.kill()
                raise RuntimeError("vllm serve did not start; see .server-test.log")
            time.sleep(0.2)
    yield {"base": base, "process": process, "port": port}
    process.send_signal(signal.SIGINT)
    try:
        assert process.wait(timeout=30) == 0, "vllm serve did not exit cleanly on SIGINT"
    finally:
        if process.poll() is None:
            process.kill()
        log.close()


@pytest.fixture(scope="session")
def client(server):
    import openai

    return openai.OpenAI(base_url=server["base"] + "/v1", api_key=API_KEY, max_retries=0)
