"""The locks compared: glibc as shipped, the two glibc baselines of
libglibc-shim.so (the pass-through noise floor, glibc's adaptive mutex
forced), and onspin's interposer with each of its oracles."""

from pathlib import Path

LOCKS = {
    "glibc": "glibc 2.36 as shipped, nothing preloaded",
    "passthrough": "an interposer that forwards every mutex call to glibc: the noise floor",
    "adaptive": "glibc with every plain mutex made PTHREAD_MUTEX_ADAPTIVE_NP",
    "onspin-bpf": "onspin's interposer, bpf oracle (the owner's on-CPU state)",
    "onspin-budget": "onspin's interposer, budget oracle (spins a fixed time)",
    "onspin-none": "onspin's interposer, never spins",
}


def lock_env(lock, build, stats_file):
    """The environment the program under test gets for a lock."""
    shim = Path(build) / "bench" / "apps" / "libglibc-shim.so"
    preload = Path(build) / "src" / "libonspin-preload.so"
    if lock == "glibc":
        return {}
    if lock in ("passthrough", "adaptive"):
        _need(shim)
        return {"LD_PRELOAD": str(shim), "ONSPIN_SHIM": lock}
    if lock.startswith("onspin-"):
        _need(preload)
        return {"LD_PRELOAD": str(preload), "ONSPIN_ORACLE": lock.removeprefix("onspin-"),
                "ONSPIN_STATS_FILE": str(stats_file)}
    raise KeyError(lock)


def _need(path):
    if not path.exists():
        raise SystemExit(f"apps: {path} is missing: build the benchmark first (scripts/bench does)")
