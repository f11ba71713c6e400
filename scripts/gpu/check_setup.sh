# Sourced by the check scripts (run from the repository root): `check_setup WORKDIR LOG` makes $OUT
# (default /tmp/gpu-out) and WORKDIR (as $W), appends everything the script prints to $OUT/LOG, and
# unpacks the binary of scripts/gpu/build_binary.sh (.gpu/vllm.xz) to $BIN, or exits.
check_setup() {
    OUT=${OUT:-/tmp/gpu-out}
    W=$1
    mkdir -p "$OUT" "$W"
    exec > >(tee -a "$OUT/$2") 2>&1
    BIN=$W/vllm
    xz -dc .gpu/vllm.xz > "$BIN" && chmod +x "$BIN" || { echo "no binary"; exit 1; }
}
