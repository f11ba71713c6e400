"""Hostile model folders, GGUF files and flags against the `vllm` binary.

Each case builds a broken input in a temporary folder from the committed fixtures, runs one
`vllm generate` (or `tokenize`) on it, and requires what the project promises for bad input: a
non-zero exit within the time limit, no Swift trap, and one message naming the file or field and
the problem. VLLM_BIN names the binary (default: .build/debug/vllm). Run as a script to print
each case's outcome instead of asserting.
"""
import json
import os
import shutil
import struct
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STORIES = os.path.join(ROOT, "Models", "stories260K")
GPTQ = os.path.join(ROOT, "Tests", "Fixtures", "quantized", "gptq-int4-actorder")
SHARDED = os.path.join(ROOT, "Tests", "Fixtures", "models", "llama2-sharded")
GGUF = os.path.join(ROOT, "Tests", "Fixtures", "gguf", "tiny-llama-mixed.gguf")
TRAPS = ("Fatal error", "Trace/breakpoint", "Illegal instruction", "Segmentation fault", "Precondition failed")


# Builders: each takes a fresh temporary folder and returns the model path to load.

def copy(source):
    def build(tmp):
        target = os.path.join(tmp, "model")
        shutil.copytree(source, target)
        return target
    return build


def edit_json(name, change, source=STORIES):
    def build(tmp):
        folder = copy(source)(tmp)
        path = os.path.join(folder, name)
        with open(path) as f:
            data = json.load(f)
        change(data)
        with open(path, "w") as f:
            json.dump(data, f)
        return folder
    return build


def config(**fields):
    return edit_json("config.json", lambda c: c.update(fields))


def quant(**fields):
    return edit_json("config.json", lambda c: c["quantization_config"].update(fields), source=GPTQ)


def write_file(name, content, source=STORIES):
    def build(tmp):
        folder = copy(source)(tmp)
        path = os.path.join(folder, name)
        if content is None:
            os.remove(path)
        else:
            with open(path, "wb") as f:
                f.write(content if isinstance(content, bytes) else content.encode())
        return folder
    return build


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (length,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8:8 + length]), data[8 + length:]


def write_safetensors(path, header, body, length=None):
    text = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text) if length is None else length) + text + body)


def safetensors(change, source=STORIES):
    """`change(header, body)` returns the new (header, body[, header length])."""
    def build(tmp):
        folder = copy(source)(tmp)
        path = os.path.join(folder, "model.safetensors")
        write_safetensors(path, *change(*read_safetensors(path)))
        return folder
    return build


def tensor(header, suffix):
    return next(name for name in sorted(header) if name.endswith(suffix))


def drop(suffix):
    def change(header, body):
        del header[tensor(header, suffix)]
        return header, body
    return change


def retag(suffix, **fields):
    def change(header, body):
        header[tensor(header, suffix)].update(fields)
        return header, body
    return change


def gguf(change):
    """`change(bytes)` returns the broken file's bytes."""
    def build(tmp):
        with open(GGUF, "rb") as f:
            data = f.read()
        path = os.path.join(tmp, "model.gguf")
        with open(path, "wb") as f:
            f.write(change(bytearray(data)))
        return path
    return build


def gguf_after(key, change):
    """Changes the bytes right after the first occurrence of `key` (a metadata key or tensor name)."""
    def edit(data):
        at = data.index(key.encode()) + len(key)
        return change(data, at)
    return gguf(edit)


def patch(data, at, raw):
    data[at:at + len(raw)] = raw
    return bytes(data)


def block_count_as_string(data, at):
    """The uint32 value (8 bytes with its type) becomes a 28-byte string (40 bytes): 32 more bytes
    keep the data section's 32-byte alignment, so only the key's type is wrong."""
    assert struct.unpack_from("<I", data, at)[0] == 4, "llama.block_count is a uint32 in the fixture"
    return bytes(data[:at] + struct.pack("<IQ", 8, 28) + b"x" * 28 + data[at + 8:])


def gguf_tensor_info_start(data):
    return data.index(b"token_embd.weight") - 8


