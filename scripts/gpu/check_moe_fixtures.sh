#!/usr/bin/env bash
# The mixture-of-experts checks on the GPU machine, from the repository root, with the static
# binary as .gpu/vllm.xz (scripts/gpu/build_binary.sh): each MoE fixture's prompt on CUDA against
# the fixture's own transformers reference (float32 CPU logits, 32 greedy tokens): logits in
# float32 (one prefill, and chunked), greedy tokens in float32 and bfloat16, graphs and eager. (The MoE kernels' float64 checks are part of
# `vllm-dev kernel-check`, which the `checks` and `quant` modes of run_gpu_checks.sh run.)
# Writes $OUT/moe_log.txt and one JSON line per comparison to $OUT/moe_compare.jsonl.
set -u
. scripts/gpu/check_setup.sh
check_setup /tmp/moework moe_log.txt
for name in mixtral qwen2moe qwen3moe qwen3moe-bf16; do
    m=Tests/Fixtures/models/$name
    python3 scripts/gpu/fixture_reference.py "$m" "$W/$name"
    vocab=$(python3 -c "import json;print(json.load(open('$m/config.json'))['vocab_size'])")
    "$BIN" logits --device cuda --dtype float32 --model $m --prompts-file $W/$name.prompts.jsonl --out $W/$name.f32.bin --max-model-len 256
    "$BIN" logits --device cuda --dtype float32 --model $m --prompts-file $W/$name.prompts.jsonl --out $W/$name.f32c.bin --max-model-len 256 --chunked
    python3 scripts/gpu/compare.py --name "$name float32" --vocab $vocab --ours $W/$name.f32.bin --ref $W/$name.logits.bin | tee -a "$OUT/moe_compare.jsonl"
    python3 scripts/gpu/compare.py --name "$name float32 chunked" --vocab $vocab --ours $W/$name.f32c.bin --ref $W/$name.logits.bin | tee -a "$OUT/moe_compare.jsonl"
    for dt in float32 bfloat16; do
        for eager in "" --enforce-eager; do
            "$BIN" generate --device cuda --dtype $dt --model $m --prompts-file $W/$name.prompts.jsonl --max-tokens 32 --temperature 0 \
                --ignore-eos --json --num-gpu-blocks-override 64 --max-model-len 256 $eager > $W/$name.$dt$eager.out
            python3 scripts/gpu/compare.py --name "$name $dt greedy $eager" --vocab $vocab --ours-greedy $W/$name.$dt$eager.out \
                --ref-greedy $W/$name.ref_greedy.json | tee -a "$OUT/moe_compare.jsonl"
        done
    done
done
