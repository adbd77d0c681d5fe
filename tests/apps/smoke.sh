#!/usr/bin/env bash
# The real-program benchmark end to end on a toy program (xz): every lock
# kind of bench/apps in the fit, quota and noisy conditions, then the report.
# Checks what the figures rest on: each run succeeded, onspin's interposer
# served the program's mutexes and condition variables (in the unmeasured
# coverage run, and only there), CPU time and context switches were counted, the neighbours ran, and the quota throttled a program
# that wanted every CPU (busy loops: xz's demand depends on the machine).
#   tests/apps/smoke.sh BUILD_DIR OUT_DIR      (root; exit 77 to skip without)
set -euo pipefail
build=$1 out=$2
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
if [ "$(id -u)" -ne 0 ]; then
  echo "smoke: needs root (cgroups): skipped"
  exit 77
fi
rm -rf "$out"
/usr/bin/python3 "$repo/bench/apps/run.py" --out "$out" --build "$build" \
  --programs-dir "$here/programs" --programs toy:xz --conditions fit,quota,noisy \
  --locks glibc,passthrough,adaptive,onspin-budget,onspin-none --reps 1 --seconds 1
/usr/bin/python3 "$repo/bench/apps/run.py" --out "$out/spin" --build "$build" \
  --programs-dir "$here/programs" --programs toy:spin --conditions quota --locks glibc \
  --reps 1 --seconds 1
/usr/bin/python3 "$repo/bench/apps/report.py" "$out"
test -s "$out/plots/apps-ratio-to-glibc.png"
grep -q '^| toy: xz |' "$out/apps-report.md"
/usr/bin/python3 - "$out/apps-runs.csv" "$out/spin/apps-runs.csv" "$(nproc)" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
spin = list(csv.DictReader(open(sys.argv[2])))
ncpu = int(sys.argv[3])
bad = []
def need(ok, what, r):
    if not ok:
        bad.append(f"{r['condition']} {r['lock']}: {what} ({r})")
measured = [r for r in rows if r["rep"] != "coverage"]
coverage = [r for r in rows if r["rep"] == "coverage"]
assert len(measured) == 15 and len(coverage) == 1, f"{len(measured)} + {len(coverage)} runs"
for r in coverage:
    need(r["status"] == "ok" and r["lock"] == "onspin-bpf" and r["oracle"] == "bpf",
         "the coverage run used onspin's bpf oracle", r)
    need(int(r["served_mutex"] or 0) > 0 and int(r["served_cond"] or 0) > 0,
         "onspin served no mutex or condvar call", r)
for r in measured:
    need(r["status"] == "ok", "run failed", r)
    need(float(r["cpu_s"] or 0) > 0, "no CPU time counted", r)
    need(int(r["voluntary"] or 0) + int(r["involuntary"] or 0) > 0, "no context switch counted", r)
    need(r["served_mutex"] == "", "statistics counted in a measured run", r)
    if r["condition"] == "quota":
        need(float(r["quota_cpus"]) == ncpu / 2, "quota of half the CPUs", r)
    else:
        need(float(r["throttled_s"]) == 0, "throttled without a quota", r)
    need(int(r["neighbours"]) == (ncpu if r["condition"] == "noisy" else 0), "neighbours", r)
# Each lock once per place in the order of a repetition's five runs, per condition.
for c in ("fit", "quota", "noisy"):
    places = sorted(int(r["position"]) for r in measured if r["condition"] == c)
    need(places == list(range(5)), f"positions {places}", {"condition": c, "lock": "-"})
for r in spin:
    if r["rep"] == "coverage":
        continue
    need(r["status"] == "ok" and float(r["throttled_s"]) > 0, "the quota did not throttle", r)
    # Half the machine's CPUs over the run, give or take a period's slack.
    need(float(r["cpu_s"]) <= (ncpu / 2) * float(r["wall_s"]) + 0.2, "more CPU than the quota", r)
if bad:
    sys.exit("smoke: " + "\n".join(bad))
print(f"smoke: {len(rows)} runs checked")
PY
