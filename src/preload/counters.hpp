// What the interposer counts, per process, for the report at exit
// (report.cpp): which calls onspin served, which it left to glibc and why,
// and calls to pthread locks it does not replace. Kept in the library's
// per-thread statistics blocks, only while statistics are on.
#pragma once

#include "preload/settings.hpp"
#include "stats/stats.hpp"

namespace onspin::preload {

enum class counter : int {
  mutex_init,         // pthread_mutex_init served by onspin
  mutex_calls,        // lock, trylock, timed/clocklock, unlock, consistent, destroy
  cond_init,          // pthread_cond_init served by onspin
  cond_calls,         // wait, timed/clockwait, signal, broadcast, destroy
  cond_calls_old_abi, // ... of those, through the GLIBC_2.2.5 symbols
  // Left to glibc, by reason.
  mutex_init_pi,
  mutex_init_pp,
  mutex_init_pshared,
  mutex_calls_pi,
  mutex_calls_pp,
  mutex_calls_pshared,
  mutex_calls_destroyed, // a destroyed mutex: glibc returns EINVAL
  cond_init_pshared,
  cond_calls_pshared,
  // Not replaced: counted and passed to glibc.
  rwlock_calls,
  spin_calls,
  barrier_calls,
  count_
};
static_assert(static_cast<int>(counter::count_) <=
                  static_cast<int>(detail::stat::preload_last_) -
                      static_cast<int>(detail::stat::preload_first_) + 1,
              "room in the statistics blocks");

inline detail::stat stat_of(counter c) noexcept {
  return static_cast<detail::stat>(static_cast<int>(detail::stat::preload_first_) +
                                   static_cast<int>(c));
}

inline void note(counter c) noexcept {
  if (__builtin_expect(counting.load(std::memory_order_relaxed), 0)) detail::count(stat_of(c));
}

} // namespace onspin::preload
