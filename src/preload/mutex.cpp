// pthread_mutex_* served by onspin's lock core, in place: pthread_mutex_t
// and onspin_mutex_t share a layout (include/onspin/onspin.h), so glibc's
// static initialisers and every existing object work as they are, and the
// fast path is onspin's, inlined, after one test of the kind.
//
// Left to glibc, by the kind glibc's own init wrote: priority-inheritance
// and priority-protect mutexes, process-shared ones (unless
// ONSPIN_PSHARED=onspin), and destroyed ones (kind -1, as glibc marks them,
// so that glibc returns EINVAL for their use).
#include <cerrno>
#include <cstddef>
#include <pthread.h>
#include <sys/single_threaded.h>

#include "lock/lock_word.hpp"
#include "lock/mutex_inline.hpp"
#include "platform/clock.hpp"
#include "preload/counters.hpp"
#include "preload/export.hpp"
#include "preload/glibc.hpp"
#include "preload/settings.hpp"

using namespace onspin::detail;
using namespace onspin::preload;

static_assert(sizeof(pthread_mutex_t) == sizeof(onspin_mutex_t), "one layout");
static_assert(offsetof(pthread_mutex_t, __data.__lock) == offsetof(onspin_mutex_t, word));
static_assert(offsetof(pthread_mutex_t, __data.__count) == offsetof(onspin_mutex_t, count));
static_assert(offsetof(pthread_mutex_t, __data.__kind) == offsetof(onspin_mutex_t, kind));
static_assert(offsetof(pthread_mutex_t, __data.__list) == offsetof(onspin_mutex_t, robust_prev));

namespace {

constexpr uint32_t kKindDestroyed = ~0u; // what glibc's destroy writes

onspin_mutex_t *own(pthread_mutex_t *m) { return reinterpret_cast<onspin_mutex_t *>(m); }

// While the process has one thread, glibc's lock and unlock of a private
// mutex skip the atomic instruction (lll_mutex_lock_optimized), and so do
// these: nobody else can touch the word. Only the plainest cases: a free
// word for lock, a word holding exactly our key (no WAITERS, which a fork
// child may inherit) for unlock, and neither process-shared, robust nor
// recursive mutexes. Anything else takes the atomic paths. glibc clears
// __libc_single_threaded before a second thread starts, and pthread_create
// orders everything before it.
constexpr uint32_t kKindsNotPlain = kKindShared | kKindRobust;

[[gnu::always_inline]] inline bool lock_alone(onspin_mutex_t *m, uint32_t kind) {
  if (!__libc_single_threaded || (kind & kKindsNotPlain)) return false;
  if (word(m).load(std::memory_order_relaxed) != 0) return false;
  word(m).store(self_key(), std::memory_order_relaxed);
  slice::hold(); // every path counts, or a trylock and an unlock here would not pair
  return true;
}

[[gnu::always_inline]] inline bool unlock_alone(onspin_mutex_t *m, uint32_t kind) {
  if (!__libc_single_threaded || (kind & kKindsNotPlain) || is_recursive(kind)) return false;
  if (word(m).load(std::memory_order_relaxed) != self_key()) return false;
  word(m).store(0, std::memory_order_release);
  slice::release();
  return true;
}

// Counts a call on a mutex left to glibc, by the reason it was.
[[gnu::cold]] const glibc_functions &to_glibc(pthread_mutex_t *m) {
  const uint32_t kind = kind_of(own(m));
  if (kind == kKindDestroyed)
    note(counter::mutex_calls_destroyed);
  else if (kind & kKindPrioInherit)
    note(counter::mutex_calls_pi);
  else if (kind & kKindPrioProtect)
    note(counter::mutex_calls_pp);
  else
    note(counter::mutex_calls_pshared);
  return glibc();
}

} // namespace

