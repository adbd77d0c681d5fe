// Process-shared locks survive a waiter that dies after an unlock woke it:
// the lock is never left reserved for the dead, and the other sleepers are
// not left asleep on a free lock. Private locks never stay reserved for a
// sleeper that is gone.
#include <atomic>
#include <cerrno>
#include <gtest/gtest.h>
#include <linux/futex.h>
#include <onspin/onspin.h>
#include <signal.h>
#include <sys/syscall.h>
#include <thread>
#include <unistd.h>

#include "lock/lock_word.hpp"
#include "platform/clock.hpp"
#include "support/test_support.hpp"

using namespace onspin::test;
namespace d = onspin::detail;

namespace {

struct shared_state {
  onspin_mutex_t lock;
  std::atomic<int> woken{0};
};

void init_shared(onspin_mutex_t *m) {
  onspin_mutexattr_t a;
  onspin_mutexattr_init(&a);
  onspin_mutexattr_setpshared(&a, ONSPIN_PROCESS_SHARED);
  onspin_mutexattr_setspin(&a, ONSPIN_SPIN_NEVER);
  ASSERT_EQ(onspin_mutex_init(m, &a), 0);
}

// A process that sleeps on the lock word as a waiter does and, once woken,
// stands still until it is killed: a waiter that dies between its wake-up
// and taking the lock.
pid_t doomed_waiter(shared_state *s) {
  return fork_child([s] {
    const uint32_t w = __atomic_load_n(&s->lock.word, __ATOMIC_SEQ_CST);
    syscall(SYS_futex, &s->lock.word, FUTEX_WAIT, w, nullptr, nullptr, 0);
    s->woken.store(1);
    pause();
    return 0;
  });
}

// Until pid sleeps in a system call (state S in /proc).
void until_asleep(pid_t pid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  for (int i = 0; i < 5000; ++i) {
    FILE *f = fopen(path, "r");
    char state = 0;
    if (f != nullptr) {
      fscanf(f, "%*d %*s %c", &state);
      fclose(f);
    }
    if (state == 'S') return;
    usleep(1000);
  }
}

void kill_and_reap(pid_t pid) {
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
}

// A process-shared lock, held by the test, with a doomed waiter asleep on it.
struct held_with_doomed_waiter {
  shared_state *s = shared_object<shared_state>();
  pid_t doomed = -1;

  held_with_doomed_waiter() {
    init_shared(&s->lock);
    EXPECT_EQ(onspin_mutex_lock(&s->lock), 0);
    __atomic_or_fetch(&s->lock.word, d::kWaiters, __ATOMIC_SEQ_CST);
    doomed = doomed_waiter(s);
    until_asleep(doomed);
  }
  ~held_with_doomed_waiter() { free_shared(s); }

  // Unlocks (which wakes the doomed waiter first), then kills it.
  void unlock_and_kill_the_woken() {
    EXPECT_EQ(onspin_mutex_unlock(&s->lock), 0);
    while (s->woken.load() == 0)
      usleep(100);
    kill_and_reap(doomed);
  }
};

} // namespace

// The unlock finds a hand-off due and the only sleeper dies after its
// wake-up. A newcomer must still get the lock.
TEST(SharedWakeup, HandOffToAWaiterThatDiesDoesNotWedgeTheLock) {
  held_with_doomed_waiter h;
  // A fairness period began 5 ms ago: this unlock is due to hand off.
  h.s->lock.fair_at = (static_cast<uint32_t>(d::now_ns() / 1000) - 5000) | 1;
  h.unlock_and_kill_the_woken();
  shared_state *s = h.s;
  pid_t newcomer = fork_child([s] { return onspin_mutex_lock(&s->lock); });
  EXPECT_EQ(wait_child(newcomer, 3), 0) << "the lock stayed handed to the dead waiter";
}

