#!/usr/bin/python3
"""Real programs under onspin and under glibc, in the conditions that decide
whether a lock owner gets preempted. Every run is one program script
(bench/apps/programs/NAME, contract in lib.sh) with one workload, one
condition and one lock; repetitions are interleaved, and the locks of one
repetition run back to back in an order that rotates.
   run.py --out DIR [--set quick|full] [--programs P[:W],...] [--conditions ...]
          [--locks ...] [--reps N] [--seconds S] [--build DIR] [--programs-dir DIR]
Writes DIR/apps-runs.csv (one row per run) and DIR/apps-logs/ (each run's
stderr); bench/apps/report.py turns them into the report."""

import argparse
import atexit
import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
from cgroup import RunGroup, Unavailable  # noqa: E402
from conditions import CONDITIONS, Neighbours  # noqa: E402
from locks import LOCKS, lock_env  # noqa: E402
from lockstats import read_stats  # noqa: E402

APPS = Path(__file__).resolve().parent
REPO = APPS.parent.parent

# What each set runs: (program, workload) pairs, conditions, locks, reps, seconds.
# On 2 CPUs quick takes about 5 minutes, full about 55 (7-Zip's 13 s a run
# included: it sizes its own passes).
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
          "status", "score", "unit", "work", "cpu_s", "switches", "p95_ms", "p99_ms", "avg_ms",
          "wall_s",
          "throttled_s", "window", "oracle", "served_mutex", "served_cond", "left_to_glibc",
          "not_replaced", "futex_waits", "spin_acquired", "error"]


def log(msg):
    print(f"apps: {msg}", file=sys.stderr, flush=True)


# Where the program scripts are (--programs-dir: the tests' toy program).
programs_dir = APPS / "programs"


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
    """CPU, switches and throttling between a server's marks, or None."""
    if not path.exists():
        return None
    marks = {m["what"]: m for m in map(json.loads, path.read_text().splitlines())}
    if set(marks) != {"begin", "end"}:
        return None
    begin, end = marks["begin"], marks["end"]
    switches = 0
    for tid, (voluntary, involuntary) in end["switches"].items():
        before = begin["switches"].get(tid, (0, 0))
        switches += voluntary + involuntary - before[0] - before[1]
    return dict(cpu_s=(end["cpu_ns"] - begin["cpu_ns"]) / 1e9, switches=switches,
                throttled_s=(end["throttled_ns"] - begin["throttled_ns"]) / 1e9,
                window="marked")


def whole_run(group, rusage_file):
    """CPU from the cgroup, switches from the wrapper's rusage, for a program
    that runs its load itself and exits."""
    switches = 0
    if rusage_file.exists():
        for line in rusage_file.read_text().splitlines():
            _, _, voluntary, involuntary = line.split()
            switches += int(voluntary) + int(involuntary)
    return dict(cpu_s=group.cpu_ns() / 1e9, switches=switches,
                throttled_s=group.throttled_ns() / 1e9, window="whole run")


def run_one(out, build, program, workload, condition, lock, rep, seconds, ncpu):
    cond = CONDITIONS[condition]
    threads = cond.threads(ncpu)
    quota = cond.quota_cpus(ncpu)
    row = dict(program=program, workload=workload, condition=condition, threads=threads,
               neighbours=cond.neighbours(ncpu), quota_cpus=quota or "", lock=lock, rep=rep)
    tag = f"{program}-{workload}-{condition}-{lock}-{rep}"
    logs = out / "apps-logs"
    logs.mkdir(exist_ok=True)
    state = Path(out / "apps-state")
    state.mkdir(exist_ok=True)
    marks, rusage, stats = state / "marks", state / "rusage", state / "stats"
    for f in (marks, rusage, stats):
        f.unlink(missing_ok=True)
    group = RunGroup("run", quota)
    env = dict(os.environ,
               ONSPIN_APPS_EXEC=str(APPS / "exec-under-test"),
               ONSPIN_APPS_MARK=str(APPS / "mark-window"),
               ONSPIN_APPS_CGROUP=group.spec(),
               ONSPIN_APPS_PROCS=",".join(group.procs_files()),
               ONSPIN_APPS_LOCK_ENV=json.dumps(lock_env(lock, build, stats)),
               ONSPIN_APPS_RUSAGE=str(rusage),
               ONSPIN_APPS_MARKS=str(marks))
    started = time.monotonic()
    try:
        with Neighbours(cond.neighbours(ncpu)), open(logs / f"{tag}.log", "w") as err:
            proc = subprocess.run([program_script(program), "run", workload, str(threads),
                                   str(seconds)], env=env, stdout=subprocess.PIPE, stderr=err,
                                  text=True, timeout=20 * seconds + 180)
        values = dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)
        if proc.returncode != 0 or "score" not in values or "work" not in values:
            raise RuntimeError(f"exit {proc.returncode}, stdout {proc.stdout.strip()!r}")
        row.update(status="ok", score=float(values["score"]), unit=values.get("unit", ""),
                   work=float(values["work"]), p95_ms=values.get("p95_ms", ""),
                   p99_ms=values.get("p99_ms", ""), avg_ms=values.get("avg_ms", ""))
        row.update(window_from_marks(marks) or whole_run(group, rusage))
    except (RuntimeError, subprocess.TimeoutExpired, ValueError) as e:
        tail = (logs / f"{tag}.log").read_text().strip().splitlines()[-3:]
        row.update(status="failed", error=f"{e}; log: {' | '.join(tail)}"[:300])
    finally:
        group.remove()
    row["wall_s"] = round(time.monotonic() - started, 2)
    row.update(read_stats(stats))
    return row


