#!/usr/bin/python3
"""Turns an onspin-bench results folder into report.md and plots.

    report.py RESULTS_DIR

Reads runs.csv, latency.csv and machine.txt; writes RESULTS_DIR/report.md and
RESULTS_DIR/plots/*.png; prints the summary table. Medians over the
repetitions, with the min-max spread; ratios are of medians measured in the
same run. Uses Debian's matplotlib (/usr/bin/python3).
"""
import csv
import os
import statistics
import sys
from collections import OrderedDict, defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

BASELINE = "glibc default"


def load(folder):
    with open(os.path.join(folder, "runs.csv"), newline="") as f:
        runs = list(csv.DictReader(f))
    with open(os.path.join(folder, "latency.csv"), newline="") as f:
        latency = list(csv.DictReader(f))
    with open(os.path.join(folder, "machine.txt")) as f:
        machine = f.read().strip()
    return runs, latency, machine


def median(xs):
    xs = [x for x in xs if x == x]  # drop NaN
    return statistics.median(xs) if xs else float("nan")


def summarise(runs):
    """{scenario: {lock: stats}} in the order runs.csv lists them."""
    grouped = OrderedDict()
    for r in runs:
        grouped.setdefault(r["scenario"], OrderedDict()).setdefault(r["lock"], []).append(r)
    out = OrderedDict()
    for scen, locks in grouped.items():
        out[scen] = OrderedDict()
        for lock, rows in locks.items():
            num = lambda k: [float(r.get(k) or 0) for r in rows]  # noqa: E731
            tput = num("acq_per_s")
            contended = sum(num("onspin_contended")) or 1
            out[scen][lock] = {
                "family": rows[0]["family"],
                "pattern": rows[0]["pattern"],
                "condition": rows[0].get("condition") or "none",
                "threads": int(rows[0]["threads"]),
                "inside_ns": int(rows[0]["inside_ns"]),
                "tput": median(tput),
                "tput_lo": min(tput),
                "tput_hi": max(tput),
                "cpu": median(num("cpu_ns_per_acq")),
                "csw": median(num("csw_per_acq")),
                "p50": median(num("lat_p50_ns")),
                "p99": median(num("lat_p99_ns")),
                "p999": median(num("lat_p999_ns")),
                "jain": median(num("jain")),
                "spin_share": sum(num("onspin_spin_acquired")) / contended,
                "owner_off": sum(num("onspin_owner_off")) / contended,
                "yields": sum(num("onspin_yields")) / contended,
                "reps": len(rows),
            }
    return out


def onspin_main(locks):
    """The onspin variant that uses the process's oracle (listed first)."""
    for name, s in locks.items():
        if s["family"] == "onspin":
            return name
    return None


def fmt_scaled(x, units):
    """x in the largest unit it reaches; units: (scale, suffix, decimals), largest first."""
    if x != x:
        return "-"
    for scale, suffix, decimals in units:
        if x >= scale:
            return f"{x / scale:.{decimals}f}{suffix}" if scale else f"{x:.{decimals}f}{suffix}"
    return f"{x:.0f}"


def fmt_rate(x):
    return fmt_scaled(x, [(1e6, " M", 2), (1e3, " k", 1), (0, "", 0)])


def fmt_ns(x):
    return fmt_scaled(x, [(1e6, " ms", 1), (1e3, " us", 1), (0, " ns", 0)])


