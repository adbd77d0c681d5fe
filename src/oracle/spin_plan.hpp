// What a contended acquisition does before it sleeps, decided once per
// slow-path entry from the process's oracle and the lock's own policy. The
// lock core follows the plan and never asks which oracle is in use.
#pragma once

#include <cstdint>
#include <onspin/onspin.h>

#include "oracle/oracle.hpp"

namespace onspin::detail {

// What a waiter does next about the owner it sees.
enum class verdict : uint8_t {
  spin,  // the owner runs (or nobody can tell): keep looking
  yield, // the owner, or a task beside us, waits for a CPU: give this one up, look again
  sleep, // spinning cannot pay off: sleep on the futex
};

// Per thread: contended acquisitions left in which a crowded CPU does not
// make this thread yield (see note_yield); and whether the verdict that led
// to the latest yield was a crowded CPU's.
struct crowd_state {
  uint32_t quiet;
  bool yielded_for_crowd;
};
extern __thread crowd_state tls_crowd __attribute__((tls_model("initial-exec")));

struct spin_plan {
  bool probe = false;                    // look a few turns before sleeping (never, for "none")
  uint32_t limit_ns = 0;                 // then spin this long (0: no counted spin) ...
  uint32_t alone_limit_ns = 0;           // ... or, bpf, this long while nobody wants our CPU
  oracle_kind ask{};                     // bpf or rseq: stop as soon as it says the owner is off
  bool kernel_spins = false;             // sleep with FUTEX2_SPIN: the kernel spins on the owner
  bool learn = false;                    // budget: teach the lock how long this wait took
  bool check_stale = false;              // bpf: a spin that ran out may mean a removed map
  verdict if_preempted = verdict::sleep; // the oracle can tell a preempted owner
  verdict if_crowded = verdict::spin;    // the owner runs, another task waits for our CPU
  uint32_t max_yields = 0;               // yields per acquisition, then sleep
  const oracle *from = nullptr;

  // Whether a counted spin that has run spent_ns, past limit_ns, may go on:
  // the waiter with key self_key spins on a CPU no other task waits for and
  // outside any CPU quota, so a longer spin costs nobody a CPU, and the
  // owner (owner_key) still runs on another CPU, as far as the map shows.
  bool may_spin_on(uint64_t spent_ns, uint32_t self_key, uint32_t owner_key) const noexcept {
    return spent_ns < alone_limit_ns && own_cpu_alone(*from, self_key) &&
           owner_runs_elsewhere(*from, owner_key);
  }

  // What to do about an owner with this key, as far as the oracle can tell.
  verdict about(uint32_t owner_key) const noexcept {
    switch (owner_on_cpu(*from, ask, owner_key)) {
    case owner_state::off:
      return verdict::sleep;
    case owner_state::on:
      // The run queue lengths are bpf's; an rseq process that opened them for
      // its process-shared locks does not use them for the others.
      if (ask == oracle_kind::bpf && if_crowded != verdict::spin && tls_crowd.quiet == 0 &&
          own_cpu_crowded(*from)) {
        tls_crowd.yielded_for_crowd = if_crowded == verdict::yield;
        return if_crowded;
      }
      return verdict::spin;
    case owner_state::preempted:
      tls_crowd.yielded_for_crowd = false;
      return if_preempted;
    default:
      return verdict::spin;
    }
  }
};

// `spin` is the lock's ONSPIN_SPIN_* attribute; `shared_futex` says the
// lock's owner may live in another process (or is a robust lock's namespace
// TID, `robust`), which the rseq oracle and root-keyed bpf cannot answer for.
spin_plan plan_spin(onspin_mutex_t *m, uint32_t spin, bool shared_futex, bool robust) noexcept;

// After each sched_yield of a wait, with how long it kept the thread away. A
// yield for a crowded CPU that returns at once gave it to a task that gave it
// straight back: another waiter for the same lock, typically a thread of this process
// yielding in turn. Yielding to those only adds switches, so this thread
// stops yielding for crowded CPUs for a while; a task of another process
// (a neighbour) keeps the CPU for its time slice, which is what the yield
// is for.
void note_yield(uint64_t away_ns) noexcept;

// After the wait: what the plan says to learn from it.
void learn_from_wait(onspin_mutex_t *m, const spin_plan &plan, uint64_t waited_ns) noexcept;

} // namespace onspin::detail
