#!/usr/bin/env python3
"""Emulates moe_route's selection rounds (Sources/VLLMCUDA/Kernels/moe.cu) on a machine without a
GPU, on the tie-heavy torch.topk cases of Tests/Fixtures/moe/topk_ties.json: each round takes the
largest remaining probability at its lowest index, and a round that finds that value more than once
hands the token to lane 0's serial steps (torch.topk's exact order, the fixture's answer). With
MOE_ROUTE_SET_TIES the hand-over happens only when the equal values straddle the k-th place
(round j, count c: j + c > k). Checks that the default rounds give torch's ids in torch's order, and
that the MOE_ROUTE_SET_TIES rounds give torch's set of ids with the same weights slot by slot (equal
values only trade places), which is all that moe_group, moe_combine and the renormalising sum read.
Keep it in step with the kernel when either changes.

    python3 scripts/gpu/moe_route_emulate.py     # under a second
"""
import json
import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def route(values, k, set_ties, torch_ids):
    """The kernel's ids for one token, and whether lane 0's serial steps chose them."""
    p = list(values)
    ids = []
    for j in range(k):
        largest = max(p)
        count = sum(1 for v in p if v == largest)
        if (j + count > k) if set_ties else (count > 1):
            return list(torch_ids), True
        chosen = min(i for i, v in enumerate(p) if v == largest)
        ids.append(chosen)
        p[chosen] = -2.0  # taken
    return ids, False


def main():
    cases = json.load(open(os.path.join(ROOT, "Tests/Fixtures/moe/topk_ties.json")))["cases"]
    serial = {False: 0, True: 0}
    for case in cases:
        values, k, torch_ids = case["values"], case["k"], case["indices"]
        ids, by_serial = route(values, k, False, torch_ids)
        assert ids == torch_ids, ("default", case, ids)
        serial[False] += by_serial
        ids, by_serial = route(values, k, True, torch_ids)
        assert sorted(ids) == sorted(torch_ids), ("set ties", case, ids)
        assert [values[i] for i in ids] == [values[i] for i in torch_ids], ("set ties weights", case, ids)
        serial[True] += by_serial
    print(f"ok: {len(cases)} cases; serial steps taken by {serial[False]} (default) and {serial[True]} (MOE_ROUTE_SET_TIES)")


if __name__ == "__main__":
    main()
