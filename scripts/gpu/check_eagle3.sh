#!/usr/bin/env bash
# EAGLE-3 speculative decoding on the GPU, through the same binary as every other check
# (.gpu/vllm.xz from scripts/gpu/build_binary.sh). Writes $OUT/eagle3.txt.
#  1. The built-in model with the committed random head (Tests/Fixtures/speculative/eagle3-random-512):
#     greedy token ids with eagle3 against plain decoding on CUDA in float32 and bfloat16, also with
#     chunked prefill (a 16-token budget) and with 20 KV blocks (preemption); and the drafts' acceptance
#     counts on CUDA float32 against the CPU's (equal counts: the same drafts, so the same head
#     forward and hidden states).
#  2. The Llama-3.1-8B shape (4 layers, random bf16) with a random head at its shapes (32000 draft
#     tokens, scripts/make_eagle3_fixture.py --target-config): greedy ids against plain decoding,
#     and batch-1 decode speed with and without eagle3 (the random head is rarely accepted, so this
#     is the cost of drafting, not a speed-up).
# EAGLE3_8B_ONLY=1 skips part 1; EAGLE3_8B_FLAGS adds flags to part 2's two generate runs
# (`--batch-invariant`: then the verify pass must give plain decoding's tokens bitwise).
set -u
. scripts/gpu/check_setup.sh
check_setup /tmp/eagle3work eagle3.txt
export VLLM_CACHE_ROOT=$W/cache
HEAD=Tests/Fixtures/speculative/eagle3-random-512
SPEC="{\"method\":\"eagle3\",\"model\":\"$HEAD\",\"num_speculative_tokens\":4}"
python3 -c "
import random, json
random.seed(7)
for n in [5, 17, 33, 64, 100, 3, 250, 40, 9, 71]:
    print(json.dumps({'prompt_token_ids': [1] + [random.randrange(3, 512) for _ in range(n)]}))" > $W/prompts.jsonl
run() {  # [LEN=max-model-len] run NAME DEVICE DTYPE EXTRA...
    local name=$1 device=$2 dtype=$3; shift 3
    timeout 120 "$BIN" generate --device $device --dtype $dtype --model Models/stories260K --max-model-len ${LEN:-512} \
        --prompts-file $W/prompts.jsonl --max-tokens 48 --temperature 0 --ignore-eos --json "$@" > $W/$name.jsonl 2> $W/$name.err
    echo "== $name rc=$?"; tail -n 2 $W/$name.err
}
compare() {  # compare REFERENCE NAME...
    python3 scripts/gpu/same_tokens.py "$W" "$@"
}
if [ "${EAGLE3_8B_ONLY:-0}" != 1 ]; then
for dtype in float32 bfloat16; do
    run plain_$dtype cuda $dtype
    run eagle3_$dtype cuda $dtype --speculative-config "$SPEC"
    run eagle3_chunked_$dtype cuda $dtype --speculative-config "$SPEC" --max-num-batched-tokens 16
    LEN=320 run eagle3_preempt_$dtype cuda $dtype --speculative-config "$SPEC" --num-gpu-blocks-override 20
done
# The runs above replay CUDA graphs for the target's verifying steps and the head's passes; the
# eager run tells a recording fault from a kernel one.
run eagle3_eager_float32 cuda float32 --speculative-config "$SPEC" --enforce-eager
compare plain_float32 eagle3_float32 eagle3_chunked_float32 eagle3_preempt_float32 eagle3_eager_float32
compare plain_bfloat16 eagle3_bfloat16 eagle3_chunked_bfloat16 eagle3_preempt_bfloat16
for device in cpu cuda; do
    echo "== acceptance on $device float32 (equal counts expected)"
    timeout 150 "$BIN" bench forward --device $device --dtype float32 --model Models/stories260K --max-model-len 512 \
        --batch-size 4 --input-len 32 --output-len 64 --warmup 0 --iterations 1 --speculative-config "$SPEC" 2>&1 | grep -E "SpecDecoding|decode"
done
fi

L8=bench/gpu/configs/llama3_1_8b
python3 scripts/gpu/make_models.py --config $L8/config.json --out $W/llama8b --layers 4 --seed 0
python3 scripts/make_eagle3_fixture.py --target-config $W/llama8b/config.json --out $W/head8b
SPEC8="{\"method\":\"eagle3\",\"model\":\"$W/head8b\",\"num_speculative_tokens\":3}"
python3 -c "
import random, json
random.seed(8)
for n in [5, 17, 33, 64, 100, 3, 250, 40]:
    print(json.dumps({'prompt_token_ids': [random.randrange(3, 128000) for _ in range(n)]}))" > $W/prompts8b.jsonl
for spec in plain eagle3; do
    extra=""; [ $spec = eagle3 ] && extra="--speculative-config $SPEC8"
    timeout 200 "$BIN" generate --device cuda --model $W/llama8b --max-model-len 1024 --prompts-file $W/prompts8b.jsonl \
        --max-tokens 32 --temperature 0 --ignore-eos --json ${EAGLE3_8B_FLAGS:-} $extra > $W/${spec}_8b.jsonl 2> $W/${spec}_8b.err
    echo "== ${spec}_8b rc=$?"; tail -n 2 $W/${spec}_8b.err
done
compare plain_8b eagle3_8b
if [ -z "${EAGLE3_8B_FLAGS:-}" ]; then
for spec in none eagle3; do
    extra=""; [ $spec = eagle3 ] && extra="--speculative-config $SPEC8"
    echo "== bench forward 8B shape, batch 1, spec=$spec"
    timeout 200 "$BIN" bench forward --device cuda --model $W/llama8b --max-model-len 1024 --batch-size 1 --input-len 32 \
        --output-len 128 --warmup 1 --iterations 3 $extra 2>&1 | tail -n 2
done
fi
