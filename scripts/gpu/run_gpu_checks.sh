#!/usr/bin/env bash
# The whole GPU session of issue 6 in one script, run on the device machine from the repository
# root: `scripts/gpu/run_gpu_checks.sh MODE` (check, bench, all, quick, final, extra, throughput,
# baselines, startup). Needs the static `vllm` binary as .gpu/vllm.xz (built here with
# `scripts/gpu/build_binary.sh`), python3 with torch + transformers.
# Writes $OUT/log.txt, $OUT/summary.json and $OUT/results.tar.gz (every raw file).
set -u
MODE=${1:-all}
OUT=${OUT:-/tmp/gpu-out}
W=/tmp/gpuwork
R=$W/res
mkdir -p "$OUT" "$R"
exec > >(tee -a "$OUT/log.txt") 2>&1
export PYTHONUNBUFFERED=1
BIN=$W/vllm
xz -dc .gpu/vllm.xz > "$BIN" && chmod +x "$BIN" || { echo "no binary"; exit 1; }
G=scripts/gpu

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
latency_8b() {  # latency_8b NAME TIMEOUT EXTRA CMD...: Llama-3.1-8B shape, batch 1, 32 in, 128 out
    local name=$1 limit=$2 extra=$3; shift 3
    step $name $limit "$@" bench forward --device cuda --load-format dummy --model bench/gpu/configs/llama3_1_8b \
        --max-model-len 2048 --batch-size 1 --input-len 32 --output-len 128 --warmup 1 --iterations 3 --json $extra
}
throughput_8b() {  # throughput_8b NAME TIMEOUT PROMPTS CMD...: vLLM's random dataset, 1024 in, 128 out
    local name=$1 limit=$2 prompts=$3; shift 3
    step $name $limit "$@" bench throughput --device cuda --load-format dummy --model bench/gpu/configs/llama3_1_8b \
        --max-model-len 2048 --input-len 1024 --output-len 128 --num-prompts $prompts --max-num-batched-tokens 8192 \
        --max-num-seqs 256 --output-json $R/$name.json
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

# quick: kernel checks, three fixtures against transformers and our benchmarks only (no transformers
# benchmark), for a second run after a kernel change.
# final: kernel checks, two fixtures end to end, and vLLM's throughput benchmark (1000 prompts).
if [ "$MODE" = check ] || [ "$MODE" = all ] || [ "$MODE" = quick ] || [ "$MODE" = final ] || [ "$MODE" = round2 ]; then
    export VLLM_CACHE_ROOT=$W/cache
    step kernel_check_float32_cold 60 "$BIN" kernel-check --dtype float32 --json
    step kernel_check_float32_warm 60 "$BIN" kernel-check --dtype float32 --json
    step kernel_check_bfloat16 60 "$BIN" kernel-check --dtype bfloat16 --json
    step kernel_check_float16 60 "$BIN" kernel-check --dtype float16 --json

    # Real shapes, few layers: Llama-3.1-8B and Qwen3-0.6B with 2 layers, random bf16 weights.
    [ "$MODE" = final ] || [ "$MODE" = quick ] || [ "$MODE" = round2 ] || step make_llama8b_2l 300 python3 $G/make_models.py --config bench/gpu/configs/llama3_1_8b/config.json --out $W/models/llama8b-2l --layers 2
    [ "$MODE" = final ] || [ "$MODE" = quick ] || [ "$MODE" = round2 ] || step make_qwen3_2l 300 python3 $G/make_models.py --config bench/gpu/configs/qwen3_0_6b/config.json --out $W/models/qwen3-0.6b-2l --layers 2
    MODELS="Tests/Fixtures/models/*/ $W/models/*/"
    [ "$MODE" = quick ] && MODELS="Tests/Fixtures/models/llama3/ Tests/Fixtures/models/qwen3-bf16/ Tests/Fixtures/models/qwen2-fp16/"
    [ "$MODE" = final ] || [ "$MODE" = round2 ] && MODELS="Tests/Fixtures/models/llama3/ Tests/Fixtures/models/qwen3-bf16/"
    for m in $MODELS; do
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

if [ "$MODE" = bench ] || [ "$MODE" = all ] || [ "$MODE" = quick ]; then
    export VLLM_CACHE_ROOT=$W/cache
    L8=bench/gpu/configs/llama3_1_8b
    Q06=bench/gpu/configs/qwen3_0_6b
    for shape in 1x32x128 64x1024x128; do
        IFS=x read b i o <<< "$shape"
        step ours_bench_llama8b_$shape 400 "$BIN" bench forward --device cuda --load-format dummy --model $L8 --max-model-len 2048 \
            --batch-size $b --input-len $i --output-len $o --warmup 1 --iterations 2 --json
    done
    # Without CUDA graphs, and long-context decodes at small batches (split-KV attention).
    step ours_bench_llama8b_1x32x128_eager 400 "$BIN" bench forward --device cuda --load-format dummy --model $L8 --max-model-len 2048 \
        --batch-size 1 --input-len 32 --output-len 128 --warmup 1 --iterations 2 --json --enforce-eager
    # The kernels of the working tree instead of the embedded ones (a kernel change tried without
    # rebuilding the binary): checked, then the batch-1 decode.
    # (The binary joins the .cu files in this order; .gpu/kernels.cu.xz is what it embedded.)
    (cat Sources/VLLMCUDA/Kernels/kernels.cu; echo; cat Sources/VLLMCUDA/Kernels/sampling.cu; echo; cat Sources/VLLMCUDA/Kernels/flash_prefill.cu) > $W/worktree_kernels.cu
    if ! cmp -s $W/worktree_kernels.cu <(xz -dc .gpu/kernels.cu.xz 2>/dev/null); then
        step kernel_check_bfloat16_worktree 60 env VLLM_CUDA_KERNEL_SOURCE=$W/worktree_kernels.cu "$BIN" kernel-check --dtype bfloat16 --json
        step ours_bench_llama8b_1x32x128_worktree 400 env VLLM_CUDA_KERNEL_SOURCE=$W/worktree_kernels.cu "$BIN" bench forward \
            --device cuda --load-format dummy --model $L8 --max-model-len 2048 --batch-size 1 --input-len 32 --output-len 128 --warmup 1 --iterations 2 --json
    fi
    # Device time per operation (eager, events around each launch): where a decode step's time goes.
    step ours_profile_llama8b_1x32x128 400 env VLLM_CUDA_PROFILE=1 "$BIN" bench forward --device cuda --load-format dummy \
        --model $L8 --max-model-len 2048 --batch-size 1 --input-len 32 --output-len 128 --warmup 0 --iterations 1 --json
    # The throughput workload at 200 prompts, profiled: device time per operation by step kind,
    # against the run's wall time (the rest is host work between steps).
    step ours_profile_throughput_llama8b_200 300 env VLLM_CUDA_PROFILE=1 "$BIN" bench throughput --device cuda --load-format dummy \
        --model $L8 --max-model-len 2048 --input-len 1024 --output-len 128 --num-prompts 200 --max-num-batched-tokens 8192 \
        --max-num-seqs 256 --output-json $R/ours_throughput_profiled_200.json
    for shape in 1x4000x64 8x2000x64; do
        IFS=x read b i o <<< "$shape"
        step ours_bench_llama8b_$shape 400 "$BIN" bench forward --device cuda --load-format dummy --model $L8 --max-model-len 4096 \
            --batch-size $b --input-len $i --output-len $o --warmup 1 --iterations 2 --json
    done
    # The same batch-1 decode with cuBLASLt instead of our matrix-vector kernel, for comparison.
    step ours_bench_llama8b_1x32x128_cublaslt 400 env VLLM_CUDA_GEMV=0 "$BIN" bench forward --device cuda --load-format dummy \
        --model $L8 --max-model-len 2048 --batch-size 1 --input-len 32 --output-len 128 --warmup 1 --iterations 2 --json
    step ours_bench_qwen06_256x512x128 300 "$BIN" bench forward --device cuda --load-format dummy --model $Q06 --max-model-len 2048 \
        --batch-size 256 --input-len 512 --output-len 128 --warmup 1 --iterations 2 --json
    [ "$MODE" = quick ] || step hf_bench_llama8b 500 python3 $G/hf_bench.py --limits --config $L8 --shapes 1x32x128,64x1024x128 --out $R/hf_llama8b.json
    [ "$MODE" = quick ] || step hf_bench_qwen06 300 python3 $G/hf_bench.py --config $Q06 --shapes 256x512x128 --out $R/hf_qwen06.json
fi

# extra: vLLM's offline throughput benchmark (random dataset, 1000 prompts of 1024 tokens, 128 out;
# temperature 1, so sampling runs on the host) and start-up time of a real 8B safetensors folder
# (page cache warm) with a cold and then a warm kernel cache.
# throughput: the same workload at 200 prompts through vLLM's benchmark (temperature 1: sampling on
# the host), and all 1000 prompts greedily through `vllm generate` (sampling on the GPU).
if [ "$MODE" = throughput ]; then
    L8=bench/gpu/configs/llama3_1_8b
    export VLLM_CACHE_ROOT=$W/cache-extra
    step ours_throughput_llama8b_200 240 "$BIN" bench throughput --device cuda --load-format dummy --model $L8 --max-model-len 2048 \
        --input-len 1024 --output-len 128 --num-prompts 200 --max-num-batched-tokens 8192 --max-num-seqs 256 \
        --output-json $R/ours_throughput_llama8b_200.json
    python3 -c "
import random, json
random.seed(0)
for _ in range(1000):
    print(json.dumps({'prompt_token_ids': [random.randrange(0, 128000) for _ in range(1024)]}))" > $W/prompts1000.jsonl
    s=$(date +%s%N)
    step ours_generate_greedy_llama8b_1000 300 "$BIN" generate --device cuda --load-format dummy --model $L8 --max-model-len 2048 \
        --prompts-file $W/prompts1000.jsonl --max-tokens 128 --temperature 0 --ignore-eos --json \
        --max-num-batched-tokens 8192 --max-num-seqs 256
    echo "{\"greedy_1000_wall_seconds_including_load\": $(( ($(date +%s%N) - s) / 1000000 )).0e-3}" | tee $R/startup_greedy1000.json
    grep -c token_ids $R/ours_generate_greedy_llama8b_1000.out
fi

if [ "$MODE" = final ]; then
    step ours_throughput_llama8b_1000 300 "$BIN" bench throughput --device cuda --load-format dummy \
        --model bench/gpu/configs/llama3_1_8b --max-model-len 2048 --input-len 1024 --output-len 128 --num-prompts 1000 \
        --max-num-batched-tokens 8192 --max-num-seqs 256 --output-json $R/ours_throughput_llama8b_1000.json
fi

if [ "$MODE" = extra ]; then
    L8=bench/gpu/configs/llama3_1_8b
    export VLLM_CACHE_ROOT=$W/cache-extra
    step ours_throughput_llama8b 300 "$BIN" bench throughput --device cuda --load-format dummy --model $L8 --max-model-len 2048 \
        --input-len 1024 --output-len 128 --num-prompts 1000 --max-num-batched-tokens 8192 --max-num-seqs 256 \
        --output-json $R/ours_throughput_llama8b.json
    step make_llama8b_full 300 python3 $G/make_models.py --config $L8/config.json --out $W/models8b/llama8b --layers 32
    cat $W/models8b/llama8b/*.safetensors > /dev/null
    rm -rf "$VLLM_CACHE_ROOT"
    for start in cold warm; do
        s=$(date +%s%N)
        "$BIN" generate --device cuda --model $W/models8b/llama8b --prompt-token-ids 1,2,3,4 --max-tokens 1 --temperature 0 \
            --max-model-len 2048 --json > $R/startup_$start.out 2> $R/startup_$start.err
        echo "{\"startup_${start}_seconds\": $(( ($(date +%s%N) - s) / 1000000 )).0e-3}" | tee $R/startup_$start.json
    done
fi

# baselines: transformers beside us on identical request files (make_dataset.py). Qwen3-0.6B shape,
# 256 requests with input and output lengths uniform in 100..1024: `vllm bench throughput
# --dataset-path`, then transformers' continuous batching on the same file. Then the 8B workload
# (1000 x 1024 in, 128 out) through transformers only, until its time limit (ours: the `final` mode).
# Both sample at temperature 1 with EOS ignored, as vLLM's benchmark does.
if [ "$MODE" = baselines ]; then
    L8=bench/gpu/configs/llama3_1_8b
    Q06=bench/gpu/configs/qwen3_0_6b
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

# startup: `vllm serve` of a real 32-layer 8B safetensors folder (page cache warm) until its first
# answered completion, with an empty kernel cache and then with the kernels it left there.
if [ "$MODE" = startup ]; then
    L8=bench/gpu/configs/llama3_1_8b
    step make_llama8b_full 300 python3 $G/make_models.py --config $L8/config.json --out $W/models8b/llama8b --layers 32
    cat $W/models8b/llama8b/*.safetensors > /dev/null
    rm -rf $W/cache-serve
    for start in cold warm; do
        step startup_serve_$start 120 python3 $G/startup_serve.py --binary "$BIN" --model $W/models8b/llama8b \
            --cache-root $W/cache-serve --timeout 100 --out $R/startup_serve_$start.json --extra-args --max-model-len 2048
    done
fi

# round2: the checks above, then every benchmark of issue 6 but the 8B continuous-batching baseline
# and start-up (round3), each side by side with transformers in this run: batch-1 latency (with and
# without programmatic dependent launch and CUDA graphs), vLLM's throughput workload, the small-model
# workload, transformers' static batches and the machine's limits.
if [ "$MODE" = round2 ]; then
    L8=bench/gpu/configs/llama3_1_8b
    Q06=bench/gpu/configs/qwen3_0_6b
    export VLLM_CACHE_ROOT=$W/cache
    for variant in default pdl_off eager; do
        extra=""; envs=""
        [ $variant = pdl_off ] && envs="VLLM_CUDA_PDL=0"
        [ $variant = eager ] && extra="--enforce-eager"
        step ours_bench_llama8b_1x32x128_$variant 200 env $envs "$BIN" bench forward --device cuda --load-format dummy --model $L8 \
            --max-model-len 2048 --batch-size 1 --input-len 32 --output-len 128 --warmup 1 --iterations 3 --json $extra
    done
    throughput_8b ours_throughput_llama8b_1000 200 1000 "$BIN"
    qwen06_dataset
    throughput_qwen06 120
    step hf_bench_llama8b 200 python3 $G/hf_bench.py --limits --config $L8 --shapes 1x32x128,64x1024x128 --out $R/hf_llama8b.json
    step hf_continuous_qwen06 200 python3 $G/hf_continuous.py --config $Q06 --dataset $W/dataset_qwen06.jsonl --do-sample \
        --time-limit 120 --out $R/hf_continuous_qwen06.json
fi

# round3: which launch/attention switch a kernel-check failure follows (and compute-sanitizer on it),
# a real-shape model (Llama-3.1-8B, 2 layers: head_dim 128, so decodes take decode_attention)
# against transformers with graphs and eager, start-up of `vllm serve` on a real 8B folder, and
# transformers' continuous batching on the 8B workload with whatever time is left.
if [ "$MODE" = round3 ]; then
    L8=bench/gpu/configs/llama3_1_8b
    end=$(( $(date +%s) + 500 ))
    export VLLM_CACHE_ROOT=$W/cache
    for variant in default pdl_off decode_off both_off; do
        envs="X=1"
        [ $variant = pdl_off ] && envs="VLLM_CUDA_PDL=0"
        [ $variant = decode_off ] && envs="VLLM_CUDA_DECODE_ATTENTION=0"
        [ $variant = both_off ] && envs="VLLM_CUDA_PDL=0 VLLM_CUDA_DECODE_ATTENTION=0"
        step kernel_check_bfloat16_$variant 60 env $envs "$BIN" kernel-check --dtype bfloat16 --json
    done
    SAN=$(ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null)
    [ -n "$SAN" ] && step sanitizer_kernel_check 100 $SAN --tool memcheck --print-limit 20 "$BIN" kernel-check --dtype bfloat16 --json
    step make_llama8b_2l 120 python3 $G/make_models.py --config $L8/config.json --out $W/models/llama8b-2l --layers 2
    m=$W/models/llama8b-2l; name=llama8b-2l
    python3 -c "
import random, json
random.seed(7)
for n in (40, 23, 7, 61, 300):
    print(json.dumps({'prompt_token_ids': [random.randrange(3, 128000) for _ in range(n)]}))" > $R/$name.prompts.jsonl
    step hf_$name 150 python3 $G/hf_reference.py --model "$m" --prompts $R/$name.prompts.jsonl --dtypes bfloat16 \
        --out-prefix $R/hf_$name --greedy 32
    step ours_${name}_bfloat16 90 "$BIN" logits --device cuda --dtype bfloat16 --model "$m" --prompts-file $R/$name.prompts.jsonl \
        --out $R/ours_${name}_bfloat16.bin --chunked --max-model-len 2048
    for variant in default eager; do
        extra=""; [ $variant = eager ] && extra="--enforce-eager"
        step ours_${name}_greedy_$variant 90 "$BIN" generate --device cuda --dtype bfloat16 --model "$m" --prompts-file $R/$name.prompts.jsonl \
            --max-tokens 32 --temperature 0 --ignore-eos --json --num-gpu-blocks-override 512 --max-model-len 2048 $extra
    done
    python3 $G/compare.py --name "$name bfloat16 chunked (decode steps)" --vocab 128256 --ours $R/ours_${name}_bfloat16.bin \
        --ref $R/hf_${name}_bfloat16.bin --ours-greedy $R/ours_${name}_greedy_default.out --ref-greedy $R/hf_${name}_bfloat16.greedy.json | tee -a $R/compare.jsonl
    python3 $G/compare.py --name "$name graphs vs eager" --vocab 128256 --ours-greedy $R/ours_${name}_greedy_default.out \
        --ref-greedy $R/ours_${name}_greedy_eager.out | tee -a $R/compare.jsonl
    rm -f $R/*.bin
    step make_llama8b_full 150 python3 $G/make_models.py --config $L8/config.json --out $W/models8b/llama8b --layers 32
    cat $W/models8b/llama8b/*.safetensors > /dev/null
    rm -rf $W/cache-serve
    for start in cold warm; do
        step startup_serve_$start 60 python3 $G/startup_serve.py --binary "$BIN" --model $W/models8b/llama8b \
            --cache-root $W/cache-serve --timeout 50 --out $R/startup_serve_$start.json --extra-args --max-model-len 2048
    done
    left=$(( end - $(date +%s) ))
    if [ $left -ge 120 ]; then
        python3 $G/make_dataset.py --num-prompts 1000 --input-min 1024 --input-max 1024 --output-min 128 --output-max 128 \
            --vocab 128256 --seed 0 --out $W/dataset_llama8b.jsonl
        step hf_continuous_llama8b $left python3 $G/hf_continuous.py --config $L8 --dataset $W/dataset_llama8b.jsonl --do-sample \
            --time-limit $(( left - 90 )) --out $R/hf_continuous_llama8b.json
    fi
fi

# round4: the rebuilt binary's kernel checks from a cold kernel cache (compile time of one dtype,
# sampling on the GPU against the host), seeded sampling through the engine twice (must repeat),
# and the batch-1 decode again.
if [ "$MODE" = round4 ]; then
    export VLLM_CACHE_ROOT=$W/cache4
    rm -rf $VLLM_CACHE_ROOT
    for dt in bfloat16 float16 float32; do
        step kernel_check_${dt}_cold 90 "$BIN" kernel-check --dtype $dt --json
    done
    step kernel_check_bfloat16_warm 60 "$BIN" kernel-check --dtype bfloat16 --json
    for run in 1 2; do
        step ours_seeded_sampling_$run 60 "$BIN" generate --device cuda --model Tests/Fixtures/models/qwen3-bf16 \
            --prompt-token-ids 5,6,7,8,9 --prompt-token-ids 11,12 --max-tokens 16 --temperature 0.8 --top-p 0.9 --top-k 20 \
            --min-p 0.02 --repetition-penalty 1.1 --seed 7 --logprobs 3 --ignore-eos --json
    done
    python3 -c "
import json, sys
runs = [[json.loads(l) for l in open(f'$R/ours_seeded_sampling_{i}.out') if l.startswith('{')] for i in (1, 2)]
ids = [[o['outputs'][0]['token_ids'] for o in r] for r in runs]
print(json.dumps({'seeded_sampling_repeats': len(ids[0]) == 2 and ids[0] == ids[1], 'token_ids': ids[0]}))" > $R/startup_seeded.json
    step ours_bench_llama8b_1x32x128 150 "$BIN" bench forward --device cuda --load-format dummy --model bench/gpu/configs/llama3_1_8b \
        --max-model-len 2048 --batch-size 1 --input-len 32 --output-len 128 --warmup 1 --iterations 3 --json
fi

# round5: fewer kernels per decode step (rotary with the cache write, SwiGLU inside the gate/up
# matrix-vector kernel, split-KV merged by the last split, many-block argmax, double-buffered
# matrix-vector loads). Kernel checks from a cold cache (and the matrix-vector timings again with
# GEMV_DEPTH 4 through VLLM_CUDA_KERNEL_SOURCE), two fixtures against transformers with graphs and
# eager, then batch-1 latency of this binary beside the previous one (.gpu/vllm-base.xz) in the
# same run, a profile, and the two throughput workloads. BASE=0 skips the previous binary.
if [ "$MODE" = round5 ]; then
    L8=bench/gpu/configs/llama3_1_8b
    Q06=bench/gpu/configs/qwen3_0_6b
    export VLLM_CACHE_ROOT=$W/cache5
    rm -rf $VLLM_CACHE_ROOT
    for dt in bfloat16 float16 float32; do
        step kernel_check_${dt}_cold 90 "$BIN" kernel-check --dtype $dt --json
    done
    (echo "#define GEMV_DEPTH 4"; cat Sources/VLLMCUDA/Kernels/kernels.cu; echo; cat Sources/VLLMCUDA/Kernels/sampling.cu; echo
     cat Sources/VLLMCUDA/Kernels/flash_prefill.cu) > $W/depth4.cu
    step kernel_check_bfloat16_gemv_depth4 90 env VLLM_CUDA_KERNEL_SOURCE=$W/depth4.cu "$BIN" kernel-check --dtype bfloat16 --json
    for m in Tests/Fixtures/models/llama3 Tests/Fixtures/models/qwen3-bf16; do
        name=$(basename "$m")
        vocab=$(python3 -c "import json;print(json.load(open('$m/config.json'))['vocab_size'])")
        python3 -c "
import random, json
random.seed(7)
print(json.dumps({'prompt_token_ids': json.load(open('$m/reference.json'))['prompt_ids']}))
for n in (40, 23, 7, 61):
    print(json.dumps({'prompt_token_ids': [random.randrange(3, $vocab) for _ in range(n)]}))" > $R/$name.prompts.jsonl
        step hf_${name} 150 python3 $G/hf_reference.py --model "$m" --prompts $R/$name.prompts.jsonl --dtypes float32,bfloat16 \
            --out-prefix $R/hf_${name} --greedy 32
        for dt in float32 bfloat16; do
            step ours_${name}_${dt}_chunked 90 "$BIN" logits --device cuda --dtype $dt --model "$m" --prompts-file $R/$name.prompts.jsonl \
                --out $R/ours_${name}_${dt}_chunked.bin --chunked --max-model-len 2048
            for variant in graphs eager; do
                extra=""; [ $variant = eager ] && extra="--enforce-eager"
                step ours_${name}_${dt}_greedy_$variant 90 "$BIN" generate --device cuda --dtype $dt --model "$m" \
                    --prompts-file $R/$name.prompts.jsonl --max-tokens 32 --temperature 0 --ignore-eos --json \
                    --num-gpu-blocks-override 512 --max-model-len 2048 $extra
            done
            python3 $G/compare.py --name "${name} $dt chunked" --vocab $vocab --ours $R/ours_${name}_${dt}_chunked.bin \
                --ref $R/hf_${name}_$dt.bin --ours-greedy $R/ours_${name}_${dt}_greedy_graphs.out \
                --ref-greedy $R/hf_${name}_$dt.greedy.json | tee -a $R/compare.jsonl
            python3 $G/compare.py --name "${name} $dt graphs vs eager" --vocab $vocab --ours-greedy $R/ours_${name}_${dt}_greedy_graphs.out \
                --ref-greedy $R/ours_${name}_${dt}_greedy_eager.out | tee -a $R/compare.jsonl
        done
        rm -f $R/*.bin
    done
    unpack_base
    for variant in new base new_eager; do
        b="$BIN"; extra=""
        [ $variant = base ] && { [ -x $BASE_BIN ] || continue; b=$BASE_BIN; }
        [ $variant = new_eager ] && extra="--enforce-eager"
        latency_8b ours_bench_llama8b_1x32x128_$variant 150 "$extra" "$b"
    done
    step ours_profile_llama8b_1x32x128 150 env VLLM_CUDA_PROFILE=1 "$BIN" bench forward --device cuda --load-format dummy \
        --model $L8 --max-model-len 2048 --batch-size 1 --input-len 32 --output-len 128 --warmup 0 --iterations 1 --json
    throughput_8b ours_throughput_llama8b_1000 200 1000 "$BIN"
    qwen06_dataset
    throughput_qwen06 120
fi

# round6a: the merged binary (fused decode kernels, flash_prefill, async scheduling): kernel checks
# cold, a real-shape model (Llama-3.1-8B, 2 layers, head size 128: prefill through flash_prefill,
# decodes through decode_attention) and two fixtures against transformers, greedy tokens with graphs,
# eager and without async scheduling, and seeded sampling repeated with and without async scheduling.
if [ "$MODE" = round6a ]; then
    L8=bench/gpu/configs/llama3_1_8b
    export VLLM_CACHE_ROOT=$W/cache6
    rm -rf $VLLM_CACHE_ROOT
    for dt in bfloat16 float16 float32; do
        step kernel_check_${dt}_cold 120 "$BIN" kernel-check --dtype $dt --json
    done
    step make_llama8b_2l 150 python3 $G/make_models.py --config $L8/config.json --out $W/models/llama8b-2l --layers 2
    for m in $W/models/llama8b-2l Tests/Fixtures/models/llama3 Tests/Fixtures/models/qwen3-bf16; do
        name=$(basename "$m")
        vocab=$(python3 -c "import json;print(json.load(open('$m/config.json'))['vocab_size'])")
        model_prompts "$m" 40 23 7 61 300 > $R/$name.prompts.jsonl
        step hf_${name} 150 python3 $G/hf_reference.py --model "$m" --prompts $R/$name.prompts.jsonl --dtypes bfloat16 \
            --out-prefix $R/hf_${name} --greedy 32
        for chunking in whole chunked; do
            extra=""; [ $chunking = chunked ] && extra="--chunked"
            step ours_${name}_$chunking 90 "$BIN" logits --device cuda --dtype bfloat16 --model "$m" --prompts-file $R/$name.prompts.jsonl \
                --out $R/ours_${name}_$chunking.bin --max-model-len 2048 $extra
        done
        for variant in graphs eager sync; do
            extra=""; [ $variant = eager ] && extra="--enforce-eager"; [ $variant = sync ] && extra="--no-async-scheduling"
            step ours_${name}_greedy_$variant 90 "$BIN" generate --device cuda --dtype bfloat16 --model "$m" \
                --prompts-file $R/$name.prompts.jsonl --max-tokens 32 --temperature 0 --ignore-eos --json \
                --num-gpu-blocks-override 512 --max-model-len 2048 $extra
        done
        python3 $G/compare.py --name "${name} bfloat16 whole prompts" --vocab $vocab --ours $R/ours_${name}_whole.bin \
            --ref $R/hf_${name}_bfloat16.bin --ours-greedy $R/ours_${name}_greedy_graphs.out \
            --ref-greedy $R/hf_${name}_bfloat16.greedy.json | tee -a $R/compare.jsonl
        python3 $G/compare.py --name "${name} bfloat16 chunked" --vocab $vocab --ours $R/ours_${name}_chunked.bin \
            --ref $R/hf_${name}_bfloat16.bin | tee -a $R/compare.jsonl
        for variant in eager sync; do
            python3 $G/compare.py --name "${name} bfloat16 graphs+async vs $variant" --vocab $vocab \
                --ours-greedy $R/ours_${name}_greedy_graphs.out --ref-greedy $R/ours_${name}_greedy_$variant.out | tee -a $R/compare.jsonl
        done
        rm -f $R/*.bin
    done
    for variant in async1 async2 sync; do
        extra=""; [ $variant = sync ] && extra="--no-async-scheduling"
        step ours_seeded_sampling_$variant 60 "$BIN" generate --device cuda --model Tests/Fixtures/models/qwen3-bf16 \
            --prompt-token-ids 5,6,7,8,9 --prompt-token-ids 11,12 --max-tokens 16 --temperature 0.8 --top-p 0.9 --top-k 20 \
            --min-p 0.02 --seed 7 --logprobs 3 --ignore-eos --json $extra
    done
    python3 -c "
import json
runs = {v: [json.loads(l) for l in open(f'$R/ours_seeded_sampling_{v}.out') if l.startswith('{')] for v in ('async1', 'async2', 'sync')}
ids = {v: [o['outputs'][0]['token_ids'] for o in r] for v, r in runs.items()}
print(json.dumps({'repeats': ids['async1'] == ids['async2'] and len(ids['async1']) == 2, 'async_equals_sync': ids['async1'] == ids['sync'], 'token_ids': ids}))" > $R/startup_seeded_sampling.json
fi

# round6b: speed of the merged binary beside the previous one (.gpu/vllm-base.xz) in the same run:
# batch-1 decode (async on and off, eager), a profile, vLLM's throughput workload (8- and 4-warp
# flash_prefill, and async off), the small-model workload.
if [ "$MODE" = round6b ]; then
    L8=bench/gpu/configs/llama3_1_8b
    Q06=bench/gpu/configs/qwen3_0_6b
    export VLLM_CACHE_ROOT=$W/cache6
    unpack_base
    # The previous binary's kernel timings on this machine (matrix-vector GB/s beside this one's).
    [ -x $BASE_BIN ] && step kernel_check_bfloat16_base 90 $BASE_BIN kernel-check --dtype bfloat16 --json
    step kernel_check_bfloat16_new 90 "$BIN" kernel-check --dtype bfloat16 --json
    for variant in new base new_sync new_eager; do
        b="$BIN"; extra=""
        [ $variant = base ] && { [ -x $BASE_BIN ] || continue; b=$BASE_BIN; }
        [ $variant = new_sync ] && extra="--no-async-scheduling"
        [ $variant = new_eager ] && extra="--enforce-eager"
        latency_8b ours_bench_llama8b_1x32x128_$variant 150 "$extra" "$b"
    done
    step ours_profile_llama8b_1x32x128 150 env VLLM_CUDA_PROFILE=1 "$BIN" bench forward --device cuda --load-format dummy \
        --model $L8 --max-model-len 2048 --batch-size 1 --input-len 32 --output-len 128 --warmup 0 --iterations 1 --json
    for variant in default w4; do
        envs="X=1"; [ $variant = w4 ] && envs="VLLM_CUDA_FLASH2=4"
        throughput_8b ours_throughput_llama8b_1000_$variant 150 1000 env $envs "$BIN"
    done
    qwen06_dataset
    throughput_qwen06 120
    step ours_profile_throughput_200 150 env VLLM_CUDA_PROFILE=1 "$BIN" bench throughput --device cuda --load-format dummy --model $L8 \
        --max-model-len 2048 --input-len 1024 --output-len 128 --num-prompts 200 --max-num-batched-tokens 8192 --max-num-seqs 256 \
        --output-json $R/ours_profile_throughput_200.json
fi

# round7a: the issue's speed table in one run: the machine's limits and transformers' static
# batches (hf_bench.py), batch-1 latency of this binary and of the previous one, vLLM's throughput
# workload and the small-model workload.
if [ "$MODE" = round7a ]; then
    L8=bench/gpu/configs/llama3_1_8b
    Q06=bench/gpu/configs/qwen3_0_6b
    export VLLM_CACHE_ROOT=$W/cache7
    step hf_bench_llama8b 240 python3 $G/hf_bench.py --limits --config $L8 --shapes 1x32x128,64x1024x128 --out $R/hf_llama8b.json
    unpack_base
    for variant in new base; do
        b="$BIN"; [ $variant = base ] && { [ -x $BASE_BIN ] || continue; b=$BASE_BIN; }
        latency_8b ours_bench_llama8b_1x32x128_$variant 150 "" "$b"
    done
    throughput_8b ours_throughput_llama8b_1000 150 1000 "$BIN"
    qwen06_dataset
    throughput_qwen06 120
fi

# round7b: start-up of `vllm serve` on a real 32-layer 8B folder, cold kernel cache then warm, and
# transformers' continuous batching on the small-model request file in the same run.
if [ "$MODE" = round7b ]; then
    L8=bench/gpu/configs/llama3_1_8b
    Q06=bench/gpu/configs/qwen3_0_6b
    step make_llama8b_full 200 python3 $G/make_models.py --config $L8/config.json --out $W/models8b/llama8b --layers 32
    cat $W/models8b/llama8b/*.safetensors > /dev/null
    rm -rf $W/cache-serve
    for start in cold warm; do
        step startup_serve_$start 90 python3 $G/startup_serve.py --binary "$BIN" --model $W/models8b/llama8b \
            --cache-root $W/cache-serve --timeout 80 --out $R/startup_serve_$start.json --extra-args --max-model-len 2048
    done
    qwen06_dataset
    step hf_continuous_qwen06 200 python3 $G/hf_continuous.py --config $Q06 --dataset $W/dataset_qwen06.jsonl --do-sample \
        --time-limit 120 --out $R/hf_continuous_qwen06.json
fi

# round8: the last binary of the session (kernel-check against float64 references, 16-byte
# silu_and_mul): kernel checks, the 8B-shape 2-layer model against transformers, and the speed
# table's three engine workloads again beside the previous binary.
if [ "$MODE" = round8 ]; then
    L8=bench/gpu/configs/llama3_1_8b
    export VLLM_CACHE_ROOT=$W/cache8
    for dt in bfloat16 float16 float32; do
        step kernel_check_${dt}_cold 120 "$BIN" kernel-check --dtype $dt --json
    done
    step make_llama8b_2l 150 python3 $G/make_models.py --config $L8/config.json --out $W/models/llama8b-2l --layers 2
    m=$W/models/llama8b-2l; name=llama8b-2l
    python3 -c "
import random, json
random.seed(7)
for n in (40, 23, 7, 61, 300):
    print(json.dumps({'prompt_token_ids': [random.randrange(3, 128000) for _ in range(n)]}))" > $R/$name.prompts.jsonl
    step hf_$name 150 python3 $G/hf_reference.py --model "$m" --prompts $R/$name.prompts.jsonl --dtypes bfloat16 \
        --out-prefix $R/hf_$name --greedy 32
    step ours_${name}_whole 90 "$BIN" logits --device cuda --dtype bfloat16 --model "$m" --prompts-file $R/$name.prompts.jsonl \
        --out $R/ours_${name}_whole.bin --max-model-len 2048
    step ours_${name}_greedy 90 "$BIN" generate --device cuda --dtype bfloat16 --model "$m" --prompts-file $R/$name.prompts.jsonl \
        --max-tokens 32 --temperature 0 --ignore-eos --json --num-gpu-blocks-override 512 --max-model-len 2048
    python3 $G/compare.py --name "$name bfloat16 whole prompts" --vocab 128256 --ours $R/ours_${name}_whole.bin \
        --ref $R/hf_${name}_bfloat16.bin --ours-greedy $R/ours_${name}_greedy.out --ref-greedy $R/hf_${name}_bfloat16.greedy.json | tee -a $R/compare.jsonl
    rm -f $R/*.bin
    unpack_base
    latency_8b ours_bench_llama8b_1x32x128_new 150 "" "$BIN"
    [ -x $BASE_BIN ] && latency_8b ours_bench_llama8b_1x32x128_base 150 "" $BASE_BIN
    throughput_8b ours_throughput_llama8b_1000 150 1000 "$BIN"
    qwen06_dataset
    throughput_qwen06 120
fi

# round9: greedy tokens of every fixture against transformers' argmax with EOS allowed (the
# reference used min_new_tokens before, which bans EOS where `--ignore-eos` only keeps going).
if [ "$MODE" = round9 ]; then
    export VLLM_CACHE_ROOT=$W/cache9
    for m in Tests/Fixtures/models/*/; do
        m=${m%/}; name=$(basename "$m")
        [ -f "$m/config.json" ] || continue
        vocab=$(python3 -c "import json;print(json.load(open('$m/config.json'))['vocab_size'])")
        lowp=$(python3 -c "import json;c=json.load(open('$m/config.json'));d=c.get('dtype') or c.get('torch_dtype');print('float16' if d=='float16' else 'bfloat16')")
        model_prompts "$m" 40 23 7 61 > $R/$name.prompts.jsonl
        step hf_${name} 120 python3 $G/hf_reference.py --model "$m" --prompts $R/$name.prompts.jsonl --dtypes float32,$lowp \
            --out-prefix $R/hf_${name} --greedy 32
        for dt in float32 $lowp; do
            step ours_${name}_${dt}_greedy 60 "$BIN" generate --device cuda --dtype $dt --model "$m" --prompts-file $R/$name.prompts.jsonl \
                --max-tokens 32 --temperature 0 --ignore-eos --json --num-gpu-blocks-override 512 --max-model-len 2048
            python3 $G/compare.py --name "${name} $dt greedy" --vocab $vocab --ours-greedy $R/ours_${name}_${dt}_greedy.out \
                --ref-greedy $R/hf_${name}_$dt.greedy.json | tee -a $R/compare.jsonl
        done
        rm -f $R/*.bin
    done
fi


# verify: the structure change (issue 12) and speculative decoding (issue 16) in one run: kernel
# checks against float64, the machine's limits with transformers' batch-1 generate, the issue-6
# workloads for this binary and the previous one (.gpu/vllm-base.xz) alternating, and batch-1
# n-gram speculation on prompts that repeat themselves and on random ones.
if [ "$MODE" = verify ]; then
    L8=bench/gpu/configs/llama3_1_8b
    export VLLM_CACHE_ROOT=$W/cachev
    for dt in bfloat16 float16 float32; do
        step kernel_check_${dt} 120 "$BIN" kernel-check --dtype $dt --json
    done
    step hf_bench_llama8b 240 python3 $G/hf_bench.py --limits --config $L8 --shapes 1x32x128 --out $R/hf_llama8b.json
    unpack_base
    qwen06_dataset
    for round in 1 2; do
        for variant in new base; do
            b="$BIN"; [ $variant = base ] && { [ -x $BASE_BIN ] || continue; b=$BASE_BIN; }
            latency_8b latency_8b_${variant}_$round 150 "" $b
        done
    done
    for variant in new base; do
        b="$BIN"; [ $variant = base ] && { [ -x $BASE_BIN ] || continue; b=$BASE_BIN; }
        throughput_8b throughput_8b_1000_$variant 180 1000 $b
        step throughput_qwen06_$variant 120 $b bench throughput --device cuda --load-format dummy \
            --model bench/gpu/configs/qwen3_0_6b --dataset-path $W/dataset_qwen06.jsonl --max-model-len 2048 \
            --output-json $R/throughput_qwen06_$variant.json
    done
    NGRAM='{"method":"ngram","num_speculative_tokens":4,"prompt_lookup_max":4,"prompt_lookup_min":2}'
    for prompts in self_repeat random; do
        flag=""; [ $prompts = self_repeat ] && flag="--self-repeat"
        latency_8b spec_off_$prompts 150 "$flag" "$BIN"
        latency_8b spec_ngram_$prompts 150 "$flag --speculative-config $NGRAM" "$BIN"
    done
fi

python3 $G/summarize.py "$R" > "$OUT/summary.json"
cat "$OUT/summary.json"
tar -C "$W" -czf "$OUT/results.tar.gz" res
