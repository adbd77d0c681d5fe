"""Turns bench/kernel-compare's runs.txt into report.md (standard library only).

Each line: `<guest|host> compare/<scenario>/<lock>/<rep> key=value ...` (the
output of bench/contend). Throughput is reported as a ratio to the plain
futex mutex of the same repetition and scenario, measured side by side;
counts per acquisition as medians over repetitions.
"""
import collections
import statistics
import sys

SCENARIOS = {
    "t1-uncontended": "1 thread, empty sections: the uncontended lock and unlock",
    "t2-cs100": "2 threads on 2 CPUs, 100 ns sections",
    "t8-cs100": "8 threads on 2 CPUs (oversubscribed), 100 ns sections",
    "t2-multimodal": "2 threads on 2 CPUs, multi-modal sections (98% 100 ns, 2% 50 us)",
    "t8-multimodal": "8 threads on 2 CPUs (oversubscribed), multi-modal sections",
    "t8-owner-sleeps": "8 threads on 2 CPUs, 200 ns sections, every 4th sleeps 50 us holding "
    "the lock",
    "t2-cs1000-noisy": "2 threads on 2 CPUs, 1 us sections, with 2 busy-looping processes beside "
    "them (noisy neighbours)",
    "t2-multimodal-noisy": "2 threads on 2 CPUs, multi-modal sections, with 2 busy-looping "
    "processes beside them",
}
LOCKS = {
    "rseq+slice": "onspin rseq + slice extension (both)",
    "rseq": "onspin rseq (user-space spin, owner state from rseq sched_state)",
    "slice": "onspin slice extension alone (holders ask; waiters sleep at once)",
    "futex2_spin": "onspin futex2_spin (kernel spin in FUTEX2_SPIN waits)",
    "bpf": "onspin bpf (user-space spin, owner state from eBPF)",
    "budget": "onspin budget (user-space spin, learned time budget, no owner state)",
    "pi": "PI futex mutex (FUTEX_LOCK_PI: the kernel spins on the owner)",
    "futex": "plain futex mutex (onspin with ONSPIN_ORACLE=none: never spins)",
}
WHERE = {
    "guest": "patched Linux 6.12.117 under qemu TCG",
    "host": "this machine's kernel",
}


def parse(path):
    runs = collections.defaultdict(dict)  # (where, scenario, rep) -> lock -> fields
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) < 3 or not parts[1].startswith("compare/"):
                continue
            _, scenario, lock, rep = parts[1].split("/")
            fields = dict(p.split("=", 1) for p in parts[2:] if "=" in p)
            runs[(parts[0], scenario, rep)][lock] = fields
    return runs


def spread(values, fmt):
    if not values:
        return "-"
    return f"{fmt(statistics.median(values))} [{fmt(min(values))}-{fmt(max(values))}]"


def main():
    runs = parse(sys.argv[1])
    host_kernel, cpus = sys.argv[2], sys.argv[3]
    print("# Kernel-assisted spinning compared (bench/kernel-compare)\n")
    print(f"Guest: {WHERE['guest']}, 2 vCPUs. Host: Linux {host_kernel}, {cpus} CPUs.")
    reps = sorted({k[2] for k in runs})
    print(f"{len(reps)} repetitions, interleaved across locks and scenarios. Ratios are to the")
    print("plain futex mutex in the same repetition; figures are median [min-max].\n")
    for where in ("guest", "host"):
        for sid, title in SCENARIOS.items():
            keys = [k for k in runs if k[0] == where and k[1] == sid]
            if not keys:
                continue
            locks = [l for l in LOCKS if any(l in runs[k] for k in keys)]
            print(f"### {where}: {title}\n")
            print("| lock | throughput vs futex | CPU/acq vs futex | syscalls/acq "
                  "| context switches/acq | contended/acq | spin got it/acq "
                  "| owner-off stops/acq | cap stops/acq | yields to a preempted owner /1000 acq "
                  "| grants /1000 acq | holder stalls /1000 acq |")
            print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
            for lock in locks:
                ratio, cpu, cols = [], [], collections.defaultdict(list)
                for k in keys:
                    r = runs[k]
                    if lock not in r:
                        continue
                    if "futex" in r:
                        ratio.append(float(r[lock]["acq_per_s"]) / float(r["futex"]["acq_per_s"]))
                        cpu.append(float(r[lock]["cpu_ns_per_acq"]) /
                                   float(r["futex"]["cpu_ns_per_acq"]))
                    for c in ("syscalls_per_acq", "ctx_switches_per_acq", "contended_per_acq",
                              "spin_acquired_per_acq", "owner_off_per_acq",
                              "budget_stop_per_acq", "preempted_yields_per_kacq",
                              "slice_grants_per_kacq", "holder_stalls_per_kacq"):
                        v = r[lock].get(c, "-")
                        if c == "holder_stalls_per_kacq" and r[lock].get("stall_ns", "0") == "0":
                            v = "-"
                        if v != "-":
                            cols[c].append(float(v))
                onspin = lock not in ("pi",)
                cells = [spread(ratio, lambda v: f"{v:.2f}"), spread(cpu, lambda v: f"{v:.2f}")]
                for c in ("syscalls_per_acq", "ctx_switches_per_acq"):
                    cells.append(spread(cols[c], lambda v: f"{v:.3f}"))
                for c in ("contended_per_acq", "spin_acquired_per_acq", "owner_off_per_acq",
                          "budget_stop_per_acq"):
                    cells.append(spread(cols[c], lambda v: f"{v:.3f}") if onspin else "-")
                for c in ("preempted_yields_per_kacq", "slice_grants_per_kacq"):
                    cells.append(spread(cols[c], lambda v: f"{v:.1f}") if onspin else "-")
                # Counted by contend itself, for every lock, where --stall-ns is given.
                cells.append(spread(cols["holder_stalls_per_kacq"], lambda v: f"{v:.2f}"))
                print(f"| {LOCKS[lock]} | " + " | ".join(cells) + " |")
            print()


if __name__ == "__main__":
    main()
