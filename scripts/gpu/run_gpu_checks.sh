#!/usr/bin/env bash
# The GPU checks and benchmarks, run on the device machine from the repository root:
# `scripts/gpu/run_gpu_checks.sh MODE...`, one or more of
#   kernelcheck  `vllm-dev kernel-check` against float64 in every dtype only (a kernel change's first check)
#   checks     `vllm-dev kernel-check` against float64 in every dtype, then every fixture model and
#              two real-shape models against transformers on the same GPU (logits, greedy tokens)
#   speed      the issue-6 workloads (8B batch-1 latency, 1000 x 1024/128 throughput, the
#              Qwen3-0.6B request file) for this binary and the previous one (.gpu/vllm-base.xz)
#              alternating in the same run, with the machine's limits and transformers' batch 1
#   spec       batch-1 n-gram speculative decoding against plain decoding (self-repeating prompts, remade 3 and 6 times, random ones)
#   specprofile  device time per operation of that batch-1 run, plain and speculating (where a verifying step's time goes),
#              then timed on prompts closer to repeating themselves, with the verifying steps' kernels each way
#   startup    `vllm serve` of a real 8B folder to its first answer, cold and warm kernel cache
#   baselines  transformers' continuous batching on the same request files as ours
#   quickab    this binary against .gpu/vllm-base.xz, one round, throughput first (8B 1000 x 1024/128, then batch 1)
#   compare    the issue-6 workloads (8B latency twice, 8B throughput, the Qwen3-0.6B file) for this
#              binary and the previous one, without transformers (the structure check of a refactor)
#   quant      kernel checks (each dtype's include the quantized formats) and the quantized fixtures
#              against transformers on their dequantized weights
#   quantlatency  the 8B shape's batch-1 latency in bf16, FP8 (online, per channel), GPTQ int4 and GPTQ int4 with the LM head quantized too
#              (group 128), both int4 also with --quantized-activations int8, beside the previous binary's bf16
#   quantspeed the 8B shape's throughput (1000 x 1024/128) in bf16, FP8 and int4, with the limits
#   moespeed   the Qwen3-30B-A3B shape: batch-1 decode against the floor of the bytes one token reads,
#              1000 x 1024/128 throughput as a share of the matmul rate, transformers beside both
#              (fills about 9.5 minutes: run it alone in a call)
#   gemmaspeed the Gemma-2-9B shape's batch-1 decode against its bandwidth floor, transformers beside it
#   families   kernel checks in every dtype, then each Gemma/Phi-3/Qwen3/BERT fixture against its committed
#              transformers outputs (float32 logits and greedy tokens, bfloat16 greedy; BERT embeddings
#              by cosine through `vllm serve`); also writes $OUT/families_summary.json
#   gguf       GGUF blocks on CUDA: the GGUF fixture model against the CPU backend (float32, bf16; and
#              --quantized-activations int8 against float activations), and the 8B shape in llama.cpp's
#              Q4_K_M layout (dummy blocks): batch-1 decode against its bandwidth floor, float and int8 activations
#              (int8 also with .gpu/vllm-base.xz where carried)
#   ggufspeed  the 8B shape's throughput (1000 x 1024/128) in Q4_K_M beside bf16
#   qgemv      the quantized matrix-vector kernels: bf16 kernel checks with their timings (QGEMV_BUDGETS:
#              other load budgets to try), the 8B's batch-1 latency in bf16/FP8/int4/Q4_K_M, profiles
#   structured `vllm serve` on the 8B shape (dummy weights, the Llama-3 tokenizer carried as
#              .gpu/llama3-tokenizer.json.xz): 256 concurrent requests with a JSON schema against the
#              same requests plain, output tokens/s and TTFT ratios (scripts/gpu/structured_serve.py)
#   kvfp8      the FP8 KV cache: kernel checks in every dtype, then the fixture models greedy with
#              --kv-cache-dtype fp8 on CUDA float32 against the CPU's fp8 cache (and CUDA graphs vs eager);
#              kvfp8speed: the 8B shape with auto vs fp8 KV: blocks at start, batch-1 ms/token, 1000 x 1024/128
#              (KVFP8_LONG=auto|fp8: instead, 1000 x 3072/512 with that cache, one call each)
#   moegroup   the MoE kernels: bf16 and f32 kernel checks (moe_group's arrays exactly), the MoE fixtures, one profile
#   det        batch-invariant mode (--batch-invariant): on the 8B shape (2 layers) and the llama3/qwen3 bf16
#              fixtures, 64 prompts alone, together, 4 at a time, budget 7 and 12 KV blocks (preemption),
#              greedy and seeded: token ids bitwise the same in that mode, default mode beside it ($OUT/det_summary.json),
#              after `vllm-dev batch-invariance` (one token's products and attention in steps of other shapes, $OUT/det_ops.json);
#              detspeed: the 8B shape's 1000 x 1024/128 throughput and batch-1 latency, default vs VLLM_BATCH_INVARIANT=1
#   det8b      the short det: `vllm-dev batch-invariance` in bf16 (also with VLLM_CUDA_STAGING_WAIT=0), then batch_invariance.py on the 8B shape (2 layers) only
#   eagle3     EAGLE-3 speculative decoding (scripts/gpu/check_eagle3.sh): greedy ids against plain decoding, acceptance CUDA vs CPU, 8B-shape cost
#   carveout   the 8B shape's batch-1 decode (bf16, GPTQ int4) with the driver's shared-memory carveouts and with
#              VLLM_CUDA_SHARED_CARVEOUT=100 for every kernel, alternating, two rounds (docs/cuda.md says why)
#   sourceab   the embedded kernels against the joined kernel source .gpu/ab_source.cu.xz (another version of
#              some kernel files, VLLM_CUDA_KERNEL_SOURCE; same launches; made by scripts/gpu/make_ab_source.sh
#              REV FILE...): 8B batch-1 latency in bf16 and GPTQ
#              int4 (ROUNDS, default two, alternating), then 8B throughput (1000 x 1024/128) once each
#              (SOURCEAB_THROUGHPUT=0 leaves it out)
#   ablate     the 8B shape's batch-1 decode (bf16, GPTQ int4) with one kind of kernel left out at a time
#              (VLLM_CUDA_SKIP_KERNELS; results wrong, timing only): each kind's share of a recorded step,
#              which ncu, timing kernels one by one, overstates for small kernels (ABLATE: the kinds; leaving out
#              decode_attention crashes, see attnablate; ABLATE_MODEL: other config folders, bf16 only;
#              ABLATE_LAYERS: those cut to that many layers; ABLATE_DEFINES: kernel-source defines for every
#              run, e.g. MOE_ROUTE_FIXED=1 for MoE shapes)
#   attnablate the 8B shape's batch-1 decode (bf16) with the embedded kernels, with decode_attention's work
#              taken out (.gpu/ablate_source.cu.xz from scripts/gpu/make_ablate_source.py), and with that and
#              attention_combine skipped, two rounds: decode attention's and the combine's share of a recorded step
#              (ABLATE_MODEL and ABLATE_LAYERS as for ablate; ATTN_ABLATE_ROUNDS: rounds)
#   latencyab  batch-1 latency of LATENCY_MODELS (cut to LATENCY_LAYERS layers where set), the previous build, this
#              one and LATENCY_VARIANTS (kernel-source defines, or VLLM_* environment variables), alternating;
#              LATENCY_FLAGS: flags for every run (e.g. --quantization fp8); LATENCY_KERNEL_CHECK=1 (or a
#              |-separated list of variants): each (those) define variant's bf16 kernel-check before its first run,
#              with the variant's VLLM_* variables
#   attnvariants  decode_attention variants through kernel-source defines (ATTN_VARIANTS, |-separated lists
#              of comma-separated NAME=VALUE; default: embedded, DA_UNSPLIT_LANES=4 and =8, the lanes a key
#              of the large-batch kernel): each one's bf16 kernel-check, 8B throughput (1000 x 1024/128) and
#              batch-1 latency; any other kernel-source define too, e.g. ATTN_VARIANTS="embedded|FP8_ROW_VECTORS=1"
#              VARIANT_FLAGS="--quantization fp8" (flags added to the throughput and latency runs);
#              VARIANT_THROUGHPUT=0 leaves the throughput run out (batch-1 defines such as GEMV_DEPTH=16)
#   gemvbalance  VLLM_CUDA_GEMV_BALANCE=1 (matrix-vector blocks of 4 warps where they load the SMs more
#              evenly: 3584-row products) against the default, alternating, two rounds: the Gemma-2-9B shape's
#              and the 8B shape's batch-1 latency (the 8B takes none: a control)
#   profilespeed  device time per operation of the 8B throughput workload (200 prompts) in bf16 and FP8,
#              and of the batch-1 decode of each PROFILE_LATENCY_MODELS config folder
#   fp8accum   the 8B FP8 throughput with cuBLASLt's default and fast FP8 accumulation, bf16 beside
#              (FP8_SCALING=outer or after: the W8A8 kernel-check and the FP8 runs with the scales in or after the product)
#   decodemma  decode_attention on the tensor cores for the FP8 cache and long splits: bf16 kernel-check,
#              8B throughput with FP8 weights + FP8 cache (embedded, and DA_MMA 0), bf16 and FP8 weights
#              beside, the limits; then ROTARY_VECTORS 1: bf16 throughput and kernel-check
#   moefuse    the decode-step fusions: MoE fixtures, the limits, Qwen3-30B-A3B and Qwen3-0.6B batch-1 latency
#              against the previous build (.gpu/vllm-base.xz), ROUNDS times (default 2); with `families`
#              (FAMILY_FIXTURES: fixture names; FAMILY_KERNEL_CHECK: dtypes) the kernel checks and the q/k-norm fixtures
#   moeroute   the MoE decode kernels: bf16 kernel-check with the embedded kernels, then MOE_ROUTE_SET_TIES=0
#              (the serial tie steps at every tie, the rule before 2026-12-06): kernel-check, MoE fixtures; the
#              limits, and the Qwen3-30B-A3B batch-1 latency of the previous build (.gpu/vllm-base.xz), the
#              embedded kernels and MOE_ROUTE_SET_TIES=0, ROUNDS times (default 1)
#   ncu        Nsight Compute's counters of the kernels of a batch-1 decode step (8B shape, eager, bf16 and
#              GPTQ int4 weights): time, DRAM and SM throughput, occupancy, registers, cycles per issued instruction
#              and idle schedulers (scripts/gpu/ncu_table.py), to tell kernels bound by memory from those bound by issue or latency
# (`checks speed spec` is the whole verification of a change; each mode fits one 10-minute call
# except that one, which takes about two). Needs .gpu/vllm.xz and .gpu/vllm-dev.xz (built here with
# `scripts/gpu/build_binary.sh`), python3 with torch + transformers.
# Writes $OUT/log.txt, $OUT/summary.json and $OUT/results.tar.gz (every raw file).
set -u
MODES=${*:-checks}
. scripts/gpu/check_setup.sh
check_setup /tmp/gpuwork log.txt
R=$W/res
mkdir -p "$R"
export PYTHONUNBUFFERED=1
has_mode() { [[ " $MODES " == *" $1 "* ]]; }
DEV=$W/vllm-dev
# Only the checks need vllm-dev; a call that runs benchmarks alone may leave it out of its carry.
if has_mode checks || has_mode kernelcheck || [ "${LATENCY_KERNEL_CHECK:-0}" != 0 ] || has_mode quant || has_mode qgemv || has_mode attnvariants || has_mode moeroute || has_mode fp8accum || has_mode decodemma; then
    xz -dc .gpu/vllm-dev.xz > "$DEV" && chmod +x "$DEV" || { echo "no vllm-dev binary"; exit 1; }
