"""SmolLM2-135M-Instruct (GGUF, Q4_1) through `vllm serve` and the official openai client: the
model's own tokenizer and chat template from the file, and a factual answer. Skipped unless
scripts/fetch_gguf_models.sh has cached the model.
"""
import os

import openai
import pytest

from conftest import serve, stop

GGUF = os.path.join(
    os.environ.get("SWIFT_VLLM_GGUF_DIR", os.path.join(os.environ.get("HOME", "/root"), ".cache", "swift-vllm", "gguf")), "SmolLM2-135M-Instruct.Q4_1.gguf")

pytestmark = pytest.mark.skipif(not os.path.exists(GGUF), reason="run scripts/fetch_gguf_models.sh first")


@pytest.fixture(scope="module")
def smollm2():
    server = serve(GGUF, ["--served-model-name", "smollm2", "--max-model-len", "1024", "--disable-log-requests"],
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
