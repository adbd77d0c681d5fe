// pthread_cond_* served by onspin's condition variable, in place: the
// 24-byte onspin_cond_t sits at the start of the 48-byte pthread_cond_t,
// and PTHREAD_COND_INITIALIZER (all zero) is onspin's initialiser. The clock
// set with pthread_condattr_setclock is a bit of its kind.
//
// A wait works with any mutex: onspin's, or one left to glibc (priority
// inheritance, ...), released and reacquired through the functions that
// serve it. The wait is a cancellation point, as glibc's: a cancelled
// waiter leaves the condition variable and holds the mutex again before
// its cleanup handlers run. (This file is built with exceptions: glibc
// cancels by unwinding, and the guard below acts on the way out.)
//
// Process-shared condition variables are glibc's unless
// ONSPIN_PSHARED=onspin (see settings.hpp). glibc marks them in its own
// field (__wrefs bit 0), which onspin's 24 bytes never touch; a wait on one
// with a mutex onspin serves goes through the bridge at the end.
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <pthread.h>

#include "cond/cond_wait.hpp"
#include "lock/lock_word.hpp"
#include "platform/clock.hpp"
#include "preload/cond_calls.hpp"
#include "preload/counters.hpp"
#include "preload/export.hpp"
#include "preload/glibc.hpp"
#include "preload/settings.hpp"

using namespace onspin::detail;
using namespace onspin::preload;

static_assert(sizeof(pthread_cond_t) >= sizeof(onspin_cond_t), "in place");
static_assert(offsetof(pthread_cond_t, __data.__wrefs) >= sizeof(onspin_cond_t),
              "glibc's process-shared mark lies outside onspin's fields");

namespace {

onspin_cond_t *own(pthread_cond_t *c) { return reinterpret_cast<onspin_cond_t *>(c); }

// glibc's process-shared mark: __wrefs bit 0, set by its pthread_cond_init.
bool is_glibcs(pthread_cond_t *c) {
  if (current_settings().pshared_to_onspin) return false;
  return std::atomic_ref<unsigned>(c->__data.__wrefs).load(std::memory_order_relaxed) & 1;
}

// The functions that serve a mutex, onspin's or glibc's.
int mutex_unlock(pthread_mutex_t *m) { return onspin_pthread_mutex_unlock(m); }
int mutex_lock(pthread_mutex_t *m) { return onspin_pthread_mutex_lock(m); }

// While a waiter sleeps, its mutex counts it as a user, as with glibc's
// condition variable: destroying the mutex meanwhile returns EBUSY. (For a
// mutex glibc serves, that is glibc's __nusers, which its unlock lowers and
// its lock raises again; changed here only by the mutex's holder.)
void add_user(pthread_mutex_t *m, int delta) {
  if (mutex_left_to_glibc(m))
    std::atomic_ref<unsigned>(m->__data.__nusers)
        .fetch_add(static_cast<unsigned>(delta), std::memory_order_relaxed);
  else
    add_cond_user(reinterpret_cast<onspin_mutex_t *>(m), delta);
}

// Takes the mutex back after a wait.
int relock(pthread_mutex_t *m) {
  const int r = mutex_lock(m);
  add_user(m, -1);
  return r;
}

// Whatever mutex a program passes, for cond_wait_with.
struct pthread_mutex_steps {
  pthread_mutex_t *m;
  int unlock() { return mutex_unlock(m); }
  int lock() { return mutex_lock(m); }
  void add_user(int delta) { ::add_user(m, delta); }
};

int wait_onspin(pthread_cond_t *pc, pthread_mutex_t *m, deadline when) {
  pthread_mutex_steps steps{m};
  return cond_wait_with(own(pc), steps, when, true);
}

// The bridge: glibc's wait needs a mutex glibc serves, so the waiter holds
// a glibc mutex (one of a few, by the condition variable's address) from
// before it releases its own until glibc's wait has registered it, and this
// process's signals and broadcasts on glibc's condition variables take the
// same mutex: none of them can fall between the release and the
// registration. (Signals from processes without onspin cannot be ordered
// with this process's mutex anyway.)
constexpr size_t kBridges = 64;
pthread_mutex_t bridges[kBridges] = {};

pthread_mutex_t *bridge_of(pthread_cond_t *c) {
  return &bridges[(reinterpret_cast<uintptr_t>(c) >> 6) % kBridges];
}

struct bridge_guard {
  pthread_mutex_t *bridge;
  pthread_mutex_t *m;
  bool armed = true;
  ~bridge_guard() { // glibc's wait holds the bridge again, even when cancelled
    glibc().mutex_unlock(bridge);
    if (armed) relock(m);
  }
};

int wait_glibc(pthread_cond_t *c, pthread_mutex_t *m, clockid_t clock,
               const struct timespec *abstime) {
  note(counter::cond_calls_pshared);
  if (mutex_left_to_glibc(m))
    return abstime ? glibc().cond_clockwait(c, m, clock, abstime) : glibc().cond_wait(c, m);
  pthread_mutex_t *bridge = bridge_of(c);
  glibc().mutex_lock(bridge);
  add_user(m, 1);
  int r = mutex_unlock(m);
  if (r != 0) {
    add_user(m, -1);
    glibc().mutex_unlock(bridge);
    return r;
  }
  {
    bridge_guard guard{bridge, m};
    r = abstime ? glibc().cond_clockwait(c, bridge, clock, abstime) : glibc().cond_wait(c, bridge);
    guard.armed = false;
  }
  const int again = relock(m);
  return again != 0 ? again : r;
}

int notify_glibc(pthread_cond_t *c, int (*notify)(pthread_cond_t *)) {
  note(counter::cond_calls_pshared);
  pthread_mutex_t *bridge = bridge_of(c);
  glibc().mutex_lock(bridge);
  const int r = notify(c);
  glibc().mutex_unlock(bridge);
  return r;
}

int wait_any(pthread_cond_t *c, pthread_mutex_t *m, clockid_t clock,
             const struct timespec *abstime) {
  if (is_glibcs(c)) return wait_glibc(c, m, clock, abstime);
  note(counter::cond_calls);
  return wait_onspin(c, m, deadline{abstime, clock});
}

} // namespace

