#!/usr/bin/env python3
"""Reference outputs of the real GGUF models from Hugging Face transformers, which loads each GGUF
file itself (dequantized to float32): for several chat prompts (the file's chat template applied)
the prompt ids and 64 greedy tokens (no stopping at EOS), the perplexity of a tinyshakespeare
excerpt, and the ids of transformers' tokenizer loaded from the same file for a few texts.
Writes Tests/Fixtures/gguf/reference-<model>.json, which the Swift tests compare against.

Needs: pip install torch transformers gguf (tested: torch 2.15.0, transformers 5.25.0, gguf 0.19.0)
and the models: scripts/fetch_gguf_models.sh.
Usage: python3 scripts/gguf_reference.py [smollm2|qwen2.5-coder ...]
"""
import json
import math
import os
import sys

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
CACHE = os.environ.get("SWIFT_VLLM_GGUF_DIR", os.path.expanduser("~/.cache/swift-vllm/gguf"))
MODELS = {
    "smollm2": "SmolLM2-135M-Instruct.Q4_1.gguf",
    "qwen2.5-coder": "Qwen2.5-Coder-0.5B-Instruct-Q4_K_M.gguf",
}
PROMPTS = [
    "What is the capital of France?",
    "Write a Python function that returns the square of a number.",
    "Name three colours of the rainbow.",
]
TOKENIZER_TEXTS = [
    "Hello world! How are you today?",
    "  leading spaces, tabs\tand\nnewlines\n\n",
    "Numbers 1234567 and 3.14159; émigré café naïve — “quotes” 日本語 🙂",
    "<|im_start|>user\nhi<|im_end|>",
    "def f(x):\n    return x ** 2  # square\n",
]
GREEDY_TOKENS = 64
torch.set_num_threads(os.cpu_count() or 1)


def greedy(model, prompt_ids, count):
    """`count` argmax tokens after `prompt_ids`, never stopping (as the Swift test decodes)."""
    ids = torch.tensor([prompt_ids])
    out = model(ids, use_cache=True)
    past, generated = out.past_key_values, []
    for _ in range(count):
        token = int(out.logits[0, -1].argmax())
        generated.append(token)
        out = model(torch.tensor([[token]]), past_key_values=past, use_cache=True)
        past = out.past_key_values
    return generated


def perplexity(model, ids):
    """exp of the mean negative log-likelihood of ids[1:] given the tokens before each."""
    logits = model(torch.tensor([ids])).logits[0, :-1].double()
    nll = -torch.log_softmax(logits, dim=-1).gather(1, torch.tensor(ids[1:]).unsqueeze(1)).mean()
    return math.exp(float(nll))


def main(names):
    with open(os.path.join(ROOT, "Tests", "Fixtures", "gguf", "tinyshakespeare-excerpt.txt"), encoding="utf-8") as f:
        excerpt = f.read()
    for name in names:
        file = MODELS[name]
        tokenizer = AutoTokenizer.from_pretrained(CACHE, gguf_file=file)
        model = AutoModelForCausalLM.from_pretrained(CACHE, gguf_file=file, dtype=torch.float32).eval()
        result = {"model": file, "transformers": __import__("transformers").__version__, "torch": torch.__version__}
        with torch.no_grad():
            result["chat"] = []
            for prompt in PROMPTS:
                ids = tokenizer.apply_chat_template(
                    [{"role": "user", "content": prompt}], add_generation_prompt=True, tokenize=True, return_dict=False)
                ids = list(ids["input_ids"] if isinstance(ids, dict) else ids)
                out = greedy(model, ids, GREEDY_TOKENS)
                result["chat"].append({"prompt": prompt, "prompt_ids": ids, "greedy_ids": out,
                                       "text": tokenizer.decode(out)})
                print(name, repr(prompt), "->", repr(tokenizer.decode(out)), flush=True)
            ids = tokenizer(excerpt, add_special_tokens=False)["input_ids"]
            result["perplexity"] = {"text_file": "tinyshakespeare-excerpt.txt", "ids": ids, "perplexity": perplexity(model, ids)}
            print(name, "perplexity", result["perplexity"]["perplexity"], "over", len(ids), "tokens", flush=True)
        result["tokenizer"] = [{"text": t, "ids": tokenizer(t, add_special_tokens=True)["input_ids"]} for t in TOKENIZER_TEXTS]
        with open(os.path.join(ROOT, "Tests", "Fixtures", "gguf", f"reference-{name}.json"), "w") as f:
            json.dump(result, f, ensure_ascii=False)


if __name__ == "__main__":
    main(sys.argv[1:] or list(MODELS))
