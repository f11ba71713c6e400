#!/usr/bin/env bash
# Variants of the packed-integer matrix-vector kernels (quantized.cu's gemv_int) through
# VLLM_CUDA_KERNEL_SOURCE (no rebuild): each variant is a comma-separated list of kernel-source
# defines (QGEMV_INT_CLASSES, QGEMV_BUDGET, QGEMV_INT4_MMA, QGEMV_MMA_TILES, ...), and the variant
# "embedded" adds none. `vllm-dev kernel-check` in bf16 for each (its quantized checks must pass;
# its timings give the int4 and int8 products' GB/s at the Llama-3.1-8B shapes), then the 8B
# shape's GPTQ int4 and FP8 batch-1 decode with the fastest variant (by int4 GB/s) beside the embedded kernels,
# and its int4 decode with 8-bit activations with the fastest variant of that kernel (gemv_int4_int8).
# Variants: QGEMV_VARIANTS, |-separated.
# Run on the device machine from the repository root after unpacking .gpu/.
#   OUT=... bash scripts/gpu/qgemv_variants.sh  -> $OUT/qgemv_variants.txt
set -u
OUT=${OUT:-/tmp/gpu-out}
W=/tmp/qgemvwork
mkdir -p "$OUT" "$W"
exec > >(tee -a "$OUT/qgemv_variants.txt") 2>&1
xz -dc .gpu/vllm.xz > $W/vllm && xz -dc .gpu/vllm-dev.xz > $W/vllm-dev && chmod +x $W/vllm $W/vllm-dev
# (The tensor-core variants QGEMV_INT4_MMA=1,QGEMV_FP8_MMA=1 lost 11-18% on an H100, 2026-12-05.)
VARIANTS=${QGEMV_VARIANTS:-"embedded|QGEMV_INT_CLASSES=0|QGEMV_MIN_BLOCKS=3|QGEMV_BUDGET=64|QGEMV_MIN_BLOCKS=3,QGEMV_BUDGET=64"}
IFS='|' read -ra list <<< "$VARIANTS"
tag() { echo "$1" | tr ',=' '__'; }
source_for() {  # source_for VARIANT: the joined kernel source with its defines, as $W/k_TAG.cu ("" for embedded)
    [ "$1" = embedded ] && return 0
    { echo "$1" | tr ',' '\n' | sed 's/^\(.*\)=\(.*\)$/#define \1 \2/'; python3 scripts/gpu/kernel_source.py; } > $W/k_$(tag "$1").cu
}
src_of() { [ "$1" = embedded ] && echo "" || echo $W/k_$(tag "$1").cu; }
pids=()
# Compile every variant at once (each into its own kernel cache), then time them one at a time.
for v in "${list[@]}"; do
    source_for "$v"
    VLLM_CACHE_ROOT=$W/cache_$(tag "$v") VLLM_CUDA_KERNEL_SOURCE=$(src_of "$v") timeout 200 $W/vllm-dev kernel-check --dtype bfloat16 > /dev/null 2>&1 &
    pids+=($!)
done
# Only the compiles: a bare `wait` also waits for the tee of this script's output (a process
# substitution, waited for since bash 5.1), which never ends; it hung two GPU calls on 2026-12-05.
wait "${pids[@]}"
best=""; best_gbs=0; best8=""; best8_gbs=0
for v in "${list[@]}"; do
    t=$(tag "$v")
    VLLM_CACHE_ROOT=$W/cache_$t VLLM_CUDA_KERNEL_SOURCE=$(src_of "$v") timeout 120 $W/vllm-dev kernel-check --dtype bfloat16 > $W/kc_$t.txt 2>&1
    echo "== $v: rc=$? failed: $(grep -c FAIL $W/kc_$t.txt)"
    grep "^int[48] g[0-9]* gemv\|^int4 g[0-9]* int8-activations gemv\|^fp8 channel gemv\|^squeezellm gemv" $W/kc_$t.txt | grep "GB/s"
    grep "quantized int" $W/kc_$t.txt | grep -v cpu-vs | head -n 16
    gbs=$(grep "^int4 g128 gemv 4096x28672 GB/s" $W/kc_$t.txt | awk '{print $NF}')
    if ! grep -q FAIL $W/kc_$t.txt && python3 -c "import sys; sys.exit(0 if float('${gbs:-0}') > float('$best_gbs') else 1)"; then
        best="$v"; best_gbs=$gbs
    fi
    gbs8=$(grep "^int4 g128 int8-activations gemv 4096x28672 GB/s" $W/kc_$t.txt | awk '{print $NF}')
    if ! grep -q FAIL $W/kc_$t.txt && python3 -c "import sys; sys.exit(0 if float('${gbs8:-0}') > float('$best8_gbs') else 1)"; then
        best8="$v"; best8_gbs=$gbs8
    fi
done
echo "fastest with int8 activations: ${best8:-none} (int4 g128 int8-activations 4096x28672 $best8_gbs GB/s)"
echo "fastest: ${best:-none} (int4 g128 4096x28672 $best_gbs GB/s)"
[ -n "$best" ] || exit 0
# The fastest variant's kernels in float16 too (the bf16 runs above check only bf16).
VLLM_CACHE_ROOT=$W/cache_f16 VLLM_CUDA_KERNEL_SOURCE=$(src_of "$best") timeout 150 $W/vllm-dev kernel-check --dtype float16 > $W/kc_f16.txt 2>&1
echo "== $best in float16: rc=$? failed: $(grep -c FAIL $W/kc_f16.txt)"
grep "quantized int4\|quantized fp8" $W/kc_f16.txt | grep -v cpu-vs | head -n 12
mkdir -p $W/llama8b-gptq
python3 -c "
import json
c = json.load(open('bench/gpu/configs/llama3_1_8b/config.json'))
c['quantization_config'] = {'quant_method': 'gptq', 'bits': 4, 'group_size': 128, 'desc_act': False, 'sym': True}
json.dump(c, open('$W/llama8b-gptq/config.json', 'w'))"
for format in int4 fp8 int4_int8; do
    model="--model $W/llama8b-gptq"; [ $format = fp8 ] && model="--model bench/gpu/configs/llama3_1_8b --quantization fp8"
    [ $format = int4_int8 ] && model="$model --quantized-activations int8"
    for variant in embedded best; do
        src=""; [ $variant = best ] && src=$(src_of "$best")
        [ $variant = best ] && [ $format = int4_int8 ] && { [ -n "$best8" ] || continue; src=$(src_of "$best8"); }
        echo "== 8B $format batch 1, $variant kernels"
        VLLM_CACHE_ROOT=$W/cache_$variant VLLM_CUDA_KERNEL_SOURCE=$src timeout 150 $W/vllm bench forward --device cuda --load-format dummy \
            $model --max-model-len 2048 --batch-size 1 --input-len 32 --output-len 128 --warmup 1 --iterations 3 \
            --json 2> $W/latency_${format}_$variant.err | tail -n 1
    done
done
