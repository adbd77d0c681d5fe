// The condition variable's waiting protocol in steps, for callers that
// release and reacquire the mutex themselves: onspin_cond_wait with onspin
// mutexes, the LD_PRELOAD interposer with whatever mutex a program passes.
//
//   cond_waiter w = cond_enter(c);      // before the mutex is released
//   if (release fails) cond_abandon(w);
//   else notified = cond_sleep(w, ...); // leaves c: c may be gone after it
//   reacquire the mutex
// cond_wait_with puts the steps together for any mutex.
#pragma once

#include <cerrno>
#include <cstdint>
#include <ctime>
#include <onspin/onspin.h>

#include "lock/lock_word.hpp"
#include "stats/stats.hpp"

namespace onspin::detail {

// onspin_cond_t::kind bits
constexpr uint32_t kCondShared = 1u << 0;    // ONSPIN_PROCESS_SHARED
constexpr uint32_t kCondMonotonic = 1u << 1; // pthread condattr clock: CLOCK_MONOTONIC

// Initialises c with kind bits (kCondShared, kCondMonotonic).
void cond_init_kind(onspin_cond_t *c, uint32_t kind) noexcept;

// The clock c's timed waits use when the caller names none.
clockid_t cond_clock(onspin_cond_t *c) noexcept;

struct cond_waiter {
  onspin_cond_t *c;
  uint32_t seq; // the counter before the mutex was released
  bool shared;
};

// Announces a waiter on c. Call it holding the mutex, before releasing it.
cond_waiter cond_enter(onspin_cond_t *c) noexcept;

// The waiter could not release the mutex: it leaves c, not notified.
void cond_abandon(const cond_waiter &w) noexcept;

// Sleeps until a signal or broadcast, or the deadline, then leaves c: after
// it returns, c may be gone. Returns whether the waiter was notified (else
// its deadline passed). With `cancellable`, the sleep is a cancellation
// point (pthread_cancel): the caller must then catch the unwinding and call
// cond_leave_cancelled. Not noexcept, for that reason: a caller built with
// exceptions must keep its cleanup for the unwinding that may pass through.
bool cond_sleep(const cond_waiter &w, deadline when, bool cancellable);

// A waiter cancelled in cond_sleep leaves c. It consumes no notification: if
// one may have come, it wakes another waiter to take it (POSIX).
void cond_leave_cancelled(const cond_waiter &w) noexcept;

// Destroys c: 0 once no waiter touches it any more. With `wait_for_all`
// (glibc's semantics) it waits for every waiter to leave, notified or not;
// without, a waiter that was never notified gives EBUSY at once. A
// process-shared c gives EBUSY after a second either way.
int cond_destroy(onspin_cond_t *c, bool wait_for_all) noexcept;

// The whole wait on c with the mutex m, which the caller holds: M has
// unlock() and lock() (returning 0 or an errno value) and add_user(delta),
// by which a waiter announces that it will take the mutex back (destroy
// returns EBUSY meanwhile, as glibc's does). Returns 0, ETIMEDOUT (m held
// again), the release's error (nothing waited) or the reacquisition's. With
// `cancellable`, a cancelled waiter leaves c and holds m again as its thread
// unwinds (built with exceptions, the guard's destructor runs then).
template <class M> int cond_wait_with(onspin_cond_t *c, M &m, deadline when, bool cancellable) {
  const cond_waiter w = cond_enter(c);
  m.add_user(1);
  int r = m.unlock();
  if (r != 0) {
    m.add_user(-1);
    cond_abandon(w);
    return r;
  }
  const auto reacquire = [&m] {
    const int got = m.lock(); // without a deadline, as POSIX requires
    m.add_user(-1);
    return got;
  };
  struct cancel_guard {
    const cond_waiter &w;
    const decltype(reacquire) &again;
    bool armed = true;
    ~cancel_guard() {
      if (!armed) return;
      cond_leave_cancelled(w);
      again();
    }
  };
  bool notified;
  {
    cancel_guard guard{w, reacquire};
    notified = cond_sleep(w, when, cancellable);
    guard.armed = false;
  }
  // c may be gone from here on.
  r = reacquire();
  if (r != 0) return r;
  if (notified) return 0;
  count(stat::timeouts);
  return ETIMEDOUT;
}

} // namespace onspin::detail
