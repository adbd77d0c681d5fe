#!/usr/bin/python3
"""Turns bench/apps/run.py's apps-runs.csv into the real-program report.

    report.py RESULTS_DIR

Writes RESULTS_DIR/apps-report.md and RESULTS_DIR/plots/apps-*.png and prints
the answer table. A lock's ratio to glibc is taken repetition by repetition
(the locks of one repetition run back to back), then the median of those
ratios is given with their min-max spread. The noise floor of a program is
the pass-through interposer's ratios to glibc over all its conditions and
repetitions: that interposer changes nothing, so its ratios show how far a
ratio moves by chance. With three repetitions a ratio inside that band is
noise, and one just outside it is a hint, not a proof.
Uses Debian's matplotlib (/usr/bin/python3).
"""
import csv
import math
import os
import statistics
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

BASE = "glibc"
FLOOR = "passthrough"
LOCK_ORDER = ["glibc", "passthrough", "adaptive", "onspin-bpf", "onspin-budget", "onspin-none"]
COND_ORDER = ["fit", "over2", "over8", "over16", "noisy", "quota"]


def ordered(xs, order):
    return sorted(xs, key=lambda x: (order.index(x) if x in order else len(order), x))


COVERAGE = "coverage"


def load(folder):
    """The measured runs, and the unmeasured coverage runs (statistics on)."""
    with open(os.path.join(folder, "apps-runs.csv"), newline="") as f:
        runs = list(csv.DictReader(f))
    return ([r for r in runs if r["rep"] != COVERAGE], [r for r in runs if r["rep"] == COVERAGE])


def num(s):
    try:
        return float(s)
    except (TypeError, ValueError):
        return float("nan")


def med(xs):
    xs = [x for x in xs if not math.isnan(x)]
    return statistics.median(xs) if xs else float("nan")


class Cell:
    """One program, workload, condition and lock over its repetitions."""

    def __init__(self, runs, base_by_rep, floor_by_rep):
        ok = [r for r in runs if r["status"] == "ok"]
        self.runs, self.failed = len(runs), len(runs) - len(ok)
        self.score = med([num(r["score"]) for r in ok])
        ok = [r for r in ok if num(r["score"]) > 0]
        self.ratios = [num(r["score"]) / base_by_rep[r["rep"]] for r in ok
                       if r["rep"] in base_by_rep]
        self.floor_ratios = [num(r["score"]) / floor_by_rep[r["rep"]] for r in ok
                             if r["rep"] in floor_by_rep]
        per_work = lambda key: med([num(r[key]) / num(r["work"]) for r in ok if num(r["work"]) > 0])
        self.cpu_per_work = per_work("cpu_s")
        self.voluntary_per_work = per_work("voluntary")
        self.involuntary_per_work = per_work("involuntary")
        self.latency = {k: med([num(r.get(k)) for r in ok]) for k in ("p99_ms", "p95_ms", "avg_ms")}
        self.unit = ok[0]["unit"] if ok else ""

    def ratio(self):
        return med(self.ratios)

    def spread(self):
        return (min(self.ratios), max(self.ratios)) if self.ratios else (math.nan, math.nan)


def cells(runs):
    """{(program, workload): {condition: {lock: Cell}}}"""
    groups = defaultdict(list)
    for r in runs:
        groups[(r["program"], r["workload"], r["condition"], r["lock"])].append(r)
    by_rep = lambda key: {r["rep"]: num(r["score"]) for r in groups.get(key, [])
                          if r["status"] == "ok" and num(r["score"]) > 0}
    out = defaultdict(lambda: defaultdict(dict))
    for (p, w, c, lock), rs in groups.items():
        out[(p, w)][c][lock] = Cell(rs, by_rep((p, w, c, BASE)), by_rep((p, w, c, FLOOR)))
    return out


def fmt_ratio(cell):
    if cell is None or not cell.ratios:
        return "-"
    lo, hi = cell.spread()
    return f"{cell.ratio():.2f} ({lo:.2f}-{hi:.2f})"


def fmt_num(x, digits=3):
    if math.isnan(x):
        return "-"
    return f"{x:.{digits}g}"


def scale_per_work(x):
    """CPU seconds (or switches) per unit of work, per 1000 units."""
    return fmt_num(x * 1000)


def floor_band(conds):
    """The pass-through's ratios to glibc over every condition and repetition."""
    rs = [r for cs in conds.values() if FLOOR in cs for r in cs[FLOOR].ratios]
    return (min(rs), max(rs), len(rs)) if rs else None


