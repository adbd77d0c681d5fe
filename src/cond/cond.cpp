// Condition variable: a sequence counter in a futex. A waiter samples the
// counter before releasing the mutex and sleeps only while it is unchanged;
// signal and broadcast bump it first, so a wake-up that comes between the
// release and the sleep is never lost (the futex compares before sleeping).
//
// Lifetime: a condition variable may be destroyed, and its memory freed, as
// soon as every waiter has been notified (POSIX, and C++'s
// [thread.condition.condvar]): the waiters may still be on their way out.
// So a woken waiter leaves the object with one last atomic update of `refs`
// before it reacquires the mutex, and destroy waits for the notified ones to
// leave. Signal and broadcast touch nothing after their futex wake, so that
// a waiter they woke may destroy the object at once.
//
// Broadcast wakes every waiter; it does not requeue them onto the mutex
// (glibc dropped that in 2.25 too): a requeued waiter would still hold its
// reference while it sleeps on the mutex, so destroying the condition
// variable under that mutex would deadlock, and between processes the woken
// waiter that must keep the requeued ones going may die first.
#include <cerrno>
#include <climits>
#include <pthread.h>

#include "cond/cond_wait.hpp"
#include "lock/lock_word.hpp"
#include "platform/clock.hpp"
#include "platform/errno_keeper.hpp"
#include "platform/futex.hpp"
#include "platform/thread_self.hpp"
#include "stats/stats.hpp"

using namespace onspin::detail;

namespace {

constexpr auto relaxed = std::memory_order_relaxed;
constexpr auto acquire = std::memory_order_acquire;
constexpr auto acq_rel = std::memory_order_acq_rel;
constexpr auto seq_cst = std::memory_order_seq_cst;

// onspin_cond_t::refs: the waiters that have not left yet (entered, and
// neither woken by a notify nor gone by themselves), a flag for a destroy
// waiting for them, and how many of them were notified.
constexpr uint64_t kWaitingMask = 0x7fffffffu;
constexpr uint64_t kDestroying = 0x80000000u;
constexpr int kNotifiedShift = 32;

std::atomic_ref<uint32_t> ref(uint32_t &v) { return std::atomic_ref<uint32_t>(v); }
std::atomic_ref<uint64_t> refs_of(onspin_cond_t *c) { return std::atomic_ref<uint64_t>(c->refs); }

uint32_t waiting(uint64_t r) { return static_cast<uint32_t>(r & kWaitingMask); }
uint32_t notified(uint64_t r) { return static_cast<uint32_t>(r >> kNotifiedShift); }
uint64_t pack(uint32_t waiting, uint32_t notified, uint64_t flags) {
  return static_cast<uint64_t>(notified) << kNotifiedShift | flags | waiting;
}

// Destroy sleeps on the low half of refs (little-endian: the waiter count).
uint32_t *refs_futex(onspin_cond_t *c) { return reinterpret_cast<uint32_t *>(&c->refs); }
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "refs_futex needs the low half first");

// How long destroy waits for the waiters of a process-shared c to leave
// (nobody can tell a waiter whose process died from a slow one), and how
// often it looks.
constexpr uint64_t kSharedDestroyWaitNs = 1000000000;
constexpr uint64_t kDestroyNapNs = 10000000;

bool cond_futex_shared(onspin_cond_t *c) { return ref(c->kind).load(relaxed) & kCondShared; }

// Notes that a notify reaches `n` more waiters (all of them: UINT32_MAX).
// Returns whether any waiter is there to wake.
bool note_notified(onspin_cond_t *c, uint32_t n) {
  auto refs = refs_of(c);
  uint64_t r = refs.load(seq_cst);
  for (;;) {
    const uint32_t w = waiting(r);
    if (w == 0) return false;
    if (notified(r) >= w) return true;
    const uint32_t more = n < w - notified(r) ? notified(r) + n : w;
    if (refs.compare_exchange_weak(r, pack(w, more, r & kDestroying), seq_cst, seq_cst))
      return true;
  }
}

