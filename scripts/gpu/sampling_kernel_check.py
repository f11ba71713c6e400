#!/usr/bin/env python3
"""Runs the device sampling kernels (Sources/VLLMCUDA/Kernels/sampling.cu) on a GPU without Swift:
nvcc builds sampling.cu (which includes common.cuh when compiled alone), torch holds the memory and
the kernels are launched through the driver API. Checks against a numpy version of the host sampler
(SamplingMath.swift): draw frequencies after min-p/top-k/top-p (with ties), seeded rows independent
of their position, penalties/bias/ban, and raw logprobs. Prints one line per check; exits 1 on failure.

    python3 scripts/gpu/sampling_kernel_check.py
"""
import ctypes, os, subprocess, sys, tempfile
import numpy as np
import torch

root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
kernels = os.path.join(root, "Sources/VLLMCUDA/Kernels")
work = tempfile.mkdtemp()
subprocess.run(["nvcc", "-cubin", "-arch=sm_90a", "-std=c++17", "-I", kernels, "-o", work + "/all.cubin",
                os.path.join(kernels, "sampling.cu")], check=True)

torch.zeros(1, device="cuda")  # makes the primary context current
cuda = ctypes.CDLL("libcuda.so.1")
module = ctypes.c_void_p()
assert cuda.cuModuleLoad(ctypes.byref(module), (work + "/all.cubin").encode()) == 0
def function(name):
    f = ctypes.c_void_p()
    assert cuda.cuModuleGetFunction(ctypes.byref(f), module, name.encode()) == 0, name
    return f
sample_bf16, adjust = function("sample_rows_bf16"), function("adjust_logits")

def launch(f, grid, block, args):
    holders = [ctypes.c_void_p(a.data_ptr()) if isinstance(a, torch.Tensor) else a for a in args]
    pointers = (ctypes.c_void_p * len(holders))(*[ctypes.cast(ctypes.pointer(h), ctypes.c_void_p) for h in holders])
    assert cuda.cuLaunchKernel(f, grid, 1, 1, block, 1, 1, 0, None, pointers, None) == 0

def row_words(r):
    key = r.get("key", 0)
    w = np.zeros(12, dtype=np.uint32)
    f = lambda v: np.float32(v).view(np.uint32)
    w[:] = [f(r.get("t", 0)), r.get("k", 0), f(r.get("p", 1)), f(r.get("minp", 0)), key & 0xffffffff, key >> 32,
            np.int32(r.get("logprobs", -1)).view(np.uint32), f(r.get("rep", 1)), f(r.get("freq", 0)), f(r.get("pres", 0)), 0, 0]
    return w

def sample(logits, rows):
    """logits: float32 [rows, n] (already bf16-representable). Returns tokens, chosen, ranks, ids, lps."""
    count, n = logits.shape
    x = torch.tensor(logits, device="cuda").to(torch.bfloat16).contiguous()
    params = torch.tensor(np.stack([row_words(r) for r in rows]).view(np.int32), device="cuda")
    entries = [[i, c, fl, cnt, np.float32(b).view(np.int32)] for i, r in enumerate(rows) for (c, fl, cnt, b) in r.get("adj", [])]
    adjusted = ctypes.c_void_p(0)
    if entries:
        adjusted_t = x.float().contiguous()
        e = torch.tensor(np.array(entries, dtype=np.int32), device="cuda")
        launch(adjust, 64, 256, [adjusted_t, ctypes.c_int(n), e, ctypes.c_int(len(entries)), params])
        adjusted = adjusted_t
    max_top = max([r.get("logprobs", 0) for r in rows] + [0])
    out = torch.zeros(3 * count + 2 * count * max(max_top, 1), dtype=torch.int32, device="cuda")
    base = out.data_ptr()
    at = lambda w: ctypes.c_void_p(base + 4 * w)
    launch(sample_bf16, count, 1024, [at(0), at(count), at(2 * count), at(3 * count), at(3 * count + count * max_top),
                                      ctypes.c_int(max_top), x, adjusted, ctypes.c_int(n), params])
    torch.cuda.synchronize()
    o = out.cpu().numpy()
    f = o.view(np.float32)
    return (o[:count], f[count:2 * count], o[2 * count:3 * count],
            o[3 * count:3 * count + count * max_top].reshape(count, max_top),
            f[3 * count + count * max_top:3 * count + 2 * count * max_top].reshape(count, max_top))

def bf16(a):
    return torch.tensor(a, dtype=torch.float32).to(torch.bfloat16).float().numpy()

def host_adjust(v, r):
    v = v.copy()
    for c, fl, cnt, b in r.get("adj", []):
        x = np.float32(v[c])
        if fl & 1: x = np.float32(-np.inf)
        x = np.float32(x + np.float32(b))
        if fl & 2:
            rep = np.float32(r.get("rep", 1))
            x = np.float32(x / rep) if x > 0 else np.float32(x * rep)
        if cnt > 0: x = np.float32(x - np.float32(np.float32(r.get("freq", 0)) * np.float32(cnt) + np.float32(r.get("pres", 0))))
        v[c] = x
    return v

