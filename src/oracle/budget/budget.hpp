// The budget oracle's spin policy: with no information about the owner, spin
// for about as long as waiting on this lock has recently taken, when that was
// short enough to pay; otherwise give up early and sleep. glibc's adaptive
// mutex learns a spin *count* the same way; onspin learns nanoseconds, which
// mean the same on every CPU.
#pragma once

#include <atomic>
#include <cstdint>
#include <onspin/onspin.h>

namespace onspin::detail::budget {

// Spin at least this long even on a lock that has taught us nothing: a
// wake-up costs several microseconds, so a shorter spin is no experiment.
constexpr uint32_t kFloorNs = 1000;

inline std::atomic_ref<uint32_t> learned(onspin_mutex_t *m) noexcept {
  return std::atomic_ref<uint32_t>(m->spin_ns);
}

// How long a waiter on m may spin now.
inline uint32_t limit_ns(onspin_mutex_t *m, uint32_t cap_ns) noexcept {
  uint64_t limit = 2ull * learned(m).load(std::memory_order_relaxed) + kFloorNs;
  return limit < cap_ns ? static_cast<uint32_t>(limit) : cap_ns;
}

// Learns from one contended acquisition that waited `waited_ns` in all. A
// wait no longer than the cap would have paid off as a spin, so the budget
// moves toward it; a longer one says spinning here is wasted, so the budget
// decays toward zero. A moving average with weight 1/8, as glibc uses.
//
// The store happens only when the value moves by more than 1/16 (or 64 ns):
// the field shares the lock's cache line, and a write by every waiter would
// pull that line away from the owner each time.
inline void learn(onspin_mutex_t *m, uint64_t waited_ns, uint32_t cap_ns) noexcept {
  int64_t target = waited_ns <= cap_ns ? static_cast<int64_t>(waited_ns) : 0;
  int64_t old = learned(m).load(std::memory_order_relaxed);
  int64_t next = old + (target - old) / 8;
  int64_t step = next > old ? next - old : old - next;
  if (step > old / 16 && step > 64)
    learned(m).store(static_cast<uint32_t>(next), std::memory_order_relaxed);
}

} // namespace onspin::detail::budget
