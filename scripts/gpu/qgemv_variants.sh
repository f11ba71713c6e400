#!/usr/bin/env bash
# The packed-integer matrix-vector kernels (quantized.cu's gemv_int) with and without the
# three-instruction unpacking (QGEMV_INT_CLASSES) and with other load budgets (QGEMV_BUDGET),
# through VLLM_CUDA_KERNEL_SOURCE (no rebuild): `vllm-dev kernel-check` in bf16 for each variant
# (its quantized checks must pass; its timings give the int4 and int8 products' GB/s at the
# Llama-3.1-8B shapes), then the 8B shape's GPTQ int4 batch-1 decode with the fastest variant
# beside the embedded kernels. Variants: "CLASSES BUDGET" pairs in QGEMV_VARIANTS, |-separated.
# Run on the device machine from the repository root after unpacking .gpu/.
#   OUT=... bash scripts/gpu/qgemv_variants.sh  -> $OUT/qgemv_variants.txt
set -u
OUT=${OUT:-/tmp/gpu-out}
W=/tmp/qgemvwork
mkdir -p "$OUT" "$W"
exec > >(tee -a "$OUT/qgemv_variants.txt") 2>&1
xz -dc .gpu/vllm.xz > $W/vllm && xz -dc .gpu/vllm-dev.xz > $W/vllm-dev && chmod +x $W/vllm $W/vllm-dev
VARIANTS=${QGEMV_VARIANTS:-"0 128|1 128|1 64|0 64"}
IFS='|' read -ra list <<< "$VARIANTS"
source_for() {  # source_for CLASSES BUDGET: the joined kernel source with both set, as $W/k_CLASSES_BUDGET.cu
    { echo "#define QGEMV_INT_CLASSES $1"; echo "#define QGEMV_BUDGET $2"; python3 scripts/gpu/kernel_source.py; } > $W/k_$1_$2.cu
}
# Compile every variant at once (each into its own kernel cache), then time them one at a time.
for v in "${list[@]}"; do
    set -- $v; source_for $1 $2
    VLLM_CACHE_ROOT=$W/cache_$1_$2 VLLM_CUDA_KERNEL_SOURCE=$W/k_$1_$2.cu timeout 200 $W/vllm-dev kernel-check --dtype bfloat16 > /dev/null 2>&1 &
done
wait
best=""; best_gbs=0
for v in "${list[@]}"; do
    set -- $v
    VLLM_CACHE_ROOT=$W/cache_$1_$2 VLLM_CUDA_KERNEL_SOURCE=$W/k_$1_$2.cu timeout 120 $W/vllm-dev kernel-check --dtype bfloat16 > $W/kc_$1_$2.txt 2>&1
    echo "== classes $1 budget $2: rc=$? failed: $(grep -c FAIL $W/kc_$1_$2.txt)"
    grep "^int[48] g[0-9]* gemv\|^fp8 channel gemv\|^squeezellm gemv" $W/kc_$1_$2.txt | grep "GB/s"
    grep "quantized int" $W/kc_$1_$2.txt | head -n 12
    gbs=$(grep "^int4 g128 gemv 4096x28672 GB/s" $W/kc_$1_$2.txt | awk '{print $NF}')
    if ! grep -q FAIL $W/kc_$1_$2.txt && python3 -c "import sys; sys.exit(0 if float('${gbs:-0}') > float('$best_gbs') else 1)"; then
        best="$1 $2"; best_gbs=$gbs
    fi
done
echo "fastest: classes, budget ${best:-none} (int4 g128 4096x28672 $best_gbs GB/s)"
[ -n "$best" ] || exit 0
set -- $best
mkdir -p $W/llama8b-gptq
python3 -c "
import json
c = json.load(open('bench/gpu/configs/llama3_1_8b/config.json'))
c['quantization_config'] = {'quant_method': 'gptq', 'bits': 4, 'group_size': 128, 'desc_act': False, 'sym': True}
json.dump(c, open('$W/llama8b-gptq/config.json', 'w'))"
for variant in embedded best; do
    src=""; [ $variant = best ] && src=$W/k_$1_$2.cu
    echo "== 8B GPTQ int4 g128 batch 1, $variant kernels"
    VLLM_CACHE_ROOT=$W/cache_$variant VLLM_CUDA_KERNEL_SOURCE=$src timeout 150 $W/vllm bench forward --device cuda --load-format dummy \
        --model $W/llama8b-gptq --max-model-len 2048 --batch-size 1 --input-len 32 --output-len 128 --warmup 1 --iterations 3 \
        --json 2> $W/latency_$variant.err | tail -n 1
done
