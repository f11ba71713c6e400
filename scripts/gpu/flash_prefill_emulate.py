#!/usr/bin/env python3
"""Emulates flash_prefill (Sources/VLLMCUDA/Kernels/flash_prefill.cu) lane by lane with numpy on a
machine without a GPU: ldmatrix (plain and .trans) and mma.m16n8k16 as the PTX ISA lays out their
fragments, and the kernel's own index arithmetic copied line for line (tiles, Q/K/V shared-memory
addresses, masks, online softmax in base 2, P rounded to bfloat16, split-KV partials merged as
attention_combine does), against float64 attention. Unwritten cache slots hold NaN, so a read past a
sequence's keys shows. Keep it in step with the kernel when either changes.

    python3 scripts/gpu/flash_prefill_emulate.py     # about 30 s
"""
import numpy as np
NEG_INF = -np.inf
def bf16(x):
    x = np.asarray(x, np.float32)
    b = x.view(np.uint32).astype(np.uint64)
    b = ((b + 0x7FFF + ((b >> 16) & 1)) >> 16) << 16
    return b.astype(np.uint32).view(np.float32)

def ldmatrix(smem, addrs, trans=False):
    # addrs[lane] = flat element offset of that lane's 8-element row; returns regs[4][32][2]
    regs = np.zeros((4, 32, 2), np.float32)
    for i in range(4):
        M = np.stack([smem[addrs[8 * i + r]: addrs[8 * i + r] + 8] for r in range(8)])
        for l in range(32):
            if not trans:
                regs[i, l] = M[l >> 2, 2 * (l & 3): 2 * (l & 3) + 2]
            else:
                regs[i, l] = [M[2 * (l & 3), l >> 2], M[2 * (l & 3) + 1, l >> 2]]
    return regs

def mma(d, a, b0, b1):
    # d[32][4] float, a[4][32][2], b0/b1 [32][2]
    A = np.zeros((16, 16)); B = np.zeros((16, 8)); C = np.zeros((16, 8))
    for l in range(32):
        g, c = l >> 2, l & 3
        A[g, 2*c:2*c+2] = a[0][l]; A[g+8, 2*c:2*c+2] = a[1][l]
        A[g, 2*c+8:2*c+10] = a[2][l]; A[g+8, 2*c+8:2*c+10] = a[3][l]
        B[2*c:2*c+2, g] = b0[l]; B[2*c+8:2*c+10, g] = b1[l]
        C[g, 2*c:2*c+2] = d[l, 0:2]; C[g+8, 2*c:2*c+2] = d[l, 2:4]
    D = A @ B + C
    for l in range(32):
        g, c = l >> 2, l & 3
        d[l, 0:2] = D[g, 2*c:2*c+2]; d[l, 2:4] = D[g+8, 2*c:2*c+2]