extern "C" {

int onspin_pthread_mutex_init(pthread_mutex_t *pm, const pthread_mutexattr_t *attr) {
  int type = PTHREAD_MUTEX_NORMAL, pshared = PTHREAD_PROCESS_PRIVATE;
  int robust = PTHREAD_MUTEX_STALLED, protocol = PTHREAD_PRIO_NONE;
  if (attr) {
    pthread_mutexattr_gettype(attr, &type);
    pthread_mutexattr_getpshared(attr, &pshared);
    pthread_mutexattr_getrobust(attr, &robust);
    pthread_mutexattr_getprotocol(attr, &protocol);
  }
  const bool shared = pshared == PTHREAD_PROCESS_SHARED;
  const bool is_robust = robust == PTHREAD_MUTEX_ROBUST;
  counter glibcs;
  if (protocol == PTHREAD_PRIO_INHERIT)
    glibcs = counter::mutex_init_pi;
  else if (protocol == PTHREAD_PRIO_PROTECT)
    glibcs = counter::mutex_init_pp;
  else if (shared && !current_settings().pshared_to_onspin)
    glibcs = counter::mutex_init_pshared;
  else {
    note(counter::mutex_init);
    // The type numbers are glibc's, as in onspin's kind (lock_word.hpp).
    uint32_t kind = static_cast<uint32_t>(type) & kKindTypeMask;
    if (shared) kind |= kKindShared;
    if (is_robust) kind |= kKindRobust;
    init_mutex(own(pm), kind, ONSPIN_SPIN_DEFAULT);
    return 0;
  }
  note(glibcs);
  return glibc().mutex_init(pm, attr);
}

int onspin_pthread_mutex_lock(pthread_mutex_t *pm) {
  const uint32_t kind = kind_of(own(pm));
  if (kind_left_to_glibc(kind)) return to_glibc(pm).mutex_lock(pm);
  note(counter::mutex_calls);
  if (lock_alone(own(pm), kind)) return 0;
  return lock_inline(own(pm), deadline{});
}

int onspin_pthread_mutex_trylock(pthread_mutex_t *pm) {
  if (mutex_left_to_glibc(pm)) return to_glibc(pm).mutex_trylock(pm);
  note(counter::mutex_calls);
  return trylock_inline(own(pm));
}

// As glibc: a bad clock is an error at once, a bad time only if the call has
// to wait (POSIX lets a lock that is free be taken without checking it).
int onspin_pthread_mutex_clocklock(pthread_mutex_t *pm, clockid_t clock,
                                   const struct timespec *abstime) {
  if (mutex_left_to_glibc(pm)) return to_glibc(pm).mutex_clocklock(pm, clock, abstime);
  note(counter::mutex_calls);
  if (clock != CLOCK_MONOTONIC && clock != CLOCK_REALTIME) return EINVAL;
  onspin_mutex_t *m = own(pm);
  const int r = trylock_inline(m);
  if (r != EBUSY) return r;
  if (!valid_deadline(clock, abstime)) {
    // glibc reports the owner's relock of an error-checking mutex first.
    const bool relock = caller_owns(m, owner_of(word(m).load(std::memory_order_relaxed)));
    return relock && relock_reported(kind_of(m)) ? EDEADLK : EINVAL;
  }
  return lock_inline(m, deadline{abstime, clock});
}

int onspin_pthread_mutex_timedlock(pthread_mutex_t *pm, const struct timespec *abstime) {
  return onspin_pthread_mutex_clocklock(pm, CLOCK_REALTIME, abstime);
}

int onspin_pthread_mutex_unlock(pthread_mutex_t *pm) {
  const uint32_t kind = kind_of(own(pm));
  if (kind_left_to_glibc(kind)) return to_glibc(pm).mutex_unlock(pm);
  note(counter::mutex_calls);
  if (unlock_alone(own(pm), kind)) return 0;
  return unlock_inline(own(pm));
}

int onspin_pthread_mutex_consistent(pthread_mutex_t *pm) {
  if (mutex_left_to_glibc(pm)) return to_glibc(pm).mutex_consistent(pm);
  note(counter::mutex_calls);
  return onspin_mutex_consistent(own(pm));
}

int onspin_pthread_mutex_destroy(pthread_mutex_t *pm) {
  if (mutex_left_to_glibc(pm)) return to_glibc(pm).mutex_destroy(pm);
  note(counter::mutex_calls);
  const int r = onspin_mutex_destroy(own(pm));
  // As glibc: later use of the destroyed mutex gets EINVAL (from glibc, by
  // its kind), until it is initialised again.
  if (r == 0)
    std::atomic_ref<uint32_t>(own(pm)->kind).store(kKindDestroyed, std::memory_order_relaxed);
  return r;
}

} // extern "C"

ONSPIN_EXPORT(onspin_pthread_mutex_init, v225, "pthread_mutex_init@@GLIBC_2.2.5");
ONSPIN_EXPORT(onspin_pthread_mutex_destroy, v225, "pthread_mutex_destroy@@GLIBC_2.2.5");
ONSPIN_EXPORT(onspin_pthread_mutex_lock, v225, "pthread_mutex_lock@@GLIBC_2.2.5");
ONSPIN_EXPORT(onspin_pthread_mutex_unlock, v225, "pthread_mutex_unlock@@GLIBC_2.2.5");
ONSPIN_EXPORT(onspin_pthread_mutex_trylock, v225, "pthread_mutex_trylock@GLIBC_2.2.5");
ONSPIN_EXPORT(onspin_pthread_mutex_trylock, v234, "pthread_mutex_trylock@@GLIBC_2.34");
ONSPIN_EXPORT(onspin_pthread_mutex_timedlock, v225, "pthread_mutex_timedlock@GLIBC_2.2.5");
ONSPIN_EXPORT(onspin_pthread_mutex_timedlock, v234, "pthread_mutex_timedlock@@GLIBC_2.34");
ONSPIN_EXPORT(onspin_pthread_mutex_clocklock, v230, "pthread_mutex_clocklock@GLIBC_2.30");
ONSPIN_EXPORT(onspin_pthread_mutex_clocklock, v234, "pthread_mutex_clocklock@@GLIBC_2.34");
ONSPIN_EXPORT(onspin_pthread_mutex_consistent, v212, "pthread_mutex_consistent@GLIBC_2.12");
ONSPIN_EXPORT(onspin_pthread_mutex_consistent, v234, "pthread_mutex_consistent@@GLIBC_2.34");
ONSPIN_EXPORT(onspin_pthread_mutex_consistent, np24, "pthread_mutex_consistent_np@GLIBC_2.4");
