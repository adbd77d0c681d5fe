#!/usr/bin/python3
"""Real programs under onspin and under glibc, in the conditions that decide
whether a lock owner gets preempted. Every run is one program script
(bench/apps/programs/NAME, contract in lib.sh) with one workload, one
condition and one lock. Repetitions are interleaved: the locks of one
repetition run back to back, in an order shuffled once per program and
condition and rotated from one repetition to the next, so that each lock
takes a different place each time.
   run.py --out DIR [--set quick|full] [--programs P[:W],...] [--conditions ...]
          [--locks ...] [--reps N] [--seconds S] [--build DIR] [--programs-dir DIR]
(--reps 0: only the coverage runs; --perf EVENTS: each program under perf
stat, for a profile, with the counts in the CSV's perf column.) Writes DIR/apps-runs.csv (one row per run) and DIR/apps-logs/ (each run's
stderr); bench/apps/report.py turns them into the report.

Before the measured runs, each program runs once more under onspin (bpf
oracle, fit condition) with the interposer's statistics on, unmeasured
(rep "coverage"): what onspin served of its locks. Measured runs count
nothing, so that no lock carries the counting's cost."""

import argparse
import csv
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
from cgroup import RunGroup, Unavailable  # noqa: E402
from conditions import CONDITIONS, Neighbours  # noqa: E402
from locks import LOCKS, BpfPin, lock_env  # noqa: E402
from lockstats import read_stats  # noqa: E402

APPS = Path(__file__).resolve().parent
REPO = APPS.parent.parent
COVERAGE = "coverage"

# What each set runs: (program, workload) pairs, conditions, locks, reps, seconds.
# On 2 CPUs quick takes about 5 minutes, full about an hour (7-Zip's 13 s a
# run included: it sizes its own passes).
SETS = {
    "quick": dict(
        programs=["leveldb:readrandom", "memcached:getset"],
        conditions=["fit", "over8", "noisy", "quota"],
        locks=["glibc", "passthrough", "onspin-bpf"],
        reps=3,
        seconds=2,
    ),
    "full": dict(
        programs=["leveldb:readrandom", "leveldb:fillrandom", "leveldb:readwhilewriting",
                  "memcached:getset", "memcached:set", "mariadb:oltp_point_select",
                  "mariadb:oltp_read_write", "kyotocabinet:cache", "pbzip2:compress",
                  "7zip:bench"],
        # over2 and over16 on request (--conditions): over8 stands for them here.
        conditions=["fit", "over8", "noisy", "quota"],
        locks=list(LOCKS),
        reps=3,
        seconds=2,
    ),
}

FIELDS = ["program", "workload", "condition", "threads", "neighbours", "quota_cpus", "lock", "rep",
          "position", "status", "score", "unit", "work", "cpu_s", "voluntary", "involuntary",
          "p95_ms", "p99_ms", "avg_ms", "wall_s", "throttled_s", "window", "oracle",
          "served_mutex", "served_cond", "left_to_glibc", "not_replaced", "futex_waits",
          "spin_acquired", "perf", "error"]

# Where the program scripts are (--programs-dir: the tests' toy program).
programs_dir = APPS / "programs"


class RunFailed(Exception):
    pass


def log(msg):
    print(f"apps: {msg}", file=sys.stderr, flush=True)


def program_script(name):
    script = programs_dir / name
    if not os.access(script, os.X_OK):
        known = ", ".join(sorted(p.name for p in programs_dir.iterdir()))
        sys.exit(f"apps: no program '{name}' (known: {known})")
    return script


def parse_pairs(specs):
    """'leveldb:readrandom' or 'leveldb' (every workload it offers)."""
    pairs = []
    for spec in specs:
        name, _, workload = spec.partition(":")
        script = program_script(name)
        offered = [line.split()[0] for line in subprocess.run(
            [script, "workloads"], check=True, capture_output=True, text=True).stdout.splitlines()
            if line.strip()]
        if workload and workload not in offered:
            sys.exit(f"apps: {name} has no workload '{workload}' (it offers: {', '.join(offered)})")
        pairs += [(name, w) for w in ([workload] if workload else offered)]
    return pairs


def window_from_marks(path):
    """CPU, switches and throttling between a server's marks, or None for a
    program that marked nothing."""
    if not path.exists():
        return None
    marks = [json.loads(line) for line in path.read_text().splitlines()]
    if [m["what"] for m in marks] != ["begin", "end"]:
        raise RunFailed(f"marks {[m['what'] for m in marks]}: want one begin, then one end")
    begin, end = marks
    voluntary = involuntary = 0
    for tid, (v, i) in end["switches"].items():
        before = begin["switches"].get(tid, (0, 0))
        voluntary += v - before[0]
        involuntary += i - before[1]
    return dict(cpu_s=(end["cpu_ns"] - begin["cpu_ns"]) / 1e9, voluntary=voluntary,
                involuntary=involuntary,
                throttled_s=(end["throttled_ns"] - begin["throttled_ns"]) / 1e9, window="marked")


