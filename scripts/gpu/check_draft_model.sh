#!/usr/bin/env bash
# draft_model speculative decoding on the GPU, through the same binary as every other check
# (.gpu/vllm.xz from scripts/gpu/build_binary.sh): a 4-layer Qwen3-0.6B-shape target with random
# bf16 weights, drafted by itself and by a 1-layer model of another seed; greedy token ids against
# plain decoding, acceptance, and batch-1 decode speed with and without the self-draft.
# Writes $OUT/draft_model.txt.
set -u
. scripts/gpu/check_setup.sh
check_setup /tmp/draftwork draft_model.txt
Q06=bench/gpu/configs/qwen3_0_6b
export VLLM_CACHE_ROOT=$W/cache
python3 scripts/gpu/make_models.py --config $Q06/config.json --out $W/target --layers 4 --seed 0
python3 scripts/gpu/make_models.py --config $Q06/config.json --out $W/draft1 --layers 1 --seed 1
python3 -c "
import random, json
random.seed(7)
for n in [5, 17, 33, 64, 100, 3, 250, 40]:
    print(json.dumps({'prompt_token_ids': [random.randrange(3, 151000) for _ in range(n)]}))" > $W/prompts.jsonl
run() {  # run NAME EXTRA...
    local name=$1; shift
    timeout 120 "$BIN" generate --device cuda --model $W/target --max-model-len 1024 --prompts-file $W/prompts.jsonl \
        --max-tokens 64 --temperature 0 --ignore-eos --json "$@" > $W/$name.jsonl 2> $W/$name.err
    echo "== $name rc=$?"; tail -n 3 $W/$name.err
}
run plain
run self --speculative-config "{\"method\":\"draft_model\",\"model\":\"$W/target\",\"num_speculative_tokens\":4}"
run other --speculative-config "{\"model\":\"$W/draft1\",\"num_speculative_tokens\":3}"
run self_eager --enforce-eager --speculative-config "{\"model\":\"$W/target\",\"num_speculative_tokens\":4}"
python3 scripts/gpu/same_tokens.py "$W" plain self other self_eager
for spec in none self; do
    extra=""; [ $spec = self ] && extra="--speculative-config {\"model\":\"$W/target\",\"num_speculative_tokens\":4}"
    echo "== bench forward spec=$spec"
    timeout 150 "$BIN" bench forward --device cuda --model $W/target --max-model-len 1024 --batch-size 1 --input-len 32 \
        --output-len 128 --warmup 1 --iterations 3 --json $extra 2>&1 | tail -n 2
done