def pin_bpf_oracle(build):
    """Installs the pinned bpf oracle for the benchmark's length, unless an
    administrator already did: otherwise every process would load its own
    copy of the programs at its first contention, inside the measured time."""
    if Path("/sys/fs/bpf/onspin/on_cpu").exists():
        return
    onspin = Path(build) / "src" / "onspin"
    subprocess.run([onspin, "oracle", "install"], check=True, stdout=subprocess.DEVNULL)
    atexit.register(subprocess.run, [onspin, "oracle", "remove"], stdout=subprocess.DEVNULL)
    log("installed the pinned bpf oracle for this benchmark (removed at the end)")


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
    args = ap.parse_args()
    programs_dir = args.programs_dir.resolve()
    chosen = dict(SETS[args.set])
    for key in ("programs", "conditions", "locks"):
        if getattr(args, key):
            chosen[key] = getattr(args, key).split(",")
    for key in ("reps", "seconds"):
        if getattr(args, key):
            chosen[key] = getattr(args, key)
    for c in chosen["conditions"]:
        if c not in CONDITIONS:
            sys.exit(f"apps: unknown condition '{c}' (known: {', '.join(CONDITIONS)})")
    for lk in chosen["locks"]:
        if lk not in LOCKS:
            sys.exit(f"apps: unknown lock '{lk}' (known: {', '.join(LOCKS)})")
    if os.geteuid() != 0:
        sys.exit("apps: needs root (cgroups for the CPU quota and accounting; the bpf oracle)")
    for lk in chosen["locks"]:
        lock_env(lk, args.build, Path("/dev/null"))  # fails early on a missing library
    try:
        RunGroup("probe").remove()
    except (Unavailable, OSError) as e:
        sys.exit(f"apps: {e}")

    if "onspin-bpf" in chosen["locks"]:
        pin_bpf_oracle(args.build)
    pairs = parse_pairs(chosen["programs"])
    for name in dict.fromkeys(p for p, _ in pairs):
        log(f"setting up {name}")
        subprocess.run([program_script(name), "setup"], check=True, stdout=subprocess.DEVNULL)

    ncpu = len(os.sched_getaffinity(0))
    locks = chosen["locks"]
    plan = [(rep, p, w, c) for rep in range(chosen["reps"]) for p, w in pairs
            for c in chosen["conditions"]]
    total = len(plan) * len(locks)
    args.out.mkdir(parents=True, exist_ok=True)
    csv_path = args.out / "apps-runs.csv"
    log(f"{total} runs of about {chosen['seconds']} s into {csv_path}")
    done = 0
    with open(csv_path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=FIELDS)
        writer.writeheader()
        for rep, program, workload, condition in plan:
            # Rotating the order spreads drift over every lock alike.
            shift = (rep + done // len(locks)) % len(locks)
            for lock in locks[shift:] + locks[:shift]:
                row = run_one(args.out, args.build, program, workload, condition, lock, rep,
                              chosen["seconds"], ncpu)
                writer.writerow(row)
                f.flush()
                done += 1
                result = (f"{row['score']:.4g} {row['unit']}" if row["status"] == "ok" else
                          f"FAILED: {row['error']}")
                log(f"[{done}/{total}] {program} {workload} {condition} {lock} rep {rep}: {result}")


if __name__ == "__main__":
    main()
