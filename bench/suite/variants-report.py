#!/usr/bin/python3
"""Summarises a bench/suite/variants folder: per scenario and variant, the
median throughput over the rounds with its min-max, the ratio to the first
variant, CPU per acquisition, and per contended acquisition the yields,
futex waits and long spins (past ONSPIN_SPIN_NS on a CPU nobody else
wanted; "-" in files written before they were counted). Writes OUT/variants.md and prints it."""
import csv
import os
import statistics
import sys
from collections import OrderedDict


def main():
    folder = sys.argv[1]
    with open(os.path.join(folder, "header")) as f:
        header = ["variant"] + next(csv.reader(f))
    rows = OrderedDict()
    variants = []
    with open(os.path.join(folder, "variants.csv"), newline="") as f:
        for r in csv.reader(f):
            d = dict(zip(header, r))
            rows.setdefault(d["scenario"], OrderedDict()).setdefault(d["variant"], []).append(d)
            if d["variant"] not in variants:
                variants.append(d["variant"])
    lines = ["| scenario | variant | acq/s median [min-max] | vs first | CPU/acq "
             "| yields / contended | futex waits / contended | long spins / contended |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for scen, by in rows.items():
        first = None
        for v in variants:
            runs = by.get(v)
            if not runs:
                continue
            tput = [float(r["acq_per_s"]) for r in runs]
            med = statistics.median(tput)
            first = first or med
            cpu = statistics.median(float(r["cpu_ns_per_acq"]) for r in runs)
            contended = sum(float(r.get("onspin_contended") or 0) for r in runs)
            per = (lambda k: f"{sum(float(r.get(k) or 0) for r in runs) / contended:.3f}"
                   if contended and k in runs[0] else "-")
            lines.append(f"| {scen} | {v} | {med / 1e6:.3f} M [{min(tput) / 1e6:.3f}-"
                         f"{max(tput) / 1e6:.3f}] | {med / first:.2f} | {cpu:.0f} ns "
                         f"| {per('onspin_yields')} | {per('onspin_futex_waits')} "
                         f"| {per('onspin_spin_alone')} |")
    text = (f"Medians of {max(len(x) for by in rows.values() for x in by.values())} "
            "interleaved rounds; 'vs first' divides by the first variant's median in the same "
            "scenario.\n\n" + "\n".join(lines) + "\n")
    with open(os.path.join(folder, "variants.md"), "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
