#!/usr/bin/env bash
# The 8-bit-activation GGUF kernels (`--gguf-activations int8`) with other rows a warp and load
# budgets, through VLLM_CUDA_KERNEL_SOURCE (no rebuild): `vllm-dev kernel-check` in bf16 for each
# variant (its GGUF checks must pass; its timings give the Q4_K and Q6_K products' GB/s at the
# Llama-3.1-8B shapes), then the 8B shape's Q4_K_M batch-1 decode with the fastest variant beside
# the embedded kernels. Variants: "ROWS BUDGET PIPELINE" triples in INT8_VARIANTS, |-separated (rows
# a warp for one token, QGEMV_BUDGET, GGML_PIPELINE 0 or 1). Run on the device machine from the repository root after unpacking .gpu/.
#   OUT=... bash scripts/gpu/ggml_int8_variants.sh  -> $OUT/int8_variants.txt
set -u
OUT=${OUT:-/tmp/gpu-out}
W=/tmp/int8work
mkdir -p "$OUT" "$W"
exec > >(tee -a "$OUT/int8_variants.txt") 2>&1
xz -dc .gpu/vllm.xz > $W/vllm && xz -dc .gpu/vllm-dev.xz > $W/vllm-dev && chmod +x $W/vllm $W/vllm-dev
VARIANTS=${INT8_VARIANTS:-"2 128 0|1 128 0|1 256 0|2 128 1|1 128 1"}
IFS='|' read -ra list <<< "$VARIANTS"
source_for() {  # source_for ROWS BUDGET PIPELINE: the joined kernel source with the three set, as $W/k_ROWS_BUDGET_PIPELINE.cu
    { echo "#define GGML_INT8_ROWS(NT) ((NT) == 1 ? $1 : 1)"; echo "#define QGEMV_BUDGET $2"; echo "#define GGML_PIPELINE $3"
      python3 scripts/gpu/kernel_source.py; } > $W/k_$1_$2_$3.cu
}
pids=()
# Compile every variant at once (each into its own kernel cache), then time them one at a time.
for v in "${list[@]}"; do
    set -- $v; source_for $1 $2 $3
    VLLM_CACHE_ROOT=$W/cache_$1_$2_$3 VLLM_CUDA_KERNEL_SOURCE=$W/k_$1_$2_$3.cu timeout 200 $W/vllm-dev kernel-check --dtype bfloat16 > /dev/null 2>&1 &
    pids+=($!)
done
# Only the compiles: a bare `wait` also waits for the tee of this script's output (a process
# substitution, waited for since bash 5.1), which never ends; it hung two GPU calls on 2026-12-05.
wait "${pids[@]}"
best=""; best_gbs=0
for v in "${list[@]}"; do
    set -- $v
    VLLM_CACHE_ROOT=$W/cache_$1_$2_$3 VLLM_CUDA_KERNEL_SOURCE=$W/k_$1_$2_$3.cu timeout 120 $W/vllm-dev kernel-check --dtype bfloat16 > $W/kc_$1_$2_$3.txt 2>&1
    echo "== rows $1 budget $2 pipeline $3: rc=$? failed: $(grep -c FAIL $W/kc_$1_$2_$3.txt)"
    grep "gemv int8.*GB/s\|Q4_K gemv 4096x28672 GB/s" $W/kc_$1_$2_$3.txt
    gbs=$(grep "ggml Q4_K gemv int8 4096x28672 GB/s" $W/kc_$1_$2_$3.txt | awk '{print $NF}')
    if ! grep -q FAIL $W/kc_$1_$2_$3.txt && python3 -c "import sys; sys.exit(0 if float('${gbs:-0}') > float('$best_gbs') else 1)"; then
        best="$1 $2 $3"; best_gbs=$gbs
    fi
done
echo "fastest: rows, budget, pipeline ${best:-none} (Q4_K 4096x28672 int8 $best_gbs GB/s)"
[ -n "$best" ] || exit 0
set -- $best
for variant in embedded best; do
    src=""; [ $variant = best ] && src=$W/k_$1_$2_$3.cu
    echo "== 8B Q4_K_M int8 batch 1, $variant kernels"
    VLLM_CACHE_ROOT=$W/cache_$variant VLLM_CUDA_KERNEL_SOURCE=$src timeout 150 $W/vllm bench forward --device cuda --load-format dummy \
        --model bench/gpu/configs/llama3_1_8b --quantization gguf --gguf-activations int8 --max-model-len 2048 --batch-size 1 \
        --input-len 32 --output-len 128 --warmup 1 --iterations 3 --json 2> $W/latency_$variant.err | tail -n 1
done