fi
G=scripts/gpu
L8=bench/gpu/configs/llama3_1_8b
Q06=bench/gpu/configs/qwen3_0_6b

step() {  # step NAME TIMEOUT CMD... ; stdout of CMD goes to $R/NAME.out
    local name=$1 limit=$2; shift 2
    local s=$(date +%s%N)
    echo "== $name"
    timeout "$limit" "$@" > "$R/$name.out" 2> "$R/$name.err"
    local rc=$?
    echo "== $name rc=$rc $(( ($(date +%s%N) - s) / 1000000 )) ms"
    tail -c 1500 "$R/$name.out"; tail -c 1500 "$R/$name.err"
    return 0
}

# The issue's workloads as one step each. NAME and TIMEOUT as for `step`; EXTRA: flags after the
# subcommand (may be empty); then the command that runs vllm (the binary, or `env VAR=... BIN`).
latency_1x32x128() {  # latency_1x32x128 NAME TIMEOUT MODEL EXTRA CMD...: a config folder's shape, batch 1, 32 in, 128 out
    local name=$1 limit=$2 model=$3 extra=$4; shift 4
    step $name $limit "$@" bench forward --device cuda --load-format dummy --model $model \
        --max-model-len 2048 --batch-size 1 --input-len 32 --output-len 128 --warmup 1 --iterations 3 --json $extra
}
ngram() {  # ngram K: the speculative config of the batch-1 n-gram runs, K tokens drafted
    echo "{\"method\":\"ngram\",\"num_speculative_tokens\":$1,\"prompt_lookup_max\":4,\"prompt_lookup_min\":2}"
}
latency_8b() {  # latency_8b NAME TIMEOUT EXTRA CMD...: Llama-3.1-8B shape, batch 1, 32 in, 128 out
    local name=$1 limit=$2 extra=$3; shift 3
    latency_1x32x128 $name $limit bench/gpu/configs/llama3_1_8b "$extra" "$@"
}
throughput_8b() {  # throughput_8b NAME TIMEOUT PROMPTS CMD...: vLLM's random dataset, 1024 in, 128 out
    local name=$1 limit=$2 prompts=$3; shift 3
    step $name $limit "$@" bench throughput --device cuda --load-format dummy --model bench/gpu/configs/llama3_1_8b \
        --max-model-len 2048 --input-len 1024 --output-len 128 --num-prompts $prompts --max-num-batched-tokens 8192 \
        --max-num-seqs 256 --output-json $R/$name.json ${THROUGHPUT_FLAGS:-}
}
qwen06_dataset() {  # the small-model request file: 256 requests, input and output uniform in 100..1024
    local qvocab=$(python3 -c "import json;print(json.load(open('bench/gpu/configs/qwen3_0_6b/config.json'))['vocab_size'])")
    python3 $G/make_dataset.py --num-prompts 256 --input-min 100 --input-max 1024 --output-min 100 --output-max 1024 \
        --vocab $qvocab --seed 0 --out $W/dataset_qwen06.jsonl
}
unpack_base() {  # the previous binary (.gpu/vllm-base.xz) as $BASE_BIN, for speed beside it; BASE=0 skips it
    BASE_BIN=$W/vllm-base
    [ "${BASE:-1}" = 1 ] && [ -f .gpu/vllm-base.xz ] && xz -dc .gpu/vllm-base.xz > $BASE_BIN && chmod +x $BASE_BIN
    return 0
}
variant_binary() {  # variant_binary new|base: this binary, or the previous one ($BASE_BIN; fails where none was unpacked)
    if [ "$1" = new ]; then echo "$BIN"; else [ -x "$BASE_BIN" ] && echo "$BASE_BIN"; fi
}
defined_source() {  # defined_source NAME=VALUE...: the joined kernel source with those defines in front (for VLLM_CUDA_KERNEL_SOURCE)
    local d
    for d in "$@"; do echo "#define ${d%%=*} ${d#*=}"; done
    python3 $G/kernel_source.py
}
issue6_workloads() {  # 8B batch-1 latency (two rounds), 8B and Qwen3-0.6B throughput; this binary and the previous one alternating
    unpack_base
    qwen06_dataset
    for round in 1 2; do
        for variant in new base; do
            b=$(variant_binary $variant) || continue
            latency_8b latency_8b_${variant}_$round 150 "" $b
        done
    done
    for variant in new base; do
        b=$(variant_binary $variant) || continue
        throughput_8b throughput_8b_1000_$variant 180 1000 $b
        step throughput_qwen06_$variant 120 $b bench throughput --device cuda --load-format dummy \
            --model $Q06 --dataset-path $W/dataset_qwen06.jsonl --max-model-len 2048 \
            --output-json $R/throughput_qwen06_$variant.json
    done
}
model_prompts() {  # model_prompts MODEL LENGTHS...: the model's own reference prompt (if any), then random ones
    local m=$1; shift
    python3 -c "
import random, json, os, sys
random.seed(7)
vocab = json.load(open('$m/config.json'))['vocab_size']
ref = '$m/reference.json'
if os.path.exists(ref):
    print(json.dumps({'prompt_token_ids': json.load(open(ref))['prompt_ids']}))
for n in map(int, sys.argv[1:]):
    print(json.dumps({'prompt_token_ids': [random.randrange(3, vocab) for _ in range(n)]}))" "$@"
}
throughput_qwen06() {  # throughput_qwen06 TIMEOUT: our engine on the small-model request file
    step ours_throughput_qwen06_dataset $1 "$BIN" bench throughput --device cuda --load-format dummy \
        --model bench/gpu/configs/qwen3_0_6b --dataset-path $W/dataset_qwen06.jsonl --max-model-len 2048 \
        --output-json $R/ours_throughput_qwen06_dataset.json
}

nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used,clocks.max.sm,power.limit --format=csv | tee "$R/nvidia_smi.csv"
date -u +%FT%TZ > "$R/date.txt"

# checks: kernel checks from a cold kernel cache, then the fixtures and two real-shape models (2
# layers of Llama-3.1-8B and Qwen3-0.6B, random bf16 weights) against transformers: logits of whole
# prompts and chunked, greedy tokens with CUDA graphs and eager.
kernel_checks() {  # vllm-dev kernel-check against float64 in every dtype (KERNEL_CHECK_DTYPES), from a cold kernel cache
    export VLLM_CACHE_ROOT=$W/cache-checks
    for dt in ${KERNEL_CHECK_DTYPES:-bfloat16 float16 float32}; do
        step kernel_check_${dt} 120 "$DEV" kernel-check --dtype $dt --json
    done
}
if has_mode kernelcheck; then
    kernel_checks
