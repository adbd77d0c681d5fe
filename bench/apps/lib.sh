# Shared by the scripts in bench/apps/programs/ (sourced, not run).
#
# A program script answers three commands:
#   NAME workloads                    the workloads it offers, "NAME  what it does" per line
#   NAME setup                        installs and builds what it needs (idempotent, cached)
#   NAME run WORKLOAD THREADS SECONDS one measurement; prints key=value lines on stdout:
#       score=X  the program's own figure of merit, higher is better (required)
#       unit=U   what score counts, e.g. "ops/s" (required)
#       work=W   units of work done in the measured window, for CPU and context
#                switches per unit (required)
#       p95_ms=, p99_ms=  tail latency, where the load generator reports it
#       avg_ms=  mean latency, where it reports no percentiles
#     and nothing else with a "=" in it. THREADS is the program's own worker
#     threads; for a server, the client connections that keep them busy (each
#     script says which). The run must last about SECONDS, and is killed (its
#     whole session, TERM then KILL) after 20 x SECONDS + 180 s.
# The driver (bench/apps/run.py) decides the condition (threads, neighbours,
# CPU quota) and the lock; the script only obeys THREADS and SECONDS.
# Only the processes started through under_test, and their descendants, are
# measured. A server marks its measured window (mark begin / mark end, one of
# each) and must exit cleanly after it, so that onspin's interposer can write
# its statistics; a program that marks nothing is measured from start to exit.
# Progress and diagnostics go to stderr; a failure exits non-zero.

apps_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_dir=$(cd "$apps_dir/../.." && pwd)
# Builds and generated inputs are kept here between runs.
apps_cache=${ONSPIN_CACHE:-/var/cache/onspin}/apps

# The program under test, and only it, starts through under_test: the driver's
# wrapper puts it in the run's cgroup with the lock's environment (LD_PRELOAD,
# ONSPIN_ORACLE, ONSPIN_STATS_FILE) and records its resource use. Load
# generators and set-up clients start without it. Outside the driver it just
# runs the command. Started in the background (`under_test server ... &`), it
# execs, so that $! is the wrapper (which passes SIGTERM on) or the program,
# never a subshell that would die alone.
under_test() {
  if [ -n "${ONSPIN_APPS_EXEC:-}" ]; then set -- "$ONSPIN_APPS_EXEC" "$@"; fi
  if [ "$BASHPID" != "$$" ]; then exec "$@"; fi
  "$@"
}

# A server's measured window: `mark begin` right before the load starts and
# `mark end` right after it stops, so that start-up and shutdown do not count.
# A program that runs its load itself and exits needs no marks.
mark() {
  if [ -n "${ONSPIN_APPS_MARK:-}" ]; then "$ONSPIN_APPS_MARK" "$1"; fi
}

# Waits up to SECONDS for a background process to exit; false if it has not.
wait_gone() { # PID SECONDS
  local end=$((SECONDS + $2))
  while kill -0 "$1" 2>/dev/null; do
    ((SECONDS < end)) || return 1
    sleep 0.1
  done
}

need_packages() { "$repo_dir/scripts/deps" packages "$@" >&2; }

note() { echo "${0##*/}: $*" >&2; }
die() {
  echo "${0##*/}: $*" >&2
  exit 1
}
