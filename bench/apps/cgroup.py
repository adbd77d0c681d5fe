"""One cgroup per measured run: it holds the program under test (never its
load generator), counts its CPU time, and enforces the CPU quota of the
'quota' condition. cgroup v2 where the cpu controller is on the unified
hierarchy, else the v1 cpu and cpuacct hierarchies (this machine's hybrid
mount); both throttle through the same CFS bandwidth control."""

import os
import time
from pathlib import Path

PERIOD_US = 100_000
GROUP = "onspin-apps"


class Unavailable(Exception):
    pass


def _v2_root():
    root = Path("/sys/fs/cgroup")
    controllers = root / "cgroup.controllers"
    if controllers.exists() and "cpu" in controllers.read_text().split():
        return root
    return None


def _v1_roots():
    cpu, acct = Path("/sys/fs/cgroup/cpu"), Path("/sys/fs/cgroup/cpuacct")
    if (cpu / "cpu.cfs_quota_us").exists() and (acct / "cpuacct.usage").exists():
        return cpu, acct
    return None


class RunGroup:
    """A fresh cgroup for one run (create), or one named by spec() in
    another process (attach); remove() after the run's processes exit."""

    @classmethod
    def attach(cls, spec):
        self = cls.__new__(cls)
        version, dirs = spec.split(":", 1)
        self.version, self.dirs = int(version), [Path(d) for d in dirs.split(",")]
        return self

    def spec(self):
        return f"{self.version}:" + ",".join(str(d) for d in self.dirs)

    def __init__(self, name, cpus_quota=None):
        v2 = _v2_root()
        if v2 is not None:
            self.version = 2
            parent = v2 / GROUP
            parent.mkdir(exist_ok=True)
            for d in (v2, parent):
                (d / "cgroup.subtree_control").write_text("+cpu")
            self.dirs = [parent / name]
        else:
            v1 = _v1_roots()
            if v1 is None:
                raise Unavailable("no cgroup with the cpu controller: neither cgroup v2 "
                                  "(/sys/fs/cgroup/cgroup.controllers) nor v1 cpu+cpuacct mounts")
            self.version = 1
            self.dirs = [root / GROUP / name for root in v1]
        for d in self.dirs:
            if d.exists():
                _remove(d)
            d.mkdir(parents=True)
        if cpus_quota is not None:
            quota = int(cpus_quota * PERIOD_US)
            if self.version == 2:
                (self.dirs[0] / "cpu.max").write_text(f"{quota} {PERIOD_US}")
            else:
                (self.dirs[0] / "cpu.cfs_period_us").write_text(str(PERIOD_US))
                (self.dirs[0] / "cpu.cfs_quota_us").write_text(str(quota))

    def procs_files(self):
        """The files a process writes its PID to, to enter the group."""
        return [str(d / "cgroup.procs") for d in self.dirs]

    def cpu_ns(self):
        if self.version == 2:
            for line in (self.dirs[0] / "cpu.stat").read_text().splitlines():
                key, value = line.split()
                if key == "usage_usec":
                    return int(value) * 1000
            raise Unavailable("cpu.stat has no usage_usec")
        return int((self.dirs[1] / "cpuacct.usage").read_text())

    def throttled_ns(self):
        stat = dict(line.split() for line in (self.dirs[0] / "cpu.stat").read_text().splitlines())
        if self.version == 2:
            return int(stat.get("throttled_usec", 0)) * 1000
        return int(stat.get("throttled_time", 0))

    def threads(self):
        """Thread IDs in the group now."""
        f = self.dirs[0] / ("cgroup.threads" if self.version == 2 else "tasks")
        return [int(t) for t in f.read_text().split()]

    def remove(self):
        for d in self.dirs:
            _remove(d)


def _remove(d):
    # A cgroup directory goes with rmdir once empty: a process the program
    # left behind is killed first (a run must not leak into the next).
    for _ in range(50):
        try:
            os.rmdir(d)
            return
        except FileNotFoundError:
            return
        except OSError:
            for pid in (d / "cgroup.procs").read_text().split():
                try:
                    os.kill(int(pid), 9)
                except ProcessLookupError:
                    pass
            time.sleep(0.1)
    raise Unavailable(f"cannot remove {d}: processes keep living in it")
