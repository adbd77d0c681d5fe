// The mutex slow paths: spin while the oracle says spinning pays, else sleep
// on the futex; release with a wake-up, or with a hand-off when fairness is
// due. The fast paths (one CAS each) are in mutex.cpp.
#include <cerrno>
#include <climits>
#include <sched.h>

#include "config/config.hpp"
#include "lock/lock_word.hpp"
#include "oracle/spin_plan.hpp"
#include "platform/clock.hpp"
#include "platform/futex.hpp"
#include "platform/thread_self.hpp"
#include "slice/slice_ext.hpp"
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

// What one contended acquisition has done so far. The clock readings are
// taken where the spin reads the clock anyway: a vDSO clock_gettime costs
// about 20 ns, as much as a short critical section, so the slow path reads
// it as rarely as it can.
struct wait_state {
  uint64_t start = 0;     // first reading: when the wait began
  uint64_t last = 0;      // latest reading
  uint32_t yields = 0;    // CPUs given to a preempted owner (plan.max_yields in all)
  bool went_long = false; // a counted spin went past plan.limit_ns (once per acquisition)
};

// What one look at the lock word found, from a spinner's point of view.
enum class look { taken, not_recoverable, reserved, owner_off, owner_preempted, go_on };

look look_once(onspin_mutex_t *m, const spin_plan &plan, uint32_t key, bool sleeper, int *result) {
  uint32_t w = word(m).load(relaxed);
  while (free_for(m, w, sleeper))
    if (try_take(m, w, key, sleeper, result)) return look::taken;
  uint32_t owner = owner_of(w);
  if (owner == kNotRecoverable) return look::not_recoverable;
  if (owner == kHandoff) return look::reserved; // handed to a sleeper: join them
  switch (plan.about(owner)) {
  case verdict::sleep:
    return look::owner_off;
  case verdict::yield:
    return look::owner_preempted;
  case verdict::spin:
    break;
  }
  return look::go_on;
}

// Turns of the probe that precedes a counted spin: about 0.2 us with PAUSE
// at ~25 ns, well under a futex wake-up.
constexpr int kProbeTurns = 8;

look probe(onspin_mutex_t *m, const spin_plan &plan, uint32_t key, bool sleeper, int *result) {
  look seen = look::go_on;
  for (int turn = 0; turn < kProbeTurns && seen == look::go_on; ++turn) {
    seen = look_once(m, plan, key, sleeper, result);
    if (seen == look::go_on) cpu_relax();
  }
  return seen;
}

// Whether a is earlier than b. Compared field by field: a far deadline
// (tv_sec up to the largest time_t) overflows in nanoseconds.
bool earlier(const timespec &a, const timespec &b) {
  return a.tv_sec < b.tv_sec || (a.tv_sec == b.tv_sec && a.tv_nsec < b.tv_nsec);
}

bool deadline_passed(deadline when) {
  if (when.abstime == nullptr) return false;
  timespec now;
  clock_gettime(when.clock, &now);
  return !earlier(now, *when.abstime);
}

// A counted spin: looks until something changes or the plan's time limit
// passes (then it answers go_on). Needs one of the lock's spinner slots. A
// spin past limit_ns (nobody else wanted the CPU) also ends at the caller's
// deadline.
look counted_spin(onspin_mutex_t *m, const spin_plan &plan, uint32_t key, bool sleeper, int *result,
                  wait_state &clock, deadline when) {
  const uint64_t start = now_ns();
  if (clock.start == 0) clock.start = start;
  look seen;
  bool alone = false; // this spin went past limit_ns: nobody else wanted the CPU
  for (unsigned turn = 1; (seen = look_once(m, plan, key, sleeper, result)) == look::go_on;
       ++turn) {
    // The clock every 8 turns: the limit is microseconds, a turn ~25 ns.
    if (turn % 8 == 0) {
      const uint64_t spent = now_ns() - start;
      if (spent < plan.limit_ns) {
        cpu_relax();
        continue;
      }
      // One long spin per acquisition: yields start new counted spins.
      if ((alone || !clock.went_long) &&
          plan.may_spin_on(spent, key, owner_of(word(m).load(relaxed))) && !deadline_passed(when)) {
        if (!alone) count(stat::spin_alone);
        alone = clock.went_long = true;
        cpu_relax();
        continue;
      }
      count(stat::spin_stop_budget);
      // With bpf the owner read ON all along: a long critical section, or
      // a stale map (removed while we run).
      if (plan.check_stale) oracle_spin_ran_out();
      break;
    }
    cpu_relax();
  }
  clock.last = now_ns();
  count(stat::spin_ns, clock.last - start);
  return seen;
}

