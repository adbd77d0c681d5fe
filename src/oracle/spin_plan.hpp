// What a contended acquisition does before it sleeps, decided once per
// slow-path entry from the process's oracle and the lock's own policy. The
// lock core follows the plan and never asks which oracle is in use.
#pragma once

#include <cstdint>
#include <onspin/onspin.h>

#include "oracle/oracle.hpp"

namespace onspin::detail {

struct spin_plan {
  bool probe = false;        // look a few turns before sleeping (never, for "none")
  uint32_t limit_ns = 0;     // then spin at most this long (0: no counted spin)
  oracle_kind ask{};         // bpf or rseq: stop as soon as it says the owner is off
  bool kernel_spins = false; // sleep with FUTEX2_SPIN: the kernel spins on the owner
  bool learn = false;        // budget: teach the lock how long this wait took
  bool check_stale = false;  // bpf: a spin that ran out may mean a removed map
  const oracle *from = nullptr;

  // Whether the owner runs, as far as the plan's oracle can tell.
  owner_state owner(uint32_t owner_key) const noexcept {
    return owner_on_cpu(*from, ask, owner_key);
  }
};

// `spin` is the lock's ONSPIN_SPIN_* attribute; `shared_futex` says the
// lock's owner may live in another process (or is a robust lock's namespace
// TID, `robust`), which the rseq oracle and root-keyed bpf cannot answer for.
spin_plan plan_spin(onspin_mutex_t *m, uint32_t spin, bool shared_futex, bool robust) noexcept;

// After the wait: what the plan says to learn from it.
void learn_from_wait(onspin_mutex_t *m, const spin_plan &plan, uint64_t waited_ns) noexcept;

} // namespace onspin::detail