// The unlock wakes the first sleeper, which dies before taking the lock; a
// second sleeper must not sleep on for ever on the free lock.
TEST(SharedWakeup, SleeperBehindAWokenWaiterThatDiesGetsTheLock) {
  held_with_doomed_waiter h;
  shared_state *s = h.s;
  pid_t second = fork_child([s] {
    if (onspin_mutex_lock(&s->lock) != 0) return 1;
    return onspin_mutex_unlock(&s->lock) == 0 ? 0 : 2;
  });
  until_asleep(second);
  usleep(20000);
  h.unlock_and_kill_the_woken(); // FIFO: the doomed one is woken
  EXPECT_EQ(wait_child(second, 3), 0) << "the second sleeper slept on a free lock";
}

// A private lock reserved for sleepers when none is left to take it (its
// woken sleeper's deadline passed before it saw the hand-off): a newcomer
// gets it after a short nap, not never.
TEST(SharedWakeup, PrivateLockHandedToNobodyIsTakenByTheNextWaiter) {
  onspin_mutex_t m = ONSPIN_MUTEX_INITIALIZER;
  m.word = d::kHandoff | d::kWaiters;
  pid_t newcomer = fork_child([&m] {
    if (onspin_mutex_lock(&m) != 0) return 1;
    return onspin_mutex_unlock(&m) == 0 ? 0 : 2;
  });
  EXPECT_EQ(wait_child(newcomer, 3), 0) << "a lock handed to nobody stayed reserved";
}

// The same lapse serves the calls that never sleep: trylock, and a timed
// lock whose deadline has passed, get a lock handed to nobody once the
// reservation is older than its grace; destroy sees a lock held by nobody.
TEST(SharedWakeup, LapsedHandOffIsFreeForTrylockAndDestroy) {
  onspin_mutex_t m = ONSPIN_MUTEX_INITIALIZER;
  const auto now_us = [] { return static_cast<uint32_t>(d::now_ns() / 1000); };
  m.word = d::kHandoff | d::kWaiters;
  // Just handed off: reserved for the sleepers (many times, so that the
  // clock reading lands on both sides of a microsecond boundary).
  for (int i = 0; i < 200; ++i) {
    m.fair_at = now_us() | 1;
    ASSERT_EQ(onspin_mutex_trylock(&m), EBUSY) << "attempt " << i;
  }
  EXPECT_EQ(onspin_mutex_destroy(&m), 0);
  m.fair_at = (now_us() - 2 * d::kHandoffGraceUs) | 1;
  EXPECT_EQ(onspin_mutex_trylock(&m), 0);
  EXPECT_EQ(onspin_mutex_unlock(&m), 0);
  m.word = d::kHandoff | d::kWaiters;
  m.fair_at = (now_us() - 2 * d::kHandoffGraceUs) | 1;
  timespec past = in_ms(-1);
  EXPECT_EQ(onspin_mutex_timedlock(&m, CLOCK_MONOTONIC, &past), 0);
  EXPECT_EQ(onspin_mutex_unlock(&m), 0);
}

// A sleep on a process-shared lock is cut into naps (see above); a caller's
// deadline on CLOCK_REALTIME must still end it on time, not at the nap's end.
TEST(SharedWakeup, RealtimeDeadlineOnASharedLockIsNotStretchedByTheNap) {
  auto *s = shared_object<shared_state>();
  ASSERT_NE(s, nullptr);
  init_shared(&s->lock);
  ASSERT_EQ(onspin_mutex_lock(&s->lock), 0);
  std::thread waiter([&] {
    for (clockid_t clock : {CLOCK_REALTIME, CLOCK_MONOTONIC}) {
      const uint64_t start = d::now_ns();
      timespec limit = in_ms(5, clock);
      EXPECT_EQ(onspin_mutex_timedlock(&s->lock, clock, &limit), ETIMEDOUT);
      // The nap is 50 ms; a deadline 5 ms away must end the wait well before.
      EXPECT_LT(d::now_ns() - start, 40000000u) << (clock == CLOCK_REALTIME ? "REALTIME" : "MONO");
    }
  });
  waiter.join();
  ASSERT_EQ(onspin_mutex_unlock(&s->lock), 0);
  free_shared(s);
}
