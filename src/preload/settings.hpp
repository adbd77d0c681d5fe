// The interposer's settings, read once from the environment (bad values
// give one stderr line and the default):
//   ONSPIN_PSHARED=glibc|onspin  who serves process-shared mutexes and
//                                condition variables (default glibc)
//   ONSPIN_STATS=1               statistics to stderr at exit
//   ONSPIN_STATS_FILE=PATH       statistics appended to PATH at exit
// The oracle and spin settings are the library's (config/config.hpp).
#pragma once

#include <atomic>
#include <cstdint>
#include <pthread.h>

namespace onspin::preload {

struct settings {
  // Process-shared objects may be used by processes that do not load onspin,
  // whose glibc code would corrupt an onspin lock word; so they stay glibc's
  // unless the user says every process sharing them runs onspin.
  bool pshared_to_onspin = false;
  bool print_stats = false;
  const char *stats_file = nullptr;
};

const settings &current_settings() noexcept;

// glibc's __kind bits: PTHREAD_MUTEX_PRIO_INHERIT_NP, _PRIO_PROTECT_NP,
// PTHREAD_MUTEX_PSHARED_BIT.
constexpr uint32_t kKindPrioInherit = 32;
constexpr uint32_t kKindPrioProtect = 64;
constexpr uint32_t kKindPshared = 128;

// Mutex kind bits (glibc's __kind) that mark a mutex as glibc's: priority
// inheritance and protection always, process-shared unless
// ONSPIN_PSHARED=onspin. Read on every call: one load and a test.
extern std::atomic<uint32_t> glibc_kinds;

// Whether glibc serves the mutex m, by the kind its init wrote.
[[gnu::always_inline]] inline bool kind_left_to_glibc(uint32_t kind) noexcept {
  return __builtin_expect(kind & glibc_kinds.load(std::memory_order_relaxed), 0);
}

[[gnu::always_inline]] inline bool mutex_left_to_glibc(pthread_mutex_t *m) noexcept {
  return kind_left_to_glibc(std::atomic_ref<int>(m->__data.__kind).load(std::memory_order_relaxed));
}

// Statistics are counted only when they will be reported.
extern std::atomic<bool> counting;

} // namespace onspin::preload
