#!/usr/bin/env python3
"""Emulates moe_group (Sources/VLLMCUDA/Kernels/moe.cu) warp by warp on a machine without a GPU: the
launch's block size as CUDAMixtureOfExperts.swift picks it, each warp's run of entries in rounds of
32 lanes, __match_any_sync, the lowest lane of a match adding its count, the block-wide scans (shuffle
scan within warps, then the totals of earlier warps), and pass 2's slots. The warps run one after
another here, so the test is of the arithmetic: the kernel keeps each warp's shared counters to
itself, which makes the warps' order on the device immaterial. Compared array for array with the
serial definition (ExpertGrouping(topIDs:experts:) in Swift) on random distinct top-k ids, skewed
ids, and ids with repeats inside a token; moe_tile's bisection over the tiles against a serial walk. Keep it in step with the kernel when either changes.

    python3 scripts/gpu/moe_group_emulate.py     # a few seconds
"""
import random

TILE_ROWS, MAX_EXPERTS, WARPS_MAX = 16, 256, 32


def serial(ids, experts):
    counts = [0] * experts
    for x in ids:
        counts[x] += 1
    expert_start, tile_start = [0], [0]
    for c in counts:
        expert_start.append(expert_start[-1] + c)
        tile_start.append(tile_start[-1] + (c + TILE_ROWS - 1) // TILE_ROWS)
    following = expert_start[:-1]
    slot_entry, entry_slot = [0] * len(ids), [0] * len(ids)
    for n, x in enumerate(ids):
        slot_entry[following[x]] = n
        entry_slot[n] = following[x]
        following[x] += 1
    return expert_start, tile_start, slot_entry, entry_slot


def block_size(entries, experts):
    """queueGrouping's block: a thread per entry, at least one per expert, at most 1024."""
    return max((experts + 31) // 32 * 32, min(1024, (entries + 31) // 32 * 32))


def kernel(ids, experts):
    entries, threads = len(ids), block_size(len(ids), experts)
    assert threads % 32 == 0 and experts <= threads <= 1024
    warps = threads // 32
    assert warps <= WARPS_MAX and experts <= MAX_EXPERTS
    nxt = [[0] * MAX_EXPERTS for _ in range(WARPS_MAX)]
    span = (entries + warps * 32 - 1) // (warps * 32) * 32
    expert_start, tile_start = [None] * (experts + 1), [None] * (experts + 1)
    slot_entry, entry_slot = [None] * entries, [None] * entries

    def group_id(n, last):
        x = ids[n] if n < last else -1
        return x if 0 <= x < experts else -1

    def rounds(warp, body):
        first = min(warp * span, entries)
        last = min(first + span, entries)
        for n0 in range(first, last, 32):
            xs = [group_id(n0 + lane, last) for lane in range(32)]
            peers = [sum(1 << m for m in range(32) if xs[m] == xs[lane]) for lane in range(32)]  # __match_any_sync
            body(warp, n0, xs, peers)

    def count(warp, n0, xs, peers):
        for lane in range(32):
            below = (1 << lane) - 1
            if xs[lane] >= 0 and peers[lane] & below == 0:
                nxt[warp][xs[lane]] += bin(peers[lane]).count("1")

    for warp in range(warps):
        rounds(warp, count)
    # The scans: thread e's count and tiles, inclusive shuffle scans within each warp, then warp totals.
    counts = [sum(nxt[w][e] for w in range(warps)) if e < experts else 0 for e in range(threads)]
    tiles = [(c + TILE_ROWS - 1) // TILE_ROWS for c in counts]
    slots_through, tiles_through = counts[:], tiles[:]
    o = 1
    while o < 32:
        s_up = [slots_through[t - o] if t % 32 >= o else slots_through[t] for t in range(threads)]  # __shfl_up_sync
        t_up = [tiles_through[t - o] if t % 32 >= o else tiles_through[t] for t in range(threads)]
        for t in range(threads):
            if t % 32 >= o:
                slots_through[t] += s_up[t]
                tiles_through[t] += t_up[t]
        o <<= 1
    warp_slots = [slots_through[w * 32 + 31] for w in range(warps)]
    warp_tiles = [tiles_through[w * 32 + 31] for w in range(warps)]
    for e in range(experts):
        slot = slots_through[e] - counts[e] + sum(warp_slots[: e // 32])
        tile = tiles_through[e] - tiles[e] + sum(warp_tiles[: e // 32])
        expert_start[e], tile_start[e] = slot, tile
        for w in range(warps):
            c = nxt[w][e]
            nxt[w][e] = slot
            slot += c
        if e == experts - 1:
            expert_start[experts], tile_start[experts] = slot, tile + tiles[e]

    def place(warp, n0, xs, peers):
        for lane in range(32):
            if xs[lane] >= 0:
                slot = nxt[warp][xs[lane]] + bin(peers[lane] & ((1 << lane) - 1)).count("1")
                assert slot_entry[slot] is None, "two entries in one slot"
                slot_entry[slot] = n0 + lane
                entry_slot[n0 + lane] = slot
        for lane in range(32):
            if xs[lane] >= 0 and peers[lane] & ((1 << lane) - 1) == 0:
                nxt[warp][xs[lane]] += bin(peers[lane]).count("1")

    for warp in range(warps):
        rounds(warp, place)
    return expert_start, tile_start, slot_entry, entry_slot


def tile_expert(tile, tile_start, experts):
    """moe_tile's bisection: the expert e with tile_start[e] <= tile < tile_start[e + 1]."""
    low, high = 0, experts
    while high - low > 1:
        middle = (low + high) // 2
        if tile_start[middle] <= tile:
            low = middle
        else:
            high = middle
    return low


def tiles_agree(tile_start, experts):
    """Every tile's expert by bisection against the serial walk moe_tile used to take."""
    for tile in range(tile_start[experts]):
        e = 0
        while tile_start[e + 1] <= tile:
            e += 1
        if tile_expert(tile, tile_start, experts) != e:
            return False
    return True


def main():
    rng = random.Random(5)
    cases = []
    for tokens, experts, k in [(1, 128, 8), (3, 8, 2), (8, 128, 8), (97, 8, 2), (130, 256, 8), (1000, 60, 4),
                               (2048, 128, 8), (4096, 128, 8), (5, 1, 1), (33, 256, 1), (129, 32, 2)]:
        cases.append((f"{tokens}x{k} of {experts}", experts,
                      [x for _ in range(tokens) for x in rng.sample(range(experts), k)]))
        pool = range(min(experts, k + 2))
        cases.append((f"{tokens}x{k} of {experts} skewed", experts,
                      [x for _ in range(tokens) for x in rng.sample(pool, k)]))
        cases.append((f"{tokens}x{k} of {experts} repeats", experts,
                      [rng.randrange(min(experts, 3)) for _ in range(tokens * k)]))
    failed = 0
    for name, experts, ids in cases:
        got = kernel(ids, experts)
        ok = got == serial(ids, experts) and tiles_agree(got[1], experts)
        failed += not ok
        print(f"{name:40} {'ok' if ok else 'FAIL'}")
    print("all equal" if failed == 0 else f"{failed} FAILED")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
