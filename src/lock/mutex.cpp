// The mutex C API: attributes, init and destroy, and the out-of-line parts
// of the fast paths (mutex_inline.hpp): trylock's and robust locks'. Waiting
// is in mutex_slow.cpp.
#include <cerrno>

#include "lock/lock_word.hpp"
#include "lock/mutex_inline.hpp"
#include "platform/clock.hpp"
#include "platform/robust_list.hpp"
#include "platform/thread_self.hpp"
#include "platform/tsan.hpp"
#include "stats/stats.hpp"

using namespace onspin::detail;

namespace {

constexpr auto relaxed = std::memory_order_relaxed;
constexpr auto acquire = std::memory_order_acquire;
constexpr auto release = std::memory_order_release;

// onspin_mutexattr_t::flags
constexpr uint32_t kAttrShared = 1u << 0;
constexpr uint32_t kAttrRobust = 1u << 1;
constexpr uint32_t kAttrTypeShift = 2; // two bits: ONSPIN_MUTEX_*
constexpr uint32_t kAttrTypeMask = 3u << kAttrTypeShift;
constexpr uint32_t kAttrSpinShift = 4; // two bits: ONSPIN_SPIN_*
constexpr uint32_t kAttrSpinMask = 3u << kAttrSpinShift;
constexpr uint32_t kAttrAll = kAttrShared | kAttrRobust | kAttrTypeMask | kAttrSpinMask;

// ONSPIN_MUTEX_* to the kind's type (glibc's numbering).
uint32_t kind_type(uint32_t attr_type) {
  switch (attr_type) {
  case ONSPIN_MUTEX_ERRORCHECK:
    return kTypeErrorcheck;
  case ONSPIN_MUTEX_RECURSIVE:
    return kTypeRecursive;
  default:
    return kTypeNormal;
  }
}

void set_inconsistent(onspin_mutex_t *m, bool on) {
  std::atomic_ref<uint32_t> state(m->state);
  if (on)
    state.fetch_or(kStateInconsistent, relaxed);
  else
    state.fetch_and(~kStateInconsistent, relaxed);
}

} // namespace

namespace onspin::detail {

int trylock_slow(onspin_mutex_t *m, uint32_t key) noexcept {
  uint32_t w = word(m).load(relaxed);
  for (;;) {
    uint32_t owner = owner_of(w);
    if (owner == kNotRecoverable) return ENOTRECOVERABLE;
    if (!free_for(m, w, false)) {
      // Held, or handed to a sleeper; a recursive mutex's owner takes it again.
      if (is_recursive(kind_of(m)) && caller_owns(m, owner)) return relock(m);
      return EBUSY;
    }
    if (word(m).compare_exchange_weak(w, key | (w & kWaiters), acquire, relaxed))
      return (w & kOwnerDied) ? EOWNERDEAD : 0;
  }
}

// Robust locks announce the operation in list_op_pending before touching the
// word and link the lock into the thread's list once it is theirs, so the
// kernel finds it whenever the thread dies.
int lock_robust(onspin_mutex_t *m, uint32_t key, deadline when, attempt how) noexcept {
  robust_head *head = self_robust_head();
  if (head == nullptr) return ENOTSUP;
  note_identity();
  // A recursive mutex's owner locks again: it is on the list already (or, held
  // across a fork under the pre-fork TID, on no list of this thread's).
  if (is_recursive(kind_of(m))) {
    const uint32_t owner = owner_of(word(m).load(relaxed));
    if (owner != 0 && caller_owns(m, owner)) return relock(m);
  }
  robust_set_pending(head, m);
  int r;
  if (take_free_lock(m, key))
    r = 0;
  else if (how == attempt::try_once)
    r = trylock_slow(m, key);
  else
    r = lock_slow(m, key, when);
  if (r == EOWNERDEAD) tsan_owner_died();
  if (r == 0 || r == EOWNERDEAD) {
    tsan_robust_owner();
    robust_link(head, m);
  }
  if (r == EOWNERDEAD) {
    count_of(m).store(0, relaxed); // the dead owner's nesting is not ours
    set_inconsistent(m, true);
    count(stat::owner_died);
  }
  robust_clear_pending(head);
  return r;
}

int unlock_robust(onspin_mutex_t *m, uint32_t key) noexcept {
  uint32_t owner = owner_of(word(m).load(relaxed));
  if (!caller_owns(m, owner)) return EPERM;
  if (is_recursive(kind_of(m)) && unnest(m)) return 0;
  // A lock held across fork() is owned under the parent's TID and is not on
  // the child's (fresh) list.
  robust_head *head = owner == key ? self_robust_head() : nullptr;
  if (head) {
    robust_set_pending(head, m);
    robust_unlink(m);
  }
  // An inconsistent lock must not be released: unlock_slow retires it.
  const bool plain = !(state_of(m) & kStateInconsistent);
  int r = plain && release_uncontended(m, key) ? 0 : unlock_slow(m);
  if (head) robust_clear_pending(head);
  return r;
}

void init_mutex(onspin_mutex_t *m, uint32_t kind, uint32_t spin) noexcept {
  *m = onspin_mutex_t ONSPIN_MUTEX_INITIALIZER;
  m->kind = kind;
  m->state = spin;
}

int lock_full(onspin_mutex_t *m, deadline when) noexcept { return lock_inline(m, when); }

int unlock_full(onspin_mutex_t *m) noexcept { return unlock_inline(m); }

} // namespace onspin::detail

