#!/usr/bin/python3
"""Summarises a bench/suite/profile folder: per lock, medians over the rounds
of throughput, CPU per acquisition and kernel events per acquisition (the
whole benchmark process, setup included, divided by the scenario's
acquisitions). Writes OUT/profile.md and prints it."""
import csv
import os
import statistics
import sys
from collections import OrderedDict

FIELDS = ["scenario", "lock", "round", "acq_per_s", "cpu_ns_per_acq", "acquisitions",
          "context-switches", "cpu-migrations", "futex", "sched_yield", "clock_nanosleep",
          "sched_wakeup"]
EVENTS = ["context-switches", "futex", "sched_yield", "clock_nanosleep", "sched_wakeup",
          "cpu-migrations"]


def main():
    folder = sys.argv[1]
    by_lock = OrderedDict()
    with open(os.path.join(folder, "profile.csv"), newline="") as f:
        for row in csv.reader(f):
            d = dict(zip(FIELDS, row))
            by_lock.setdefault(d["lock"], []).append(d)
    scenario = next(iter(by_lock.values()))[0]["scenario"]
    lines = [f"Scenario `{scenario}`: medians of {max(len(r) for r in by_lock.values())} "
             "interleaved rounds; events per acquisition.", "",
             "| lock | acq/s [min-max] | CPU/acq | " + " | ".join(EVENTS) + " |",
             "| --- | --- | --- | " + " | ".join("---" for _ in EVENTS) + " |"]
    for lock, runs in by_lock.items():
        tput = [float(r["acq_per_s"]) for r in runs]
        cpu = statistics.median(float(r["cpu_ns_per_acq"]) for r in runs)

        def per(k):
            vals = [float(r[k]) / float(r["acquisitions"]) for r in runs
                    if r[k] and float(r["acquisitions"]) > 0]
            return f"{statistics.median(vals):.3f}" if vals else "-"
        lines.append(f"| {lock} | {statistics.median(tput) / 1e3:.1f} k [{min(tput) / 1e3:.1f}-"
                     f"{max(tput) / 1e3:.1f}] | {cpu:.0f} ns | "
                     + " | ".join(per(k) for k in EVENTS) + " |")
    text = "\n".join(lines) + "\n"
    with open(os.path.join(folder, "profile.md"), "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
