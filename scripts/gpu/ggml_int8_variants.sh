#!/usr/bin/env bash
# The 8-bit-activation GGUF kernels (`--quantized-activations int8`) with other rows a warp, load
# budgets and pipelining, through VLLM_CUDA_KERNEL_SOURCE (no rebuild): the Llama-3.1-8B shape's
# Q4_K_M batch-1 decode (32 in / 128 out) with the embedded kernels and with each variant, then the
# device time per operation of the embedded kernels' run (VLLM_CUDA_PROFILE=1). Variants: "ROWS
# BUDGET PIPELINE" triples in INT8_VARIANTS, |-separated (rows a warp for one token, QGEMV_BUDGET,
# GGML_PIPELINE 0 or 1). Their arithmetic is checked without a GPU first (`python3
# scripts/gpu/ggml_host_check.py --define 'GGML_INT8_ROWS(NT) 1' ...`); INT8_CHECK=1 also runs
# `vllm-dev kernel-check` (bf16) with each. Run on the device machine from the repository root after
# unpacking .gpu/ (scripts/gpu/unpack_carry.sh).
#   OUT=... bash scripts/gpu/ggml_int8_variants.sh  -> $OUT/int8_variants.txt
set -u
OUT=${OUT:-/tmp/gpu-out}
W=/tmp/int8work
mkdir -p "$OUT" "$W"
exec > >(tee -a "$OUT/int8_variants.txt") 2>&1
xz -dc .gpu/vllm.xz > $W/vllm && chmod +x $W/vllm
[ "${INT8_CHECK:-0}" = 1 ] && xz -dc .gpu/vllm-dev.xz > $W/vllm-dev && chmod +x $W/vllm-dev
VARIANTS=${INT8_VARIANTS:-"1 128 0|2 256 0|1 256 0|2 128 1|1 128 1"}
IFS='|' read -ra list <<< "$VARIANTS"
latency() {  # latency NAME SOURCE [ENV...]: ms a token of the 8B Q4_K_M int8 batch-1 decode ($W/latency_NAME.out)
    local name=$1 src=$2; shift 2
    env "$@" VLLM_CACHE_ROOT=$W/cache_$name VLLM_CUDA_KERNEL_SOURCE=$src timeout 150 $W/vllm bench forward --device cuda \
        --load-format dummy --model bench/gpu/configs/llama3_1_8b --quantization gguf --quantized-activations int8 \
        --max-model-len 2048 --batch-size 1 --input-len 32 --output-len 128 --warmup 1 --iterations 3 --json \
        > $W/latency_$name.out 2> $W/latency_$name.err
    python3 -c "import json,sys; d=json.loads(open('$W/latency_$name.out').read().strip().splitlines()[-1]); print(f'{1000*d[\"decode_seconds\"]/(d[\"output_len\"]-1):.3f} ms a token')" \
        2>/dev/null || { echo "failed"; tail -5 $W/latency_$name.err; }
}
echo "== embedded kernels: $(latency embedded "")"
for v in "${list[@]}"; do
    set -- $v
    name=$1_$2_$3
    { echo "#define GGML_INT8_ROWS(NT) ((NT) == 1 ? $1 : 1)"; echo "#define QGEMV_BUDGET $2"; echo "#define GGML_PIPELINE $3"
      python3 scripts/gpu/kernel_source.py; } > $W/k_$name.cu
    echo "== rows $1 budget $2 pipeline $3: $(latency $name $W/k_$name.cu)"
    if [ "${INT8_CHECK:-0}" = 1 ]; then
        VLLM_CACHE_ROOT=$W/cache_$name VLLM_CUDA_KERNEL_SOURCE=$W/k_$name.cu timeout 120 $W/vllm-dev kernel-check --dtype bfloat16 > $W/kc_$name.txt 2>&1
        echo "   kernel-check rc=$? failed: $(grep -o '"failed":\[[^]]*\]' $W/kc_$name.txt)"
    fi
done
echo "== embedded kernels again: $(latency embedded2 "")"
echo "== profile of the embedded kernels (eager steps, per-operation events)"
latency profile "" VLLM_CUDA_PROFILE=1 > /dev/null
grep -A28 "device time per operation" $W/latency_profile.err | head -30
