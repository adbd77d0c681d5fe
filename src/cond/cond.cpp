// Condition variable: a sequence counter in a futex. A waiter samples the
// counter before releasing the mutex and sleeps only while it is unchanged;
// signal and broadcast bump it first, so a wake-up that comes between the
// release and the sleep is never lost (the futex compares before sleeping).
//
// Broadcast wakes one waiter and requeues the rest onto the mutex word: each
// then gets the lock in turn as the previous one unlocks, instead of all
// waking to fight over it. Every waiter reacquires the mutex as a "sleeper"
// (with WAITERS set), which keeps that chain of unlock wake-ups going.
#include <cerrno>
#include <climits>

#include "lock/lock_word.hpp"
#include "platform/clock.hpp"
#include "platform/futex.hpp"
#include "platform/thread_self.hpp"
#include "stats/stats.hpp"

using namespace onspin::detail;

namespace {

constexpr auto relaxed = std::memory_order_relaxed;
constexpr auto seq_cst = std::memory_order_seq_cst;

// onspin_cond_t::kind bits
constexpr uint32_t kCondShared = 1u << 0;      // ONSPIN_PROCESS_SHARED
constexpr uint32_t kCondSharedWaits = 1u << 1; // waiters' mutex needs shared futex ops

std::atomic_ref<uint32_t> ref(uint32_t &v) { return std::atomic_ref<uint32_t>(v); }

// Waits on the condition and the requeue onto the mutex must use the same
// futex flavour: shared if the condition is, or if the mutex is.
bool cond_futex_shared(onspin_cond_t *c) {
  return (ref(c->kind).load(relaxed) & (kCondShared | kCondSharedWaits)) != 0;
}

// Remembers the waiters' mutex for broadcast. All waiters pass the same one
// (POSIX), so these stores repeat the same values; skip them when unchanged.
void record_mutex(onspin_cond_t *c, onspin_mutex_t *m) {
  std::atomic_ref<onspin_mutex_t *> mutex(c->mutex);
  const uint32_t pid = self_pid();
  if (mutex.load(relaxed) != m || ref(c->owner_pid).load(relaxed) != pid) {
    mutex.store(m, relaxed);
    ref(c->owner_pid).store(pid, relaxed);
  }
  if (futex_is_shared(kind_of(m)) && !(ref(c->kind).load(relaxed) & kCondSharedWaits))
    ref(c->kind).fetch_or(kCondSharedWaits, relaxed);
}

int cond_wait(onspin_cond_t *c, onspin_mutex_t *m, deadline when) {
  if (!is_self(owner_of(word(m).load(relaxed)), kind_of(m) & kKindRobust)) return EPERM;
  record_mutex(c, m);
  const bool shared = cond_futex_shared(c);
  count(stat::cond_waits);

  // Dekker with signal: we announce ourselves, then sample; a signaller
  // bumps, then looks for waiters. One of us sees the other.
  ref(c->waiters).fetch_add(1, seq_cst);
  const uint32_t seq = ref(c->seq).load(seq_cst);

  int r = unlock_full(m);
  if (r != 0) {
    ref(c->waiters).fetch_sub(1, relaxed);
    return r;
  }
  int wait;
  do {
    wait = futex_wait(&c->seq, seq, when.abstime, when.clock, shared);
  } while (wait == EINTR && ref(c->seq).load(relaxed) == seq);
  ref(c->waiters).fetch_sub(1, relaxed);

  // Reacquire without a deadline, as POSIX requires, and as a sleeper: we
  // may have been requeued onto the mutex word behind other waiters.
  r = lock_full(m, deadline{}, true);
  if (r != 0) return r;
  if (wait == ETIMEDOUT && ref(c->seq).load(relaxed) == seq) {
    count(stat::timeouts);
    return ETIMEDOUT;
  }
  return 0;
}

} // namespace

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
  *c = onspin_cond_t ONSPIN_COND_INITIALIZER;
  c->kind = flags;
  return 0;
}

int onspin_cond_wait(onspin_cond_t *c, onspin_mutex_t *m) {
  if (c == nullptr || m == nullptr) return EINVAL;
  return cond_wait(c, m, deadline{});
}

int onspin_cond_timedwait(onspin_cond_t *c, onspin_mutex_t *m, clockid_t clockid,
                          const struct timespec *abstime) {
  if (c == nullptr || m == nullptr || !valid_deadline(clockid, abstime)) return EINVAL;
  return cond_wait(c, m, deadline{abstime, clockid});
}

int onspin_cond_signal(onspin_cond_t *c) {
  if (c == nullptr) return EINVAL;
  ref(c->seq).fetch_add(1, seq_cst);
  if (ref(c->waiters).load(seq_cst) != 0) futex_wake(&c->seq, 1, cond_futex_shared(c));
  return 0;
}

int onspin_cond_broadcast(onspin_cond_t *c) {
  if (c == nullptr) return EINVAL;
  const uint32_t seq = ref(c->seq).fetch_add(1, seq_cst) + 1;
  if (ref(c->waiters).load(seq_cst) == 0) return 0;
  const bool shared = cond_futex_shared(c);
  // The recorded mutex address is only meaningful in the process that wrote it.
  onspin_mutex_t *m = std::atomic_ref<onspin_mutex_t *>(c->mutex).load(relaxed);
  if (m != nullptr && ref(c->owner_pid).load(relaxed) == self_pid()) {
    if (futex_requeue(&c->seq, seq, &m->word, shared) >= 0) {
      count(stat::cond_requeues);
      return 0;
    }
    // The counter moved on (another signal): fall back to waking everyone.
  }
  futex_wake(&c->seq, INT_MAX, shared);
  return 0;
}

int onspin_cond_destroy(onspin_cond_t *c) {
  if (c == nullptr) return EINVAL;
  return ref(c->waiters).load(seq_cst) != 0 ? EBUSY : 0;
}

} // extern "C"
