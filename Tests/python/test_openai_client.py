"""The server through the official `openai` client and curl for the raw SSE framing (schemathesis: test_schemathesis.py)."""
import json
import random
import shutil
import subprocess
import threading
import urllib.request

import openai
import pytest

from conftest import API_KEY, MODEL


def test_models(client):
    models = client.models.list()
    assert [m.id for m in models.data] == [MODEL]


def test_completion(client):
    r = client.completions.create(model=MODEL, prompt="Once upon a time", max_tokens=8, temperature=0)
    assert r.object == "text_completion"
    assert r.choices[0].text
    assert r.choices[0].finish_reason == "length"
    assert r.usage.completion_tokens == 8
    assert r.usage.total_tokens == r.usage.prompt_tokens + 8


def test_completion_n_logprobs_stop(client):
    r = client.completions.create(model=MODEL, prompt="Once upon a time", max_tokens=6, n=2, seed=1, logprobs=2)
    assert len(r.choices) == 2
    assert all(len(c.logprobs.tokens) == 6 for c in r.choices)
    full = client.completions.create(model=MODEL, prompt="Once upon a time", max_tokens=30, temperature=0,
                                     extra_body={"ignore_eos": True}).choices[0].text
    stop = full.split()[2]
    cut = client.completions.create(model=MODEL, prompt="Once upon a time", max_tokens=30, temperature=0, stop=[stop],
                                    extra_body={"ignore_eos": True}).choices[0]
    assert cut.finish_reason == "stop" and stop not in cut.text and full.startswith(cut.text)


def test_completion_stream(client):
    chunks = list(client.completions.create(model=MODEL, prompt="Once upon a time", max_tokens=8, temperature=0,
                                            stream=True, stream_options={"include_usage": True}))
    text = "".join(c.choices[0].text for c in chunks if c.choices)
    whole = client.completions.create(model=MODEL, prompt="Once upon a time", max_tokens=8, temperature=0)
    assert text == whole.choices[0].text
    assert chunks[-1].usage.completion_tokens == 8


def test_chat(client):
    r = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "Hello"}], max_tokens=6,
                                       temperature=0, logprobs=True, top_logprobs=2)
    assert r.choices[0].message.role == "assistant"
    assert r.choices[0].message.content
    assert len(r.choices[0].logprobs.content) == r.usage.completion_tokens
    assert len(r.choices[0].logprobs.content[0].top_logprobs) == 2


def test_chat_stream_n2(client):
    stream = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "Hello"}], max_tokens=5,
                                            n=2, stream=True, stream_options={"include_usage": True})
    texts, finishes, usage, roles = {0: "", 1: ""}, {}, None, set()
    for chunk in stream:
        if chunk.usage:
            usage = chunk.usage
        for c in chunk.choices:
            if c.delta.role:
                roles.add(c.index)
            texts[c.index] += c.delta.content or ""
            if c.finish_reason:
                finishes[c.index] = c.finish_reason
    assert roles == {0, 1}
    assert set(finishes) == {0, 1}
    assert usage.completion_tokens <= 10


def test_api_key(server):
    bad = openai.OpenAI(base_url=server["base"] + "/v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.models.list()
    assert urllib.request.urlopen(server["base"] + "/health").status == 200
    assert b"vllm:num_requests_running" in urllib.request.urlopen(server["base"] + "/metrics").read()


def test_bad_requests(client):
    with pytest.raises(openai.BadRequestError) as e:
        client.completions.create(model=MODEL, prompt="Hi", temperature=-1)
    assert "temperature" in str(e.value)
    with pytest.raises(openai.BadRequestError):
        client.completions.create(model="nope", prompt="Hi")
    with pytest.raises(openai.BadRequestError):
        client.completions.create(model=MODEL, prompt=[5] * 600)


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")
def test_curl_sse_framing(server):
    body = json.dumps({"model": MODEL, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4, "stream": True})
    out = subprocess.run(["curl", "-sN", "-H", f"Authorization: Bearer {API_KEY}", "-H", "Content-Type: application/json",
                          "-d", body, server["base"] + "/v1/chat/completions"], capture_output=True, check=True).stdout.decode()
    events = out.split("\n\n")
    assert events[-1] == "" and events[-2] == "data: [DONE]"
    assert all(e.startswith("data: ") for e in events[:-1])
    first = json.loads(events[0][6:])
    assert first["choices"][0]["delta"]["role"] == "assistant"


def test_concurrent_streams_with_disconnects(server, client):
    """200 concurrent streams, some dropped early: the rest finish and the KV pool is whole after."""
    import httpx

    finished, errors = [], []

    def one(i):
        try:
            with httpx.stream("POST", server["base"] + "/v1/completions", timeout=120,
                              headers={"Authorization": f"Bearer {API_KEY}"},
                              json={"model": MODEL, "prompt": f"Once upon a time {i}", "max_tokens": 32,
                                    "ignore_eos": True, "stream": True}) as r:
                for n, line in enumerate(r.iter_lines()):
                    if i % 4 == 0 and n >= 2:
                        return  # hang up
                    if line == "data: [DONE]":
                        finished.append(i)
        except Exception as error:  # noqa: BLE001
            errors.append(repr(error))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(200)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    assert len(finished) == 150
    import time
    for _ in range(100):
        metrics = urllib.request.urlopen(server["base"] + "/metrics").read().decode()
        if f'vllm:kv_cache_usage_perc{{model_name="{MODEL}"}} 0.0' in metrics and \
                f'vllm:num_requests_running{{model_name="{MODEL}"}} 0.0' in metrics:
            break
        time.sleep(0.1)
    else:
        pytest.fail("the KV cache was not freed: " + metrics)


def test_many_malformed_requests(server, client):
    rng = random.Random(0)
    for i in range(300):
        data = bytes(rng.randrange(256) for _ in range(rng.randrange(64))) if i % 2 else \
            json.dumps({rng.choice(["prompt", "n", "max_tokens", "stop", "temperature"]): rng.choice([None, -3, "x", [], {}, 1e9])}).encode()
        request = urllib.request.Request(server["base"] + "/v1/completions", data=data, method="POST",
                                         headers={"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"})
        try:
            urllib.request.urlopen(request, timeout=30)
        except urllib.error.HTTPError as e:
            assert e.code < 500, e.read()
            assert "error" in json.loads(e.read())
    assert client.completions.create(model=MODEL, prompt="Hi", max_tokens=2).choices