def answer_table(table, locks, conditions):
    """One row per program and workload, one column per condition: each
    onspin oracle's median ratio to glibc; then the program's noise floor."""
    onspin = [lk for lk in locks if lk.startswith("onspin-")]
    lines = ["| program: workload | " + " | ".join(conditions) + " | noise floor |",
             "| --- |" + " --- |" * (len(conditions) + 1)]
    for (p, w), conds in sorted(table.items()):
        row = []
        for c in conditions:
            cs = conds.get(c, {})
            parts = [f"{lk.removeprefix('onspin-')} {cs[lk].ratio():.2f}"
                     for lk in onspin if lk in cs and cs[lk].ratios]
            row.append("<br>".join(parts) or "-")
        band = floor_band(conds)
        row.append(f"{band[0]:.2f}-{band[1]:.2f} (n={band[2]})" if band else "-")
        lines.append(f"| {p}: {w} | " + " | ".join(row) + " |")
    return "\n".join(lines)


# Two-sided 95 % quantiles of Student's t, by degrees of freedom.
T95 = {1: 12.71, 2: 4.30, 3: 3.18, 4: 2.78, 5: 2.57, 6: 2.45, 7: 2.36, 8: 2.31, 9: 2.26,
       10: 2.23, 11: 2.20, 12: 2.18, 13: 2.16, 14: 2.14, 15: 2.13}


def geomean_ci(values):
    """Geometric mean of ratios with a 95 % t-interval, the programs being
    the sample: 'across programs like these, the typical effect'."""
    logs = [math.log(v) for v in values if v > 0 and not math.isnan(v)]
    if not logs:
        return None
    mean = statistics.fmean(logs)
    if len(logs) < 2:
        return math.exp(mean), math.nan, math.nan, len(logs)
    half = T95.get(len(logs) - 1, 2.0) * statistics.stdev(logs) / math.sqrt(len(logs))
    return math.exp(mean), math.exp(mean - half), math.exp(mean + half), len(logs)


def fmt_ci(ci):
    if ci is None:
        return "-"
    g, lo, hi, n = ci
    return f"{g:.2f} ({lo:.2f}-{hi:.2f})" if not math.isnan(lo) else f"{g:.2f} (n=1)"


def pooled_table(table, locks, conditions, measure):
    """Each lock against glibc per condition, pooled over the programs: the
    geometric mean of the programs' median ratios, with a 95 % interval."""
    lines = ["| lock | " + " | ".join(conditions) + " |", "| --- |" + " --- |" * len(conditions)]
    for lk in locks:
        if lk == BASE:
            continue
        row = []
        for c in conditions:
            values = []
            for conds in table.values():
                cs = conds.get(c, {})
                if lk in cs and BASE in cs:
                    values.append(measure(cs[lk], cs[BASE]))
            row.append(fmt_ci(geomean_ci(values)))
        lines.append(f"| {lk} | " + " | ".join(row) + " |")
    return "\n".join(lines)


def score_ratio(cell, _base):
    return cell.ratio() if cell.ratios else math.nan


def cpu_ratio(cell, base):
    return cell.cpu_per_work / base.cpu_per_work if base.cpu_per_work > 0 else math.nan