def kernel(HD, WARPS, out, qkv, kc, vc, tiles, positions, tables, width, num_heads, kv_heads, bs, scale, window,
           po, pml, num_tokens, bx, by, bz, gz):
    ROWS, KEYS, LD, CH, NT, DT = 16*WARPS, 64, HD+8, HD//8, 8, HD//8
    qs = np.zeros(ROWS*LD, np.float32); stages = np.zeros(4*KEYS*LD, np.float32)
    seq, first, count = tiles[3*bx:3*bx+3]
    g, group = by, num_heads // kv_heads; rows = count*group
    first_pos, last_pos = positions[first], positions[first+count-1]
    table = tables[seq]
    key_begin = max(0, first_pos - window + 1) // KEYS * KEYS if window > 0 else 0; key_end = last_pos + 1
    if gz > 1:
        per = ((key_end - key_begin + gz - 1)//gz + KEYS - 1)//KEYS*KEYS
        key_begin += bz*per; key_end = min(key_end, key_begin + per)
    key_tiles = (key_end - key_begin + KEYS - 1)//KEYS if key_end > key_begin else 0
    for i in range(ROWS*CH):
        r, c = i // CH, i % CH
        live = r < rows
        token = first + (r // group if live else 0); head = g*group + (r % group if live else 0)
        qs[r*LD + c*8: r*LD + c*8 + 8] = qkv[token*width + head*HD + c*8: token*width + head*HD + c*8 + 8] if live else 0
    def load_tile(k0, stage):
        base = 2*stage*KEYS*LD
        real = key_end - k0
        for i in range(KEYS*CH):
            j, c = i // CH, i % CH
            live = j < real
            pos = k0 + (j if live else 0)
            at = ((table[pos // bs]*kv_heads + g)*bs + pos % bs)*HD + c*8
            stages[base + j*LD + c*8: base + j*LD + c*8 + 8] = kc[at:at+8] if live else 0
            stages[base + KEYS*LD + j*LD + c*8: base + KEYS*LD + j*LD + c*8 + 8] = vc[at:at+8] if live else 0
    if key_tiles > 0: load_tile(key_begin, 0)
    lane = np.arange(32); quad_row = lane >> 2; quad_col = lane & 3
    sl2 = np.float32(scale*1.4426950408889634)
    state = []
    for warp in range(WARPS):
        r0 = warp*16; active = r0 < rows
        rp0 = np.array([positions[first + min((r0 + qr)//group, count-1)] for qr in quad_row])
        rp1 = np.array([positions[first + min((r0 + qr + 8)//group, count-1)] for qr in quad_row])
        wf = positions[first + min(r0//group, count-1)]; wl = positions[first + min((r0+15)//group, count-1)]
        qf = [ldmatrix(qs, (r0 + (lane & 15))*LD + d*16 + (lane >> 4)*8) for d in range(HD//16)] if active else None
        state.append(dict(r0=r0, active=active, rp=(rp0, rp1), wf=wf, wl=wl, qf=qf, o=np.zeros((DT, 32, 4)),
                          m=np.full((2, 32), NEG_INF), l=np.zeros((2, 32))))
    for t in range(key_tiles):
        k0 = key_begin + t*KEYS
        if t + 1 < key_tiles:
            # the real kernel overlaps; emulate by loading into the other stage now (stage t&1 untouched)
            load_tile(k0 + KEYS, (t+1) & 1)
        for st in state:
            if not st['active']: continue
            if k0 > st['wl'] or (window > 0 and k0 + KEYS - 1 <= st['wf'] - window): continue
            kb = 2*(t & 1)*KEYS*LD; vb = kb + KEYS*LD
            s = np.zeros((NT, 32, 4))
            for d in range(HD//16):
                for kp in range(KEYS//16):
                    b = ldmatrix(stages, kb + (kp*16 + (lane & 7) + ((lane >> 4) << 3))*LD + d*16 + ((lane >> 3) & 1)*8)
                    mma(s[2*kp], st['qf'][d], b[0], b[1]); mma(s[2*kp+1], st['qf'][d], b[2], b[3])
            if k0 + KEYS - 1 > st['wf'] or k0 + KEYS > key_end or (window > 0 and k0 <= st['wl'] - window):
                for n in range(NT):
                    for e in range(4):
                        key = k0 + n*8 + 2*quad_col + (e & 1); pos = st['rp'][e >> 1]
                        bad = (key >= key_end) | (key > pos) | ((window > 0) & (key <= pos - window))
                        s[n][bad, e] = NEG_INF
            for h in range(2):
                top = np.max(s[:, :, 2*h:2*h+2], axis=(0, 2))
                top = np.maximum(top, top[lane ^ 1]); top = np.maximum(top, top[lane ^ 2])
                new_max = np.maximum(st['m'][h], top*sl2)
                base = np.where(new_max == NEG_INF, 0.0, new_max)
                alpha = np.exp2(st['m'][h] - base)
                st['m'][h] = new_max
                p = np.exp2(s[:, :, 2*h:2*h+2]*sl2 - base[None, :, None])
                s[:, :, 2*h:2*h+2] = p
                st['l'][h] = st['l'][h]*alpha + p.sum(axis=(0, 2))
                st['o'][:, :, 2*h:2*h+2] *= alpha[None, :, None]
            for kp in range(KEYS//16):
                a = np.stack([bf16(s[2*kp][:, 0:2]), bf16(s[2*kp][:, 2:4]), bf16(s[2*kp+1][:, 0:2]), bf16(s[2*kp+1][:, 2:4])])
                for dp in range(HD//16):
                    b = ldmatrix(stages, vb + (kp*16 + (lane & 7) + ((lane >> 3) & 1)*8)*LD + dp*16 + (lane >> 4)*8, trans=True)
                    mma(st['o'][2*dp], a, b[0], b[1]); mma(st['o'][2*dp+1], a, b[2], b[3])
    for st in state:
        if not st['active']: continue
        for h in range(2):
            tot = st['l'][h].copy(); tot = tot + tot[lane ^ 1]; tot = tot + tot[lane ^ 2]
            for l in range(32):
                r = st['r0'] + quad_row[l] + 8*h
                if r >= rows: continue
                token = first + r // group; head = g*group + r % group
                if gz > 1:
                    at = (bz*num_tokens + token)*num_heads + head
                    for n in range(DT):
                        po[at*HD + n*8 + 2*quad_col[l]: at*HD + n*8 + 2*quad_col[l] + 2] = st['o'][n, l, 2*h:2*h+2]
                    if quad_col[l] == 0:
                        pml[2*at] = st['m'][h][l]*0.6931471805599453; pml[2*at+1] = tot[l]
                else:
                    inv = 1/tot[l] if tot[l] > 0 else 0
                    row = (token*num_heads + head)*HD
                    for n in range(DT):
                        out[row + n*8 + 2*quad_col[l]: row + n*8 + 2*quad_col[l] + 2] = bf16(st['o'][n, l, 2*h:2*h+2]*inv)

def run(HD, WARPS, heads, kvh, chunks, window, splits, seed=0):
    rng = np.random.default_rng(seed)
    bs = 16; group = heads // kvh; width = (heads + 2*kvh)*HD
    # chunks: list of (new tokens, cached)
    nblocks = sum((c + n + 15)//16 for n, c in chunks)
    perm = rng.permutation(nblocks + 5)
    tables = []; o = 0
    for n, c in chunks:
        k = (c + n + 15)//16; tables.append(perm[o:o+k]); o += k
    kc = np.full((nblocks + 5)*kvh*bs*HD, np.nan, np.float32); vc = kc.copy()   # unwritten slots: NaN
    # cached prefixes + this step's keys written to the cache
    positions = []; seqkeys = []
    T = sum(n for n, c in chunks)
    qkv = bf16(rng.uniform(-2, 2, T*width)).astype(np.float32)
    allk = []
    for s, (n, c) in enumerate(chunks):
        L = c + n
        K = bf16(rng.uniform(-2, 2, (L, kvh, HD))); V = bf16(rng.uniform(-2, 2, (L, kvh, HD)))
        allk.append((K, V))
        for p in range(L):
            blk = tables[s][p // bs]
            for h in range(kvh):
                at = ((blk*kvh + h)*bs + p % bs)*HD
                kc[at:at+HD] = K[p, h]; vc[at:at+HD] = V[p, h]
    t0 = 0
    for s, (n, c) in enumerate(chunks):
        K, V = allk[s]
        for i in range(n):
            qkv[(t0+i)*width + heads*HD: (t0+i)*width + (heads+kvh)*HD] = K[c+i].reshape(-1)
            qkv[(t0+i)*width + (heads+kvh)*HD: (t0+i+1)*width] = V[c+i].reshape(-1)
            positions.append(c + i)
        t0 += n
    positions = np.array(positions)
    tile_tokens = max(1, 16*WARPS // group)
    tiles = []; t0 = 0
    for s, (n, c) in enumerate(chunks):
        t = t0
        while t < t0 + n:
            m = min(tile_tokens, t0 + n - t); tiles += [s, t, m]; t += m
        t0 += n
    scale = 1/np.sqrt(HD)
    out = np.zeros(T*heads*HD, np.float32)
    po = np.zeros(splits*T*heads*HD, np.float32); pml = np.zeros(splits*T*heads*2, np.float32)
    for bx in range(len(tiles)//3):
        for by in range(kvh):
            for bz in range(splits):
                kernel(HD, WARPS, out, qkv, kc, vc, tiles, positions, tables, width, heads, kvh, bs, scale, window,
                       po, pml, T, bx, by, bz, splits)
    if splits > 1:
        for tok in range(T):
            for h in range(heads):
                ms = [pml[2*((z*T+tok)*heads+h)] for z in range(splits)]
                big = max(ms); o = np.zeros(HD); l = 0
                for z in range(splits):
                    at = (z*T+tok)*heads+h
                    if pml[2*at] == NEG_INF: continue
                    w = np.exp(pml[2*at] - big); o += w*po[at*HD:(at+1)*HD]; l += w*pml[2*at+1]
                out[(tok*heads+h)*HD:(tok*heads+h+1)*HD] = o/l if l > 0 else 0
    # reference
    ref = np.zeros_like(out, dtype=np.float64); t0 = 0
    for s, (n, c) in enumerate(chunks):
        K, V = allk[s]
        for i in range(n):
            tok = t0 + i; p = c + i
            for h in range(heads):
                q = qkv[tok*width + h*HD: tok*width + (h+1)*HD].astype(np.float64)
                lo = max(0, p - window + 1) if window > 0 else 0
                sc = K[lo:p+1, h // group].astype(np.float64) @ q * scale
                w = np.exp(sc - sc.max()); w /= w.sum()
                ref[(tok*heads+h)*HD:(tok*heads+h+1)*HD] = w @ V[lo:p+1, h // group]
        t0 += n
    err = np.linalg.norm(out - ref)/np.linalg.norm(ref)
    print(f"HD {HD} w{WARPS} h{heads}/{kvh} chunks {chunks} window {window} splits {splits}: rel err {err:.2e}", "ok" if err < 1e-2 else "FAIL")
    return err

if __name__ == "__main__":
    # (head dim, warps, heads, kv heads, [(new tokens, cached tokens)] per sequence, window, key splits)
    cases = [
        (64, 4, 4, 4, [(37, 0), (20, 5), (1, 70)], 0, 1),
        (128, 8, 8, 2, [(100, 0), (37, 13), (1, 40)], 0, 1),
        (128, 4, 8, 1, [(70, 30), (5, 0)], 0, 1),
        (64, 8, 8, 1, [(50, 80)], 0, 1),
        (128, 8, 2, 2, [(130, 0), (1, 64)], 0, 1),
        (64, 4, 4, 1, [(90, 20), (33, 0)], 25, 1),
        (128, 8, 8, 2, [(80, 60)], 70, 1),
        (64, 4, 4, 2, [(1, 150), (3, 100)], 0, 3),
        (128, 8, 8, 2, [(20, 130), (1, 9)], 0, 4),
        (64, 8, 6, 2, [(29, 7)], 10, 2),
    ]
    failed = [c for c in cases if not run(*c) < 1e-2]
    if failed:
        raise SystemExit(f"FAILED: {failed}")
