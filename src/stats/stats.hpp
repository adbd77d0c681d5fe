// Slow-path event counters. Each thread counts into its own block (a relaxed
// load and store, no shared cache line, no atomic read-modify-write); a read
// sums the blocks of live threads and the totals of exited ones.
#pragma once

#include <cstdint>

namespace onspin::detail {

enum class stat : int {
  contended,
  spin_acquired,
  spin_ns,
  spin_stop_owner_off,
  spin_stop_budget,
  spin_skip_limit,
  spin_skip_oracle,
  futex_waits,
  futex_wakes,
  handoffs,
  timeouts,
  owner_died,
  cond_waits,
  cond_requeues,
  count_
};

void count(stat s, uint64_t n = 1) noexcept;

} // namespace onspin::detail
