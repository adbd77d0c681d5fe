// A lock for onspin's own bookkeeping (the statistics registry), used
// rarely and briefly. It calls no pthread function: under the LD_PRELOAD
// interposer pthread_mutex_lock is onspin itself, and the bookkeeping runs
// inside onspin's slow paths, where it must not reenter them.
#pragma once

#include <atomic>
#include <sched.h>

namespace onspin::detail {

class internal_lock {
public:
  constexpr internal_lock() noexcept = default;
  void lock() noexcept {
    while (held_.exchange(true, std::memory_order_acquire))
      while (held_.load(std::memory_order_relaxed))
        sched_yield();
  }
  void unlock() noexcept { held_.store(false, std::memory_order_release); }

private:
  std::atomic<bool> held_{false};
};

} // namespace onspin::detail
