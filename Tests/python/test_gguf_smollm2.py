"""SmolLM2-135M-Instruct (GGUF, Q4_1) through `vllm serve` and the official openai client: the
model's own tokenizer and chat template from the file, and a factual answer. Skipped unless
scripts/fetch_gguf_models.sh has cached the model.

The server runs with `--quantized-activations float32`, the exact product that transformers
computes. With the default 8-bit activations for GGUF blocks (what llama.cpp does), this file's
first answer token is "L" ("L'Étoile, la Marseillaise, ..."), as llama.cpp's own `llama-simple`
answers on the same prompt: the float32 logits of "Paris" and "L" are 0.08 apart.
"""
import os
import subprocess

import openai
import pytest

from conftest import ROOT, serve, stop

GGUF = os.path.join(
    os.environ.get("SWIFT_VLLM_GGUF_DIR", os.path.join(os.environ.get("HOME", "/root"), ".cache", "swift-vllm", "gguf")), "SmolLM2-135M-Instruct.Q4_1.gguf")

pytestmark = pytest.mark.skipif(not os.path.exists(GGUF), reason="run scripts/fetch_gguf_models.sh first")


@pytest.fixture(scope="module")
def smollm2():
    server = serve(GGUF, ["--served-model-name", "smollm2", "--max-model-len", "1024", "--disable-log-requests",
                           "--quantized-activations", "float32"],
                   ".server-test-gguf.log", seconds=180)
    yield openai.OpenAI(base_url=server["base"] + "/v1", api_key="none")
    stop(server)


def test_capital_of_france(smollm2):
    reply = smollm2.chat.completions.create(
        model="smollm2", messages=[{"role": "user", "content": "What is the capital of France?"}],
        temperature=0, max_tokens=32)
    text = reply.choices[0].message.content
    assert "Paris" in text, text
    assert reply.choices[0].finish_reason == "stop", "the model's EOS (<|im_end|>) from the file ends the reply"


def _vllm(*args, stdin):
    binary = os.environ.get("VLLM_BIN", os.path.join(ROOT, ".build", "debug", "vllm"))
    return subprocess.run([binary, *args], input=stdin, capture_output=True, text=True, check=True, cwd=ROOT).stdout


def test_cli_reads_tokenizer_and_template_from_the_file():
    """`vllm tokenize` and `vllm chat-template` take the GGUF file as --model: ids and the chat
    prompt's ids equal transformers' from the same file (Tests/Fixtures/gguf/reference-smollm2.json)."""
    import json
    reference = json.load(open(os.path.join(ROOT, "Tests", "Fixtures", "gguf", "reference-smollm2.json")))
    texts = [entry for entry in reference["tokenizer"] if not any(c.isdigit() for c in entry["text"])]
    lines = _vllm("tokenize", "--model", GGUF, stdin="".join(json.dumps(e["text"]) + "\n" for e in texts)).splitlines()
    assert [json.loads(line) for line in lines] == [e["ids"] for e in texts]
    chat = reference["chat"][0]
    messages = json.dumps([{"role": "user", "content": chat["prompt"]}])
    prompt = _vllm("chat-template", "--model", GGUF, "--messages", "-", "--add-generation-prompt", stdin=messages)
    ids = json.loads(_vllm("tokenize", "--model", GGUF, "--no-special-tokens", stdin=json.dumps(prompt) + "\n"))
    assert ids == chat["prompt_ids"]
