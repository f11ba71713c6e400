"""Starts `vllm serve` on the built-in model for the OpenAI-client tests.

VLLM_BIN names the binary (default: .build/debug/vllm); each server listens on a free loopback port
with an API key and a fixture chat template, and is stopped with SIGINT at the end (which must
stop it cleanly). `server`/`client` are the plain server; `tool_client` parses hermes tool calls;
`reasoning_client` splits reasoning with deepseek_r1.
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


def serve(model, options, log_name, seconds=120):
    """Starts `vllm serve model` with `options` on a free loopback port, its output in `log_name` at the
    repository's root, and returns once /health answers: the base URL, port, process and log."""
    binary = os.environ.get("VLLM_BIN", os.path.join(ROOT, ".build", "debug", "vllm"))
    port = _free_port()
    args = [binary, "serve", model, "--host", "127.0.0.1", "--port", str(port), *options]
    log = open(os.path.join(ROOT, log_name), "w")
    process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + seconds
    while True:
        try:
            urllib.request.urlopen(base + "/health", timeout=1)
            break
        except Exception:
            if process.poll() is not None or time.time() > deadline:
                process.kill()
                raise RuntimeError(f"vllm serve did not start; see {log_name}")
            time.sleep(0.2)
    return {"base": base, "port": port, "process": process, "log": log}


def stop(server):
    """Stops a server from `serve` with SIGINT, which must end it cleanly."""
    process = server["process"]
    process.send_signal(signal.SIGINT)
    try:
        assert process.wait(timeout=30) == 0, "vllm serve did not exit cleanly on SIGINT"
    finally:
        if process.poll() is None:
            process.kill()
        server["log"].close()


def fixture_template(name):
    return os.path.join(ROOT, "Tests", "VLLMServerTests", "Fixtures", name)


def _start(template, extra_args=(), log_name=".server-test.log"):
    """`vllm serve` on the built-in model with the API key, the test model name and a fixture chat template."""
    return serve(os.path.join(ROOT, "Models", "stories260K"), [
        "--api-key", API_KEY, "--served-model-name", MODEL, "--chat-template", fixture_template(template),
        "--num-gpu-blocks-override", "2048", "--disable-log-requests", *extra_args,
    ], log_name)


@pytest.fixture(scope="session")
def server():
    started = _start("simple_chat.jinja")
    yield started
    stop(started)


@pytest.fixture(scope="session")
def tool_client():
    """A server that parses tool calls (hermes) and renders tools with the tool test template."""
    import openai

    started = _start("tool_chat.jinja", ["--enable-auto-tool-choice", "--tool-call-parser", "hermes"], ".server-test-tools.log")
    yield openai.OpenAI(base_url=started["base"] + "/v1", api_key=API_KEY, max_retries=0)
    stop(started)


@pytest.fixture(scope="session")
def reasoning_client():
    """A server with the deepseek_r1 reasoning parser (output before </think> is reasoning)."""
    import openai

    started = _start("tool_chat.jinja", ["--reasoning-parser", "deepseek_r1"], ".server-test-reasoning.log")
    yield openai.OpenAI(base_url=started["base"] + "/v1", api_key=API_KEY, max_retries=0)
    stop(started)


@pytest.fixture(scope="session")
def client(server):
    import openai

    return openai.OpenAI(base_url=server["base"] + "/v1", api_key=API_KEY, max_retries=0)