// The waiter's last touch of c: leave, consuming a notification if it got
// one, and wake a destroy that waits for the last waiter. After this the
// memory may be gone; the wake only names its address.
void leave(onspin_cond_t *c, bool was_notified, bool shared) {
  auto refs = refs_of(c);
  uint64_t r = refs.load(relaxed), next;
  do {
    const uint32_t w = waiting(r) - 1;
    uint32_t n = notified(r);
    if (was_notified && n > 0) --n;
    next = pack(w, n < w ? n : w, r & kDestroying);
  } while (!refs.compare_exchange_weak(r, next, acq_rel, relaxed));
  if ((next & kDestroying) && waiting(next) == 0) futex_wake(refs_futex(c), INT_MAX, shared);
}

// onspin_cond_wait's mutex, for cond_wait_with.
struct onspin_mutex_steps {
  onspin_mutex_t *m;
  int unlock() { return unlock_full(m); }
  int lock() { return lock_full(m, deadline{}); }
  void add_user(int delta) { add_cond_user(m, delta); }
};

int wait_on_onspin_mutex(onspin_cond_t *c, onspin_mutex_t *m, deadline when) {
  const errno_keeper keep_errno;
  if (!may_release(m, owner_of(word(m).load(relaxed)))) return EPERM;
  onspin_mutex_steps steps{m};
  return cond_wait_with(c, steps, when, false);
}

} // namespace

namespace onspin::detail {

void cond_init_kind(onspin_cond_t *c, uint32_t kind) noexcept {
  *c = onspin_cond_t ONSPIN_COND_INITIALIZER;
  c->kind = kind;
}

clockid_t cond_clock(onspin_cond_t *c) noexcept {
  return (ref(c->kind).load(relaxed) & kCondMonotonic) ? CLOCK_MONOTONIC : CLOCK_REALTIME;
}

// We sample seq, then announce ourselves, both before the caller releases
// the mutex: a notifier that synchronised with that release sees us, and it
// bumps seq after it looked, so our sample is older than its bump and the
// futex sees the change. Sampling first also means that a notifier that
// counts us as notified bumps seq after our sample: we cannot sleep through
// a notify that counted us.
cond_waiter cond_enter(onspin_cond_t *c) noexcept {
  count(stat::cond_waits);
  const cond_waiter w{c, ref(c->seq).load(seq_cst), cond_futex_shared(c)};
  refs_of(c).fetch_add(1, seq_cst);
  return w;
}

void cond_abandon(const cond_waiter &w) noexcept { leave(w.c, false, w.shared); }

bool cond_sleep(const cond_waiter &w, deadline when, bool cancellable) {
  int wait;
  do {
    // Cancellation acts only inside the system call, as in glibc's own
    // cancellable calls: nowhere else may the unwinding start.
    int old_type = 0;
    if (cancellable) pthread_setcanceltype(PTHREAD_CANCEL_ASYNCHRONOUS, &old_type);
    wait = futex_wait(&w.c->seq, w.seq, when.abstime, when.clock, w.shared);
    if (cancellable) pthread_setcanceltype(old_type, nullptr);
  } while (wait == EINTR && ref(w.c->seq).load(relaxed) == w.seq);
  // Only signal and broadcast wake this futex (0); anything else means the
  // counter moved before we slept (EAGAIN) or the deadline passed.
  const bool was_notified = wait == 0 || ref(w.c->seq).load(relaxed) != w.seq;
  leave(w.c, was_notified, w.shared);
  return was_notified;
}

void cond_leave_cancelled(const cond_waiter &w) noexcept {
  // A wake-up meant for another waiter may have ended our sleep: pass it on
  // before leaving (after leaving, c may be gone).
  if (ref(w.c->seq).load(relaxed) != w.seq) futex_wake(&w.c->seq, 1, w.shared);
  leave(w.c, false, w.shared);
}

int cond_destroy(onspin_cond_t *c, bool wait_for_all) noexcept {
  const bool shared = cond_futex_shared(c);
  auto refs = refs_of(c);
  const auto busy = [&] {
    refs.fetch_and(~kDestroying, relaxed);
    return EBUSY;
  };
  // A waiter process may have died in its wait, and would never leave: a
  // process-shared c is waited for a bounded time only.
  const uint64_t give_up_at = shared ? now_ns() + kSharedDestroyWaitNs : 0;
  uint64_t r = refs.load(acquire);
  for (;;) {
    if (waiting(r) == 0) return 0;
    // Some waiter was never notified: it would wait on a dead object.
    if (!wait_for_all && waiting(r) > notified(r)) return busy();
    // Every remaining waiter is to leave: notified, or (glibc's semantics)
    // by its own deadline or a notify still to come.
    if (!(r & kDestroying)) {
      if (refs.compare_exchange_weak(r, r | kDestroying, acquire, acquire)) r |= kDestroying;
      continue;
    }
    timespec nap{};
    if (shared) {
      if (now_ns() >= give_up_at) return busy();
      nap = time_in(CLOCK_MONOTONIC, kDestroyNapNs);
    }
    futex_wait(refs_futex(c), static_cast<uint32_t>(r), shared ? &nap : nullptr, CLOCK_MONOTONIC,
               shared);
    r = refs.load(acquire);
  }
}

} // namespace onspin::detail

