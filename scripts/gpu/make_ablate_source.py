#!/usr/bin/env python3
"""The joined kernel source with decode attention's work taken out, for `run_gpu_checks.sh
attnablate`: after its launch protocol, decode_attention only writes zeros (its output rows and,
when split, zero partial results that attention_combine turns into zeros), so the step keeps the
same launches. The 8B shape's batch-1 time with this source, and with it and attention_combine
skipped, against the embedded kernels gives decode attention's and the combine's share of a
recorded step (timing only: the results are wrong). Writes .gpu/ablate_source.cu.xz.
"""
import lzma, os, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kernel_source import source  # noqa: E402

ANCHOR = """    DecodeShared<C, HD>& shared = *reinterpret_cast<DecodeShared<C, HD>*>(da_smem);
"""
# Entered before either kernel (the tensor-core one or the lane-a-key one) is chosen, so both are
# taken out; `shared` stays referenced so the rest compiles unchanged.
EARLY_OUT = """    {  // ablated: zeros after the launch protocol, the rest stays compiled and never runs
        PDL_ENTER();
        const int token = tiles[3 * blockIdx.x + 1], g = blockIdx.y, group = num_heads / kv_heads;
        for (int i = threadIdx.x; i < group * HD; i += blockDim.x) {
            const int h = i / HD, d = i % HD, head = g * group + h;
            if (gridDim.z > 1) {
                const long long at = ((long long)blockIdx.z * num_tokens + token) * num_heads + head;
                partial_o[at * HD + d] = 0.f;
                if (d == 0) { partial_ml[2 * at] = 0.f; partial_ml[2 * at + 1] = 0.f; }
            }
            out[((long long)token * num_heads + head) * HD + d] = from_f<T>(0.f);
        }
        if (num_tokens >= 0) return;
    }
"""

text = source()
if text.count(ANCHOR) != 1:
    sys.exit("decode_attention's entry was not found once: update ANCHOR")
text = text.replace(ANCHOR, ANCHOR + EARLY_OUT)
os.makedirs(".gpu", exist_ok=True)
with lzma.open(".gpu/ablate_source.cu.xz", "wt") as f:
    f.write(text)
print(".gpu/ablate_source.cu.xz: decode_attention ablated")