def summary_table(summary):
    lines = [
        "| scenario | onspin | acq/s | vs glibc default | best peer | its acq/s | onspin/best "
        "| onspin CPU/acq | best peer CPU/acq | thriftiest peer: CPU/acq |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for scen, locks in summary.items():
        mine = onspin_main(locks)
        peers = {k: v for k, v in locks.items() if v["family"] != "onspin"}
        if not mine or not peers:
            continue
        m = locks[mine]
        thrifty = min(peers, key=lambda k: peers[k]["cpu"])
        thriftiest = f"{thrifty}: {fmt_ns(peers[thrifty]['cpu'])}"
        if m["pattern"] == "uncontended":
            # Lower cost is better: compare ns per acquisition (1e9 / rate).
            best = max(peers, key=lambda k: peers[k]["tput"])
            base = peers.get(BASELINE, peers[best])
            lines.append(
                f"| {scen} (ns per lock+unlock) | {mine} | {1e9 / m['tput']:.1f} ns "
                f"| {base['tput'] and m['tput'] / base['tput']:.2f}x | {best} "
                f"| {1e9 / peers[best]['tput']:.1f} ns | {m['tput'] / peers[best]['tput']:.2f}x "
                f"| {fmt_ns(m['cpu'])} | {fmt_ns(peers[best]['cpu'])} | {thriftiest} |")
            continue
        best = max(peers, key=lambda k: peers[k]["tput"])
        base = peers.get(BASELINE)
        vs_base = f"{m['tput'] / base['tput']:.2f}x" if base and base["tput"] else "-"
        lines.append(
            f"| {scen} | {mine} | {fmt_rate(m['tput'])} | {vs_base} | {best} "
            f"| {fmt_rate(peers[best]['tput'])} | {m['tput'] / peers[best]['tput']:.2f}x "
            f"| {fmt_ns(m['cpu'])} | {fmt_ns(peers[best]['cpu'])} | {thriftiest} |")
    return "\n".join(lines)


def detail_tables(summary):
    out = []
    for scen, locks in summary.items():
        out.append(f"\n### {scen}\n")
        out.append("| lock | acq/s [min-max] | CPU/acq | switches/acq | p50 | p99 | p99.9 "
                   "| Jain | onspin, per contended lock: acquired spinning / owner-off stops "
                   "/ yields |")
        out.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        for lock, s in sorted(locks.items(), key=lambda kv: -kv[1]["tput"]):
            spin = (f"{100 * s['spin_share']:.0f}% / {s['owner_off']:.2f} / {s['yields']:.2f}"
                    if s["family"] == "onspin" else "")
            out.append(
                f"| {lock} | {fmt_rate(s['tput'])} [{fmt_rate(s['tput_lo'])}-"
                f"{fmt_rate(s['tput_hi'])}] | {fmt_ns(s['cpu'])} | {s['csw']:.3f} "
                f"| {fmt_ns(s['p50'])} | {fmt_ns(s['p99'])} | {fmt_ns(s['p999'])} "
                f"| {s['jain']:.2f} | {spin} |")
    return "\n".join(out)


def style(lock, family):
    if family == "onspin":
        return {"linewidth": 2.6, "linestyle": "-"}
    return {"linewidth": 1.2, "linestyle": {"sleeping": "--", "hybrid": "-.",
                                             "spinning": ":", "kernel": "--"}.get(family, "-")}


def plot_vs_threads(summary, key, ylabel, path, log=True):
    steady = defaultdict(lambda: defaultdict(list))  # cs -> lock -> [(threads, value)]
    family = {}
    for locks in summary.values():
        for lock, s in locks.items():
            if s["pattern"] == "steady" and s["condition"] == "none":
                steady[s["inside_ns"]][lock].append((s["threads"], s[key]))
                family[lock] = s["family"]
    if not steady:
        return None
    panels = sorted(steady)
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 4.2), squeeze=False)
    for ax, cs in zip(axes[0], panels):
        for lock, pts in steady[cs].items():
            pts.sort()
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", markersize=3,
                    label=lock, **style(lock, family[lock]))
        ax.set_title(f"critical section {cs} ns")
        ax.set_xscale("log", base=2)
        if log:
            ax.set_yscale("log")
        ax.set_xlabel("threads (2 CPUs)")
        ax.set_ylabel(ylabel)
        ax.grid(True, alpha=0.3)
    axes[0][-1].legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_latency_cdfs(latency, summary, folder):
    wanted = [s for s in summary if s.startswith(("multimodal", "owner-sleeps"))]
    wanted += [s for s in summary if s.startswith("steady t8 cs1000")]
    data = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    for r in latency:
        if r["scenario"] in wanted and r["ns"] not in ("nan", ""):
            data[r["scenario"]][r["lock"]][float(r["quantile"])].append(float(r["ns"]))
    paths = []
    for scen in wanted:
        if scen not in data:
            continue
        fig, ax = plt.subplots(figsize=(7, 4.2))
        for lock, qs in data[scen].items():
            q = sorted(qs)
            ax.plot([max(1, median(qs[x])) for x in q], q, label=lock,
                    **style(lock, summary[scen][lock]["family"]))
        ax.set_xscale("log")
        ax.set_xlabel("lock() latency (ns), median over repetitions")
        ax.set_ylabel("fraction of acquisitions")
        ax.set_title(f"latency CDF: {scen}")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
        fig.tight_layout()
        name = os.path.join(folder, "plots", "latency-" + scen.replace(" ", "-") + ".png")
        fig.savefig(name, dpi=110)
        plt.close(fig)
        paths.append(name)
    return paths


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: report.py RESULTS_DIR")
    folder = sys.argv[1]
    runs, latency, machine = load(folder)
    summary = summarise(runs)
    os.makedirs(os.path.join(folder, "plots"), exist_ok=True)
    plots = [
        plot_vs_threads(summary, "tput", "acquisitions per second",
                        os.path.join(folder, "plots", "throughput.png")),
        plot_vs_threads(summary, "cpu", "CPU ns per acquisition (user+sys)",
                        os.path.join(folder, "plots", "cpu-per-acquisition.png")),
    ]
    plots = [p for p in plots if p] + plot_latency_cdfs(latency, summary, folder)
    reps = max((s["reps"] for locks in summary.values() for s in locks.values()), default=0)
    table = summary_table(summary)
    with open(os.path.join(folder, "report.md"), "w") as f:
        f.write("# onspin benchmark report\n\n")
        f.write("```\n" + machine + "\n```\n\n")
        f.write(f"Medians of {reps} interleaved repetitions per lock and scenario. 'vs glibc "
                "default' and 'onspin/best' divide onspin's median throughput by the other's; "
                "best peer = the fastest non-onspin lock in that scenario. Every run checked "
                "mutual exclusion.\n\n## Summary\n\n")
        f.write(table + "\n\n## Plots\n\n")
        for p in plots:
            f.write(f"![{os.path.basename(p)}](plots/{os.path.basename(p)})\n\n")
        f.write("## Every lock, every scenario\n")
        f.write(detail_tables(summary) + "\n")
    print(table)
    print(f"\nreport: {os.path.join(folder, 'report.md')}; plots: {os.path.join(folder, 'plots')}/")


if __name__ == "__main__":
    main()
