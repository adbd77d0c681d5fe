// The mutex fast paths, inline: a free lock is taken with one CAS of
// 0 -> our key and released with one CAS back; everything else goes to the
// out-of-line paths (mutex.cpp for robust locks and trylock, mutex_slow.cpp
// for waiting). Shared by the C API and the LD_PRELOAD interposer.
#pragma once

#include <atomic>
#include <cerrno>

#include "lock/lock_word.hpp"
#include "platform/thread_self.hpp"
#include "slice/slice_ext.hpp"

namespace onspin::detail {

enum class attempt { wait, try_once };

// A trylock that found the word taken or odd: decides without waiting.
int trylock_slow(onspin_mutex_t *m, uint32_t key) noexcept;
// Robust locks: the robust-list bookkeeping around the lock word.
int lock_robust(onspin_mutex_t *m, uint32_t key, deadline when, attempt how) noexcept;
int unlock_robust(onspin_mutex_t *m, uint32_t key) noexcept;

inline bool take_free_lock(onspin_mutex_t *m, uint32_t key) noexcept {
  uint32_t expected = 0;
  return word(m).compare_exchange_strong(expected, key, std::memory_order_acquire,
                                         std::memory_order_relaxed);
}

inline bool release_uncontended(onspin_mutex_t *m, uint32_t key) noexcept {
  uint32_t expected = key;
  return word(m).compare_exchange_strong(expected, 0, std::memory_order_release,
                                         std::memory_order_relaxed);
}

// A lock call's result, with the lock held: the time slice extension's
// request goes up (EOWNERDEAD hands over a robust lock too).
[[gnu::always_inline]] inline int held(int result) noexcept {
  if (__builtin_expect(result == 0 || result == EOWNERDEAD, 1)) slice::hold();
  return result;
}

// An unlock call's result: with the lock released, the request goes down.
[[gnu::always_inline]] inline int released(int result) noexcept {
  if (__builtin_expect(result == 0, 1)) slice::release();
  return result;
}

// The kind is tested before the key is read, because robust locks use
// another key (see thread_self.hpp).
[[gnu::always_inline]] inline int lock_inline(onspin_mutex_t *m, deadline when) noexcept {
  if (__builtin_expect(kind_of(m) & kKindRobust, 0))
    return held(lock_robust(m, self_tid(), when, attempt::wait));
  const uint32_t key = self_key();
  if (__builtin_expect(take_free_lock(m, key), 1)) return held(0);
  return held(lock_slow(m, key, when));
}

[[gnu::always_inline]] inline int trylock_inline(onspin_mutex_t *m) noexcept {
  if (kind_of(m) & kKindRobust)
    return held(lock_robust(m, self_tid(), deadline{}, attempt::try_once));
  const uint32_t key = self_key();
  if (take_free_lock(m, key)) return held(0);
  return held(trylock_slow(m, key));
}

[[gnu::always_inline]] inline int unlock_inline(onspin_mutex_t *m) noexcept {
  const uint32_t kind = kind_of(m);
  if (__builtin_expect(kind & kKindRobust, 0)) return released(unlock_robust(m, self_tid()));
  // A recursive mutex may be held more than once: unlock_slow counts down.
  if (__builtin_expect(!is_recursive(kind) && release_uncontended(m, self_key()), 1))
    return released(0);
  // Releasing another thread's lock (glibc's semantics allow it) lowers
  // nothing of ours.
  const bool ours = caller_owns(m, owner_of(word(m).load(std::memory_order_relaxed)));
  const int r = unlock_slow(m);
  return ours ? released(r) : r;
}

// Makes m an unlocked mutex of `kind` (lock_word.hpp's encoding) with spin
// policy `spin` (ONSPIN_SPIN_*).
void init_mutex(onspin_mutex_t *m, uint32_t kind, uint32_t spin) noexcept;

} // namespace onspin::detail
