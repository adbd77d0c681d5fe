// Time for spin budgets and deadlines. clock_gettime(CLOCK_MONOTONIC) is a
// vDSO call (about 20 ns here): cheap enough for a spin loop that polls it
// between pauses, and never a system call.
#pragma once

#include <cstdint>
#include <ctime>

namespace onspin::detail {

inline uint64_t now_ns() noexcept {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

// The time `ns` from now on `clock`, as an absolute timeout.
inline timespec time_in(clockid_t clock, uint64_t ns) noexcept {
  timespec t;
  clock_gettime(clock, &t);
  const uint64_t sum = static_cast<uint64_t>(t.tv_nsec) + ns;
  t.tv_sec += static_cast<time_t>(sum / 1000000000);
  t.tv_nsec = static_cast<long>(sum % 1000000000);
  return t;
}

// A deadline argument is usable if it names a supported clock and a
// normalised time. A negative tv_sec is a time long past, not an error:
// the call times out if it has to wait (as glibc's do).
inline bool valid_deadline(clockid_t clock, const timespec *abstime) noexcept {
  if (abstime == nullptr) return false;
  if (clock != CLOCK_MONOTONIC && clock != CLOCK_REALTIME) return false;
  return abstime->tv_nsec >= 0 && abstime->tv_nsec < 1000000000;
}

// Pause hint for spin loops: frees pipeline resources for a sibling thread.
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

} // namespace onspin::detail
