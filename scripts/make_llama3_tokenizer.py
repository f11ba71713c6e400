#!/usr/bin/env python3
"""Builds a Llama-3 tokenizer.json (128,256 ids) for the grammar benchmark and mask comparison.

Meta's `llama-models` package on PyPI ships Llama 3's tiktoken BPE file (tokenizer.model, the
128,000 merged byte strings with their ranks; licence: the Llama 3 Community License, so the
result is not committed). transformers' TikTokenConverter turns it into a byte-level BPE
tokenizer.json with the Llama-3 split pattern; the 256 special tokens are added as Meta's
tokenizer.py names them. The result goes to a folder outside the repository:

    pip install llama-models tiktoken transformers     # (pip download --no-deps llama-models works too)
    python3 scripts/make_llama3_tokenizer.py [OUTDIR]   # default: ~/.cache/swift-vllm/llama3-tokenizer
"""
import glob
import json
import os
import subprocess
import sys
import tempfile
import zipfile

from tokenizers import AddedToken
from transformers.convert_slow_tokenizer import TikTokenConverter

PATTERN = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"


def tiktoken_file():
    try:
        import llama_models
        path = os.path.join(os.path.dirname(llama_models.__file__), "llama3", "tokenizer.model")
        if os.path.exists(path):
            return path
    except ImportError:
        pass
    tmp = tempfile.mkdtemp()
    subprocess.check_call([sys.executable, "-m", "pip", "download", "--no-deps", "-d", tmp, "llama-models"])
    wheel = glob.glob(os.path.join(tmp, "llama_models-*.whl"))[0]
    with zipfile.ZipFile(wheel) as z:
        z.extract("llama_models/llama3/tokenizer.model", tmp)
    return os.path.join(tmp, "llama_models", "llama3", "tokenizer.model")


def special_tokens():
    names = ["<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>", "<|reserved_special_token_1|>",
             "<|finetune_right_pad_id|>", "<|step_id|>", "<|start_header_id|>", "<|end_header_id|>", "<|eom_id|>",
             "<|eot_id|>", "<|python_tag|>"]
    return names + [f"<|reserved_special_token_{2 + i}|>" for i in range(256 - len(names))]


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.expanduser("~/.cache/swift-vllm/llama3-tokenizer")
    os.makedirs(out, exist_ok=True)
    tok = TikTokenConverter(vocab_file=tiktoken_file(), pattern=PATTERN).converted()
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in special_tokens()])
    tok.save(os.path.join(out, "tokenizer.json"))
    config = {"bos_token": "<|begin_of_text|>", "eos_token": "<|end_of_text|>", "model_max_length": 131072}
    with open(os.path.join(out, "tokenizer_config.json"), "w") as f:
        json.dump(config, f)
    print(out, tok.get_vocab_size(with_added_tokens=True))


if __name__ == "__main__":
    main()
