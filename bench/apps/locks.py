"""The locks compared: glibc as shipped, the two glibc baselines of
libglibc-shim.so (the pass-through noise floor, glibc's adaptive mutex
forced), and onspin's interposer with each of its oracles."""

import subprocess
from pathlib import Path

LOCKS = {
    "glibc": "glibc 2.36 as shipped, nothing preloaded",
    "passthrough": "an interposer that forwards the mutex calls to glibc: the noise floor",
    "adaptive": "glibc with every plain mutex made PTHREAD_MUTEX_ADAPTIVE_NP",
    "onspin-bpf": "onspin's interposer, bpf oracle (the owner's on-CPU state)",
    "onspin-budget": "onspin's interposer, budget oracle (spins a fixed time)",
    "onspin-none": "onspin's interposer, never spins",
}


def lock_env(lock, build, stats_file):
    """The environment the program under test gets for a lock; with a
    stats_file, onspin's interposer counts the program's calls into it."""
    shim = Path(build) / "bench" / "apps" / "libglibc-shim.so"
    preload = Path(build) / "src" / "libonspin-preload.so"
    if lock == "glibc":
        return {}
    if lock in ("passthrough", "adaptive"):
        _need(shim)
        return {"LD_PRELOAD": str(shim), "ONSPIN_SHIM": lock}
    if lock.startswith("onspin-"):
        _need(preload)
        env = {"LD_PRELOAD": str(preload), "ONSPIN_ORACLE": lock.removeprefix("onspin-")}
        if stats_file is not None:
            env["ONSPIN_STATS_FILE"] = str(stats_file)
        return env
    raise KeyError(lock)


def _need(path):
    if not path.exists():
        raise SystemExit(f"apps: {path} is missing: build the benchmark first (scripts/bench does)")


class BpfPin:
    """The pinned bpf oracle (onspin oracle install), present exactly while
    wanted: otherwise every process would load its own copy of the programs
    at its first contention, inside the measured time. One an administrator
    installed is left alone (and then taxes every lock's runs alike)."""

    PIN = Path("/sys/fs/bpf/onspin/on_cpu")

    def __init__(self, build):
        self.onspin = Path(build) / "src" / "onspin"
        self.ours = False
        self.foreign = self.PIN.exists()

    def want(self, on):
        if self.foreign or on == self.ours:
            return
        verb = "install" if on else "remove"
        subprocess.run([self.onspin, "oracle", verb], check=True, stdout=subprocess.DEVNULL)
        self.ours = on