def coverage_table(coverage):
    """What onspin saw of each program's locking: the unmeasured coverage run
    (onspin, bpf oracle, threads = CPUs, statistics on), its calls over the
    whole process (a server's start-up, warm-up and shutdown included)
    against the work of its measured window."""
    lines = ["| program: workload | unit of work | mutex calls | condvar calls | left to glibc "
             "| not replaced (rwlock, spin, barrier) | onspin's share | acquired by spinning, "
             "futex waits, per 1000 mutex calls | oracle |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in sorted(coverage, key=lambda r: (r["program"], r["workload"])):
        if r["status"] != "ok" or not num(r["work"]) > 0:
            lines.append(f"| {r['program']}: {r['workload']} | run failed: {r['error']} ||||||||")
            continue
        per = lambda key: num(r[key] or 0) / num(r["work"])
        served = num(r["served_mutex"] or 0) + num(r["served_cond"] or 0)
        total = served + num(r["left_to_glibc"] or 0) + num(r["not_replaced"] or 0)
        share = f"{served / total:.0%}" if total > 0 else "none seen"
        calls = num(r["served_mutex"] or 0)
        waits = (f"{1000 * num(r['spin_acquired'] or 0) / calls:.2g}, "
                 f"{1000 * num(r['futex_waits'] or 0) / calls:.2g}" if calls > 0 else "-")
        lines.append(f"| {r['program']}: {r['workload']} | {r['unit'].split('/')[0]} "
                     f"| {fmt_num(per('served_mutex'))} | {fmt_num(per('served_cond'))} "
                     f"| {fmt_num(per('left_to_glibc'))} | {fmt_num(per('not_replaced'))} "
                     f"| {share} | {waits} | {r['oracle']} |")
    return "\n".join(lines)


def detail_table(conds, locks, conditions):
    unit = next((cell.unit for cs in conds.values() for cell in cs.values() if cell.unit), "score")
    lat_key = next((k for k in ("p99_ms", "p95_ms", "avg_ms")
                    if any(not math.isnan(cell.latency[k]) for cs in conds.values()
                           for cell in cs.values())), None)
    head = (f"| condition | lock | {unit} | to glibc | to pass-through | CPU ms per 1000 | "
            f"voluntary switches per 1000 | involuntary per 1000 |"
            + (f" {lat_key.replace('_ms', '')} ms |" if lat_key else "") + " runs ok |")
    lines = [head, "| --- " * (head.count("|") - 1) + "|"]
    for c in conditions:
        for lk in locks:
            cell = conds.get(c, {}).get(lk)
            if cell is None:
                continue
            floor = (f"{med(cell.floor_ratios):.2f}" if cell.floor_ratios and lk != FLOOR else "-")
            line = (f"| {c} | {lk} | {fmt_num(cell.score, 4)} | {fmt_ratio(cell) if lk != BASE else '1'}"
                    f" | {floor} | {scale_per_work(cell.cpu_per_work * 1000)} | "
                    f"{scale_per_work(cell.voluntary_per_work)} | "
                    f"{scale_per_work(cell.involuntary_per_work)} |")
            if lat_key:
                line += f" {fmt_num(cell.latency[lat_key])} |"
            line += f" {cell.runs - cell.failed}/{cell.runs} |"
            lines.append(line)
    return "\n".join(lines)


def perf_table(runs):
    """perf stat's counts per unit of work (run.py --perf), medians over the
    repetitions: what a lock costs where the figures differ."""
    events, cells = [], defaultdict(list)
    for r in runs:
        if r["status"] != "ok" or not r.get("perf") or not num(r["work"]) > 0:
            continue
        counts = dict(kv.split("=") for kv in r["perf"].split(";"))
        for e in counts:
            if e not in events:
                events.append(e)
        cells[(r["program"], r["workload"], r["condition"], r["lock"])].append(
            {e: float(v) / num(r["work"]) for e, v in counts.items()})
    if not cells:
        return ""
    lines = ["| program: workload | condition | lock | " + " | ".join(
        f"{e} per 1000 units" for e in events) + " |", "| --- " * (len(events) + 3) + "|"]
    for (p, w, c, lk) in sorted(cells, key=lambda k: (k[0], k[1], COND_ORDER.index(k[2])
                                                      if k[2] in COND_ORDER else 99,
                                                      LOCK_ORDER.index(k[3])
                                                      if k[3] in LOCK_ORDER else 99)):
        vals = [fmt_num(1000 * med([x.get(e, math.nan) for x in cells[(p, w, c, lk)]]))
                for e in events]
        lines.append(f"| {p}: {w} | {c} | {lk} | " + " | ".join(vals) + " |")
    return "\n".join(lines)


def plot_ratios(table, locks, conditions, path):
    panels = sorted(table)
    cols = min(3, len(panels))
    rows = (len(panels) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 3.6 * rows), squeeze=False)
    shown = [lk for lk in locks if lk != BASE]
    width = 0.8 / max(1, len(shown))
    for ax, key in zip(axes.flat, panels):
        conds = table[key]
        cs = [c for c in conditions if c in conds]
        for i, lk in enumerate(shown):
            xs, ys, lo, hi = [], [], [], []
            for j, c in enumerate(cs):
                cell = conds[c].get(lk)
                if cell is None or not cell.ratios:
                    continue
                a, b = cell.spread()
                xs.append(j + (i - (len(shown) - 1) / 2) * width)
                ys.append(cell.ratio())
                lo.append(cell.ratio() - a)
                hi.append(b - cell.ratio())
            ax.bar(xs, ys, width, yerr=[lo, hi], label=lk, capsize=2,
                   color=None if lk != FLOOR else "lightgrey")
        ax.axhline(1.0, color="black", linewidth=0.8)
        ax.set_xticks(range(len(cs)), cs)
        ax.set_title(f"{key[0]}: {key[1]}", fontsize=10)
        ax.set_ylabel("ratio to glibc (higher is better)", fontsize=8)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_pooled(table, locks, conditions, path):
    """The answer at a glance: each lock's pooled ratio to glibc per
    condition, with its 95 % interval over the programs."""
    shown = [lk for lk in locks if lk != BASE]
    width = 0.8 / max(1, len(shown))
    fig, ax = plt.subplots(figsize=(8, 4))
    for i, lk in enumerate(shown):
        xs, ys, lo, hi = [], [], [], []
        for j, c in enumerate(conditions):
            values = [score_ratio(cs[c][lk], None) for cs in table.values()
                      if c in cs and lk in cs[c] and BASE in cs[c]]
            ci = geomean_ci(values)
            if ci is None or math.isnan(ci[1]):
                continue
            xs.append(j + (i - (len(shown) - 1) / 2) * width)
            ys.append(ci[0])
            lo.append(ci[0] - ci[1])
            hi.append(ci[2] - ci[0])
        ax.bar(xs, ys, width, yerr=[lo, hi], label=lk, capsize=2,
               color=None if lk != FLOOR else "lightgrey")
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_xticks(range(len(conditions)), conditions)
    ax.set_ylabel("throughput / glibc's, geometric mean\nover the programs, 95 % interval")
    ax.set_title(f"Real programs under each lock ({len(table)} program workloads)")
    ax.legend(fontsize=7, ncol=3, loc="lower center")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: report.py RESULTS_DIR")
    folder = sys.argv[1]
    runs, coverage = load(folder)
    if not runs and not coverage:
        sys.exit(f"report: no runs in {folder}/apps-runs.csv")
    if not runs:  # run.py --reps 0
        text = "## What onspin saw of each program's locks\n\n" + coverage_table(coverage) + "\n"
        with open(os.path.join(folder, "apps-report.md"), "w") as f:
            f.write(text)
        print(text)
        return
    table = cells(runs)
    locks = ordered({r["lock"] for r in runs}, LOCK_ORDER)
    conditions = ordered({r["condition"] for r in runs}, COND_ORDER)
    reps = len({r["rep"] for r in runs})
    failed = [r for r in runs + coverage if r["status"] != "ok"]
    os.makedirs(os.path.join(folder, "plots"), exist_ok=True)
    plot = os.path.join(folder, "plots", "apps-ratio-to-glibc.png")
    plot_ratios(table, locks, conditions, plot)
    pooled_plot = os.path.join(folder, "plots", "apps-pooled.png")
    plot_pooled(table, locks, conditions, pooled_plot)

    answer = answer_table(table, locks, conditions)
    out = [
        "## Real programs",
        "",
        f"{len(runs)} measured runs, {reps} interleaved repetitions. Ratios are the program's own "
        "figure of merit against glibc's in the same repetition, medians over the repetitions. "
        "The noise floor is the range of the pass-through interposer's ratios to glibc over "
        "every condition and repetition of the program: it changes nothing, so a ratio inside "
        "that range is noise. Conditions: " + ", ".join(conditions) + ".",
        "",
        answer,
        "",
        f"Pooled over the {len(table)} program workloads: the geometric mean of their median "
        "ratios to glibc, with a 95 % interval (the programs are the sample). Throughput, higher "
        "is better:",
        "",
        pooled_table(table, locks, conditions, score_ratio),
        "",
        f"![pooled ratio to glibc](plots/{os.path.basename(pooled_plot)})",
        "",
        "CPU time per unit of work against glibc's, lower is better:",
        "",
        pooled_table(table, locks, conditions, cpu_ratio),
        "",
        "### What onspin saw of each program's locks",
        "",
        "The unmeasured coverage run of each program (onspin, bpf oracle, threads = CPUs, "
        "statistics on): its calls over the whole process, a server's start-up, warm-up and "
        "shutdown included, per unit of the measured window's work.",
        "",
        coverage_table(coverage),
        "",
        f"![ratio to glibc](plots/{os.path.basename(plot)})",
        "",
    ]
    perf = perf_table(runs)
    if perf:
        out += ["### perf stat counts (run.py --perf: a profile, perf's own cost included)", "",
                perf, ""]
    for key in sorted(table):
        out += [f"### {key[0]}: {key[1]}", "", detail_table(table[key], locks, conditions), ""]
    if failed:
        out += ["### Failed runs", ""]
        out += [f"- {r['program']} {r['workload']} {r['condition']} {r['lock']} rep {r['rep']}: "
                f"{r['error']}" for r in failed]
        out.append("")
    with open(os.path.join(folder, "apps-report.md"), "w") as f:
        f.write("\n".join(out))
    print("\nReal programs: ratio to glibc (median of repetitions; noise floor = pass-through's range)")
    print(answer.replace("<br>", ", "))
    print("\nPooled over the programs: geometric mean ratio to glibc (95 % interval)")
    print(pooled_table(table, locks, conditions, score_ratio))
    if failed:
        print(f"{len(failed)} runs failed: see {folder}/apps-report.md")
    print(f"\nreport: {os.path.join(folder, 'apps-report.md')}; plot: {plot}")


if __name__ == "__main__":
    main()
