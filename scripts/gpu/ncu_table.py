#!/usr/bin/env python3
"""One line per profiled launch of Nsight Compute's text report (`ncu --section ...` on stdout):
the kernel, its grid and block, duration, DRAM/memory/SM throughput, occupancy, registers, cycles
per issued instruction and the schedulers' idle share; the question each line answers is whether
the kernel waits on memory, on instruction issue, or on neither (latency).

    python3 scripts/gpu/ncu_table.py REPORT.txt
"""
import re
import sys

HEADER = re.compile(r"^\s{2}(\S+) \((\d+), (\d+), (\d+)\)x\((\d+), (\d+), (\d+)\)")
METRIC = re.compile(r"^\s{4}(\S.*?)\s{2,}(\S+)\s+([-\d.,]+)\s*$")
COLUMNS = [  # (title, metric name in the report)
    ("us", "Duration"),
    ("dram%", "DRAM Throughput"),
    ("mem%", "Memory Throughput"),
    ("sm%", "Compute (SM) Throughput"),
    ("occ%", "Achieved Occupancy"),
    ("theo%", "Theoretical Occupancy"),
    ("regs", "Registers Per Thread"),
    ("cyc/iss", "Warp Cycles Per Issued Instruction"),
    ("noelig%", "No Eligible"),
]
SCALE_TO_US = {"ns": 1e-3, "us": 1.0, "usecond": 1.0, "ms": 1e3, "msecond": 1e3, "s": 1e6}


def launches(lines):
    """(kernel, grid, block, {metric: value}) for each profiled launch, in report order."""
    current = None
    for line in lines:
        header = HEADER.match(line)
        if header:
            if current:
                yield current
            g = header.groups()
            current = (g[0], "x".join(g[1:4]), "x".join(g[4:7]), {})
            continue
        metric = METRIC.match(line) if current else None
        if metric:
            name, unit, value = metric.groups()
            number = float(value.replace(",", ""))
            if name == "Duration":
                number *= SCALE_TO_US.get(unit, 1.0)
            current[3].setdefault(name, number)
    if current:
        yield current


def main():
    rows = list(launches(open(sys.argv[1], errors="replace")))
    width = max([len(r[0]) for r in rows] + [6])
    print(f"{'kernel':<{width}} {'grid':>12} {'block':>9} " + " ".join(f"{t:>8}" for t, _ in COLUMNS))
    for kernel, grid, block, metrics in rows:
        cells = " ".join(f"{metrics[m]:>8.4g}" if m in metrics else f"{'-':>8}" for _, m in COLUMNS)
        print(f"{kernel:<{width}} {grid:>12} {block:>9} {cells}")
    if not rows:
        print("no profiled launches in the report")


if __name__ == "__main__":
    main()
