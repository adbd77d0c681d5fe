// The 32-bit lock word, laid out like the kernel's robust futexes:
//   bits 0..29  owner key (TID), 0 when free
//   bit 30      OWNER_DIED: the kernel found the owner dead (robust locks)
//   bit 31      WAITERS: a thread may sleep in futex_wait on this word
// Two owner values are never TIDs (pid_max is at most 2^22): HANDOFF marks a
// lock released to the sleepers only, NOT_RECOVERABLE a dead robust lock.
#pragma once

#include <atomic>
#include <cstdint>
#include <onspin/onspin.h>

#include "platform/clock.hpp"

namespace onspin::detail {

constexpr uint32_t kWaiters = 0x80000000u;
constexpr uint32_t kOwnerDied = 0x40000000u;
constexpr uint32_t kOwnerMask = 0x3fffffffu;
constexpr uint32_t kHandoff = 0x3ffffffeu;
constexpr uint32_t kNotRecoverable = 0x3fffffffu;

// onspin_mutex_t::kind bits. The attribute bits are set at init; kInconsistent
// is written only by the owner of a robust lock.
constexpr uint32_t kKindShared = 1u << 0;
constexpr uint32_t kKindRobust = 1u << 1;
constexpr uint32_t kKindErrorcheck = 1u << 2;
constexpr uint32_t kKindInconsistent = 1u << 3;
// The lock's spin policy (ONSPIN_SPIN_*), two bits.
constexpr uint32_t kKindSpinShift = 4;
constexpr uint32_t kKindSpinMask = 3u << kKindSpinShift;

inline std::atomic_ref<uint32_t> word(onspin_mutex_t *m) noexcept {
  return std::atomic_ref<uint32_t>(m->word);
}

inline uint32_t owner_of(uint32_t w) noexcept { return w & kOwnerMask; }

inline uint32_t kind_of(onspin_mutex_t *m) noexcept {
  return std::atomic_ref<uint32_t>(m->kind).load(std::memory_order_relaxed);
}

// A hand-off (unlock_slow) reserves the lock for the sleepers, and the one it
// woke takes it. If that sleeper left first (its deadline passed), nobody
// would: so the reservation lapses kHandoffGraceUs after it was made (fair_at
// records when), and then anyone may take the word.
constexpr uint32_t kHandoffGraceUs = 2000;

inline bool handoff_lapsed(onspin_mutex_t *m) noexcept {
  const uint32_t made = std::atomic_ref<uint32_t>(m->fair_at).load(std::memory_order_relaxed);
  // fair_at is stored with its low bit set (0 means never): set it here too,
  // so that a reading in the same microsecond is not one "before" it.
  return (static_cast<uint32_t>(now_ns() / 1000) | 1) - made >= kHandoffGraceUs;
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
//
// `sleeper` marks a caller that has slept on this word already (a waiter
// requeued from a condition variable): it takes the lock with WAITERS set,
// because others may still sleep, and may accept a hand-off.
int lock_slow(onspin_mutex_t *m, uint32_t key, deadline when, bool sleeper) noexcept;
int unlock_slow(onspin_mutex_t *m) noexcept;

// Full lock and unlock, including the robust-list bookkeeping; what the C API
// and the condition variable call.
int lock_full(onspin_mutex_t *m, deadline when, bool sleeper) noexcept;
int unlock_full(onspin_mutex_t *m) noexcept;

} // namespace onspin::detail
