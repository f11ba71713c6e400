"""A model fixture's reference as files for `vllm` and compare.py: usage `fixture_reference.py
MODEL_DIR PREFIX` writes PREFIX.prompts.jsonl (its prompt), PREFIX.ref_greedy.json (its greedy
tokens) and PREFIX.KEY.bin for each tensor of reference_logits.safetensors (`logits`, and Phi-3's
`short_logits` of its first prompt tokens, whose prompt goes to PREFIX.short.prompts.jsonl).
"""
import json
import struct
import sys

m, out = sys.argv[1], sys.argv[2]
ref = json.load(open(m + "/reference.json"))
open(out + ".prompts.jsonl", "w").write(json.dumps({"prompt_token_ids": ref["prompt_ids"]}) + "\n")
json.dump([ref["greedy_ids"]], open(out + ".ref_greedy.json", "w"))
raw = open(m + "/reference_logits.safetensors", "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
for key, info in json.loads(raw[8:8 + n]).items():
    if key == "__metadata__":
        continue
    begin, end = info["data_offsets"]
    open(f"{out}.{key}.bin", "wb").write(raw[8 + n + begin:8 + n + end])
    if key == "short_logits":
        ids = ref["prompt_ids"][:info["shape"][0]]
        open(out + ".short.prompts.jsonl", "w").write(json.dumps({"prompt_token_ids": ids}) + "\n")