fi
if has_mode checks; then
    kernel_checks
    step make_llama8b_2l 300 python3 $G/make_models.py --config $L8/config.json --out $W/models/llama8b-2l --layers 2
    step make_qwen3_2l 300 python3 $G/make_models.py --config $Q06/config.json --out $W/models/qwen3-0.6b-2l --layers 2
    # CHECK_MODELS (globs) narrows the models, e.g. to "$W/models/*/" (the two real shapes, the only
    # ones whose head sizes take decode_attention) for a short call.
    for m in ${CHECK_MODELS:-Tests/Fixtures/models/*/ $W/models/*/}; do
        m=${m%/}; name=$(basename "$m")
        [ -f "$m/config.json" ] || continue
        vocab=$(python3 -c "import json;print(json.load(open('$m/config.json'))['vocab_size'])")
        lowp=$(python3 -c "import json;c=json.load(open('$m/config.json'));d=c.get('dtype') or c.get('torch_dtype');print('float16' if d=='float16' else 'bfloat16')")
        # The fixture's own prompt first (its greedy continuation has a top-2 margin of at least 0.02
        # in float32), then random ones of other lengths.
        model_prompts "$m" 40 23 7 61 > $R/$name.prompts.jsonl
        step hf_${name} 150 python3 $G/hf_reference.py --model "$m" --prompts $R/$name.prompts.jsonl --dtypes float32,$lowp \
            --out-prefix $R/hf_${name} --greedy 32
        for dt in float32 $lowp; do
            step ours_${name}_$dt 90 "$BIN" logits --device cuda --dtype $dt --model "$m" --prompts-file $R/$name.prompts.jsonl --out $R/ours_${name}_$dt.bin --max-model-len 2048
            step ours_${name}_${dt}_chunked 90 "$BIN" logits --device cuda --dtype $dt --model "$m" --prompts-file $R/$name.prompts.jsonl --out $R/ours_${name}_${dt}_chunked.bin --chunked --max-model-len 2048
            step ours_${name}_${dt}_greedy 90 "$BIN" generate --device cuda --dtype $dt --model "$m" --prompts-file $R/$name.prompts.jsonl \
                --max-tokens 32 --temperature 0 --ignore-eos --json --num-gpu-blocks-override 512 --max-model-len 2048
            python3 $G/compare.py --name "${name} $dt" --vocab $vocab --ours $R/ours_${name}_$dt.bin --ref $R/hf_${name}_$dt.bin \
                --ours-greedy $R/ours_${name}_${dt}_greedy.out --ref-greedy $R/hf_${name}_$dt.greedy.json | tee -a $R/compare.jsonl
            python3 $G/compare.py --name "${name} $dt chunked" --vocab $vocab --ours $R/ours_${name}_${dt}_chunked.bin \
                --ref $R/hf_${name}_$dt.bin | tee -a $R/compare.jsonl
            # The same greedy run with every step eager: recorded decode steps (CUDA graphs) must not
            # change the tokens (padding rows may change GEMM algorithms, so near-ties can differ).
            step ours_${name}_${dt}_greedy_eager 90 "$BIN" generate --device cuda --dtype $dt --model "$m" --prompts-file $R/$name.prompts.jsonl \
                --max-tokens 32 --temperature 0 --ignore-eos --json --num-gpu-blocks-override 512 --max-model-len 2048 --enforce-eager
            python3 $G/compare.py --name "${name} $dt graphs vs eager" --vocab $vocab --ours-greedy $R/ours_${name}_${dt}_greedy.out \
                --ref-greedy $R/ours_${name}_${dt}_greedy_eager.out | tee -a $R/compare.jsonl
        done
        # How far transformers' own low-precision run is from its float32 run, for scale.
        python3 $G/compare.py --name "${name} hf-$lowp vs hf-float32" --vocab $vocab --ours $R/hf_${name}_$lowp.bin \
            --ref $R/hf_${name}_float32.bin --ours-greedy-json $R/hf_${name}_$lowp.greedy.json --ref-greedy $R/hf_${name}_float32.greedy.json | tee -a $R/compare.jsonl
        python3 $G/compare.py --name "${name} ours-$lowp vs hf-float32" --vocab $vocab --ours $R/ours_${name}_$lowp.bin \
            --ref $R/hf_${name}_float32.bin | tee -a $R/compare.jsonl
        rm -f $R/*.bin
    done
fi

# speed: the issue-6 workloads for this binary and the previous one, alternating so that both see
# the same machine; transformers' batch-1 generate and the machine's limits for scale.
if has_mode speed; then
    export VLLM_CACHE_ROOT=$W/cache-speed
    step hf_bench_llama8b 240 python3 $G/hf_bench.py --limits --config $L8 --shapes 1x32x128 --out $R/hf_llama8b.json
    issue6_workloads
fi

# spec: batch-1 n-gram speculation (k = 4) on prompts that repeat themselves (--self-repeat, and
# remade 3 and 6 times: --self-repeat-rounds, a continuation closer to repeating its prompt), and on
# random ones (nothing to find: the cost of looking); also k = 7 on the 6-round prompts.
if has_mode spec; then
    export VLLM_CACHE_ROOT=$W/cache-speed
    for prompts in random rounds6 self_repeat rounds3; do
        case $prompts in
            self_repeat) flag="--self-repeat" ;;
            rounds*) flag="--self-repeat --self-repeat-rounds ${prompts#rounds}" ;;
            random) flag="" ;;
        esac
        latency_8b spec_off_$prompts 150 "$flag" "$BIN"
        latency_8b spec_ngram_$prompts 150 "$flag --speculative-config $(ngram 4)" "$BIN"
    done
    latency_8b spec_ngram7_rounds6 150 "--self-repeat --self-repeat-rounds 6 --speculative-config $(ngram 7)" "$BIN"
fi

# specprofile: where a verifying step's time goes: device time per operation (VLLM_CUDA_PROFILE=1,
# steps eager) of the batch-1 self-repeating run, plain, speculating, and speculating with the
# verifying steps' attention and products as before 2026-12-06 (the prefill kernel, cuBLASLt).
# Then timed with recorded steps (no profiler) on prompts remade SPEC_ROUNDS times (bench forward
# --self-repeat-rounds: a continuation closer to repeating its prompt): plain, speculating, and
# speculating with each of the two changes taken out.
if has_mode specprofile; then
    export VLLM_CACHE_ROOT=$W/cache-speed
    OLD_VERIFY="VLLM_CUDA_VERIFY_DECODE_ATTENTION=0 VLLM_CUDA_GEMV_MMA=0"
    for spec in off ngram ngram_before; do
        flag=""; [ $spec != off ] && flag="--speculative-config $(ngram 4)"
        before=""; [ $spec = ngram_before ] && before=$OLD_VERIFY
        latency_8b specprofile_$spec 150 "--self-repeat $flag" env VLLM_CUDA_PROFILE=1 $before "$BIN"
        grep -A30 "device time per operation" $R/specprofile_$spec.err | head -30
    done
    rounds="--self-repeat --self-repeat-rounds ${SPEC_ROUNDS:-3}"
    latency_8b spec_rounds_off 150 "$rounds" "$BIN"
    for variant in new prefill_attention cublaslt; do
        case $variant in
            new) settings="VLLM_CUDA_PROFILE=0" ;;
            prefill_attention) settings="VLLM_CUDA_VERIFY_DECODE_ATTENTION=0" ;;
            cublaslt) settings="VLLM_CUDA_GEMV_MMA=0" ;;
        esac
        latency_8b spec_rounds_ngram_$variant 150 "$rounds --speculative-config $(ngram 4)" env $settings "$BIN"
    done
fi

# startup: `vllm serve` of a real 32-layer 8B safetensors folder (page cache warm) until its first
# answered completion, with an empty kernel cache and then with the kernels it left there.
if has_mode startup; then
    step make_llama8b_full 300 python3 $G/make_models.py --config $L8/config.json --out $W/models8b/llama8b --layers 32
    cat $W/models8b/llama8b/*.safetensors > /dev/null
    rm -rf $W/cache-serve
    for start in cold warm; do
        step startup_serve_$start 120 python3 $G/startup_serve.py --binary "$BIN" --model $W/models8b/llama8b \
            --cache-root $W/cache-serve --timeout 100 --out $R/startup_serve_$start.json --extra-args --max-model-len 2048
    done
fi

# baselines: transformers beside us on identical request files (make_dataset.py). Qwen3-0.6B shape,
# 256 requests with input and output lengths uniform in 100..1024: `vllm bench throughput
# --dataset-path`, then transformers' continuous batching on the same file. Then the 8B workload
# (1000 x 1024 in, 128 out) through transformers only, until its time limit (ours: the `speed` mode).
# Both sample at temperature 1 with EOS ignored, as vLLM's benchmark does.
if has_mode baselines; then
    export VLLM_CACHE_ROOT=$W/cache
    end=$(( $(date +%s) + 510 ))  # the mode's share of a 10-minute call, leaving time to pack the results
    qwen06_dataset
    python3 $G/make_dataset.py --num-prompts 1000 --input-min 1024 --input-max 1024 --output-min 128 --output-max 128 \
        --vocab 128256 --seed 0 --out $W/dataset_llama8b.jsonl
    throughput_qwen06 180
    step hf_continuous_qwen06 240 python3 $G/hf_continuous.py --config $Q06 --dataset $W/dataset_qwen06.jsonl --do-sample \
        --time-limit 150 --out $R/hf_continuous_qwen06.json
    # Whatever is left goes to the 8B run; about 100 s of it are model creation and warm-up.
    left=$(( end - $(date +%s) ))
    limit=$(( left - 100 < 200 ? left - 100 : 200 ))
    if [ $limit -ge 30 ]; then
        step hf_continuous_llama8b $left python3 $G/hf_continuous.py --config $L8 --dataset $W/dataset_llama8b.jsonl --do-sample \
            --time-limit $limit --out $R/hf_continuous_llama8b.json
    else
        echo "{\"skipped\": \"only $left s left in the call\"}" | tee $R/hf_continuous_llama8b.json
    fi
fi

# The Llama-3.1-8B shape as a GPTQ int4 checkpoint (group 128), for dummy weights in that layout;
# llama8b-gptq-head also quantizes the LM head (GPTQModel's lm_head=True).
gptq_8b_config() {
    mkdir -p $W/configs/llama8b-gptq $W/configs/llama8b-gptq-head
    python3 -c "
import json
c = json.load(open('$L8/config.json'))
c['quantization_config'] = {'quant_method': 'gptq', 'bits': 4, 'group_size': 128, 'desc_act': False, 'sym': True}
json.dump(c, open('$W/configs/llama8b-gptq/config.json', 'w'))
c['tie_word_embeddings'] = False
c['quantization_config']['lm_head'] = True
json.dump(c, open('$W/configs/llama8b-gptq-head/config.json', 'w'))"
}

if has_mode quant; then
    export VLLM_CACHE_ROOT=$W/cache-quant
    for dt in bfloat16 float16 float32; do
        step kernel_check_${dt} 120 "$DEV" kernel-check --dtype $dt --json
    done
    # cuBLASLt's fast FP8 accumulation (no periodic promotion): its error and speed beside the default.
    step kernel_check_bfloat16_fp8_fast_accum 120 env VLLM_CUDA_FP8_FAST_ACCUM=1 "$DEV" kernel-check --dtype bfloat16 --json
    for m in Tests/Fixtures/quantized/*/; do
        m=${m%/}; name=$(basename "$m"); q=""
        [ "$name" = online-fp8 ] && q="--quantization fp8"
        python3 -c "
import json, numpy as np
from safetensors.numpy import load_file
r = json.load(open('$m/reference.json'))
print(json.dumps({'prompt_token_ids': r['prompt_ids']}), file=open('$R/q_$name.prompts.jsonl', 'w'))
json.dump([r['greedy_ids']], open('$R/q_$name.ref_greedy.json', 'w'))
list(load_file('$m/reference_logits.safetensors').values())[0].astype(np.float32).tofile('$R/q_$name.ref.bin')
print(len(r['greedy_ids']))" > $R/q_$name.count
        count=$(cat $R/q_$name.count)
        vocab=$(python3 -c "import json;print(json.load(open('$m/config.json'))['vocab_size'])")
        for dt in float32 bfloat16; do
            step q_${name}_$dt 60 "$BIN" logits --device cuda --dtype $dt --model "$m" $q --prompts-file $R/q_$name.prompts.jsonl \
                --out $R/q_${name}_$dt.bin --max-model-len 256
            step q_${name}_${dt}_greedy 60 "$BIN" generate --device cuda --dtype $dt --model "$m" $q --prompts-file $R/q_$name.prompts.jsonl \
                --max-tokens $count --temperature 0 --ignore-eos --json --max-model-len 256
            python3 $G/compare.py --name "quantized ${name} $dt" --vocab $vocab --ours $R/q_${name}_$dt.bin --ref $R/q_$name.ref.bin \
                --ours-greedy $R/q_${name}_${dt}_greedy.out --ref-greedy $R/q_$name.ref_greedy.json | tee -a $R/compare.jsonl
        done
        # FP8 in bf16 with weight-only products (no FP8 activations), to separate the two roundings.
        if [[ $name == *fp8* ]]; then
            step q_${name}_bfloat16_weight_only 60 env VLLM_CUDA_FP8_GEMM=0 "$BIN" logits --device cuda --dtype bfloat16 --model "$m" $q \
                --prompts-file $R/q_$name.prompts.jsonl --out $R/q_${name}_bfloat16_weight_only.bin --max-model-len 256
            python3 $G/compare.py --name "quantized ${name} bfloat16 weight-only" --vocab $vocab --ours $R/q_${name}_bfloat16_weight_only.bin \
                --ref $R/q_$name.ref.bin | tee -a $R/compare.jsonl
        fi
    done
fi

if has_mode quantlatency; then
    export VLLM_CACHE_ROOT=$W/cache-quant
    unpack_base
    gptq_8b_config
    for round in $(seq 1 ${ROUNDS:-2}); do
        [ -x "$BASE_BIN" ] && latency_8b latency_8b_base_$round 150 "" "$BASE_BIN"
        latency_8b latency_8b_bf16_$round 150 "" "$BIN"
        latency_8b latency_8b_fp8_$round 150 "--quantization fp8" "$BIN"
        latency_1x32x128 latency_8b_int4_$round 150 $W/configs/llama8b-gptq "" "$BIN"
        latency_1x32x128 latency_8b_int4_head_$round 150 $W/configs/llama8b-gptq-head "" "$BIN"
        latency_1x32x128 latency_8b_int4_int8_$round 150 $W/configs/llama8b-gptq "--quantized-activations int8" "$BIN"
        latency_1x32x128 latency_8b_int4_head_int8_$round 150 $W/configs/llama8b-gptq-head "--quantized-activations int8" "$BIN"
    done
fi