extern "C" {

int onspin_mutexattr_init(onspin_mutexattr_t *attr) {
  if (attr == nullptr) return EINVAL;
  attr->flags = 0;
  return 0;
}

int onspin_mutexattr_destroy(onspin_mutexattr_t *attr) { return attr == nullptr ? EINVAL : 0; }

static int set_flag(onspin_mutexattr_t *attr, uint32_t flag, int value, int off, int on) {
  if (attr == nullptr || (value != off && value != on)) return EINVAL;
  attr->flags = value == on ? (attr->flags | flag) : (attr->flags & ~flag);
  return 0;
}

static int get_flag(const onspin_mutexattr_t *attr, uint32_t flag, int *out, int off, int on) {
  if (attr == nullptr || out == nullptr) return EINVAL;
  *out = (attr->flags & flag) ? on : off;
  return 0;
}

int onspin_mutexattr_setpshared(onspin_mutexattr_t *attr, int pshared) {
  return set_flag(attr, kAttrShared, pshared, ONSPIN_PROCESS_PRIVATE, ONSPIN_PROCESS_SHARED);
}
int onspin_mutexattr_getpshared(const onspin_mutexattr_t *attr, int *pshared) {
  return get_flag(attr, kAttrShared, pshared, ONSPIN_PROCESS_PRIVATE, ONSPIN_PROCESS_SHARED);
}
int onspin_mutexattr_setrobust(onspin_mutexattr_t *attr, int robust) {
  return set_flag(attr, kAttrRobust, robust, ONSPIN_MUTEX_STALLED, ONSPIN_MUTEX_ROBUST);
}
int onspin_mutexattr_getrobust(const onspin_mutexattr_t *attr, int *robust) {
  return get_flag(attr, kAttrRobust, robust, ONSPIN_MUTEX_STALLED, ONSPIN_MUTEX_ROBUST);
}
int onspin_mutexattr_settype(onspin_mutexattr_t *attr, int type) {
  if (attr == nullptr || type < ONSPIN_MUTEX_NORMAL || type > ONSPIN_MUTEX_RECURSIVE) return EINVAL;
  attr->flags = (attr->flags & ~kAttrTypeMask) | (static_cast<uint32_t>(type) << kAttrTypeShift);
  return 0;
}
int onspin_mutexattr_gettype(const onspin_mutexattr_t *attr, int *type) {
  if (attr == nullptr || type == nullptr) return EINVAL;
  *type = static_cast<int>((attr->flags & kAttrTypeMask) >> kAttrTypeShift);
  return 0;
}

int onspin_mutexattr_setspin(onspin_mutexattr_t *attr, int spin) {
  if (attr == nullptr || spin < ONSPIN_SPIN_DEFAULT || spin > ONSPIN_SPIN_BUDGET) return EINVAL;
  attr->flags = (attr->flags & ~kAttrSpinMask) | (static_cast<uint32_t>(spin) << kAttrSpinShift);
  return 0;
}
int onspin_mutexattr_getspin(const onspin_mutexattr_t *attr, int *spin) {
  if (attr == nullptr || spin == nullptr) return EINVAL;
  *spin = static_cast<int>((attr->flags & kAttrSpinMask) >> kAttrSpinShift);
  return 0;
}

int onspin_mutex_init(onspin_mutex_t *m, const onspin_mutexattr_t *attr) {
  if (m == nullptr) return EINVAL;
  const uint32_t flags = attr ? attr->flags : 0;
  if ((flags & ~kAttrAll) || ((flags & kAttrSpinMask) >> kAttrSpinShift) > ONSPIN_SPIN_BUDGET ||
      ((flags & kAttrTypeMask) >> kAttrTypeShift) > ONSPIN_MUTEX_RECURSIVE)
    return EINVAL;
  if ((flags & kAttrRobust) && self_robust_head() == nullptr) return ENOTSUP;
  uint32_t kind = kind_type((flags & kAttrTypeMask) >> kAttrTypeShift) | kKindChecked;
  if (flags & kAttrShared) kind |= kKindShared;
  if (flags & kAttrRobust) kind |= kKindRobust;
  init_mutex(m, kind, (flags & kAttrSpinMask) >> kAttrSpinShift);
  return 0;
}

int onspin_mutex_lock(onspin_mutex_t *m) {
  if (__builtin_expect(m == nullptr, 0)) return EINVAL;
  return lock_inline(m, deadline{});
}

int onspin_mutex_trylock(onspin_mutex_t *m) {
  if (m == nullptr) return EINVAL;
  return trylock_inline(m);
}

int onspin_mutex_timedlock(onspin_mutex_t *m, clockid_t clockid, const struct timespec *abstime) {
  if (m == nullptr || !valid_deadline(clockid, abstime)) return EINVAL;
  return lock_inline(m, deadline{abstime, clockid});
}

int onspin_mutex_unlock(onspin_mutex_t *m) {
  if (__builtin_expect(m == nullptr, 0)) return EINVAL;
  return unlock_inline(m);
}

// The slow paths of the inline fast paths in onspin.h. A key other than 0 is
// the caller's own (onspin_detail_key), tried on a plain mutex and failed.
int onspin_detail_mutex_lock_slow(onspin_mutex_t *m, uint32_t key) {
  if (m == nullptr) return EINVAL;
  if (key != 0 && !(kind_of(m) & kKindRobust)) return held(lock_slow(m, key, deadline{}));
  return lock_inline(m, deadline{});
}

int onspin_detail_mutex_trylock_slow(onspin_mutex_t *m, uint32_t key) {
  if (m == nullptr) return EINVAL;
  if (key != 0 && !(kind_of(m) & kKindRobust)) return held(trylock_slow(m, key));
  return trylock_inline(m);
}

int onspin_detail_mutex_unlock_slow(onspin_mutex_t *m) {
  if (m == nullptr) return EINVAL;
  return unlock_inline(m);
}

int onspin_mutex_consistent(onspin_mutex_t *m) {
  if (m == nullptr) return EINVAL;
  const uint32_t kind = kind_of(m);
  if (!(kind & kKindRobust) || !(state_of(m) & kStateInconsistent)) return EINVAL;
  if (!caller_owns(m, owner_of(word(m).load(relaxed)))) return EPERM;
  set_inconsistent(m, false);
  return 0;
}

int onspin_mutex_destroy(onspin_mutex_t *m) {
  if (m == nullptr) return EINVAL;
  // A word handed to the sleepers is held by nobody: if a sleeper still
  // waited, destroying m would be the caller's error.
  const uint32_t owner = owner_of(word(m).load(relaxed));
  if (owner != 0 && owner != kNotRecoverable && owner != kHandoff) return EBUSY;
  // A condition waiter will take it again.
  if (has_cond_users(m)) return EBUSY;
  return 0;
}

} // extern "C"