extern "C" {

int onspin_condattr_init(onspin_condattr_t *attr) {
  if (attr == nullptr) return EINVAL;
  attr->flags = 0;
  return 0;
}

int onspin_condattr_destroy(onspin_condattr_t *attr) { return attr == nullptr ? EINVAL : 0; }

int onspin_condattr_setpshared(onspin_condattr_t *attr, int pshared) {
  if (attr == nullptr) return EINVAL;
  if (pshared == ONSPIN_PROCESS_SHARED)
    attr->flags |= kCondShared;
  else if (pshared == ONSPIN_PROCESS_PRIVATE)
    attr->flags &= ~kCondShared;
  else
    return EINVAL;
  return 0;
}

int onspin_condattr_getpshared(const onspin_condattr_t *attr, int *pshared) {
  if (attr == nullptr || pshared == nullptr) return EINVAL;
  *pshared = (attr->flags & kCondShared) ? ONSPIN_PROCESS_SHARED : ONSPIN_PROCESS_PRIVATE;
  return 0;
}

int onspin_cond_init(onspin_cond_t *c, const onspin_condattr_t *attr) {
  if (c == nullptr) return EINVAL;
  const uint32_t flags = attr ? attr->flags : 0;
  if (flags & ~kCondShared) return EINVAL;
  cond_init_kind(c, flags);
  return 0;
}

int onspin_cond_wait(onspin_cond_t *c, onspin_mutex_t *m) {
  if (c == nullptr || m == nullptr) return EINVAL;
  return wait_on_onspin_mutex(c, m, deadline{});
}

int onspin_cond_timedwait(onspin_cond_t *c, onspin_mutex_t *m, clockid_t clockid,
                          const struct timespec *abstime) {
  if (c == nullptr || m == nullptr || !valid_deadline(clockid, abstime)) return EINVAL;
  return wait_on_onspin_mutex(c, m, deadline{abstime, clockid});
}

// Signal and broadcast count the waiters they notify before they bump the
// counter: from the bump on, a waiter that had not gone to sleep yet sees it,
// leaves, and may destroy c, so only the wake-up may follow. (Reading refs
// before the bump still catches every waiter that entered before the
// notifier synchronised with it, e.g. through the mutex: its entry precedes
// its unlock.)
int onspin_cond_signal(onspin_cond_t *c) {
  if (c == nullptr) return EINVAL;
  const bool shared = cond_futex_shared(c);
  const bool waiters = note_notified(c, 1);
  ref(c->seq).fetch_add(1, seq_cst);
  if (waiters) futex_wake(&c->seq, 1, shared);
  return 0;
}

int onspin_cond_broadcast(onspin_cond_t *c) {
  if (c == nullptr) return EINVAL;
  const bool shared = cond_futex_shared(c);
  const bool waiters = note_notified(c, UINT32_MAX);
  ref(c->seq).fetch_add(1, seq_cst);
  if (waiters) futex_wake(&c->seq, INT_MAX, shared);
  return 0;
}

int onspin_cond_destroy(onspin_cond_t *c) {
  if (c == nullptr) return EINVAL;
  return cond_destroy(c, false);
}

} // extern "C"