def whole_run(group, rusage_file):
    """CPU from the cgroup, switches from the wrapper's rusage, for a program
    that runs its load itself and exits."""
    voluntary = involuntary = 0
    if rusage_file.exists():
        for line in rusage_file.read_text().splitlines():
            _, _, v, i = line.split()
            voluntary += int(v)
            involuntary += int(i)
    return dict(cpu_s=group.cpu_ns() / 1e9, voluntary=voluntary, involuntary=involuntary,
                throttled_s=group.throttled_ns() / 1e9, window="whole run")


def run_script(cmd, env, err, timeout):
    """Runs a program script in its own session and kills the whole session
    when it ends, times out or the driver is stopped: a script killed in the
    middle leaves its load generator and server behind otherwise."""
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=err, text=True,
                            start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
        return proc.returncode, out
    except subprocess.TimeoutExpired:
        raise RunFailed(f"no result within {timeout} s")
    finally:
        # Whatever is left of the session: TERM, a grace period, then KILL.
        for sig, grace in ((signal.SIGTERM, 5), (signal.SIGKILL, 0)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline:
                try:
                    os.killpg(proc.pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.1)
        proc.wait()


def read_perf(path):
    """perf stat -x, output: 'value,unit,event,...' lines, summed per event
    over the runs of the program (a server's whole life, not its window)."""
    counts = {}
    if path.exists():
        for line in path.read_text().splitlines():
            fields = line.split(",")
            if len(fields) > 2 and fields[0].replace(".", "", 1).isdigit():
                counts[fields[2]] = counts.get(fields[2], 0) + float(fields[0])
    return ";".join(f"{k}={v:g}" for k, v in counts.items())


def run_one(out, build, program, workload, condition, lock, rep, seconds, ncpu, stats=False,
            perf=None):
    cond = CONDITIONS[condition]
    threads = cond.threads(ncpu)
    quota = cond.quota_cpus(ncpu)
    row = dict(program=program, workload=workload, condition=condition, threads=threads,
               neighbours=cond.neighbours(ncpu), quota_cpus=quota or "", lock=lock, rep=rep)
    tag = f"{program}-{workload}-{condition}-{lock}-{rep}"
    logs = out / "apps-logs"
    logs.mkdir(exist_ok=True)
    state = out / "apps-state"
    state.mkdir(exist_ok=True)
    marks, rusage, stats_file = state / "marks", state / "rusage", state / "stats"
    perf_file = state / "perf"
    for f in (marks, rusage, stats_file, perf_file):
        f.unlink(missing_ok=True)
    group = RunGroup(f"run-{os.getpid()}", quota)
    env = dict(os.environ,
               ONSPIN_APPS_EXEC=str(APPS / "exec-under-test"),
               ONSPIN_APPS_MARK=str(APPS / "mark-window"),
               ONSPIN_APPS_CGROUP=group.spec(),
               ONSPIN_APPS_PROCS=",".join(group.procs_files()),
               ONSPIN_APPS_LOCK_ENV=json.dumps(lock_env(lock, build,
                                                        stats_file if stats else None)),
               ONSPIN_APPS_RUSAGE=str(rusage),
               ONSPIN_APPS_MARKS=str(marks),
               ONSPIN_APPS_PERF=perf or "",
               ONSPIN_APPS_PERF_OUT=str(perf_file))
    started = time.monotonic()
    try:
        with Neighbours(cond.neighbours(ncpu), 20 * seconds + 240), \
                open(logs / f"{tag}.log", "w") as err:
            code, stdout = run_script([program_script(program), "run", workload, str(threads),
                                       str(seconds)], env, err, 20 * seconds + 180)
        values = dict(line.split("=", 1) for line in stdout.splitlines() if "=" in line)
        if code != 0 or not {"score", "unit", "work"} <= values.keys():
            raise RunFailed(f"exit {code}, stdout {stdout.strip()!r}")
        row.update(status="ok", score=float(values["score"]), unit=values["unit"],
                   work=float(values["work"]), p95_ms=values.get("p95_ms", ""),
                   p99_ms=values.get("p99_ms", ""), avg_ms=values.get("avg_ms", ""))
        row.update(window_from_marks(marks) or whole_run(group, rusage))
    except (RunFailed, ValueError, KeyError) as e:
        tail = (logs / f"{tag}.log").read_text().strip().splitlines()[-3:]
        row.update(status="failed", error=f"{e}; log: {' | '.join(tail)}"[:300])
    finally:
        try:
            group.remove()
        except Unavailable as e:
            log(f"warning: {e}")
    row["wall_s"] = round(time.monotonic() - started, 2)
    for key, digits in (("cpu_s", 4), ("throttled_s", 4)):
        if key in row:
            row[key] = round(row[key], digits)
    row.update(read_stats(stats_file))
    row["perf"] = read_perf(perf_file)
    return row


def lock_orders(locks, reps, key):
    """The order of the locks in each repetition of one program and
    condition: one shuffle (seeded by the key, so reruns agree), rotated by
    len(locks)/reps places per repetition."""
    base = list(locks)
    random.Random(key).shuffle(base)
    step = max(1, len(base) // max(1, reps))
    return [base[(rep * step) % len(base):] + base[:(rep * step) % len(base)]
            for rep in range(reps)]


def stop_on_signal(sig, _frame):
    # SystemExit unwinds: neighbours, cgroups, the script's session and the
    # bpf pin are all cleaned up on the way out.
    raise SystemExit(f"apps: stopped by signal {sig}")


def main():
    global programs_dir
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--set", choices=SETS, default="quick")
    ap.add_argument("--programs", help="comma-separated PROGRAM[:WORKLOAD]")
    ap.add_argument("--conditions", help=f"comma-separated, of: {', '.join(CONDITIONS)}")
    ap.add_argument("--locks", help=f"comma-separated, of: {', '.join(LOCKS)}")
    ap.add_argument("--reps", type=int)
    ap.add_argument("--seconds", type=int)
    ap.add_argument("--build", type=Path, default=REPO / "build" / "bench")
    ap.add_argument("--programs-dir", type=Path, default=programs_dir)
    ap.add_argument("--perf", metavar="EVENTS",
                    help="run each program under perf stat -e EVENTS (a profile, not a benchmark:"
                         " perf's own cost lands in the figures; not for memcached, which is"
                         " stopped by SIGTERM, which perf stat does not pass on)")
    args = ap.parse_args()
    programs_dir = args.programs_dir.resolve()
    chosen = dict(SETS[args.set])
    for key in ("programs", "conditions", "locks"):
        if getattr(args, key):
            chosen[key] = getattr(args, key).split(",")
    for key in ("reps", "seconds"):
        if getattr(args, key) is not None:
            chosen[key] = getattr(args, key)
    if chosen["reps"] < 0 or chosen["seconds"] < 1:
        sys.exit("apps: --reps must be 0 or more (0: the coverage runs only), --seconds 1 or more")
    # Absolute: a server may change directory (mariadbd does, to its data
    # directory) before it writes the statistics file it was given.
    args.out = args.out.resolve()
    for c in chosen["conditions"]:
        if c not in CONDITIONS:
            sys.exit(f"apps: unknown condition '{c}' (known: {', '.join(CONDITIONS)})")
    for lk in chosen["locks"]:
        if lk not in LOCKS:
            sys.exit(f"apps: unknown lock '{lk}' (known: {', '.join(LOCKS)})")
    if os.geteuid() != 0:
        sys.exit("apps: needs root (cgroups for the CPU quota and accounting; the bpf oracle)")
    for lk in chosen["locks"] + ["onspin-bpf"]:
        lock_env(lk, args.build, None)  # fails early on a missing library
    try:
        RunGroup(f"probe-{os.getpid()}").remove()
    except (Unavailable, OSError) as e:
        sys.exit(f"apps: {e}")
    signal.signal(signal.SIGTERM, stop_on_signal)
    signal.signal(signal.SIGHUP, stop_on_signal)

    if args.perf:
        subprocess.run([REPO / "scripts" / "deps", "packages", "linux-perf"], check=True)
    pairs = parse_pairs(chosen["programs"])
    for name in dict.fromkeys(p for p, _ in pairs):
        log(f"setting up {name}")
        subprocess.run([program_script(name), "setup"], check=True, stdout=subprocess.DEVNULL)

    ncpu = len(os.sched_getaffinity(0))
    locks, reps = chosen["locks"], chosen["reps"]
    orders = {(p, w, c): lock_orders(locks, reps, f"{p}:{w}:{c}") for p, w in pairs
              for c in chosen["conditions"]}
    plan = [(p, w, "fit", "onspin-bpf", COVERAGE, 0) for p, w in pairs]
    plan += [(p, w, c, lock, rep, pos) for rep in range(reps) for p, w in pairs
             for c in chosen["conditions"] for pos, lock in enumerate(orders[(p, w, c)][rep])]
    args.out.mkdir(parents=True, exist_ok=True)
    csv_path = args.out / "apps-runs.csv"
    log(f"{len(plan)} runs of about {chosen['seconds']} s into {csv_path}")
    pin = BpfPin(args.build)
    try:
        with open(csv_path, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=FIELDS)
            writer.writeheader()
            for done, (program, workload, condition, lock, rep, pos) in enumerate(plan, 1):
                # The pin exists only around bpf runs (unless an administrator
                # installed it): its sched_switch program taxes every lock's
                # context switches while it is attached.
                pin.want(lock == "onspin-bpf")
                row = run_one(args.out, args.build, program, workload, condition, lock, rep,
                              chosen["seconds"], ncpu, stats=rep == COVERAGE, perf=args.perf)
                row["position"] = pos
                writer.writerow(row)
                f.flush()
                result = (f"{row['score']:.4g} {row['unit']}" if row["status"] == "ok" else
                          f"FAILED: {row['error']}")
                log(f"[{done}/{len(plan)}] {program} {workload} {condition} {lock} rep {rep}: "
                    f"{result}")
    finally:
        pin.want(False)
        shutil.rmtree(args.out / "apps-state", ignore_errors=True)


if __name__ == "__main__":
    main()
