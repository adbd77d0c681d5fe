"""The environments a program runs in. Whether a lock owner gets preempted
is decided by these, not by the program: more threads than CPUs, strangers
competing for the CPUs, or a CPU quota that throttles the whole program.

The program under test is one cgroup of default weight (cgroup.py), so the
scheduler shares the CPUs between it and the other entities that want them
as between services on one machine: its thread count decides how its own
share is divided, not how big it is. Its load generator (servers only) runs
outside it, in the driver's session."""

import os
import signal
import subprocess
from dataclasses import dataclass

from cgroup import RunGroup


@dataclass(frozen=True)
class Condition:
    what: str
    threads_per_cpu: int = 1
    neighbours_per_cpu: int = 0
    # CPUs of quota per CPU of the machine, or None for no quota.
    quota_share: float | None = None

    def threads(self, ncpu):
        return self.threads_per_cpu * ncpu

    def neighbours(self, ncpu):
        return self.neighbours_per_cpu * ncpu

    def quota_cpus(self, ncpu):
        return None if self.quota_share is None else self.quota_share * ncpu


CONDITIONS = {
    "fit": Condition("threads = CPUs"),
    "over2": Condition("2 threads per CPU", threads_per_cpu=2),
    "over8": Condition("8 threads per CPU", threads_per_cpu=8),
    "over16": Condition("16 threads per CPU", threads_per_cpu=16),
    "noisy": Condition("threads = CPUs, and a neighbour service (a cgroup of the same weight) "
                       "running one CPU-bound process per CPU", neighbours_per_cpu=1),
    "quota": Condition("threads = CPUs in a cgroup whose CPU quota is half the machine",
                       quota_share=0.5),
}


class Neighbours:
    """CPU-bound processes outside the program, for the length of a run: a
    sibling cgroup of the same weight as the program's, like another
    service on a shared machine. Each loop ends by itself after limit_s
    seconds should the driver die without cleaning up."""

    def __init__(self, count, limit_s):
        self.count, self.limit_s = count, limit_s
        self.procs, self.group = [], None

    def __enter__(self):
        if self.count == 0:
            return self
        self.group = RunGroup(f"neighbours-{os.getpid()}")
        join = self.group.procs_files()

        def enter_group():
            for f in join:
                with open(f, "w") as procs:
                    procs.write(str(os.getpid()))

        for _ in range(self.count):
            self.procs.append(subprocess.Popen(
                ["timeout", str(self.limit_s), "sh", "-c", "while :; do :; done"],
                start_new_session=True, preexec_fn=enter_group))
        return self

    def __exit__(self, *exc):
        for p in self.procs:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()
        if self.group is not None:
            self.group.remove()
        return False
