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
  yields,
  slice_grants,
  slice_yields,
  spin_alone,
  public_count_, // the counters above are struct onspin_stats, in order
  // The LD_PRELOAD interposer's (src/preload/counters.hpp names them).
  preload_first_ = public_count_,
  preload_last_ = preload_first_ + 31,
  count_
};

void count(stat s, uint64_t n = 1) noexcept;

// One counter's process-wide total (live and exited threads).
uint64_t stat_total(stat s) noexcept;

// From now on a fork child's counts start from zero rather than from its
// parent's (the LD_PRELOAD interposer reports each process on its own).
void count_per_process() noexcept;

} // namespace onspin::detail
