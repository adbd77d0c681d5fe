// onspin::mutex: a drop-in for std::mutex that spins only while spinning can
// pay off (the owner runs on a CPU) and otherwise sleeps on a futex.
//
//   onspin::mutex m;
//   { std::lock_guard<onspin::mutex> g(m); ... }
//   if (m.try_lock_for(std::chrono::milliseconds(5))) { ...; m.unlock(); }
//
// It meets the standard's Lockable and TimedLockable requirements, so it works
// with std::lock_guard, std::unique_lock, std::scoped_lock and std::lock.
// onspin::recursive_mutex (below) is the same lock in recursive mode.
// For owner-death recovery see onspin/robust_mutex.hpp; for waiting on a
// condition see onspin/condition_variable.hpp.
#pragma once

#include <chrono>
#include <onspin/detail/chrono.hpp>
#include <onspin/onspin.h>
#include <system_error>

namespace onspin {

// Where a lock or condition variable may be used from.
enum class sharing {
  // The threads of one process. The fastest wake-ups (private futexes).
  process_private,
  // Threads of several processes: the object must live in memory they all map
  // (MAP_SHARED, or shm_open) and be constructed there once, in place, before
  // any of them uses it.
  process_shared,
};

namespace detail {
inline onspin_mutexattr_t mutex_attr(sharing s, bool robust) {
  onspin_mutexattr_t a;
  onspin_mutexattr_init(&a);
  onspin_mutexattr_setpshared(&a, s == sharing::process_shared ? ONSPIN_PROCESS_SHARED
                                                               : ONSPIN_PROCESS_PRIVATE);
  onspin_mutexattr_setrobust(&a, robust ? ONSPIN_MUTEX_ROBUST : ONSPIN_MUTEX_STALLED);
  return a;
}
} // namespace detail

namespace detail {

// The Lockable and TimedLockable interface over one onspin_mutex_t, shared by
// mutex and recursive_mutex, which differ only in the type they set up.
class basic_mutex {
public:
  basic_mutex(const basic_mutex &) = delete;
  basic_mutex &operator=(const basic_mutex &) = delete;

  // Blocks until the calling thread owns the mutex.
  // Cost: a free mutex costs one CAS. A taken one: the caller spins while the
  // owner runs (bounded by ONSPIN_SPIN_NS), then sleeps until woken.
  // Throws std::system_error: resource_deadlock_would_occur if the calling
  // thread already owns a mutex (std::mutex leaves that undefined);
  // resource_unavailable_try_again past UINT32_MAX nested recursive locks.
  void lock() {
    if (int r = onspin_mutex_lock(&m_)) throw std::system_error(r, std::generic_category());
  }

  // Takes the mutex if it is free right now (a recursive_mutex also if the
  // caller owns it); never waits.
  bool try_lock() noexcept { return onspin_mutex_trylock(&m_) == 0; }

  // As lock(), giving up after d (or at tp). True if the mutex was taken;
  // false at tp, and at a recursive_mutex's nesting limit (as for
  // std::recursive_timed_mutex). steady_clock deadlines use CLOCK_MONOTONIC,
  // system_clock deadlines CLOCK_REALTIME (they follow changes of the time).
  template <class Rep, class Period>
  bool try_lock_for(const std::chrono::duration<Rep, Period> &d) {
    return try_lock_until(steady_after(d));
  }
  template <class Clock, class Duration>
  bool try_lock_until(const std::chrono::time_point<Clock, Duration> &tp) {
    int r = timedlock(&m_, tp);
    if (r == 0) return true;
    if (r == ETIMEDOUT || r == EAGAIN) return false;
    throw std::system_error(r, std::generic_category());
  }

  // Releases the mutex (one level of a recursive_mutex), which the calling
  // thread must own; wakes one sleeper if any. Misuse (unlocking a mutex the
  // caller does not own) changes nothing; use onspin_mutex_unlock on
  // native_handle() to see EPERM.
  void unlock() noexcept { onspin_mutex_unlock(&m_); }

  // The C object, for the C API and for condition_variable.
  onspin_mutex_t *native_handle() noexcept { return &m_; }

protected:
  constexpr explicit basic_mutex(onspin_mutex_t init) noexcept : m_(init) {}
  basic_mutex(sharing s, int type) noexcept {
    onspin_mutexattr_t a = mutex_attr(s, false);
    onspin_mutexattr_settype(&a, type);
    onspin_mutex_init(&m_, &a);
  }
  // Destroying a locked mutex is undefined, as for std::mutex.
  ~basic_mutex() = default;

private:
  onspin_mutex_t m_ = ONSPIN_MUTEX_INITIALIZER;
};

} // namespace detail

class mutex : public detail::basic_mutex {
public:
  // A process-private mutex, unlocked. constexpr: a global onspin::mutex needs
  // no constructor to run, so it is usable during static initialisation.
  constexpr mutex() noexcept : basic_mutex(onspin_mutex_t ONSPIN_MUTEX_INITIALIZER) {}

  // A mutex for the given sharing, unlocked.
  explicit mutex(sharing s) noexcept : basic_mutex(s, ONSPIN_MUTEX_NORMAL) {}
};

// onspin::recursive_mutex: a drop-in for std::recursive_mutex (and
// std::recursive_timed_mutex). The owner may lock it again; it is released by
// the unlock that matches the first lock.
class recursive_mutex : public detail::basic_mutex {
public:
  constexpr recursive_mutex() noexcept
      : basic_mutex(onspin_mutex_t ONSPIN_RECURSIVE_MUTEX_INITIALIZER) {}
  explicit recursive_mutex(sharing s) noexcept : basic_mutex(s, ONSPIN_MUTEX_RECURSIVE) {}
};

} // namespace onspin
