// Work the compiler cannot remove, measured in loop turns, and the number of
// turns per nanosecond on this CPU, so that benchmarks state critical
// sections in nanoseconds. Shared by every benchmark in bench/.
#pragma once

#include <chrono>

namespace bench {

inline void work(long turns) {
  for (long i = 0; i < turns; ++i)
    asm volatile("" ::: "memory");
}

// Measured once per process (about 10 ms).
inline double turns_per_ns() {
  static const double v = [] {
    const long n = 50000000;
    const auto t0 = std::chrono::steady_clock::now();
    work(n);
    return n /
           std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count();
  }();
  return v;
}

} // namespace bench