# quickab: this binary against the previous one (.gpu/vllm-base.xz), one round, the throughput first:
# 8B throughput (1000 x 1024/128) each, then 8B batch-1 latency each (for a call with little time).
if has_mode quickab; then
    export VLLM_CACHE_ROOT=$W/cache-speed
    unpack_base
    for variant in new base; do
        b=$(variant_binary $variant) || continue
        throughput_8b throughput_8b_1000_$variant 180 1000 $b
    done
    for variant in new base; do
        b=$(variant_binary $variant) || continue
        latency_8b latency_8b_${variant}_1 150 "" $b
    done
fi

if has_mode compare; then
    export VLLM_CACHE_ROOT=$W/cache-speed
    issue6_workloads
fi

if has_mode quantspeed; then
    export VLLM_CACHE_ROOT=$W/cache-quant
    step hf_limits 120 python3 $G/hf_bench.py --limits --out $R/hf_limits.json
    gptq_8b_config
    throughput_8b throughput_8b_1000_bf16 180 1000 "$BIN"
    step throughput_8b_1000_fp8 180 "$BIN" bench throughput --device cuda --load-format dummy --model $L8 --quantization fp8 \
        --max-model-len 2048 --input-len 1024 --output-len 128 --num-prompts 1000 --max-num-batched-tokens 8192 \
        --max-num-seqs 256 --output-json $R/throughput_8b_1000_fp8.json
    step throughput_8b_1000_int4 180 "$BIN" bench throughput --device cuda --load-format dummy --model $W/configs/llama8b-gptq \
        --max-model-len 2048 --input-len 1024 --output-len 128 --num-prompts 1000 --max-num-batched-tokens 8192 \
        --max-num-seqs 256 --output-json $R/throughput_8b_1000_int4.json
fi

# moespeed: the Qwen3-30B-A3B shape in bf16 (dummy weights). Batch-1 decode (the 8B's `bench
# forward` settings) against the floor of the active parameters' bytes over the copy bandwidth;
# `bench throughput` on 1000 x 1024/128 requests (a file, so that transformers runs the same ones) as
# FLOP/s on the active parameters over the matmul rate; transformers' batch-1 generate, then its
# static batches of 64 of the same file for what is left of MOE_BUDGET seconds after the script's
# start (whole batches only; the report says how many requests). speed_report.py writes the
# bench/results files (gpu_<machine>_{latency,throughput}_qwen3_30b_a3b.json) to $R and $OUT.
if has_mode moespeed; then
    export VLLM_CACHE_ROOT=$W/cache-moe
    MOE=bench/gpu/configs/qwen3_30b_a3b
    budget=${MOE_BUDGET:-540}
    cap() {  # cap LIMIT RESERVE: LIMIT seconds, or fewer so that RESERVE seconds of the budget stay
        local left=$(( budget - SECONDS - $2 ))
        echo $(( left < $1 ? (left > 1 ? left : 1) : $1 ))
    }
    step hf_limits_moe $(cap 90 400) python3 $G/hf_bench.py --limits --out $R/hf_limits_moe.json
    step hf_moe_a3b $(cap 150 330) python3 $G/hf_bench.py --config $MOE --shapes 1x32x128 --out $R/hf_moe_a3b.json
    latency_1x32x128 latency_moe_a3b $(cap 200 200) $MOE "" "$BIN"
    python3 $G/make_dataset.py --num-prompts 1000 --input-min 1024 --input-max 1024 --output-min 128 --output-max 128 \
        --vocab $(python3 -c "import json;print(json.load(open('$MOE/config.json'))['vocab_size'])") --seed 0 --out $W/dataset_moe.jsonl
    step throughput_moe_a3b_1000 $(cap 300 30) "$BIN" bench throughput --device cuda --load-format dummy --model $MOE \
        --dataset-path $W/dataset_moe.jsonl --max-model-len 2048 --max-num-batched-tokens 8192 --max-num-seqs 256 \
        --output-json $R/throughput_moe_a3b_1000.json
    # About 60 s of transformers' share are model creation and warm-up, and the batch running at the
    # time limit finishes (up to about 30 s more).
    left=$(( budget - SECONDS ))
    if [ $left -ge 150 ]; then
        step hf_throughput_moe_a3b $left python3 $G/hf_continuous.py --config $MOE --dataset $W/dataset_moe.jsonl --mode static \
            --batch-size 64 --do-sample --time-limit $(( left - 90 )) --out $R/hf_throughput_moe_a3b.json
    else
        echo "{\"skipped\": \"only $left s left in the budget\"}" | tee $R/hf_throughput_moe_a3b.json
    fi
    note="Qwen3-30B-A3B shape (48 layers, 128 experts, 8 a token), dummy bf16 weights"
    step report_latency_moe 30 python3 $G/speed_report.py latency --config $MOE --workload qwen3_30b_a3b \
        --note "$note; batch 1, 32 in / 128 out (vllm bench forward); floor: active parameters' bytes over the copy bandwidth" \
        --run "scripts/gpu/run_gpu_checks.sh moespeed" --limits $R/hf_limits_moe.json --smi $R/nvidia_smi.csv --date $R/date.txt \
        --ours $R/latency_moe_a3b.out --hf $R/hf_moe_a3b.json --target 1.3 --out-dir $R
    step report_throughput_moe 30 python3 $G/speed_report.py throughput --config $MOE --workload qwen3_30b_a3b \
        --note "$note; 1000 requests x 1024 in / 128 out from one file (make_dataset.py seed 0), temperature 1, max_num_batched_tokens 8192, max_num_seqs 256; transformers: static generate batches of 64 of the same file, as many as its time allowed" \
        --run "scripts/gpu/run_gpu_checks.sh moespeed" --limits $R/hf_limits_moe.json --smi $R/nvidia_smi.csv --date $R/date.txt \
        --ours $R/throughput_moe_a3b_1000.json --hf $R/hf_throughput_moe_a3b.json --out-dir $R
    cp $R/gpu_*_qwen3_30b_a3b.json "$OUT/" 2>/dev/null
fi

# gemmaspeed: the Gemma-2-9B shape in bf16 (dummy weights, tied embeddings): batch-1 decode against
# the bandwidth floor as for the MoE shape, transformers' batch-1 generate beside it; the report is
# gpu_<machine>_latency_gemma2_9b.json in $R and $OUT.
if has_mode gemmaspeed; then
    export VLLM_CACHE_ROOT=$W/cache-gemma
    GEM=bench/gpu/configs/gemma2_9b
    step hf_limits_gemma 90 python3 $G/hf_bench.py --limits --out $R/hf_limits_gemma.json
    # GEMMA_HF=0 leaves transformers out (the floor still comes from the limits measured here).
    [ "${GEMMA_HF:-1}" = 1 ] && step hf_gemma2_9b 150 python3 $G/hf_bench.py --config $GEM --shapes 1x32x128 --out $R/hf_gemma2_9b.json
    latency_1x32x128 latency_gemma2_9b 150 $GEM "" "$BIN"
    step report_latency_gemma 30 python3 $G/speed_report.py latency --config $GEM --workload gemma2_9b \
        --note "Gemma-2-9B shape (42 layers, sliding window 4096 on alternate layers, soft-caps 50/30), dummy bf16 weights; batch 1, 32 in / 128 out (vllm bench forward); floor: active parameters' bytes over the copy bandwidth" \
        --run "scripts/gpu/run_gpu_checks.sh gemmaspeed" --limits $R/hf_limits_gemma.json --smi $R/nvidia_smi.csv --date $R/date.txt \
        --ours $R/latency_gemma2_9b.out --hf $R/hf_gemma2_9b.json --target 1.15 --out-dir $R
    cp $R/gpu_*_gemma2_9b.json "$OUT/" 2>/dev/null
fi