// Spins while spinning can pay off: while the plan's oracle says the owner
// runs (it is about to release the lock) and the plan's time limit lasts
// (the oracle is a hint; a missed switch must not make a waiter spin
// forever). While the owner waits for a CPU, the plan may say to yield it
// one, a bounded number of times per acquisition, and never past the
// caller's deadline. Returns true when the wait is over: the
// lock is taken, or can never be (*result says which); false when the
// caller should sleep.
//
// A short probe comes first, with no clock reading and no spinner slot: most
// waits on short critical sections end within it, and then the slow path
// costs what a test-and-test-and-set lock pays. Only a longer spin claims
// one of the per-lock spinner slots and runs against the clock. A yielding
// waiter needs no slot: it gives its CPU away rather than taking one.
bool spin_for_lock(onspin_mutex_t *m, const spin_plan &plan, uint32_t key, bool sleeper,
                   int *result, wait_state &clock, deadline when) {
  if (!plan.probe) {
    count(stat::spin_skip_oracle);
    return false;
  }
  look seen = probe(m, plan, key, sleeper, result);
  // One counted spin per look at a running owner: its limit bounds the
  // spinning, and the yields bound how often an owner can start running again.
  bool spun = false;
  for (;;) {
    if (seen == look::owner_preempted && clock.yields < plan.max_yields && !deadline_passed(when)) {
      ++clock.yields;
      count(stat::yields);
      const uint64_t before = now_ns();
      sched_yield();
      note_yield(now_ns() - before);
      seen = look_once(m, plan, key, sleeper, result);
      spun = false;
      continue;
    }
    if (seen != look::go_on || plan.limit_ns == 0 || spun) break;
    if (!claim_spinner_slot(m)) {
      count(stat::spin_skip_limit);
      return false;
    }
    seen = counted_spin(m, plan, key, sleeper, result, clock, when);
    release_spinner_slot(m);
    spun = true;
  }
  switch (seen) {
  case look::taken:
    count(stat::spin_acquired);
    return true;
  case look::not_recoverable:
    *result = ENOTRECOVERABLE;
    return true;
  case look::owner_off:
  case look::owner_preempted:
    count(stat::spin_stop_owner_off);
    return false;
  case look::reserved:
  case look::go_on:
    return false;
  }
  return false;
}

// One last look before reporting a timeout: a wake-up may have raced it.
bool take_if_free(onspin_mutex_t *m, uint32_t key, bool sleeper, int *result) {
  uint32_t w = word(m).load(relaxed);
  while (free_for(m, w, sleeper))
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

// Whether this unlock should hand the lock to a sleeper. fair_at holds when
// the current fairness period began (microseconds, wrapping; 0: never).
// Differences are taken modulo 2^32, so after any idle time, however long, a
// hand-off is due again within one period.
bool handoff_due(onspin_mutex_t *m) {
  std::atomic_ref<uint32_t> fair_at(m->fair_at);
  const uint32_t now_us = fair_clock_us();
  const uint32_t began = fair_at.load(relaxed);
  if (began != 0 && now_us - began < kFairnessPeriodUs) return false;
  fair_at.store(now_us, relaxed);
  return began != 0;
}

// Bounds on one sleep, for the cases where the wake-up that should end it
// may never come:
//  - the word is handed to the sleepers, and the sleeper the hand-off woke
//    left (its deadline passed) before it saw the marker: without a bound,
//    nobody would take the lock;
//  - a process-shared lock: the wake-up an unlock sent may have gone to a
//    process that died before taking the lock, and the others would sleep on
//    until the next contended unlock.
constexpr uint64_t kHandoffNapNs = kHandoffGraceUs * 1000ull;
constexpr uint64_t kSharedNapNs = 50000000; // 50 ms

// Sleeps while the word holds w (the futex compares first, so an unlock in
// between is never missed), at most until the caller's deadline and the nap
// bound. Returns futex_wait's result.
int sleep_on(onspin_mutex_t *m, uint32_t w, deadline when, const spin_plan &plan, bool shared,
             bool process_shared) {
  const uint64_t nap =
      owner_of(w) == kHandoff ? kHandoffNapNs : (process_shared ? kSharedNapNs : 0);
  const timespec *until = when.abstime;
  clockid_t clock = when.abstime ? when.clock : CLOCK_MONOTONIC;
  timespec nap_end;
  if (nap != 0) {
    // On the caller's clock, so that the earlier of the two ends the sleep.
    nap_end = time_in(clock, nap);
    if (until == nullptr || earlier(nap_end, *until)) until = &nap_end;
  }
  // With futex2_spin the kernel spins while the owner runs, then sleeps. A
  // hand-off marker names no owner to spin on.
  if (plan.kernel_spins && owner_of(w) != kHandoff)
    return futex2_wait_spin(&m->word, w, until, clock, shared);
  return futex_wait(&m->word, w, until, clock, shared);
}

} // namespace

