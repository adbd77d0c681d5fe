"""The environments a program runs in. Whether a lock owner gets preempted
is decided by these, not by the program: more threads than CPUs, strangers
competing for the CPUs, or a CPU quota that throttles the whole program."""

import os
import signal
import subprocess
from dataclasses import dataclass


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
    "fit": Condition("threads = CPUs, nothing else running"),
    "over2": Condition("2 threads per CPU", threads_per_cpu=2),
    "over8": Condition("8 threads per CPU", threads_per_cpu=8),
    "over16": Condition("16 threads per CPU", threads_per_cpu=16),
    "noisy": Condition("threads = CPUs, and one CPU-bound process per CPU outside the program",
                       neighbours_per_cpu=1),
    "quota": Condition("threads = CPUs in a cgroup whose CPU quota is half the machine",
                       quota_share=0.5),
}


class Neighbours:
    """CPU-bound processes outside the program's cgroup, for the length of a
    run: they compete with it at the same priority, as strangers on a shared
    machine do."""

    def __init__(self, count):
        self.count = count
        self.procs = []

    def __enter__(self):
        for _ in range(self.count):
            self.procs.append(subprocess.Popen(["sh", "-c", "while :; do :; done"],
                                               start_new_session=True))
        return self

    def __exit__(self, *exc):
        for p in self.procs:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
        return False
