// The mutex slow paths: spin while the oracle says spinning pays, else sleep
// on the futex; release with a wake-up, or with a hand-off when fairness is
// due. The fast paths (one CAS each) are in mutex.cpp.
#include <cerrno>
#include <climits>

#include "config/config.hpp"
#include "lock/lock_word.hpp"
#include "oracle/budget/budget.hpp"
#include "oracle/oracle.hpp"
#include "platform/clock.hpp"
#include "platform/futex.hpp"
#include "platform/thread_self.hpp"
#include "stats/stats.hpp"

namespace onspin::detail {
namespace {

constexpr auto relaxed = std::memory_order_relaxed;
constexpr auto acquire = std::memory_order_acquire;
constexpr auto release = std::memory_order_release;

// About once per this period, an unlock with sleepers hands the lock to one
// of them instead of letting spinners and newcomers barge in (WebKit and
// parking_lot use the same bound). The futex queue is FIFO, so the oldest
// sleeper is the one woken: no waiter starves.
constexpr uint32_t kFairnessPeriodUs = 1000;

// Takes a lock seen free (in w), keeping WAITERS if it was set, and adding it
// for a sleeper: other threads may still sleep on the word.
bool try_take(onspin_mutex_t *m, uint32_t &w, uint32_t key, bool sleeper, int *result) {
  uint32_t desired = key | (w & kWaiters) | (sleeper ? kWaiters : 0);
  if (!word(m).compare_exchange_weak(w, desired, acquire, relaxed)) return false;
  *result = (w & kOwnerDied) ? EOWNERDEAD : 0;
  return true;
}

// The lock is free for this caller: no owner, or handed to the sleepers and
// the caller is one.
bool free_for(uint32_t w, bool sleeper) {
  uint32_t owner = owner_of(w);
  return owner == 0 || (sleeper && owner == kHandoff);
}

// Spinners are limited per lock: more than a few threads polling one word
// only steal CPU time from the owner. The count lives in a side table, not in
// the mutex: a spinner that wrote to the lock's cache line would take it away
// from the owner, which then waits for it to come back before it can unlock.
// Locks whose addresses hash alike share a slot (and a limit), which errs
// toward sleeping. For a process-shared lock the limit counts this process's
// spinners only.
struct alignas(64) spinner_slot {
  std::atomic<uint32_t> n{0};
};
constexpr size_t kSpinnerSlots = 256;
spinner_slot spinner_table[kSpinnerSlots];

std::atomic<uint32_t> &spinners_of(const onspin_mutex_t *m) {
  uintptr_t a = reinterpret_cast<uintptr_t>(m) >> 3;
  return spinner_table[(a * 0x9e3779b97f4a7c15ull) >> 56].n; // top 8 bits: 256 slots
}

bool claim_spinner_slot(const onspin_mutex_t *m) {
  std::atomic<uint32_t> &spinners = spinners_of(m);
  uint32_t n = spinners.load(relaxed);
  do {
    if (n >= cfg().max_spinners) return false;
  } while (!spinners.compare_exchange_weak(n, n + 1, relaxed, relaxed));
  return true;
}

void release_spinner_slot(const onspin_mutex_t *m) { spinners_of(m).fetch_sub(1, relaxed); }

// Clock readings of one contended acquisition, taken where the spin reads the
// clock anyway: a vDSO clock_gettime costs about 20 ns, as much as a short
// critical section, so the slow path reads it as rarely as it can.
struct wait_clock {
  uint64_t start = 0; // first reading: when the wait began
  uint64_t last = 0;  // latest reading
};

// What one look at the lock word found, from a spinner's point of view.
enum class look { taken, not_recoverable, reserved, owner_off, go_on };

// `ask`: the oracle to ask about the owner, or none.
look look_once(onspin_mutex_t *m, const oracle &o, uint32_t key, bool sleeper, oracle_kind ask,
               int *result) {
  uint32_t w = word(m).load(relaxed);
  while (free_for(w, sleeper))
    if (try_take(m, w, key, sleeper, result)) return look::taken;
  uint32_t owner = owner_of(w);
  if (owner == kNotRecoverable) return look::not_recoverable;
  if (owner == kHandoff) return look::reserved; // handed to a sleeper: join them
  if (owner_on_cpu(o, ask, owner) == owner_state::off) return look::owner_off;
  return look::go_on;
}

// Turns of the probe that precedes a counted spin: about 0.2 us with PAUSE
// at ~25 ns, well under a futex wake-up.
constexpr int kProbeTurns = 8;

// Spins while spinning can pay off: while the oracle says the owner runs (it
// is about to release the lock) and the spin budget lasts (the oracle is a
// hint; a missed switch must not make a waiter spin forever). Returns true
// when the wait is over: the lock is taken, or can never be (*result says
// which); false when the caller should sleep.
//
// A short probe comes first, with no clock reading and no spinner slot: most
// waits on short critical sections end within it, and then the slow path
// costs what a test-and-test-and-set lock pays. Only a longer spin claims
// one of the per-lock spinner slots and runs against the clock.
bool spin_for_lock(onspin_mutex_t *m, const oracle &o, oracle_kind policy, uint32_t key,
                   bool sleeper, oracle_kind ask, int *result, wait_clock &clock) {
  if (policy == oracle_kind::none) {
    count(stat::spin_skip_oracle);
    return false;
  }
  look seen = look::go_on;
  for (int turn = 0; turn < kProbeTurns && seen == look::go_on; ++turn) {
    seen = look_once(m, o, key, sleeper, ask, result);
    if (seen == look::go_on) cpu_relax();
  }
  // With futex2_spin the kernel does the rest of the spinning, in the sleep.
  if (seen == look::go_on && policy != oracle_kind::futex2_spin) {
    if (!claim_spinner_slot(m)) {
      count(stat::spin_skip_limit);
      return false;
    }
    const uint32_t cap = cfg().spin_cap_ns;
    // An owner-aware oracle stops the spin when the owner is switched out;
    // the cap only bounds a wrong answer.
    const uint32_t limit = policy == oracle_kind::budget ? budget::limit_ns(m, cap) : cap;
    const uint64_t start = now_ns();
    if (clock.start == 0) clock.start = start;
    for (unsigned turn = 1; (seen = look_once(m, o, key, sleeper, ask, result)) == look::go_on;
         ++turn) {
      // The clock every 8 turns: the limit is microseconds, a turn ~25 ns.
      if (turn % 8 == 0 && now_ns() - start >= limit) {
        count(stat::spin_stop_budget);
        // With bpf the owner read ON all along: a long critical section, or
        // a stale map (removed while we run).
        if (policy == oracle_kind::bpf) oracle_spin_ran_out();
        break;
      }
      cpu_relax();
    }
    release_spinner_slot(m);
    clock.last = now_ns();
    count(stat::spin_ns, clock.last - start);
  }
  switch (seen) {
  case look::taken:
    count(stat::spin_acquired);
    return true;
  case look::not_recoverable:
    *result = ENOTRECOVERABLE;
    return true;
  case look::owner_off:
    count(stat::spin_stop_owner_off);
    return false;
  case look::reserved:
  case look::go_on:
    return false;
  }
  return false;
}

bool deadline_passed(deadline when) {
  if (when.abstime == nullptr) return false;
  timespec now;
  clock_gettime(when.clock, &now);
  return now.tv_sec > when.abstime->tv_sec ||
         (now.tv_sec == when.abstime->tv_sec && now.tv_nsec >= when.abstime->tv_nsec);
}

// One last look before reporting a timeout: a wake-up may have raced it.
bool take_if_free(onspin_mutex_t *m, uint32_t key, bool sleeper, int *result) {
  uint32_t w = word(m).load(relaxed);
  while (free_for(w, sleeper))
    if (try_take(m, w, key, sleeper, result)) return true;
  return false;
}

// A sleeper that leaves without the lock (its deadline passed) may have
// consumed the wake-up an unlock meant for all sleepers: that unlock cleared
// WAITERS, trusting the woken thread to take the lock or to set WAITERS again
// before sleeping. Pass the wake-up on: mark a held lock as having sleepers,
// or wake one sleeper for a free lock. (Found by
// MutexStress.TimedWaitersGivingUpNeverStrandSleepers: without this, sleepers
// stay asleep on a free word.)
void pass_on_wakeup(onspin_mutex_t *m, bool shared) {
  uint32_t w = word(m).load(relaxed);
  for (;;) {
    const uint32_t owner = owner_of(w);
    if (owner == 0 || owner == kHandoff) {
      futex_wake(&m->word, 1, shared);
      return;
    }
    if (owner == kNotRecoverable || (w & kWaiters)) return;
    if (word(m).compare_exchange_weak(w, w | kWaiters, relaxed, relaxed)) return;
  }
}

bool handoff_due(onspin_mutex_t *m) {
  std::atomic_ref<uint32_t> fair_at(m->fair_at);
  const uint32_t now_us = static_cast<uint32_t>(now_ns() / 1000);
  const uint32_t due = fair_at.load(relaxed);
  if (due != 0 && static_cast<int32_t>(now_us - due) < 0) return false;
  fair_at.store((now_us + kFairnessPeriodUs) | 1, relaxed); // 0 means "not yet set"
  return due != 0;
}

} // namespace

int lock_slow(onspin_mutex_t *m, uint32_t key, deadline when, bool sleeper) noexcept {
  count(stat::contended);
  const uint32_t kind = kind_of(m);
  const bool robust = kind & kKindRobust;
  if (is_self(owner_of(word(m).load(relaxed)), robust)) return EDEADLK;
  const oracle &o = current_oracle();
  const bool shared = futex_is_shared(kind);
  // The lock's own policy may be simpler than the process's oracle.
  oracle_kind policy = o.kind.load(relaxed);
  const uint32_t spin = (kind & kKindSpinMask) >> kKindSpinShift;
  if (spin == ONSPIN_SPIN_NEVER)
    policy = oracle_kind::none;
  else if (spin == ONSPIN_SPIN_BUDGET && policy != oracle_kind::none)
    policy = oracle_kind::budget;
  // The rseq oracle knows this process's threads only: a process-shared
  // lock's owner may be elsewhere (the seed's limit). Such locks ask the bpf
  // oracle where it can be had, else they use budget.
  if (policy == oracle_kind::rseq && shared) policy = shared_lock_policy();
  // Robust locks hold namespace TIDs; when the bpf oracle's keys are root
  // TIDs (a child PID namespace) it cannot answer for their owners.
  const oracle_kind ask =
      (policy == oracle_kind::bpf && !(robust && o.root_keys)) || policy == oracle_kind::rseq
          ? policy
          : oracle_kind::none;
  wait_clock clock;
  // Budget learning: how long this acquisition waited in all. After a spin
  // that took the lock, the spin's closing clock reading says it. A wait that
  // ended within the probe read no clock and teaches nothing.
  const auto done = [&](int result, bool slept) {
    if (policy == oracle_kind::budget && clock.start != 0)
      budget::learn(m, (slept ? now_ns() : clock.last) - clock.start, cfg().spin_cap_ns);
    return result;
  };
  int result = 0;
  const auto give_up = [&] {
    if (sleeper) pass_on_wakeup(m, shared);
    count(stat::timeouts);
    return ETIMEDOUT;
  };
  for (;;) {
    if (deadline_passed(when)) {
      if (take_if_free(m, key, sleeper, &result)) return done(result, true);
      return give_up();
    }
    if (spin_for_lock(m, o, policy, key, sleeper, ask, &result, clock)) return done(result, false);

    // Sleep: announce ourselves with WAITERS, then wait while the word still
    // holds the value we saw, so an unlock in between cannot be missed.
    uint32_t w = word(m).load(relaxed);
    for (;;) {
      if (free_for(w, sleeper)) {
        if (try_take(m, w, key, sleeper, &result)) return done(result, true);
        continue;
      }
      if (owner_of(w) == kNotRecoverable) return ENOTRECOVERABLE;
      if (!(w & kWaiters)) {
        if (!word(m).compare_exchange_weak(w, w | kWaiters, relaxed, relaxed)) continue;
        w |= kWaiters;
      }
      // futex2_spin: the kernel spins while the owner runs, then sleeps. A
      // hand-off marker names no owner to spin on.
      const int r = policy == oracle_kind::futex2_spin && owner_of(w) != kHandoff
                        ? futex2_wait_spin(&m->word, w, when.abstime, when.clock, shared)
                        : futex_wait(&m->word, w, when.abstime, when.clock, shared);
      sleeper = true;
      if (r == ETIMEDOUT) {
        if (take_if_free(m, key, sleeper, &result)) return done(result, true);
        return give_up();
      }
      break; // woken, or the word changed: the new owner may be running
    }
  }
}

int unlock_slow(onspin_mutex_t *m) noexcept {
  const uint32_t kind = kind_of(m);
  const bool shared = futex_is_shared(kind);
  uint32_t w = word(m).load(relaxed);
  for (;;) {
    if (!is_self(owner_of(w), kind & kKindRobust)) return EPERM;
    if (kind & kKindInconsistent) {
      // A robust lock released without onspin_mutex_consistent(): it is
      // unusable from now on, and every waiter must hear so.
      word(m).store(kNotRecoverable, release);
      futex_wake(&m->word, INT_MAX, shared);
      return 0;
    }
    if (!(w & kWaiters)) {
      if (word(m).compare_exchange_weak(w, 0, release, relaxed)) return 0;
      continue;
    }
    // Robust locks skip the hand-off: a sleeper killed between being woken
    // and taking the lock would leave it handed to nobody.
    if (!(kind & kKindRobust) && handoff_due(m)) {
      if (!word(m).compare_exchange_weak(w, kHandoff | kWaiters, release, relaxed)) continue;
      if (futex_wake(&m->word, 1, shared) == 1) {
        count(stat::handoffs);
        return 0;
      }
      // Nobody was asleep after all (a sleeper timed out): release normally,
      // and wake whoever fell asleep on the hand-off value in the meantime.
      uint32_t handed = kHandoff | kWaiters;
      if (word(m).compare_exchange_strong(handed, 0, release, relaxed))
        futex_wake(&m->word, 1, shared);
      return 0;
    }
    word(m).exchange(0, release);
    futex_wake(&m->word, 1, shared);
    return 0;
  }
}

} // namespace onspin::detail