int lock_slow(onspin_mutex_t *m, uint32_t key, deadline when) noexcept {
  const uint32_t kind = kind_of(m);
  const bool robust = kind & kKindRobust;
  const bool process_shared = kind & kKindShared;
  if (caller_owns(m, owner_of(word(m).load(relaxed)))) {
    if (is_recursive(kind)) return relock(m);
    if (relock_reported(kind)) return EDEADLK;
    // Otherwise POSIX's NORMAL type: the owner waits for itself, as in glibc.
  }
  count(stat::contended);
  const bool shared = futex_is_shared(kind);
  const spin_plan plan = plan_spin(m, state_of(m) & kStateSpinMask, shared, robust);
  wait_state clock;
  // Set once this call has slept on the word: it then takes the lock with
  // WAITERS set, because others may still sleep, and may accept a hand-off.
  bool sleeper = false;
  // Learning: how long this acquisition waited in all, from the first clock
  // reading (when a counted spin began). A spin that took the lock without
  // a sleep before it ends with a reading of its own; any other end is read
  // now, so that a wait which included a sleep counts in full. A wait that
  // ended within the probe read no clock and teaches nothing.
  const auto done = [&](int result, bool by_spin) {
    if (plan.learn && clock.start != 0)
      learn_from_wait(m, plan, (by_spin && !sleeper ? clock.last : now_ns()) - clock.start);
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
      if (take_if_free(m, key, sleeper, &result)) return done(result, false);
      return give_up();
    }
    if (spin_for_lock(m, plan, key, sleeper, &result, clock, when)) return done(result, true);
    // A spin that ran into the deadline: a futex wait would only add a
    // system call, and the timer slack (50 us by default) to the overrun.
    if (deadline_passed(when)) continue;

    // Sleep: announce ourselves with WAITERS, then wait while the word still
    // holds the value we saw, so an unlock in between cannot be missed.
    uint32_t w = word(m).load(relaxed);
    for (;;) {
      if (free_for(m, w, sleeper)) {
        if (try_take(m, w, key, sleeper, &result)) return done(result, false);
        continue;
      }
      if (owner_of(w) == kNotRecoverable) return ENOTRECOVERABLE;
      if (!(w & kWaiters)) {
        if (!word(m).compare_exchange_weak(w, w | kWaiters, relaxed, relaxed)) continue;
        w |= kWaiters;
      }
      const int r = sleep_on(m, w, when, plan, shared, process_shared);
      sleeper = true;
      // A nap that ended is not the caller's timeout.
      if (r == ETIMEDOUT && deadline_passed(when)) {
        if (take_if_free(m, key, sleeper, &result)) return done(result, false);
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
  if (!caller_owns(m, owner_of(w))) {
    if (foreign_unlock_reported(kind)) return EPERM;
    // A normal mutex that does not report misuse is released by whoever
    // unlocks it, as glibc's is; one that nobody holds stays as it is.
    const uint32_t owner = owner_of(w);
    if (owner == 0 || owner == kHandoff || owner == kNotRecoverable) return 0;
  }
  if (is_recursive(kind) && unnest(m)) return 0;
  if (state_of(m) & kStateInconsistent) {
    // A robust lock released without onspin_mutex_consistent(): it is
    // unusable from now on, and every waiter must hear so.
    word(m).store(kNotRecoverable, release);
    futex_wake(&m->word, INT_MAX, shared);
    return 0;
  }
  // While we own the lock only WAITERS can change in the word.
  while (!(w & kWaiters))
    if (word(m).compare_exchange_weak(w, 0, release, relaxed)) return 0;
  // Only private locks hand off: any process may die at any instruction, and
  // a process-shared lock handed to a sleeper that died before taking it
  // would stay reserved for nobody. The sleeper is woken while the lock is
  // still ours, and the lock is handed over only if one woke: a marker set
  // first, with nobody to take it, could not be taken back without touching
  // a lock that someone may have taken and freed in the meantime.
  // Nor under a time slice extension: the wake-up's system call would hand
  // our CPU away on entry, with the lock still reserved.
  if (!(kind & kKindShared) && !slice::granted() && handoff_due(m) &&
      futex_wake(&m->word, 1, shared) == 1) {
    // The reservation's grace runs from now (we may have been preempted
    // since handoff_due read the clock).
    std::atomic_ref<uint32_t>(m->fair_at).store(fair_clock_us(), relaxed);
    word(m).store(kHandoff | kWaiters, release);
    // The woken sleeper may have gone back to sleep on the old value before
    // it saw the marker.
    futex_wake(&m->word, 1, shared);
    count(stat::handoffs);
    return 0;
  }
  word(m).exchange(0, release);
  futex_wake(&m->word, 1, shared);
  return 0;
}

} // namespace onspin::detail