extern "C" {

int onspin_pthread_cond_init(pthread_cond_t *c, const pthread_condattr_t *attr) {
  int pshared = PTHREAD_PROCESS_PRIVATE;
  clockid_t clock = CLOCK_REALTIME;
  if (attr) {
    pthread_condattr_getpshared(attr, &pshared);
    pthread_condattr_getclock(attr, &clock);
  }
  if (pshared == PTHREAD_PROCESS_SHARED && !current_settings().pshared_to_onspin) {
    note(counter::cond_init_pshared);
    return glibc().cond_init(c, attr);
  }
  note(counter::cond_init);
  std::memset(c, 0, sizeof *c); // glibc's fields too: no stale process-shared mark
  uint32_t kind = pshared == PTHREAD_PROCESS_SHARED ? kCondShared : 0;
  if (clock == CLOCK_MONOTONIC) kind |= kCondMonotonic;
  cond_init_kind(own(c), kind);
  return 0;
}

int onspin_pthread_cond_destroy(pthread_cond_t *c) {
  if (is_glibcs(c)) {
    note(counter::cond_calls_pshared);
    return glibc().cond_destroy(c);
  }
  note(counter::cond_calls);
  // glibc's semantics: wait for every waiter to leave, notified or not.
  return cond_destroy(own(c), true);
}

int onspin_pthread_cond_wait(pthread_cond_t *c, pthread_mutex_t *m) {
  return wait_any(c, m, CLOCK_REALTIME, nullptr);
}

int onspin_pthread_cond_clockwait(pthread_cond_t *c, pthread_mutex_t *m, clockid_t clock,
                                  const struct timespec *abstime) {
  if (!valid_deadline(clock, abstime)) return EINVAL;
  return wait_any(c, m, clock, abstime);
}

int onspin_pthread_cond_timedwait(pthread_cond_t *c, pthread_mutex_t *m,
                                  const struct timespec *abstime) {
  if (is_glibcs(c)) {
    // Its clock is in glibc's fields: glibc's timedwait knows it.
    note(counter::cond_calls_pshared);
    if (mutex_left_to_glibc(m)) return glibc().cond_timedwait(c, m, abstime);
    clockid_t clock = (c->__data.__wrefs & 2) ? CLOCK_MONOTONIC : CLOCK_REALTIME;
    return wait_glibc(c, m, clock, abstime);
  }
  const clockid_t clock = cond_clock(own(c));
  if (!valid_deadline(clock, abstime)) return EINVAL;
  note(counter::cond_calls);
  return wait_onspin(c, m, deadline{abstime, clock});
}

int onspin_pthread_cond_signal(pthread_cond_t *c) {
  if (is_glibcs(c)) return notify_glibc(c, glibc().cond_signal);
  note(counter::cond_calls);
  return onspin_cond_signal(own(c));
}

int onspin_pthread_cond_broadcast(pthread_cond_t *c) {
  if (is_glibcs(c)) return notify_glibc(c, glibc().cond_broadcast);
  note(counter::cond_calls);
  return onspin_cond_broadcast(own(c));
}

} // extern "C"

ONSPIN_EXPORT(onspin_pthread_cond_init, v232, "pthread_cond_init@@GLIBC_2.3.2");
ONSPIN_EXPORT(onspin_pthread_cond_destroy, v232, "pthread_cond_destroy@@GLIBC_2.3.2");
ONSPIN_EXPORT(onspin_pthread_cond_wait, v232, "pthread_cond_wait@@GLIBC_2.3.2");
ONSPIN_EXPORT(onspin_pthread_cond_timedwait, v232, "pthread_cond_timedwait@@GLIBC_2.3.2");
ONSPIN_EXPORT(onspin_pthread_cond_signal, v232, "pthread_cond_signal@@GLIBC_2.3.2");
ONSPIN_EXPORT(onspin_pthread_cond_broadcast, v232, "pthread_cond_broadcast@@GLIBC_2.3.2");
ONSPIN_EXPORT(onspin_pthread_cond_clockwait, v230, "pthread_cond_clockwait@GLIBC_2.30");
ONSPIN_EXPORT(onspin_pthread_cond_clockwait, v234, "pthread_cond_clockwait@@GLIBC_2.34");