# (id, builder, extra flags, fragment the message must contain)
GEN = ["--prompt", "hi", "--max-tokens", "4"]
# The quantized and sharded fixtures have no tokenizer.
IDS = ["--prompt-token-ids", "1,2,3", "--max-tokens", "4"]
CASES = [
    ("config-missing", write_file("config.json", None), GEN, "config.json: file not found"),
    ("config-not-json", write_file("config.json", "{not json"), GEN, "config.json: invalid JSON"),
    ("config-top-array", write_file("config.json", "[1, 2]"), GEN, "the top level is not an object"),
    ("hidden-missing", edit_json("config.json", lambda c: c.pop("hidden_size")), GEN, "'hidden_size': missing"),
    ("hidden-zero", config(hidden_size=0), GEN, "'hidden_size': expected a positive integer"),
    ("hidden-negative", config(hidden_size=-64), GEN, "'hidden_size': expected a positive integer"),
    ("hidden-fraction", config(hidden_size=64.5), GEN, "'hidden_size': expected a positive integer"),
    ("hidden-string", config(hidden_size="64"), GEN, "'hidden_size': expected a positive integer"),
    ("hidden-huge", config(hidden_size=1 << 40), GEN, "'hidden_size': 1099511627776 is larger than"),
    ("layers-huge", config(num_hidden_layers=10 ** 12), GEN, "'num_hidden_layers': 1000000000000 is larger than"),
    ("heads-not-dividing", config(num_attention_heads=5, num_key_value_heads=5), GEN, "has shape"),
    ("heads-odd-head-dim", config(num_attention_heads=7, num_key_value_heads=7), GEN, "'head_dim': 9 is odd"),
    ("kv-heads-not-dividing", config(num_key_value_heads=3), GEN, "'num_key_value_heads': 3 does not divide"),
    ("vocab-smaller", config(vocab_size=100), GEN, "has shape"),
    ("sliding-window-zero", config(sliding_window=0), GEN, "'sliding_window': 0 is not a positive number"),
    ("sliding-window-negative", config(sliding_window=-5), GEN, "'sliding_window': -5 is not a positive number"),
    ("rms-norm-eps-negative", config(rms_norm_eps=-1), GEN, "'rms_norm_eps': -1.0 is not a finite number at least 0"),
    ("architecture-unknown", config(architectures=["GPT2LMHeadModel"]), GEN, "unknown architecture 'GPT2LMHeadModel'"),
    ("architectures-missing", config(architectures=[]), GEN, "'architectures': missing or empty"),
    ("rope-unknown", config(rope_scaling={"rope_type": "yarn", "factor": 2.0}), GEN, "rope type 'yarn' is not supported"),
    ("rope-factor-zero", config(rope_scaling={"rope_type": "linear", "factor": 0}), GEN, "'rope_scaling.factor': 0.0 is not a positive"),
    ("rope-theta-negative", config(rope_theta=-1), GEN, "'rope_theta': -1.0 is not a positive"),
    ("rope-llama3-huge", config(rope_scaling={"rope_type": "llama3", "factor": 8, "low_freq_factor": 1, "high_freq_factor": 4,
                                              "original_max_position_embeddings": 1e300}), GEN,
     "'rope_scaling.original_max_position_embeddings': 1e+300 is not a positive"),
    ("longrope-wrong-count", config(rope_scaling={"rope_type": "longrope", "short_factor": [1.0], "long_factor": [1.0],
                                                  "original_max_position_embeddings": 256}), GEN,
     "'rope_scaling.short_factor': 1 values for a rotary dimension of 8"),
    ("max-positions-huge", config(max_position_embeddings=1 << 31), GEN, "'max_position_embeddings': 2147483648 is larger than 16777216"),
    ("gptq-bits-3", quant(bits=3), IDS, "'quantization_config.bits': 3 is not supported"),
    ("gptq-group-zero", quant(group_size=0), IDS, "'quantization_config.group_size': 0 is not -1"),
    ("gptq-method-unknown", quant(quant_method="hqq"), IDS, "'quantization_config.quant_method': 'hqq' is not supported"),
    ("gptq-lm-head-tied", quant(lm_head=True), IDS, "quantization_config.lm_head"),
    ("gptq-lm-head-missing", edit_json("config.json", lambda c: c.update(tie_word_embeddings=False, quantization_config={
        **c["quantization_config"], "lm_head": True}), source=GPTQ), IDS, "lm_head.qweight"),
    ("gptq-qweight-missing", safetensors(drop("layers.0.self_attn.q_proj.qweight"), source=GPTQ), IDS,
     "'model.layers.0.self_attn.q_proj.qweight' is missing"),
    ("gptq-scales-missing", safetensors(drop("layers.1.mlp.down_proj.scales"), source=GPTQ), IDS,
     "'model.layers.1.mlp.down_proj.scales' is missing"),
    ("gptq-qweight-float", safetensors(retag("layers.0.self_attn.q_proj.qweight", dtype="F32"), source=GPTQ), IDS,
     "model.safetensors: tensor 'model.layers.0.self_attn.q_proj.qweight' has dtype F32, but config.json's quantization_config needs I32 there"),
    ("safetensors-missing", write_file("model.safetensors", None), GEN, "model.safetensors (or model.safetensors.index.json): file not found"),
    ("safetensors-empty", write_file("model.safetensors", b""), GEN, "shorter than the 8-byte header length"),
    ("safetensors-length-past-end", safetensors(lambda h, b: (h, b, 1 << 40)), GEN, "header length 1099511627776 does not fit"),
    ("safetensors-length-past-int", safetensors(lambda h, b: (h, b, (1 << 64) - 1)), GEN, "header length 18446744073709551615"),
    ("safetensors-header-not-json", write_file("model.safetensors", struct.pack("<Q", 4) + b"{{{{"), GEN, "header is not a JSON object"),
    ("safetensors-offsets-past-end", safetensors(lambda h, b: (h, b[:len(b) // 2])), GEN, "(truncated)"),
    ("safetensors-dtype-unknown", safetensors(retag("norm.weight", dtype="Q9")), GEN, "has unsupported dtype Q9"),
    ("safetensors-shape-negative", safetensors(retag("norm.weight", shape=[-8, -8])), GEN, "which is negative or too large"),
    ("safetensors-shape-huge", safetensors(retag("norm.weight", shape=[1 << 40, 1 << 40])), GEN, "which is negative or too large"),
    ("safetensors-wrong-shape", config(intermediate_size=180), GEN, "has shape"),
    ("safetensors-tensor-missing", safetensors(drop("model.norm.weight")), GEN, "tensor 'model.norm.weight' is missing"),
    ("index-shard-missing", write_file("model-00002-of-00003.safetensors", None, source=SHARDED),
     IDS, "model-00002-of-00003.safetensors: file not found"),
    ("tokenizer-missing", write_file("tokenizer.json", None), GEN, "tokenizer"),
    ("tokenizer-not-json", write_file("tokenizer.json", "{"), GEN, "tokenizer.json"),
    ("tokenizer-no-model", edit_json("tokenizer.json", lambda t: t.pop("model")), GEN, "tokenizer.json"),
    ("tokenizer-added-id-huge", edit_json("tokenizer.json", lambda t: t["added_tokens"].append({"id": 10 ** 12, "content": "<x>"})), GEN,
     "'added_tokens[3].id': 1000000000000 is not a token id"),
    ("tokenizer-config-not-json", write_file("tokenizer_config.json", "{"), GEN, "tokenizer_config.json"),
    ("generation-config-not-json", write_file("generation_config.json", "{"), GEN, "generation_config.json"),
    ("generation-config-temperature", edit_json("generation_config.json", lambda g: g.update(temperature=-1)), GEN,
     "generation_config.json: invalid value for 'temperature'"),
    ("config-tie-not-bool", edit_json("config.json", lambda c: c.update(tie_word_embeddings="yes")), GEN,
     "invalid value for 'tie_word_embeddings'"),
    ("gguf-empty", gguf(lambda d: b""), GEN, "truncated"),
    ("gguf-bad-magic", gguf(lambda d: b"GGXF" + bytes(d[4:])), GEN, "not a GGUF file"),
    ("gguf-version-9", gguf(lambda d: patch(d, 4, struct.pack("<I", 9))), GEN, "GGUF version 9 is not supported"),
    ("gguf-cut-header", gguf(lambda d: bytes(d[:12])), GEN, "truncated"),
    ("gguf-cut-metadata", gguf(lambda d: bytes(d[:200])), GEN, "truncated"),
    ("gguf-cut-tensor-infos", gguf(lambda d: bytes(d[:gguf_tensor_info_start(d) + 30])), GEN, "truncated"),
    ("gguf-cut-data", gguf(lambda d: bytes(d[:len(d) - 1000])), GEN, "truncated"),
    ("gguf-string-huge", gguf_after("general.architecture", lambda d, at: patch(d, at + 4, struct.pack("<Q", 1 << 62))), GEN,
     "more than the"),
    ("gguf-block-count-string", gguf_after("llama.block_count", block_count_as_string), GEN, "llama.block_count"),
    ("gguf-array-huge", gguf_after("tokenizer.ggml.tokens", lambda d, at: patch(d, at + 8, struct.pack("<Q", 1 << 60))), GEN,
     "more than the"),
    ("gguf-unknown-id-past-vocab", gguf_after("tokenizer.ggml.unknown_token_id", lambda d, at: patch(d, at + 4, struct.pack("<I", 10 ** 6))),
     GEN, "'tokenizer.ggml.unknown_token_id': 1000000 is not a token id"),
    ("gguf-eos-id-past-vocab", gguf_after("tokenizer.ggml.eos_token_id", lambda d, at: patch(d, at + 4, struct.pack("<I", 10 ** 6))),
     GEN, "'tokenizer.ggml.eos_token_id': 1000000 is not a token id"),
    ("gguf-tensor-type-99", gguf_after("token_embd.weight", lambda d, at: patch(d, at + 4 + 16, struct.pack("<I", 99))), GEN,
     "type 99"),
    ("gguf-tensor-offset-past-end", gguf_after("output_norm.weight", lambda d, at: patch(d, at + 4 + 8 + 4, struct.pack("<Q", 1 << 40))),
     GEN, "past the end"),
]

FLAG_CASES = [
    ("max-tokens-negative", ["--max-tokens=-1"], "'max_tokens': must be at least 1"),
    ("max-tokens-zero", ["--max-tokens", "0"], "max_tokens"),
    ("max-model-len-zero", ["--max-model-len", "0"], "max_model_len"),
    ("max-model-len-negative", ["--max-model-len=-5"], "'max_model_len': must be positive"),
    ("block-size-zero", ["--block-size", "0"], "block_size"),
    ("block-size-12", ["--block-size", "12"], "block_size"),
    ("block-size-huge", ["--block-size", str(1 << 40)], "block_size"),
    ("tensor-parallel-zero", ["--tensor-parallel-size", "0"], "tensor_parallel_size"),
    ("kv-cache-dtype-bogus", ["--kv-cache-dtype", "int3"], "int3"),
    ("quantization-bogus", ["--quantization", "bogus"], "bogus"),
    ("speculative-not-json", ["--speculative-config", "{"], "not a JSON object"),
    ("speculative-zero", ["--speculative-config", '{"num_speculative_tokens": 0}'], "num_speculative_tokens must be in 1...32"),
    ("speculative-1000", ["--speculative-config", '{"num_speculative_tokens": 1000}'], "num_speculative_tokens must be in 1...32"),
    ("speculative-method", ["--speculative-config", '{"method": "medusa", "num_speculative_tokens": 2}'], "method 'medusa' is not supported"),
    ("speculative-draft-missing", ["--speculative-config", '{"model": "/nonexistent/draft", "num_speculative_tokens": 2}'],
     "/nonexistent/draft"),
    ("gpu-memory-2", ["--gpu-memory-utilization", "2"], "--gpu-memory-utilization must be in (0, 1]"),
    ("max-num-seqs-zero", ["--max-num-seqs", "0"], "--max-num-seqs must be positive"),
    ("cpu-kv-space-nan", ["--cpu-kv-cache-space", "nan"], "--cpu-kv-cache-space"),
    ("cpu-kv-space-huge", ["--cpu-kv-cache-space", "1e300"], "--cpu-kv-cache-space"),
    ("cpu-kv-space-negative", ["--cpu-kv-cache-space=-1"], "--cpu-kv-cache-space"),
]


# Other commands on broken folders: (id, builder, command and flags with the model path as {m}, fragment).
COMMAND_CASES = [
    ("serve-config-not-json", write_file("config.json", "{not json"), ["serve", "{m}", "--host", "127.0.0.1", "--port", "39217"], "config.json: invalid JSON"),
    ("serve-gguf-truncated", gguf(lambda d: bytes(d[:len(d) // 2])), ["serve", "{m}", "--host", "127.0.0.1", "--port", "39217"], "(truncated)"),
    ("tokenize-tokenizer-not-json", write_file("tokenizer.json", "{"), ["tokenize", "--model", "{m}"], "tokenizer.json"),
    ("chat-template-config-not-json", write_file("tokenizer_config.json", '{"chat_template": 5'),
     ["chat-template", "--model", "{m}", "--messages", "-"], "cannot read {m}/tokenizer_config.json"),
    ("chat-template-wrong-type", edit_json("tokenizer_config.json", lambda t: t.update(chat_template=5)),
     ["chat-template", "--model", "{m}", "--messages", "-"], "'chat_template': expected a string or a list, found int"),
]


def run(args, timeout=120):
    binary = os.environ.get("VLLM_BIN", os.path.join(ROOT, ".build", "debug", "vllm"))
    try:
        done = subprocess.run([binary, *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                              env={**os.environ, "HF_HUB_OFFLINE": "1"}, input='"hi"\n[{"role": "user", "content": "hi"}]')
        return done.returncode, done.stdout + done.stderr
    except subprocess.TimeoutExpired:
        return None, "timed out"


def check(returncode, output, fragment):
    assert returncode is not None, "hung"
    assert not any(trap in output for trap in TRAPS), output[-2000:]
    assert returncode != 0 and returncode < 128, f"exit {returncode}: {output[-2000:]}"
    assert fragment in output, output[-2000:]


@pytest.mark.parametrize("name,build,flags,fragment", CASES, ids=[c[0] for c in CASES])
def test_hostile_model(tmp_path, name, build, flags, fragment):
    check(*run(["generate", "--model", build(str(tmp_path)), *flags]), fragment)


@pytest.mark.parametrize("name,flags,fragment", FLAG_CASES, ids=[c[0] for c in FLAG_CASES])
def test_hostile_flag(name, flags, fragment):
    check(*run(["generate", "--model", STORIES, "--prompt", "hi", *flags]), fragment)


@pytest.mark.parametrize("name,build,command,fragment", COMMAND_CASES, ids=[c[0] for c in COMMAND_CASES])
def test_hostile_command(tmp_path, name, build, command, fragment):
    model = build(str(tmp_path))
    check(*run([part.replace("{m}", model) for part in command]), fragment.replace("{m}", model))


if __name__ == "__main__":
    import tempfile
    only = sys.argv[1:]
    for name, build, flags, fragment in CASES:
        if only and name not in only:
            continue
        with tempfile.TemporaryDirectory() as tmp:
            code, output = run(["generate", "--model", build(tmp), *flags])
        ok = code not in (None, 0) and code < 128 and fragment in output and not any(t in output for t in TRAPS)
        print(f"{'ok ' if ok else 'BAD'} {name}: exit {code}: {output.strip().splitlines()[-1][:300] if output.strip() else ''}")
    for name, build, command, fragment in COMMAND_CASES:
        if only and name not in only:
            continue
        with tempfile.TemporaryDirectory() as tmp:
            model = build(tmp)
            code, output = run([part.replace("{m}", model) for part in command])
            fragment = fragment.replace("{m}", model)
        ok = code not in (None, 0) and code < 128 and fragment in output and not any(t in output for t in TRAPS)
        print(f"{'ok ' if ok else 'BAD'} {name}: exit {code}: {output.strip().splitlines()[-1][:300] if output.strip() else ''}")
    for name, flags, fragment in FLAG_CASES:
        if only and name not in only:
            continue
        code, output = run(["generate", "--model", STORIES, "--prompt", "hi", *flags])
        ok = code not in (None, 0) and code < 128 and fragment in output and not any(t in output for t in TRAPS)
        print(f"{'ok ' if ok else 'BAD'} {name}: exit {code}: {output.strip().splitlines()[-1][:300] if output.strip() else ''}")
