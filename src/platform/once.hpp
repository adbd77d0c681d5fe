// Run-once initialisation that a fork cannot wedge.
//
// std::call_once (like pthread_once) leaves its state "running" in a child
// that was forked while another thread ran the initialiser, and every
// caller in the child then waits for a thread that does not exist there
// (found with _Fork() children by ForkStress). Here the state names the
// process and thread that run the initialiser; a caller that finds it
// running in another process (its parent) runs it afresh.
#pragma once

#include <atomic>
#include <cstdint>
#include <ctime>
#include <sys/syscall.h>
#include <unistd.h>

#include "platform/thread_self.hpp"

namespace onspin::detail {

class fork_safe_once {
public:
  constexpr fork_safe_once() noexcept = default;

  // Runs f() once per process image, unless it already ran before a fork.
  // The first caller runs it; others wait for it (unless `wait` is false:
  // they then return at once, before it is done). A call made by f itself
  // (recursion) returns at once.
  template <class F> void call(F &&f, bool wait = true) noexcept {
    if (state_.load(std::memory_order_acquire) == kDone) return;
    const uint64_t me = static_cast<uint64_t>(getpid()) << 32 | self_tid();
    uint64_t s = state_.load(std::memory_order_acquire);
    for (;;) {
      if (s == kDone || s == me) return;
      const bool orphaned = s != 0 && (s >> 32) != (me >> 32); // started in the parent
      if (s == 0 || orphaned) {
        if (!state_.compare_exchange_weak(s, me, std::memory_order_acquire)) continue;
        f();
        state_.store(kDone, std::memory_order_release);
        return;
      }
      if (!wait) return;
      // Another thread of this process runs it: initialisers take
      // milliseconds, so a short sleep per look costs nothing.
      const timespec ms{0, 1000000};
      nanosleep(&ms, nullptr);
      s = state_.load(std::memory_order_acquire);
    }
  }

  bool done() const noexcept { return state_.load(std::memory_order_acquire) == kDone; }

private:
  static constexpr uint64_t kDone = ~0ull;
  std::atomic<uint64_t> state_{0};
};

} // namespace onspin::detail
