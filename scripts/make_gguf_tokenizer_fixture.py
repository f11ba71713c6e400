#!/usr/bin/env python3
"""Writes Tests/Fixtures/gguf/tokenizer-llama.gguf, a GGUF file with a SentencePiece-style ("llama")
tokenizer and no tensors, and Tests/Fixtures/gguf/tokenizer-llama.json, the ids that transformers'
tokenizer loaded from that file gives for a few texts.

The vocabulary is the built-in model's (Models/stories260K, llama2.c's 512-token SentencePiece
BPE, MIT licence): tokens by id, token types as llama.cpp's converter sets them (unknown, control,
byte, normal), and scores -id (SentencePiece BPE lists pieces best merge first, which is what
the scores encode). Needs: pip install gguf transformers tokenizers (tested: gguf 0.19.0,
transformers 5.25.0).
"""
import json
import os
import re

import gguf
from transformers import AutoTokenizer

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT = os.path.join(ROOT, "Tests", "Fixtures", "gguf")
TEXTS = [
    "Once upon a time, there was a little girl.",
    "  two leading spaces and trailing  ",
    "Lily said: \"Hi!\"\nTom\tsmiled.",
    "unknown ü and 日本 bytes",
    "<s>text</s>",
    "",
]

with open(os.path.join(ROOT, "Models", "stories260K", "tokenizer.json"), encoding="utf-8") as f:
    source = json.load(f)
vocab = source["model"]["vocab"]
tokens = [None] * len(vocab)
for token, index in vocab.items():
    tokens[index] = token
config = json.load(open(os.path.join(ROOT, "Models", "stories260K", "config.json")))


def token_type(token):
    if token == "<unk>":
        return gguf.TokenType.UNKNOWN
    if token in ("<s>", "</s>"):
        return gguf.TokenType.CONTROL
    if re.fullmatch(r"<0x[0-9A-F]{2}>", token):
        return gguf.TokenType.BYTE
    return gguf.TokenType.NORMAL


path = os.path.join(OUT, "tokenizer-llama.gguf")
writer = gguf.GGUFWriter(path, arch="llama")
writer.add_block_count(config["num_hidden_layers"])
writer.add_context_length(config["max_position_embeddings"])
writer.add_embedding_length(config["hidden_size"])
writer.add_feed_forward_length(config["intermediate_size"])
writer.add_head_count(config["num_attention_heads"])
writer.add_head_count_kv(config["num_key_value_heads"])
writer.add_layer_norm_rms_eps(config["rms_norm_eps"])
writer.add_tokenizer_model("llama")
writer.add_token_list(tokens)
writer.add_token_scores([float(-i) for i in range(len(tokens))])
writer.add_token_types([token_type(t) for t in tokens])
writer.add_bos_token_id(1)
writer.add_eos_token_id(2)
writer.add_unk_token_id(0)
writer.add_add_bos_token(True)
writer.add_add_space_prefix(True)
writer.write_header_to_file()
writer.write_kv_data_to_file()
writer.write_tensors_to_file()
writer.close()

tokenizer = AutoTokenizer.from_pretrained(OUT, gguf_file="tokenizer-llama.gguf")
reference = [{"text": t, "ids": tokenizer(t)["input_ids"], "decoded": tokenizer.decode(tokenizer(t)["input_ids"], skip_special_tokens=True)}
             for t in TEXTS]
with open(os.path.join(OUT, "tokenizer-llama.json"), "w") as f:
    json.dump(reference, f, ensure_ascii=False, indent=1)
for r in reference:
    print(r)