# families: the Gemma 2/3, Phi-3 and BERT fixtures (scripts/make_family_fixtures.py,
# make_embedding_fixtures.py) on CUDA against the transformers outputs committed with them:
# float32 prompt logits (one prefill, and chunked) and 32 greedy tokens, bfloat16 greedy tokens
# (CUDA graphs and eager); Phi-3's short-factor logits (context within its LongRoPE switch);
# BERT's pooled embeddings by cosine in float32 and bfloat16.
if has_mode families; then
    export VLLM_CACHE_ROOT=$W/cache-families
    xz -dc .gpu/vllm-dev.xz > "$DEV" && chmod +x "$DEV"
    for dt in ${FAMILY_KERNEL_CHECK:-bfloat16 float16 float32}; do
        step kernel_check_${dt} 150 "$DEV" kernel-check --dtype $dt --json
    done
    for m in Tests/Fixtures/models/*/; do
        m=${m%/}; name=$(basename "$m")
        [ -n "${FAMILY_FIXTURES:-}" ] && [[ " $FAMILY_FIXTURES " != *" $name "* ]] && continue
        arch=$(python3 -c "import json;print(json.load(open('$m/config.json'))['architectures'][0])")
        case $arch in
        BertModel)
            for dt in float32 bfloat16; do
                python3 $G/check_embeddings.py --binary "$BIN" --model "$m" --name "family $name $dt embeddings" \
                    --extra-args --device cuda --dtype $dt | tee -a $R/compare.jsonl $R/families.jsonl
            done
            continue ;;
        Gemma2ForCausalLM|Gemma3ForCausalLM|Gemma3ForConditionalGeneration|Phi3ForCausalLM|Qwen3ForCausalLM) ;;
        *) continue ;;
        esac
        # The fixture's prompt, greedy tokens and float32 logits (and Phi-3's short-factor logits of
        # its first prompt tokens), as files for `vllm` and compare.py.
        python3 $G/fixture_reference.py "$m" "$R/f_$name"
        vocab=$(python3 -c "import json;c=json.load(open('$m/config.json'));print(c.get('vocab_size') or c['text_config']['vocab_size'])")
        P=$R/f_$name
        for chunked in "" --chunked; do
            step f_${name}_float32$chunked 90 "$BIN" logits --device cuda --dtype float32 --model "$m" --prompts-file $P.prompts.jsonl \
                --out $P.ours$chunked.bin --max-model-len 128 $chunked
            python3 $G/compare.py --name "family $name float32 logits$chunked" --vocab $vocab --ours $P.ours$chunked.bin \
                --ref $P.logits.bin | tee -a $R/compare.jsonl $R/families.jsonl
        done
        if [ -f $P.short.prompts.jsonl ]; then
            step f_${name}_float32_short 90 "$BIN" logits --device cuda --dtype float32 --model "$m" --prompts-file $P.short.prompts.jsonl \
                --out $P.ours_short.bin --max-model-len 32
            python3 $G/compare.py --name "family $name float32 short-factor logits" --vocab $vocab --ours $P.ours_short.bin \
                --ref $P.short_logits.bin | tee -a $R/compare.jsonl $R/families.jsonl
        fi
        for dt in float32 bfloat16; do
            for eager in "" --enforce-eager; do
                step f_${name}_${dt}_greedy$eager 90 "$BIN" generate --device cuda --dtype $dt --model "$m" --prompts-file $P.prompts.jsonl \
                    --max-tokens 32 --temperature 0 --ignore-eos --json --num-gpu-blocks-override 64 --max-model-len 128 $eager
                python3 $G/compare.py --name "family $name $dt greedy$eager" --vocab $vocab --ours-greedy $R/f_${name}_${dt}_greedy$eager.out \
                    --ref-greedy $P.ref_greedy.json | tee -a $R/compare.jsonl $R/families.jsonl
            done
        done
    done
    # Verdicts: float32 logits within 1e-4 relative and all 32 greedy tokens, embeddings' cosine above
    # 0.99999 in float32; bfloat16 greedy agreement is reported, not judged.
    python3 - "$R" > "$OUT/families_summary.json" <<'PY'
import glob, json, os, sys
r = sys.argv[1]
lines = [json.loads(l) for l in open(f"{r}/families.jsonl") if l.strip().startswith("{")] if os.path.exists(f"{r}/families.jsonl") else []
def verdict(c):
    n = c["name"]
    if "error" in c:
        return False
    if "float32" in n and "logits" in n:
        return c.get("rel_error", 1) < 1e-4
    if "float32 greedy" in n:
        return c.get("greedy_full_32_share", 0) == 1.0
    if "float32 embeddings" in n:
        return c.get("min_cosine", 0) > 0.99999
    return None
kernels = {}
for p in sorted(glob.glob(f"{r}/kernel_check_*.out")):
    try:
        k = json.loads(open(p).read().strip().splitlines()[-1])
        kernels[os.path.basename(p)[:-4]] = {"failed": k.get("failed"), "errors": {n: e for n, e in k["errors"].items()
            if any(w in n for w in ("gelu", "soft_cap", "scale ", "layer_norm", "encoder_", "bidirectional", "rotary"))}}
    except Exception as e:
        kernels[os.path.basename(p)[:-4]] = {"error": repr(e)}
results = [dict(c, ok=verdict(c)) for c in lines]
for c in results:
    if c["ok"]:
        c.pop("log_tail", None)
print(json.dumps({"kernel_checks": kernels, "fixtures": results,
                  "all_judged_ok": all(c["ok"] for c in results if c["ok"] is not None) and bool(results)}, indent=1))
PY
    cat "$OUT/families_summary.json" | head -c 6000
fi

# gguf: the committed GGUF model (every block type, random weights) on the GPU in float32 and
# bfloat16 against the CPU backend on the same file (logits of whole prompts and chunked ones,
# greedy tokens of 4 prompts decoded together), then the Llama-3.1-8B shape in llama.cpp's Q4_K_M
# layout (`--quantization gguf` on dummy weights): batch-1 decode against the floor its bytes set
# (gguf_floor.py), beside bf16. ggufspeed: the 1000 x 1024/128 throughput of both.
if has_mode gguf; then
    export VLLM_CACHE_ROOT=$W/cache-gguf
    m=Tests/Fixtures/gguf/tiny-llama-mixed.gguf
    python3 -c "
import json, random
random.seed(14)
for n in (40, 23, 7, 61):
    print(json.dumps({'prompt_token_ids': [random.randrange(3, 512) for _ in range(n)]}))" > $R/gguf_tiny.prompts.jsonl
    run_tiny() {  # run_tiny NAME DEVICE-FLAGS...: logits (whole and chunked) and greedy tokens
        local name=$1; shift
        step gguf_tiny_$name 120 "$BIN" logits "$@" --model $m --prompts-file $R/gguf_tiny.prompts.jsonl --out $R/gguf_tiny_$name.bin --max-model-len 512
        step gguf_tiny_${name}_chunked 120 "$BIN" logits "$@" --model $m --prompts-file $R/gguf_tiny.prompts.jsonl --out $R/gguf_tiny_${name}_chunked.bin --chunked --max-model-len 512
        step gguf_tiny_${name}_greedy 120 "$BIN" generate "$@" --model $m --prompts-file $R/gguf_tiny.prompts.jsonl --max-tokens 32 --temperature 0 --ignore-eos --json --max-model-len 512
    }
    # The default (auto) takes 8-bit activations for GGUF blocks: the comparisons with the CPU
    # name float32 activations on both sides.
    run_tiny cpu --device cpu --quantized-activations float32
    for dt in float32 bfloat16; do
        run_tiny $dt --device cuda --dtype $dt --quantized-activations float32
        python3 $G/compare.py --name "gguf tiny-llama-mixed cuda $dt vs cpu" --vocab 512 --ours $R/gguf_tiny_$dt.bin --ref $R/gguf_tiny_cpu.bin \
            --ours-greedy $R/gguf_tiny_${dt}_greedy.out --ref-greedy $R/gguf_tiny_cpu_greedy.out | tee -a $R/compare.jsonl
        python3 $G/compare.py --name "gguf tiny-llama-mixed cuda $dt vs cpu chunked" --vocab 512 --ours $R/gguf_tiny_${dt}_chunked.bin \
            --ref $R/gguf_tiny_cpu_chunked.bin | tee -a $R/compare.jsonl
    done
    # --quantized-activations int8 (8-bit activations in decode steps): greedy tokens against float activations.
    run_tiny int8_float32 --device cuda --dtype float32 --quantized-activations int8
    python3 $G/compare.py --name "gguf tiny-llama-mixed cuda float32 int8 activations vs float" --vocab 512 \
        --ours-greedy $R/gguf_tiny_int8_float32_greedy.out --ref-greedy $R/gguf_tiny_float32_greedy.out | tee -a $R/compare.jsonl
    rm -f $R/gguf_tiny_*.bin
    step hf_limits 120 python3 $G/hf_bench.py --limits --out $R/hf_limits.json
    unpack_base
    for round in $(seq 1 ${ROUNDS:-2}); do
        latency_8b latency_8b_gguf_q4km_$round 150 "--quantization gguf --quantized-activations float32" "$BIN"
        latency_8b latency_8b_gguf_q4km_int8_$round 150 "--quantization gguf --quantized-activations int8" "$BIN"
        # The previous binary's GGUF kernels beside these, where one was carried (.gpu/vllm-base.xz).
        [ -x "$BASE_BIN" ] && latency_8b latency_8b_gguf_q4km_int8_base_$round 150 "--quantization gguf --quantized-activations int8" "$BASE_BIN"
        latency_8b latency_8b_bf16_$round 150 "" "$BIN"
    done
    python3 $G/gguf_floor.py --config $L8/config.json --limits $R/hf_limits.json $R/latency_8b_gguf_q4km_*.out \
        | tee $R/gguf_floor.json
fi
if has_mode ggufspeed; then
    export VLLM_CACHE_ROOT=$W/cache-gguf
    step throughput_8b_1000_gguf_q4km 180 "$BIN" bench throughput --device cuda --load-format dummy --model $L8 --quantization gguf \
        --max-model-len 2048 --input-len 1024 --output-len 128 --num-prompts 1000 --max-num-batched-tokens 8192 \
        --max-num-seqs 256 --output-json $R/throughput_8b_1000_gguf_q4km.json
    throughput_8b throughput_8b_1000_bf16 180 1000 "$BIN"
fi

# qgemv: the quantized matrix-vector kernels. bf16 kernel checks (the quantized and GGUF products
# against float64, with their timings at the 8B's shapes) for the embedded kernels and for each
# QGEMV_BUDGETS value (the joined source with QGEMV_BUDGET defined, through VLLM_CUDA_KERNEL_SOURCE);
# then the 8B shape's batch-1 latency in bf16, FP8, GPTQ int4 and GGUF Q4_K_M with the limits, and
# one profiled run (VLLM_CUDA_PROFILE=1: device time per operation, on stderr) of each QGEMV_PROFILE
# format (default fp8 gguf; `moe`: the Qwen3-30B-A3B shape).
if has_mode qgemv; then
    export VLLM_CACHE_ROOT=$W/cache-quant
    step kernel_check_bfloat16 150 "$DEV" kernel-check --dtype bfloat16 --json
    for b in ${QGEMV_BUDGETS:-}; do
        defined_source QGEMV_BUDGET=$b > $W/kernels_budget_$b.cu
        step kernel_check_bfloat16_budget_$b 150 env VLLM_CUDA_KERNEL_SOURCE=$W/kernels_budget_$b.cu "$DEV" kernel-check --dtype bfloat16 --json
    done
    gptq_8b_config
    step hf_limits 120 python3 $G/hf_bench.py --limits --out $R/hf_limits.json
    for round in $(seq 1 ${ROUNDS:-1}); do
        latency_8b latency_8b_bf16_$round 150 "" "$BIN"
        latency_8b latency_8b_fp8_$round 150 "--quantization fp8" "$BIN"
        latency_1x32x128 latency_8b_int4_$round 150 $W/configs/llama8b-gptq "" "$BIN"
        latency_1x32x128 latency_8b_int4_head_$round 150 $W/configs/llama8b-gptq-head "" "$BIN"
        latency_8b latency_8b_gguf_q4km_$round 150 "--quantization gguf --quantized-activations float32" "$BIN"
    done
    python3 $G/gguf_floor.py --config $L8/config.json --limits $R/hf_limits.json $R/latency_8b_gguf_q4km_*.out \
        | tee $R/gguf_floor.json
    # QGEMV_MOE=1: also the Qwen3-30B-A3B shape's batch-1 latency (moespeed's settings), with the
    # embedded kernels and with the working tree's (VLLM_CUDA_KERNEL_SOURCE).
    if [ "${QGEMV_MOE:-0}" = 1 ]; then
        python3 $G/kernel_source.py > $W/kernels_tree.cu
        for variant in embedded tree; do
            src=""; [ $variant = tree ] && src=$W/kernels_tree.cu
            latency_1x32x128 latency_moe_a3b_$variant 200 bench/gpu/configs/qwen3_30b_a3b "" \
                env VLLM_CUDA_KERNEL_SOURCE=$src "$BIN"
        done
    fi
    # `moe`: the Qwen3-30B-A3B shape in bf16 instead of a quantized 8B.
    for q in ${QGEMV_PROFILE:-fp8 gguf}; do
        model="--model $L8 --quantization $q"
        [ $q = moe ] && model="--model bench/gpu/configs/qwen3_30b_a3b"
        step profile_$q 150 env VLLM_CUDA_PROFILE=1 "$BIN" bench forward --device cuda --load-format dummy $model \
            --max-model-len 2048 --batch-size 1 --input-len 32 --output-len 32 --warmup 0 --iterations 1 --json
        grep -A40 "device time per operation" $R/profile_$q.err | head -40
    done
fi

# profilespeed: device time per operation (VLLM_CUDA_PROFILE=1, steps eager) of the 8B shape's
# throughput workload cut to PROFILE_PROMPTS prompts (default 200), once per PROFILE_FORMATS entry
# (default `bf16 fp8`; fp8 = --quantization fp8): where a quantized format's step time goes.
if has_mode profilespeed; then
    export VLLM_CACHE_ROOT=$W/cache-profile
    for f in ${PROFILE_FORMATS:-bf16 fp8}; do
        [ $f = none ] && continue  # PROFILE_FORMATS=none: only the latency models
        quant=""; [ $f != bf16 ] && quant="--quantization $f"
        step profile_throughput_$f 200 env VLLM_CUDA_PROFILE=1 "$BIN" bench throughput --device cuda --load-format dummy \
            --model $L8 $quant --max-model-len 2048 --input-len 1024 --output-len 128 \
            --num-prompts ${PROFILE_PROMPTS:-200} --max-num-batched-tokens 8192 --max-num-seqs 256 \
            --output-json $R/profile_throughput_$f.json
        grep -A40 "device time per operation" $R/profile_throughput_$f.err | head -40
    done
    # PROFILE_LATENCY_MODELS: config folders whose batch-1 decode (32 in / 128 out) is profiled too.
    for model in ${PROFILE_LATENCY_MODELS:-}; do
        step profile_latency_$(basename $model) 200 env VLLM_CUDA_PROFILE=1 "$BIN" bench forward --device cuda \
            --load-format dummy --model $model --max-model-len 2048 --batch-size 1 --input-len 32 --output-len 128 \
            --warmup 0 --iterations 1 --json
        grep -A40 "device time per operation" $R/profile_latency_$(basename $model).err | head -40
    done
fi

# fp8accum: the 8B shape's FP8 (W8A8) throughput (1000 x 1024/128) with cuBLASLt's default FP8
# accumulation and with VLLM_CUDA_FP8_FAST_ACCUM=1, bf16 beside them, one run each. FP8_SCALING=outer
# (the default) or after: first the bf16 kernel-check's W8A8 cases with the scales in cuBLASLt's
# product or in the kernel after it (VLLM_CUDA_FP8_SCALING), then the FP8 runs with it too.
if has_mode fp8accum; then
    export VLLM_CACHE_ROOT=$W/cache-quant
    if [ -n "${FP8_SCALING:-}" ]; then
        step kernel_check_bfloat16_scaling_$FP8_SCALING 150 env VLLM_CUDA_FP8_SCALING=$FP8_SCALING "$DEV" kernel-check --dtype bfloat16
        grep -i "w8a8\|FAIL" $R/kernel_check_bfloat16_scaling_$FP8_SCALING.out | head -20
    fi
    throughput_8b throughput_8b_1000_bf16_accum 180 1000 "$BIN"
    for accum in 0 1; do
        step throughput_8b_1000_fp8_fastaccum$accum 180 env VLLM_CUDA_FP8_FAST_ACCUM=$accum VLLM_CUDA_FP8_SCALING=${FP8_SCALING:-outer} \
            "$BIN" bench throughput --device cuda --load-format dummy --model $L8 --quantization fp8 --max-model-len 2048 \
            --input-len 1024 --output-len 128 --num-prompts 1000 --max-num-batched-tokens 8192 --max-num-seqs 256 \
            --output-json $R/throughput_8b_1000_fp8_fastaccum$accum.json
    done
fi

# moeroute: the MoE decode kernels (moe_gemv_swiglu, moe_gemv_combine) and moe_route with
# MOE_ROUTE_SET_TIES 0 (moe.cu: the serial tie steps at every tie, not only where equal probabilities
# straddle the k-th place as by default): bf16 kernel-check with the embedded kernels and with that
# source, the MoE fixtures against transformers with that source (the decode kernels are the embedded
# ones there too), the limits, then the Qwen3-30B-A3B shape's batch-1 latency: the previous build, the
# embedded kernels, that source. (Run on 2026-12-06 with the define 1 when 0 was the default.)
if has_mode moeroute; then
    export VLLM_CACHE_ROOT=$W/cache-moeroute
    step kernel_check_bfloat16 150 "$DEV" kernel-check --dtype bfloat16
    grep -i "moe\|FAIL" $R/kernel_check_bfloat16.out | head -40
    defined_source MOE_ROUTE_SET_TIES=0 > $W/kernels_moeroute.cu
    step kernel_check_bfloat16_moeroute 150 env VLLM_CUDA_KERNEL_SOURCE=$W/kernels_moeroute.cu "$DEV" kernel-check --dtype bfloat16
    grep -i "moe\|FAIL" $R/kernel_check_bfloat16_moeroute.out | head -40
    step moe_fixtures_moeroute 400 env OUT=$OUT VLLM_CUDA_KERNEL_SOURCE=$W/kernels_moeroute.cu bash $G/check_moe_fixtures.sh
    cut -c1-240 $OUT/moe_compare.jsonl
    step hf_limits 120 python3 $G/hf_bench.py --limits --out $R/hf_limits.json
    unpack_base
    for round in $(seq 1 ${ROUNDS:-1}); do
        for variant in base embedded moeroute; do
            src="" cmd="$BIN"
            [ $variant = moeroute ] && src=$W/kernels_moeroute.cu
            if [ $variant = base ]; then cmd=$(variant_binary base) || continue; fi
            export VLLM_CACHE_ROOT=$W/cache-moeroute-$variant
            latency_1x32x128 latency_moe_a3b_${variant}_$round 200 bench/gpu/configs/qwen3_30b_a3b "" \
                env VLLM_CUDA_KERNEL_SOURCE=$src "$cmd"
        done
    done
fi

# moefuse: the decode-step fusions (moe_router_route, rotary_norm_write_kv): the MoE fixtures against
# transformers, the limits, then batch-1 latency of the previous build (.gpu/vllm-base.xz) and this
# one alternating, ROUNDS times (default 2): the Qwen3-30B-A3B shape (MoE) and Qwen3-0.6B (q/k norm).
# With `families` (FAMILY_FIXTURES="qwen3 qwen3-bf16 gemma3 gemma3-bf16" FAMILY_KERNEL_CHECK=bfloat16)
# it is the whole check of those kernels.
if has_mode moefuse; then
    export VLLM_CACHE_ROOT=$W/cache-moefuse
    step moe_fixtures 300 env OUT=$OUT bash $G/check_moe_fixtures.sh
    cut -c1-200 $OUT/moe_compare.jsonl
    step hf_limits 120 python3 $G/hf_bench.py --limits --out $R/hf_limits.json
    unpack_base
    for round in $(seq 1 ${ROUNDS:-2}); do
        for variant in base new; do
            cmd=$(variant_binary $variant) || continue
            export VLLM_CACHE_ROOT=$W/cache-moefuse-$variant
            latency_1x32x128 latency_moe_a3b_${variant}_$round 200 bench/gpu/configs/qwen3_30b_a3b "" "$cmd"
            latency_1x32x128 latency_qwen06_${variant}_$round 100 $Q06 "" "$cmd"
        done
    done
fi

# moegroup: the parallel moe_group and the per-token moe_combine: kernel checks in bf16 and f32 (their
# MoE lines, moe_group's arrays against the serial definition), the MoE fixtures
# (check_moe_fixtures.sh), then one profiled Qwen3-30B-A3B run with a 2000-token prefill
# (VLLM_CUDA_PROFILE=1: moe_group, moe_combine per call).
if has_mode moegroup; then
    export VLLM_CACHE_ROOT=$W/cache-moegroup
    xz -dc .gpu/vllm-dev.xz > "$DEV" && chmod +x "$DEV"
    for dt in bfloat16 float32; do
        step kernel_check_moegroup_${dt} 150 "$DEV" kernel-check --dtype $dt  # plain lines: a failed grouping is infinite
        grep -i "moe\|FAIL" $R/kernel_check_moegroup_${dt}.out | head -60
    done
    step moe_fixtures 400 env OUT=$OUT bash $G/check_moe_fixtures.sh
    step profile_moe_prefill 200 env VLLM_CUDA_PROFILE=1 "$BIN" bench forward --device cuda --load-format dummy \
        --model bench/gpu/configs/qwen3_30b_a3b --max-model-len 2048 --batch-size 1 --input-len 2000 --output-len 8 \
        --warmup 0 --iterations 1 --json
    grep -A40 "device time per operation" $R/profile_moe_prefill.err | head -40
fi

# structured: issue 15's speed target. STRUCT_CONFIG (another config folder for the Llama-3
# tokenizer), STRUCT_MODEL (a folder with its own tokenizer.json), STRUCT_DEVICE and STRUCT_ARGS
# (structured_serve.py's own flags) let the mode run on a small model on the CPU.
if has_mode structured; then
    export VLLM_CACHE_ROOT=$W/cache-speed
    SM=${STRUCT_MODEL:-$W/configs/llama8b-tok}
    if [ -z "${STRUCT_MODEL:-}" ]; then
        mkdir -p $SM && cp ${STRUCT_CONFIG:-$L8}/config.json $SM/
        xz -dc .gpu/llama3-tokenizer.json.xz > $SM/tokenizer.json || echo "structured: .gpu/llama3-tokenizer.json.xz is missing"
        echo '{"bos_token": "<|begin_of_text|>", "eos_token": "<|end_of_text|>", "model_max_length": 131072}' > $SM/tokenizer_config.json
    fi
    step structured_serve 570 python3 $G/structured_serve.py --binary "$BIN" --model $SM --device ${STRUCT_DEVICE:-cuda} \
        --result-dir $R --out $R/structured_serve.json ${STRUCT_ARGS:-}
fi

# kvfp8: kernel checks (each includes the FP8 cache writes against the CPU's codes and the attention
# kernels over an FP8 cache against float64), then each fixture model that CUDA runs, greedy and
# logits with --kv-cache-dtype fp8 on CUDA float32 against the CPU backend with the same flag.
if has_mode kvfp8; then
    export VLLM_CACHE_ROOT=$W/cache-kvfp8
    [ -x "$DEV" ] || { xz -dc .gpu/vllm-dev.xz > "$DEV" && chmod +x "$DEV"; }
    for dt in bfloat16 float16 float32; do
        step kernel_check_${dt} 120 "$DEV" kernel-check --dtype $dt --json
    done
    for name in llama2 llama3 llama3-bf16 mistral qwen2 qwen3 mixtral qwen2moe qwen3moe; do
        m=Tests/Fixtures/models/$name
        vocab=$(python3 -c "import json;print(json.load(open('$m/config.json'))['vocab_size'])")
        model_prompts "$m" 40 23 7 61 > $R/kv_$name.prompts.jsonl
        for device in cpu cuda cuda_eager; do
            flags="--device ${device%_eager} --dtype float32 --model $m --kv-cache-dtype fp8 --max-model-len 2048"
            [ $device = cuda_eager ] && flags="$flags --enforce-eager"
            step kv_${name}_${device}_greedy 90 "$BIN" generate $flags --prompts-file $R/kv_$name.prompts.jsonl \
                --max-tokens 32 --temperature 0 --ignore-eos --json
            [ $device = cuda_eager ] || step kv_${name}_${device}_logits 90 "$BIN" logits $flags \
                --prompts-file $R/kv_$name.prompts.jsonl --out $R/kv_${name}_$device.bin
        done
        python3 $G/compare.py --name "kvfp8 ${name} float32 cuda vs cpu" --vocab $vocab --ours $R/kv_${name}_cuda.bin \
            --ref $R/kv_${name}_cpu.bin --ours-greedy $R/kv_${name}_cuda_greedy.out --ref-greedy $R/kv_${name}_cpu_greedy.out \
            | tee -a $R/compare.jsonl
        python3 $G/compare.py --name "kvfp8 ${name} float32 cuda graphs vs eager" --vocab $vocab \
            --ours-greedy $R/kv_${name}_cuda_greedy.out --ref-greedy $R/kv_${name}_cuda_eager_greedy.out | tee -a $R/compare.jsonl
        rm -f $R/kv_*.bin
    done
fi

# kvfp8speed: the 8B shape (dummy weights) with the compute-dtype KV cache and the FP8 one: blocks
# at start (kv_cache_blocks in each JSON; the blocks_8b steps allow 1024 sequences so that memory,
# not max_num_seqs x max_model_len, bounds them), batch-1 decode and the 1000 x 1024/128 throughput.
if has_mode kvfp8speed; then
    export VLLM_CACHE_ROOT=$W/cache-kvfp8
    if [ -n "${KVFP8_LONG:-}" ]; then
        # KVFP8_LONG=auto or fp8: only the issue's long-context workload (1000 x 3072/512, where 256
        # sequences outgrow a bf16 cache on one GPU) with that cache; several minutes, a call each.
        kv=$KVFP8_LONG
        step throughput_8b_long_kv$kv 560 "$BIN" bench throughput --device cuda --load-format dummy --model $L8 --kv-cache-dtype $kv \
            --max-model-len 4096 --input-len 3072 --output-len 512 --num-prompts 1000 --max-num-batched-tokens 8192 \
            --max-num-seqs 256 --output-json $R/throughput_8b_long_kv$kv.json
    else
        for kv in auto fp8; do
            step latency_8b_blocks_kv$kv 150 "$BIN" bench forward --device cuda --load-format dummy --model $L8 --kv-cache-dtype $kv \
                --max-model-len 2048 --max-num-seqs 1024 --enforce-eager --batch-size 1 --input-len 32 --output-len 8 \
                --warmup 0 --iterations 1 --json
        done
        for round in $(seq 1 ${ROUNDS:-1}); do
            latency_8b latency_8b_kvauto_$round 150 "" "$BIN"
            latency_8b latency_8b_kvfp8_$round 150 "--kv-cache-dtype fp8" "$BIN"
        done
        for kv in auto fp8; do
            step throughput_8b_1000_kv$kv 200 "$BIN" bench throughput --device cuda --load-format dummy --model $L8 --kv-cache-dtype $kv \
                --max-model-len 2048 --input-len 1024 --output-len 128 --num-prompts 1000 --max-num-batched-tokens 8192 \
                --max-num-seqs 256 --output-json $R/throughput_8b_1000_kv$kv.json
        done
    fi
fi

if has_mode det; then
    export VLLM_CACHE_ROOT=$W/cache-det
    # Each operation first: one token's products and attention in steps of other shapes (vllm-dev);
    # DET_OPS=0 skips them, DET_OPS=only runs nothing else (to split the mode over two calls).
    [ "${DET_OPS:-1}" != 0 ] && xz -dc .gpu/vllm-dev.xz > "$DEV" && chmod +x "$DEV"
    for dt in bfloat16 float32; do
        [ "${DET_OPS:-1}" = 0 ] && break
        step det_ops_invariant_$dt 240 "$DEV" batch-invariance --dtype $dt --json
        step det_ops_default_$dt 240 "$DEV" batch-invariance --dtype $dt --json --default-mode
    done
    # The fallback product (our grouped kernel instead of cuBLASLt's fixed algorithms).
    [ "${DET_OPS:-1}" != 0 ] && step det_ops_invariant_own_bfloat16 240 env VLLM_BATCH_INVARIANT_GEMM=own "$DEV" batch-invariance --dtype bfloat16 --json
    cat $R/det_ops_*.out > "$OUT/det_ops.json" 2>/dev/null
fi
if has_mode det && [ "${DET_OPS:-1}" != only ]; then
    export VLLM_CACHE_ROOT=$W/cache-det
    step make_llama8b_2l 300 python3 $G/make_models.py --config $L8/config.json --out $W/models/llama8b-2l --layers 2
    # DET_MODES (default: invariant default) picks the modes, to fit a shorter call.
    for m in $W/models/llama8b-2l Tests/Fixtures/models/llama3-bf16 Tests/Fixtures/models/qwen3-bf16; do
        for mode in ${DET_MODES:-invariant default}; do
            step det_$(basename $m)_$mode 280 python3 $G/batch_invariance.py --vllm "$BIN" --model $m --mode $mode \
                --out $R/det_$(basename $m)_$mode.json
        done
    done
    cat $R/det_*.json > "$OUT/det_summary.json"
    python3 -c "
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    bad = {k: v.get('prompts_differing', v.get('error')) for k, v in r['runs'].items() if not v['identical_to_alone']}
    print(r['model'].rstrip('/').split('/')[-1], r['mode'], 'all identical' if r['all_identical'] else f'differing: {bad}',
          '(preempted)' if r['preempted'] else '(NO PREEMPTION)')" "$OUT/det_summary.json"
fi

if has_mode det8b; then
    export VLLM_CACHE_ROOT=$W/cache-det
    xz -dc .gpu/vllm-dev.xz > "$DEV" && chmod +x "$DEV"
    step det_ops_invariant_bfloat16 240 "$DEV" batch-invariance --dtype bfloat16 --json
    # Without the wait for the pinned staging of the step before last: the "steps not waited for" cases must differ.
    step det_ops_invariant_nowait_bfloat16 240 env VLLM_CUDA_STAGING_WAIT=0 "$DEV" batch-invariance --dtype bfloat16 --json
    [ -f $W/models/llama8b-2l/config.json ] ||
        step make_llama8b_2l 300 python3 $G/make_models.py --config $L8/config.json --out $W/models/llama8b-2l --layers 2
    step det_llama8b-2l_invariant 280 python3 $G/batch_invariance.py --vllm "$BIN" --model $W/models/llama8b-2l --mode invariant \
        --out $R/det_llama8b-2l_invariant.json
    python3 -c "
import json, sys
r = json.load(open(sys.argv[1]))
print('8B-2l invariant', 'all identical' if r['all_identical'] else {k: v for k, v in r['runs'].items() if not v['identical_to_alone']})
" $R/det_llama8b-2l_invariant.json
fi

if has_mode detspeed; then
    export VLLM_CACHE_ROOT=$W/cache-speed
    latency_8b latency_8b_default 150 "" "$BIN"
    latency_8b latency_8b_invariant 150 "" env VLLM_BATCH_INVARIANT=1 "$BIN"
    throughput_8b throughput_8b_1000_default 200 1000 "$BIN"
    throughput_8b throughput_8b_1000_invariant 200 1000 env VLLM_BATCH_INVARIANT=1 "$BIN"
    # The same with the GEMM algorithms chosen for 256 tokens instead of 2048 (docs/deterministic-mode.md);
    # DETSPEED_GEMM256=0 leaves it out.
    [ "${DETSPEED_GEMM256:-1}" = 1 ] && throughput_8b throughput_8b_1000_invariant_gemm256 200 1000 env VLLM_BATCH_INVARIANT=1 VLLM_BATCH_INVARIANT_GEMM_TOKENS=256 "$BIN"
    python3 -c "
import json, os, sys
r = sys.argv[1]
tps = {v: json.load(open(f'{r}/throughput_8b_1000_{v}.json'))['tokens_per_second']
       for v in ['default', 'invariant', 'invariant_gemm256'] if os.path.exists(f'{r}/throughput_8b_1000_{v}.json')}
out = {'tokens_per_second': tps, 'invariant_over_default': {v: t / tps['default'] for v, t in tps.items()} if 'default' in tps else None}
print(json.dumps(out)); open(sys.argv[2], 'w').write(json.dumps(out) + '\n')" "$R" "$OUT/detspeed_summary.json"
fi

# carveout: decode_attention alone runs on a large shared-memory carveout between products on small
# ones (ncu, 2026-12-05); every kernel on one carveout, against the driver's choice per kernel.
if has_mode carveout; then
    export VLLM_CACHE_ROOT=$W/cache-carveout
    gptq_8b_config
    for round in 1 2; do
        for c in driver 100; do
            cmd="$BIN"; [ $c = 100 ] && cmd="env VLLM_CUDA_SHARED_CARVEOUT=100 $BIN"
            latency_8b latency_8b_bf16_carveout_${c}_$round 150 "" $cmd
            latency_1x32x128 latency_8b_int4_carveout_${c}_$round 150 $W/configs/llama8b-gptq "" $cmd
        done
    done
fi

if has_mode sourceab; then
    gptq_8b_config
    xz -dc .gpu/ab_source.cu.xz > $W/ab_source.cu
    for round in $(seq 1 ${ROUNDS:-2}); do
        for v in embedded source; do
            cmd="$BIN"; [ $v = source ] && cmd="env VLLM_CUDA_KERNEL_SOURCE=$W/ab_source.cu $BIN"
            export VLLM_CACHE_ROOT=$W/cache-ab-$v
            latency_8b latency_8b_bf16_${v}_$round 150 "" $cmd
            latency_1x32x128 latency_8b_int4_${v}_$round 150 $W/configs/llama8b-gptq "" $cmd
        done
    done
    [ "${SOURCEAB_THROUGHPUT:-1}" = 1 ] && for v in embedded source; do
        cmd="$BIN"; [ $v = source ] && cmd="env VLLM_CUDA_KERNEL_SOURCE=$W/ab_source.cu $BIN"
        export VLLM_CACHE_ROOT=$W/cache-ab-$v
        throughput_8b throughput_8b_${v} 240 1000 $cmd
    done
fi

model_folders() {  # model_folders LAYERS FOLDER...: the folders, or copies cut to LAYERS layers where LAYERS is not empty
    # (copies in $W: a layer's kinds keep their shares, the head's grows, and they load in a fraction of the time)
    local layers=$1 m c; shift
    for m in "$@"; do
        if [ -n "$layers" ]; then
            c=$W/configs/$(basename $m)_${layers}l; mkdir -p $c
            python3 -c "import json;c=json.load(open('$m/config.json'));c['num_hidden_layers']=$layers;json.dump(c,open('$c/config.json','w'),indent=1)"
            m=$c
        fi
        echo $m
    done
}
ablate_model_folders() { model_folders "${ABLATE_LAYERS:-}" ${ABLATE_MODEL:-}; }
if has_mode ablate; then
    gptq_8b_config
    # The copy bandwidth in the same run: the batch-1 floor is the weights' bytes over it.
    step hf_limits 120 python3 $G/hf_bench.py --limits --out $R/hf_limits.json
    export VLLM_CACHE_ROOT=$W/cache-ablate
    # ABLATE_MODEL: other config folders instead (bf16 only; e.g. bench/gpu/configs/gemma2_9b, whose
    # kinds include rms_norm; its decode steps fuse GeGLU into gemv_geglu, which `gemv` leaves out too).
    ablate_models=$(ablate_model_folders)
    # ABLATE_DEFINES: kernel-source defines for every run (MOE_ROUTE_FIXED=1: the MoE routing fixed, so
    # that a kind left out does not change which experts' weights are read)
    source_env=""
    if [ -n "${ABLATE_DEFINES:-}" ]; then
        defined_source $ABLATE_DEFINES > $W/ablate_defines.cu
        source_env="VLLM_CUDA_KERNEL_SOURCE=$W/ablate_defines.cu"
    fi
    for skip in none ${ABLATE:-add_rms_norm rotary_write_kv attention_combine gemv}; do
        cmd="env $source_env $BIN"; [ $skip != none ] && cmd="env $source_env VLLM_CUDA_SKIP_KERNELS=$skip $BIN"
        if [ -n "$ablate_models" ]; then
            for m in $ablate_models; do latency_1x32x128 latency_$(basename $m)_skip_$skip 200 $m "" $cmd; done
            continue
        fi
        latency_8b latency_8b_bf16_skip_$skip 150 "" $cmd
        latency_1x32x128 latency_8b_int4_skip_$skip 150 $W/configs/llama8b-gptq "" $cmd
    done
fi

# latencyab: batch-1 latency (32 in / 128 out) of LATENCY_MODELS (config folders; default the 8B shape's), cut to
# LATENCY_LAYERS layers where set, with the previous build (.gpu/vllm-base.xz), this one and each of
# LATENCY_VARIANTS (|-separated lists of comma-separated NAME=VALUE: environment variables where NAME starts
# with VLLM_, kernel-source defines otherwise; one list may mix both), alternating, ROUNDS times (default 2).
if has_mode latencyab; then
    unpack_base
    latency_models=$(model_folders "${LATENCY_LAYERS:-}" ${LATENCY_MODELS:-$L8})
    IFS='|' read -ra latency_variants <<< "base|new${LATENCY_VARIANTS:+|$LATENCY_VARIANTS}"
    for round in $(seq 1 ${ROUNDS:-2}); do
        for v in "${latency_variants[@]}"; do
            t=$(echo "$v" | tr ',=' '__')
            case $v in
            base) cmd=$(variant_binary base) || continue ;;
            new) cmd=$BIN ;;
            *)  # VLLM_* items as environment variables, the others as kernel-source defines
                envs="" defs=""
                for item in $(echo "$v" | tr ',' ' '); do
                    case $item in VLLM_*) envs="$envs $item" ;; *) defs="$defs $item" ;; esac
                done
                if [ -n "$defs" ]; then
                    if [ ! -f $W/latency_$t.cu ]; then
                        defined_source $defs > $W/latency_$t.cu
                        # LATENCY_KERNEL_CHECK: 1, or |-separated variants: the variant's bf16 kernel-check first
                        [[ "${LATENCY_KERNEL_CHECK:-0}" = 1 || "|${LATENCY_KERNEL_CHECK:-}|" == *"|$v|"* ]] && step kernel_check_bfloat16_$t 200 \
                            env$envs VLLM_CACHE_ROOT=$W/cache-latency-$t VLLM_CUDA_KERNEL_SOURCE=$W/latency_$t.cu "$DEV" kernel-check --dtype bfloat16 --json
                    fi
                    envs="$envs VLLM_CUDA_KERNEL_SOURCE=$W/latency_$t.cu"
                fi
                cmd="env$envs $BIN" ;;
            esac
            export VLLM_CACHE_ROOT=$W/cache-latency-$t
            for m in $latency_models; do latency_1x32x128 latency_$(basename $m)_${t}_$round 200 $m "${LATENCY_FLAGS:-}" $cmd; done
        done
    done
fi

if has_mode attnablate; then
    xz -dc .gpu/ablate_source.cu.xz > $W/ablate_source.cu
    # ABLATE_MODEL: other config folders than the 8B shape's (cut to ABLATE_LAYERS); ATTN_ABLATE_ROUNDS: rounds (default 2).
    for ablate_model in $(ablate_model_folders | grep . || echo $L8); do
        ablate_tag=$([ $ablate_model = $L8 ] && echo 8b_bf16 || basename $ablate_model)
        for round in $(seq 1 ${ATTN_ABLATE_ROUNDS:-2}); do
            export VLLM_CACHE_ROOT=$W/cache-ablate
            latency_1x32x128 latency_${ablate_tag}_attention_full_$round 200 $ablate_model "" "$BIN"
            export VLLM_CACHE_ROOT=$W/cache-ablate-source
            latency_1x32x128 latency_${ablate_tag}_attention_none_$round 200 $ablate_model "" \
                env VLLM_CUDA_KERNEL_SOURCE=$W/ablate_source.cu "$BIN"
            latency_1x32x128 latency_${ablate_tag}_attention_none_nocombine_$round 200 $ablate_model "" \
                env VLLM_CUDA_KERNEL_SOURCE=$W/ablate_source.cu VLLM_CUDA_SKIP_KERNELS=attention_combine "$BIN"
        done
    done
fi

if has_mode attnvariants; then
    IFS='|' read -ra attention_variants <<< "${ATTN_VARIANTS:-embedded|DA_UNSPLIT_LANES=4|DA_UNSPLIT_LANES=8}"
    for v in "${attention_variants[@]}"; do
        t=$(echo "$v" | tr ',=' '__'); run=""
        if [ "$v" != embedded ]; then
            defined_source $(echo "$v" | tr ',' ' ') > $W/attention_$t.cu
            run="env VLLM_CUDA_KERNEL_SOURCE=$W/attention_$t.cu"
        fi
        export VLLM_CACHE_ROOT=$W/cache-attention-$t
        step kernel_check_bfloat16_attention_$t 150 $run "$DEV" kernel-check --dtype bfloat16 --json
        [ "${VARIANT_THROUGHPUT:-1}" = 1 ] && THROUGHPUT_FLAGS="${VARIANT_FLAGS:-}" throughput_8b throughput_8b_attention_$t 240 1000 $run "$BIN"
        latency_8b latency_8b_attention_$t 150 "${VARIANT_FLAGS:-}" $run "$BIN"
    done
fi

# decodemma: decode_attention_mma (DA_MMA) for FP8 caches and for splits of 256 keys or more. The bf16
# kernel-check (its FP8-cache cases include a decode step of enough sequences for the unsplit
# kernel), then the 8B 1000 x 1024/128 throughput with FP8 weights and the FP8 cache, bf16, FP8
# weights alone, and FP8 weights and cache with DA_MMA 0 (the lane-a-key kernels), the limits;
# last ROTARY_VECTORS 1 (16-byte rotary_write_kv): bf16 throughput and its kernel-check.
if has_mode decodemma; then
    export VLLM_CACHE_ROOT=$W/cache-decodemma
    defined_source DA_MMA=0 > $W/kernels_nomma.cu
    defined_source ROTARY_VECTORS=1 > $W/kernels_rotary.cu
    fp8kv="--quantization fp8 --kv-cache-dtype fp8"
    step kernel_check_bfloat16 150 "$DEV" kernel-check --dtype bfloat16 --json
    THROUGHPUT_FLAGS="$fp8kv" throughput_8b throughput_8b_1000_fp8_kvfp8 150 1000 "$BIN"
    throughput_8b throughput_8b_1000_bf16 150 1000 "$BIN"
    THROUGHPUT_FLAGS="--quantization fp8" throughput_8b throughput_8b_1000_fp8 150 1000 "$BIN"
    THROUGHPUT_FLAGS="$fp8kv" throughput_8b throughput_8b_1000_fp8_kvfp8_nomma 150 1000 \
        env VLLM_CACHE_ROOT=$W/cache-nomma VLLM_CUDA_KERNEL_SOURCE=$W/kernels_nomma.cu "$BIN"
    step hf_limits 120 python3 $G/hf_bench.py --limits --out $R/hf_limits.json
    throughput_8b throughput_8b_1000_bf16_rotary 150 1000 env VLLM_CACHE_ROOT=$W/cache-rotary VLLM_CUDA_KERNEL_SOURCE=$W/kernels_rotary.cu "$BIN"
    step kernel_check_bfloat16_rotary 150 env VLLM_CACHE_ROOT=$W/cache-rotary VLLM_CUDA_KERNEL_SOURCE=$W/kernels_rotary.cu \
        "$DEV" kernel-check --dtype bfloat16 --json
fi

if has_mode gemvbalance; then
    export VLLM_CACHE_ROOT=$W/cache-balance
    for round in 1 2; do
        for v in default balanced; do
            cmd="$BIN"; [ $v = balanced ] && cmd="env VLLM_CUDA_GEMV_BALANCE=1 $BIN"
            latency_1x32x128 latency_gemma2_9b_${v}_$round 150 bench/gpu/configs/gemma2_9b "" $cmd
            latency_8b latency_8b_bf16_${v}_$round 150 "" $cmd
        done
    done
fi

# ncu: one eager batch-1 run of each weight format under Nsight Compute (clocks left alone, as the
# device's METHOD.md asks), profiling the first NCU_COUNT launches whose names match NCU_KERNELS. The
# start-up's profile run and the prefill launch the norms and rotary kernels at their widest first
# (all of the first 120 launches on 2026-12-05), so the default takes the products and attention:
# the head's product of the profile run and the prefill, then the decode steps' layers. NCU_SKIP
# skips that many matching launches first: with rotary_write_kv or attention_combine in NCU_KERNELS,
# 128 passes the profile run's and the prefill's (one each a layer of the 8B shape) to the decode steps.
if has_mode ncu; then
    export VLLM_CACHE_ROOT=$W/cache-ncu
    gptq_8b_config
    NCU=$(command -v ncu || ls /usr/local/cuda/bin/ncu /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -n 1)
    # NCU_BATCH=200: the large-batch decode step instead (200 sequences of 1024 tokens, bf16 only, the
    # throughput workload's decode_attention; its prefill steps take flash_prefill, so the first launches are the decode step's).
    shape="--max-model-len 256 --batch-size 1 --input-len 32 --output-len 4"; models="bf16:$L8 int4:$W/configs/llama8b-gptq"
    if [ -n "${NCU_BATCH:-}" ]; then
        shape="--max-model-len 1100 --batch-size $NCU_BATCH --input-len 1024 --output-len 3"; models="bf16:$L8"
    fi
    for model in $models; do
        name=${model%%:*}
        step ncu_$name 240 "$NCU" --clock-control none -k "regex:${NCU_KERNELS:-gemv|decode_attention}" \
            --launch-skip ${NCU_SKIP:-0} --launch-count ${NCU_COUNT:-24} --section SpeedOfLight --section Occupancy --section LaunchStats \
            --section WarpStateStats --section SchedulerStats "$BIN" bench forward --device cuda --load-format dummy \
            --model ${model#*:} --enforce-eager $shape --warmup 0 --iterations 1 --json
        python3 $G/ncu_table.py $R/ncu_$name.out | tee $R/ncu_table_$name.txt
    done
fi

if has_mode eagle3; then
    OUT=$OUT bash $G/check_eagle3.sh
fi

python3 $G/summarize.py "$R" > "$OUT/summary.json"
cat "$OUT/summary.json"
tar -C "$W" -czf "$OUT/results.tar.gz" res
