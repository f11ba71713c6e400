#!/usr/bin/env bash
# The mixture-of-experts checks on the GPU machine, from the repository root, with the static
# binary as .gpu/vllm.xz (scripts/gpu/build_binary.sh): each MoE fixture's prompt on CUDA against
# the fixture's own transformers reference (float32 CPU logits, 32 greedy tokens): logits in
# float32 (one prefill, and chunked), greedy tokens in float32 and bfloat16, graphs and eager. (The MoE kernels' float64 checks are part of
# `vllm-dev kernel-check`, which the `checks` and `quant` modes of run_gpu_checks.sh run.)
# Writes $OUT/moe_log.txt and one JSON line per comparison to $OUT/moe_compare.jsonl.
set -u
OUT=${OUT:-/tmp/gpu-out}
W=/tmp/moework
mkdir -p "$OUT" "$W"
exec > >(tee -a "$OUT/moe_log.txt") 2>&1
BIN=$W/vllm
xz -dc .gpu/vllm.xz > "$BIN" && chmod +x "$BIN" || { echo "no binary"; exit 1; }
for name in mixtral qwen2moe qwen3moe qwen3moe-bf16; do
    m=Tests/Fixtures/models/$name
    python3 - "$m" "$W/$name" <<'PY'
import json, struct, sys
m, out = sys.argv[1], sys.argv[2]
ref = json.load(open(m + "/reference.json"))
open(out + ".prompts.jsonl", "w").write(json.dumps({"prompt_token_ids": ref["prompt_ids"]}) + "\n")
json.dump([ref["greedy_ids"]], open(out + ".ref_greedy.json", "w"))
raw = open(m + "/reference_logits.safetensors", "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
info = json.loads(raw[8:8 + n])["logits"]
begin, end = info["data_offsets"]
open(out + ".ref.bin", "wb").write(raw[8 + n + begin:8 + n + end])
PY
    vocab=$(python3 -c "import json;print(json.load(open('$m/config.json'))['vocab_size'])")
    "$BIN" logits --device cuda --dtype float32 --model $m --prompts-file $W/$name.prompts.jsonl --out $W/$name.f32.bin --max-model-len 256
    "$BIN" logits --device cuda --dtype float32 --model $m --prompts-file $W/$name.prompts.jsonl --out $W/$name.f32c.bin --max-model-len 256 --chunked
    python3 scripts/gpu/compare.py --name "$name float32" --vocab $vocab --ours $W/$name.f32.bin --ref $W/$name.ref.bin | tee -a "$OUT/moe_compare.jsonl"
    python3 scripts/gpu/compare.py --name "$name float32 chunked" --vocab $vocab --ours $W/$name.f32c.bin --ref $W/$name.ref.bin | tee -a "$OUT/moe_compare.jsonl"
    for dt in float32 bfloat16; do
        for eager in "" --enforce-eager; do
            "$BIN" generate --device cuda --dtype $dt --model $m --prompts-file $W/$name.prompts.jsonl --max-tokens 32 --temperature 0 \
                --ignore-eos --json --num-gpu-blocks-override 64 --max-model-len 256 $eager > $W/$name.$dt$eager.out
            python3 scripts/gpu/compare.py --name "$name $dt greedy $eager" --vocab $vocab --ours-greedy $W/$name.$dt$eager.out \
                --ref-greedy $W/$name.ref_greedy.json | tee -a "$OUT/moe_compare.jsonl"
        done
    done
done