def host_distribution(v, r):
    """SamplingMath.candidates on softmax(adjusted / t), normalised."""
    z = (host_adjust(v, r) / np.float32(r["t"])).astype(np.float32)
    e = np.exp(z - z.max()).astype(np.float32)
    p = (e / e.sum(dtype=np.float32)).astype(np.float32)
    if r.get("minp", 0) > 0: p[p < np.float32(r["minp"]) * p.max()] = 0
    cand = [i for i in sorted(range(len(p)), key=lambda i: (-p[i], i)) if p[i] > 0]
    if r.get("k", 0) > 0: cand = cand[:r["k"]]
    if r.get("p", 1) < 1:
        total, kept, keep = np.float32(sum(p[i] for i in cand)), np.float32(0), 0
        for i in cand:
            kept = np.float32(kept + p[i] / total); keep += 1
            if kept >= r["p"]: break
        cand = cand[:keep]
    out = np.zeros(len(p)); out[cand] = p[cand]
    return out / out.sum()

failures = []
def report(name, value, limit):
    ok = value <= limit
    if not ok: failures.append(name)
    print(f"{name:<60} {value:.4g} (limit {limit:.4g}) {'ok' if ok else 'FAIL'}")

rng = np.random.default_rng(7)
base = bf16(rng.uniform(-1, 1, 64) * 4)
base[8:14] = base[3]
settings = [("temperature 0.8", dict(t=0.8)), ("top_k 5", dict(t=1, k=5)), ("top_k 9 (ties)", dict(t=1, k=9)),
            ("top_p 0.7", dict(t=1, p=0.7)), ("min_p 0.1", dict(t=1, minp=0.1)),
            ("t 1.3 k 20 p 0.8 min_p 0.02", dict(t=1.3, k=20, p=0.8, minp=0.02)),
            ("penalties and bias", dict(t=1, rep=1.5, freq=0.4, pres=0.3, adj=[(0, 1, 0, 0), (5, 0, 0, 3), (7, 2, 2, 0)]))]
draws = 6000
for name, r in settings:
    rows = [dict(r, key=int(rng.integers(0, 2**63))) for _ in range(draws)]
    tokens = sample(np.tile(base, (draws, 1)), rows)[0]
    want = host_distribution(base, r)
    freq = np.bincount(tokens, minlength=64) / draws
    report(f"{name}: total variation", 0.5 * np.abs(freq - want).sum(), 0.06)
    report(f"{name}: draws outside the kept set", float(((freq > 0) & (want == 0)).sum()), 0)

# Seeds: same (key) in different positions and batch mates gives the same token.
n, count = 131072, 48
big = bf16(rng.uniform(-1, 1, (count, n)) * 6)
rows = [dict(t=1, k=0 if i % 3 == 0 else 50 + i, p=0.9 if i % 2 == 0 else 1, key=int(rng.integers(0, 2**63))) for i in range(count)]
forward = sample(big, rows)[0]
order = list(reversed(range(count)))
mixed = np.concatenate([np.stack([big[(i + 1) % count], big[i]]) for i in order])
mixed_rows = [x for i in order for x in (dict(t=1, key=int(rng.integers(0, 2**63))), rows[i])]
backward = sample(mixed, mixed_rows)[0][1::2][::-1]
report("seeded rows differ alone and batched", float((forward != backward).sum()), 0)
report("seeded draws vary (distinct short of 40)", float(max(0, 40 - len(set(forward.tolist())))), 0)
inside = sum(host_distribution(big[i], rows[i])[forward[i]] > 0 for i in range(count))
report("seeded big-row draws outside the host's kept set", float(count - inside), 0)

# Penalties: greedy argmax of the adjusted row.
n, count = 1000, 200
logits = bf16(rng.uniform(-1, 1, (count, n)) * 3)
rows = []
for i in range(count):
    cols = sorted(rng.choice(n, 40, replace=False))
    rows.append(dict(t=0, rep=float(rng.uniform(0.5, 2)), freq=float(rng.uniform(-1, 1)), pres=float(rng.uniform(-1, 1)),
                     adj=[(int(c), int(rng.integers(0, 8) == 0) | (2 * int(rng.integers(0, 2))), int(rng.integers(0, 4)),
                           float(rng.uniform(-3, 3))) for c in cols]))
tokens = sample(logits, rows)[0]
wrong = sum(int(tokens[i]) != int(np.argmax(host_adjust(logits[i], rows[i]))) for i in range(count))
report("adjusted argmax differs from host", float(wrong), 0)

# Logprobs of the raw row: chosen, rank, top 20 with ties.
n, count = 32000, 64
logits = bf16(rng.uniform(-1, 1, (count, n)) * 8)
rows = [dict(t=0 if i % 2 == 0 else 0.7, logprobs=0 if i % 4 == 0 else 20, key=i,
             adj=[(i, 0, 0, 50.0)] if i % 3 == 0 else []) for i in range(count)]
tokens, chosen, ranks, ids, lps = sample(logits, rows)
worst, wrong_ids, wrong_ranks = 0.0, 0, 0
for i in range(count):
    v = logits[i].astype(np.float64)
    m = v.max(); lp = v - (np.log(np.exp(v - m).sum()) + m)
    top = sorted(range(n), key=lambda j: (-logits[i][j], j))[:rows[i]["logprobs"]]
    got = ids[i][:rows[i]["logprobs"]].tolist()
    wrong_ids += got != top
    wrong_ranks += int(ranks[i]) != 1 + int((logits[i] > logits[i][tokens[i]]).sum())
    worst = max([worst, abs(chosen[i] - lp[tokens[i]])] + [abs(a - lp[j]) for a, j in zip(lps[i][:len(top)], top)])
report("logprobs largest difference", float(worst), 1e-4)
report("top logprob ids differ", float(wrong_ids), 0)
report("chosen ranks differ", float(wrong_ranks), 0)
print("FAILED: " + ", ".join(failures) if failures else "all sampling checks passed")
sys.exit(1 if failures else 0)
