// Oracles answer one question for the lock slow path: is the thread with this
// key running on a CPU right now? The answer is a hint (a switch may happen a
// moment later), so every spin stays bounded in time whatever it says.
//
// The oracle is chosen once per process, at the first contended lock (never
// at library load: most processes never contend). Its answer is a switch on
// that choice, not an indirect call; for `bpf` it is one load from a mapped
// array.
#pragma once

#include <atomic>
#include <cstdint>

#include "oracle/rseq/registry.hpp"
#include "oracle/rseq/rseq_area.hpp"

namespace onspin::detail {

// off: blocked in the kernel (asleep, waiting for I/O) or gone; preempted:
// off its CPU but runnable (it runs again as soon as the scheduler picks it;
// bpf and rseq tell this from off, the other oracles say off for both).
enum class owner_state : uint8_t { off, on, preempted, unknown };

// The bpf map's value for a runnable thread off its CPU (bpf/oracle_abi.h).
constexpr uint32_t kSlotPreempted = 0x80000000u;
// ... and the flag in a running thread's value for a group with a CPU quota.
constexpr uint32_t kSlotQuota = 0x40000000u;
// cpu_load's stride in words: one cache line per CPU, whose word 1 says
// whether slots carry kSlotQuota (bpf/oracle_abi.h).
constexpr uint32_t kCpuLoadStride = 16;
constexpr uint32_t kCpuLoadTells = 1;
constexpr uint32_t kTellsQuota = 1;

enum class oracle_kind : uint8_t {
  none,   // never spin: a plain futex mutex
  budget, // no owner information: spin for a learned time budget
  bpf,    // on_cpu[tid] kept by an eBPF sched_switch program
  rseq,   // the scheduler state in the owner's rseq area (patched kernel)
  // No oracle in user space: sleeps use FUTEX2_SPIN (patched kernel), and
  // the kernel spins while the owner runs. For comparison with rseq.
  futex2_spin,
};

struct oracle {
  // May drop from bpf to budget while the process runs (the administrator
  // removed the pinned map); `slots` stays mapped, so a racing reader still
  // reads valid memory.
  std::atomic<oracle_kind> kind{oracle_kind::budget};
  const uint32_t *slots = nullptr; // bpf: on_cpu, indexed by owner key
  uint32_t entries = 0;
  // The process is in a child PID namespace and ordinary locks' keys are
  // root TIDs; robust locks' keys (namespace TIDs) are then not the map's.
  bool root_keys = false;
  // bpf: each CPU's run queue length, every kCpuLoadStride words (null if
  // the install publishes none).
  const uint32_t *cpu_load = nullptr;
  uint32_t cpus = 0;
};

// The process's oracle, chosen at the first call from ONSPIN_ORACLE.
const oracle &current_oracle() noexcept;

// Whether this process has chosen its oracle yet (reports at exit do not
// choose one only to name it).
bool oracle_chosen() noexcept;

// A counted spin ran out of time while the oracle said the owner was running:
// a long critical section, or a stale oracle. Rate-limited check of the latter.
void oracle_spin_ran_out() noexcept;

// The calling thread's TID in the root PID namespace, when the oracle can
// tell (bpf in a child PID namespace); 0 otherwise.
uint32_t oracle_root_tid() noexcept;

// The policy a process-shared lock uses when the process's oracle is rseq,
// which knows this process's threads only: bpf if its map can be had (the
// first call tries, outside child PID namespaces), else budget.
oracle_kind shared_lock_policy() noexcept;

// For tests: makes rseq the process's oracle with the registry in test mode
// (see rseq::start), before any lock. Returns false if it is too late.
bool force_rseq_oracle_for_test() noexcept;

// Asks the oracle `how` (bpf or rseq; anything else answers unknown).
inline owner_state owner_on_cpu(const oracle &o, oracle_kind how, uint32_t owner_key) noexcept {
  switch (how) {
  case oracle_kind::bpf: {
    if (owner_key >= o.entries) return owner_state::unknown;
    const uint32_t v = __atomic_load_n(&o.slots[owner_key], __ATOMIC_RELAXED);
    if (v == 0) return owner_state::off;
    return v & kSlotPreempted ? owner_state::preempted : owner_state::on;
  }
  case oracle_kind::rseq: {
    const uint32_t v = rseq::read(owner_key);
    if (v == rseq::kNoEntry) return owner_state::unknown;
    if (v & rseq::kOnCpu) return owner_state::on;
    return v & rseq::kPreempted ? owner_state::preempted : owner_state::off;
  }
  default:
    return owner_state::unknown;
  }
}

// The calling thread's CPU, as the kernel keeps it in the thread's rseq
// area, if the bpf program publishes a cache line for it; else -1.
inline int own_cpu(const oracle &o) noexcept {
  if (o.cpu_load == nullptr) return -1;
  const rseq::area *self = rseq::self_area();
  if (self == nullptr) return -1;
  const uint32_t cpu = __atomic_load_n(&self->cpu_id, __ATOMIC_RELAXED);
  return cpu < o.cpus ? static_cast<int>(cpu) : -1; // also RSEQ_CPU_ID_UNINITIALIZED
}

// How many tasks the calling thread's CPU queues, itself included, as far as
// the bpf program saw; 0 where it cannot tell.
inline uint32_t own_cpu_queue(const oracle &o) noexcept {
  const int cpu = own_cpu(o);
  if (cpu < 0) return 0;
  return __atomic_load_n(&o.cpu_load[static_cast<uint32_t>(cpu) * kCpuLoadStride],
                         __ATOMIC_RELAXED);
}

// Whether one or two other tasks wait for the calling thread's CPU: a spinner
// there takes the CPU from them. A longer queue is, in practice, the
// process's own threads outnumbering the CPUs many times over, waiters for
// the same locks: a yield then only passes the CPU down a line of yielders
// (measured: docs/BENCHMARKS.md), so it does not count.
inline bool own_cpu_crowded(const oracle &o) noexcept {
  const uint32_t queued = own_cpu_queue(o);
  return queued > 1 && queued <= 3; // this thread and one or two others
}

// Whether a spin on the calling thread's CPU costs nobody else anything: no
// other task waits for that CPU, and the thread's own slot (key self_key)
// says it runs outside any CPU quota, under which the time would come out of
// the owner's share. The kernel's mutex spins as long as its owner runs and
// nothing else wants the CPU; this is user space's reading of the same. The
// slot must name the CPU the thread runs on, which a live program wrote at
// the thread's latest switch: a frozen map (programs removed, or replaced by
// a reinstall) soon fails that. False where the program does not flag quotas
// (an older install).
inline bool own_cpu_alone(const oracle &o, uint32_t self_key) noexcept {
  const int cpu = own_cpu(o);
  if (cpu < 0 || self_key >= o.entries) return false;
  const uint32_t *line = &o.cpu_load[static_cast<uint32_t>(cpu) * kCpuLoadStride];
  if (__atomic_load_n(&line[0], __ATOMIC_RELAXED) != 1 ||
      !(__atomic_load_n(&line[kCpuLoadTells], __ATOMIC_RELAXED) & kTellsQuota))
    return false;
  const uint32_t v = __atomic_load_n(&o.slots[self_key], __ATOMIC_RELAXED);
  return v == static_cast<uint32_t>(cpu) + 1; // ON here, and no kSlotQuota
}

// Whether the owner's slot says it runs on another CPU that runs something.
// A slot left ON by a switch the program missed would otherwise keep a long
// spin going: a CPU it names that is the waiter's own, or idle, shows it.
inline bool owner_runs_elsewhere(const oracle &o, uint32_t owner_key) noexcept {
  const int cpu = own_cpu(o);
  if (cpu < 0 || owner_key >= o.entries) return false;
  const uint32_t v = __atomic_load_n(&o.slots[owner_key], __ATOMIC_RELAXED);
  if (v == 0 || (v & kSlotPreempted)) return false;
  const uint32_t owner_cpu = (v & ~kSlotQuota) - 1;
  if (owner_cpu >= o.cpus || owner_cpu == static_cast<uint32_t>(cpu)) return false;
  return __atomic_load_n(&o.cpu_load[owner_cpu * kCpuLoadStride], __ATOMIC_RELAXED) != 0;
}

} // namespace onspin::detail
