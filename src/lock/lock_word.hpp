// The 32-bit lock word, laid out like the kernel's robust futexes:
//   bits 0..29  owner key (TID), 0 when free
//   bit 30      OWNER_DIED: the kernel found the owner dead (robust locks)
//   bit 31      WAITERS: a thread may sleep in futex_wait on this word
// Two owner values are never TIDs (pid_max is at most 2^22): HANDOFF marks a
// lock released to the sleepers only, NOT_RECOVERABLE a dead robust lock.
#pragma once

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <onspin/onspin.h>

#include "platform/clock.hpp"
#include "platform/thread_self.hpp"

namespace onspin::detail {

constexpr uint32_t kWaiters = 0x80000000u;
constexpr uint32_t kOwnerDied = 0x40000000u;
constexpr uint32_t kOwnerMask = 0x3fffffffu;
constexpr uint32_t kHandoff = 0x3ffffffeu;
constexpr uint32_t kNotRecoverable = 0x3fffffffu;

// onspin_mutex_t::kind, in glibc's pthread_mutex_t::__kind encoding (the
// same offset too), so that glibc's static initialisers make onspin locks of
// the same type: the type in the low two bits, then the attribute bits.
// Set at init and never changed.
constexpr uint32_t kKindTypeMask = 3u;
constexpr uint32_t kTypeNormal = 0;     // PTHREAD_MUTEX_TIMED_NP
constexpr uint32_t kTypeRecursive = 1;  // PTHREAD_MUTEX_RECURSIVE_NP
constexpr uint32_t kTypeErrorcheck = 2; // PTHREAD_MUTEX_ERRORCHECK_NP
constexpr uint32_t kTypeAdaptive = 3;   // PTHREAD_MUTEX_ADAPTIVE_NP: onspin always adapts
constexpr uint32_t kKindRobust = 16;    // PTHREAD_MUTEX_ROBUST_NORMAL_NP
constexpr uint32_t kKindShared = 128;   // PTHREAD_MUTEX_PSHARED_BIT
// onspin's own, in a bit glibc leaves unused: a normal or adaptive mutex that
// reports misuse, as onspin's initialisers make them. Without it (glibc's
// static initialisers, the preload's pthread_mutex_init, a zero-filled
// mutex) such a mutex behaves as glibc's does: a relock by the owner waits
// forever (POSIX's NORMAL type) and any thread's unlock releases it.
constexpr uint32_t kKindChecked = 1u << 10;
// What the inline fast paths of onspin.h test, compiled into programs.
static_assert(kKindTypeMask == ONSPIN_DETAIL_KIND_TYPE_MASK &&
              kTypeRecursive == ONSPIN_DETAIL_TYPE_RECURSIVE &&
              kKindRobust == ONSPIN_DETAIL_KIND_ROBUST);

// onspin_mutex_t::state: onspin's own. The spin policy (ONSPIN_SPIN_*, two
// bits) is set at init; kStateInconsistent is written only by the owner of a
// robust lock.
constexpr uint32_t kStateSpinMask = 3u;
constexpr uint32_t kStateInconsistent = 1u << 8;
// Condition waiters that released the mutex and will take it again (the
// high half): destroy returns EBUSY while there are any, as glibc's does
// with its __nusers.
constexpr uint32_t kStateCondUser = 1u << 16;

inline std::atomic_ref<uint32_t> word(onspin_mutex_t *m) noexcept {
  return std::atomic_ref<uint32_t>(m->word);
}

inline uint32_t owner_of(uint32_t w) noexcept { return w & kOwnerMask; }

inline uint32_t kind_of(onspin_mutex_t *m) noexcept {
  return std::atomic_ref<uint32_t>(m->kind).load(std::memory_order_relaxed);
}

inline bool is_recursive(uint32_t kind) noexcept {
  return (kind & kKindTypeMask) == kTypeRecursive;
}

inline uint32_t state_of(onspin_mutex_t *m) noexcept {
  return std::atomic_ref<uint32_t>(m->state).load(std::memory_order_relaxed);
}

// A recursive mutex's count of locks beyond the first. Only its owner reads
// or writes it (ownership passes through the word, with acquire and release).
inline std::atomic_ref<uint32_t> count_of(onspin_mutex_t *m) noexcept {
  return std::atomic_ref<uint32_t>(m->count);
}

// The owner of a recursive mutex unlocks a nested level: false if none is
// left (the unlock then releases the lock).
inline bool unnest(onspin_mutex_t *m) noexcept {
  const uint32_t n = count_of(m).load(std::memory_order_relaxed);
  if (n == 0) return false;
  count_of(m).store(n - 1, std::memory_order_relaxed);
  return true;
}

// A condition waiter announces (+1) and withdraws (-1) its use of m.
inline void add_cond_user(onspin_mutex_t *m, int delta) noexcept {
  std::atomic_ref<uint32_t>(m->state).fetch_add(static_cast<uint32_t>(delta) * kStateCondUser,
                                                std::memory_order_relaxed);
}

inline bool has_cond_users(onspin_mutex_t *m) noexcept { return state_of(m) >= kStateCondUser; }

// What a relock of a non-recursive mutex by its owner gets: EDEADLK where
// misuse is reported, else a wait like any other waiter's (a deadlock).
inline bool relock_reported(uint32_t kind) noexcept {
  return (kind & kKindChecked) || (kind & kKindTypeMask) == kTypeErrorcheck;
}

// Whether an unlock by a thread that does not own the lock fails with EPERM.
// glibc checks every type but normal and adaptive, and every robust mutex.
inline bool foreign_unlock_reported(uint32_t kind) noexcept {
  const uint32_t type = kind & kKindTypeMask;
  return (kind & (kKindChecked | kKindRobust)) || type == kTypeRecursive || type == kTypeErrorcheck;
}

// Whether the calling thread owns m, whose word names `owner` (is_self with
// m's robustness and sharing).
inline bool caller_owns(onspin_mutex_t *m, uint32_t owner) noexcept {
  const uint32_t kind = kind_of(m);
  return is_self(owner, kind & kKindRobust, kind & kKindShared);
}

// Whether the calling thread may release m, whose word names `owner`.
inline bool may_release(onspin_mutex_t *m, uint32_t owner) noexcept {
  return !foreign_unlock_reported(kind_of(m)) || caller_owns(m, owner);
}

// The fairness clock (fair_at): microseconds, wrapping, with the low bit set
// because 0 means "never". Readings compare modulo 2^32.
inline uint32_t fair_clock_us() noexcept { return static_cast<uint32_t>(now_ns() / 1000) | 1; }

// The owner of a recursive mutex locks it again: one more unlock to come.
inline int relock(onspin_mutex_t *m) noexcept {
  const uint32_t n = count_of(m).load(std::memory_order_relaxed);
  if (n == UINT32_MAX) return EAGAIN;
  count_of(m).store(n + 1, std::memory_order_relaxed);
  return 0;
}

// A hand-off (unlock_slow) reserves the lock for the sleepers, and the one it
// woke takes it. If that sleeper left first (its deadline passed), nobody
// would: so the reservation lapses kHandoffGraceUs after it was made (fair_at
// records when), and then anyone may take the word.
constexpr uint32_t kHandoffGraceUs = 2000;

inline bool handoff_lapsed(onspin_mutex_t *m) noexcept {
  const uint32_t made = std::atomic_ref<uint32_t>(m->fair_at).load(std::memory_order_relaxed);
  return fair_clock_us() - made >= kHandoffGraceUs;
}

// The word w of m is free for this caller: no owner, or handed to the
// sleepers and the caller is one, or the hand-off lapsed.
inline bool free_for(onspin_mutex_t *m, uint32_t w, bool sleeper) noexcept {
  const uint32_t owner = owner_of(w);
  if (owner == 0) return true;
  return owner == kHandoff && (sleeper || handoff_lapsed(m));
}

// Robust locks use non-private futex operations: the kernel wakes the waiters
// of a dead owner with a shared wake.
inline bool futex_is_shared(uint32_t kind) noexcept {
  return (kind & (kKindShared | kKindRobust)) != 0;
}

// A deadline for a blocking call; no abstime means wait forever.
struct deadline {
  const timespec *abstime = nullptr;
  clockid_t clock = CLOCK_MONOTONIC;
};

// Slow paths, reached when the single-CAS fast paths fail.
int lock_slow(onspin_mutex_t *m, uint32_t key, deadline when) noexcept;
int unlock_slow(onspin_mutex_t *m) noexcept;

// Full lock and unlock, including the robust-list bookkeeping; what the C API
// and the condition variable call.
int lock_full(onspin_mutex_t *m, deadline when) noexcept;
int unlock_full(onspin_mutex_t *m) noexcept;

} // namespace onspin::detail
