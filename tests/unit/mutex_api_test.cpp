// The mutex C API: every call and every error path.
#include <atomic>
#include <cerrno>
#include <cstring>
#include <gtest/gtest.h>
#include <limits>
#include <onspin/onspin.h>

#include "platform/futex.hpp"
#include "support/test_support.hpp"

using namespace onspin::test;

TEST(MutexAttr, DefaultsAndSetters) {
  onspin_mutexattr_t a;
  ASSERT_EQ(onspin_mutexattr_init(&a), 0);
  int v = -1;
  EXPECT_EQ(onspin_mutexattr_getpshared(&a, &v), 0);
  EXPECT_EQ(v, ONSPIN_PROCESS_PRIVATE);
  EXPECT_EQ(onspin_mutexattr_getrobust(&a, &v), 0);
  EXPECT_EQ(v, ONSPIN_MUTEX_STALLED);
  EXPECT_EQ(onspin_mutexattr_gettype(&a, &v), 0);
  EXPECT_EQ(v, ONSPIN_MUTEX_NORMAL);

  EXPECT_EQ(onspin_mutexattr_setpshared(&a, ONSPIN_PROCESS_SHARED), 0);
  EXPECT_EQ(onspin_mutexattr_setrobust(&a, ONSPIN_MUTEX_ROBUST), 0);
  EXPECT_EQ(onspin_mutexattr_settype(&a, ONSPIN_MUTEX_ERRORCHECK), 0);
  EXPECT_EQ(onspin_mutexattr_getpshared(&a, &v), 0);
  EXPECT_EQ(v, ONSPIN_PROCESS_SHARED);
  EXPECT_EQ(onspin_mutexattr_getrobust(&a, &v), 0);
  EXPECT_EQ(v, ONSPIN_MUTEX_ROBUST);
  EXPECT_EQ(onspin_mutexattr_gettype(&a, &v), 0);
  EXPECT_EQ(v, ONSPIN_MUTEX_ERRORCHECK);
  EXPECT_EQ(onspin_mutexattr_destroy(&a), 0);
}

TEST(MutexAttr, RejectsBadInput) {
  onspin_mutexattr_t a;
  int v;
  EXPECT_EQ(onspin_mutexattr_init(nullptr), EINVAL);
  EXPECT_EQ(onspin_mutexattr_destroy(nullptr), EINVAL);
  ASSERT_EQ(onspin_mutexattr_init(&a), 0);
  EXPECT_EQ(onspin_mutexattr_setpshared(&a, 2), EINVAL);
  EXPECT_EQ(onspin_mutexattr_setrobust(&a, -1), EINVAL);
  EXPECT_EQ(onspin_mutexattr_settype(&a, 7), EINVAL);
  EXPECT_EQ(onspin_mutexattr_setpshared(nullptr, 0), EINVAL);
  EXPECT_EQ(onspin_mutexattr_getpshared(&a, nullptr), EINVAL);
  EXPECT_EQ(onspin_mutexattr_getrobust(nullptr, &v), EINVAL);
  EXPECT_EQ(onspin_mutexattr_gettype(&a, nullptr), EINVAL);
  // A rejected setter changed nothing.
  EXPECT_EQ(onspin_mutexattr_getpshared(&a, &v), 0);
  EXPECT_EQ(v, ONSPIN_PROCESS_PRIVATE);

  onspin_mutexattr_t garbage{0xff00};
  onspin_mutex_t m;
  EXPECT_EQ(onspin_mutex_init(&m, &garbage), EINVAL);
}

TEST(Mutex, NullPointersAreEinval) {
  timespec ts = in_ms(10);
  EXPECT_EQ(onspin_mutex_init(nullptr, nullptr), EINVAL);
  EXPECT_EQ(onspin_mutex_lock(nullptr), EINVAL);
  EXPECT_EQ(onspin_mutex_trylock(nullptr), EINVAL);
  EXPECT_EQ(onspin_mutex_timedlock(nullptr, CLOCK_MONOTONIC, &ts), EINVAL);
  EXPECT_EQ(onspin_mutex_unlock(nullptr), EINVAL);
  EXPECT_EQ(onspin_mutex_consistent(nullptr), EINVAL);
  EXPECT_EQ(onspin_mutex_destroy(nullptr), EINVAL);
}

TEST(Mutex, StaticInitializerAndInitAgree) {
  onspin_mutex_t a = ONSPIN_MUTEX_INITIALIZER, b;
  ASSERT_EQ(onspin_mutex_init(&b, nullptr), 0);
  EXPECT_EQ(0, memcmp(&a, &b, sizeof a));
  EXPECT_EQ(sizeof(onspin_mutex_t), 40u);
}

TEST(Mutex, LockUnlockTrylock) {
  onspin_mutex_t m = ONSPIN_MUTEX_INITIALIZER;
  ASSERT_EQ(onspin_mutex_lock(&m), 0);
  EXPECT_EQ(onspin_mutex_trylock(&m), EBUSY); // held by us: busy, not a relock
  std::thread([&] { EXPECT_EQ(onspin_mutex_trylock(&m), EBUSY); }).join();
  EXPECT_EQ(onspin_mutex_unlock(&m), 0);
  ASSERT_EQ(onspin_mutex_trylock(&m), 0);
  EXPECT_EQ(onspin_mutex_unlock(&m), 0);
  EXPECT_EQ(onspin_mutex_destroy(&m), 0);
}

TEST(Mutex, RelockByOwnerIsEdeadlkInBothTypes) {
  for (int type : {ONSPIN_MUTEX_NORMAL, ONSPIN_MUTEX_ERRORCHECK}) {
    onspin_mutexattr_t a;
    onspin_mutexattr_init(&a);
    onspin_mutexattr_settype(&a, type);
    onspin_mutex_t m;
    ASSERT_EQ(onspin_mutex_init(&m, &a), 0);
    ASSERT_EQ(onspin_mutex_lock(&m), 0);
    EXPECT_EQ(onspin_mutex_lock(&m), EDEADLK);
    timespec ts = in_ms(1000);
    EXPECT_EQ(onspin_mutex_timedlock(&m, CLOCK_MONOTONIC, &ts), EDEADLK);
    EXPECT_EQ(onspin_mutex_unlock(&m), 0);
    EXPECT_EQ(onspin_mutex_unlock(&m), EPERM) << "second unlock";
  }
}

TEST(Mutex, UnlockByNonOwnerIsEpermAndChangesNothing) {
  onspin_mutex_t m = ONSPIN_MUTEX_INITIALIZER;
  EXPECT_EQ(onspin_mutex_unlock(&m), EPERM) << "unlocked mutex";
  ASSERT_EQ(onspin_mutex_lock(&m), 0);
  std::thread([&] { EXPECT_EQ(onspin_mutex_unlock(&m), EPERM); }).join();
  // Still ours: another thread cannot take it.
  std::thread([&] { EXPECT_EQ(onspin_mutex_trylock(&m), EBUSY); }).join();
  EXPECT_EQ(onspin_mutex_unlock(&m), 0);
}

TEST(Mutex, DestroyLockedIsEbusyAndLeavesItUsable) {
  onspin_mutex_t m = ONSPIN_MUTEX_INITIALIZER;
  ASSERT_EQ(onspin_mutex_lock(&m), 0);
  EXPECT_EQ(onspin_mutex_destroy(&m), EBUSY);
  EXPECT_EQ(onspin_mutex_unlock(&m), 0);
  EXPECT_EQ(onspin_mutex_destroy(&m), 0);
}

TEST(Mutex, TimedlockRejectsBadDeadlines) {
  onspin_mutex_t m = ONSPIN_MUTEX_INITIALIZER;
  timespec ok = in_ms(100);
  timespec neg_ns = ok, big_ns = ok, neg_both{-1, -1};
  neg_ns.tv_nsec = -1;
  big_ns.tv_nsec = 1000000000;
  EXPECT_EQ(onspin_mutex_timedlock(&m, CLOCK_MONOTONIC, nullptr), EINVAL);
  EXPECT_EQ(onspin_mutex_timedlock(&m, CLOCK_MONOTONIC, &neg_ns), EINVAL);
  EXPECT_EQ(onspin_mutex_timedlock(&m, CLOCK_MONOTONIC, &big_ns), EINVAL);
  EXPECT_EQ(onspin_mutex_timedlock(&m, CLOCK_MONOTONIC, &neg_both), EINVAL);
  EXPECT_EQ(onspin_mutex_timedlock(&m, CLOCK_PROCESS_CPUTIME_ID, &ok), EINVAL);
  // None of them took or damaged the lock.
  EXPECT_EQ(onspin_mutex_trylock(&m), 0);
  EXPECT_EQ(onspin_mutex_unlock(&m), 0);
}

TEST(Mutex, TimedlockTakesAFreeLockAndTimesOutOnAHeldOne) {
  for (clockid_t clock : {CLOCK_MONOTONIC, CLOCK_REALTIME}) {
    onspin_mutex_t m = ONSPIN_MUTEX_INITIALIZER;
    timespec soon = in_ms(1000, clock);
    ASSERT_EQ(onspin_mutex_timedlock(&m, clock, &soon), 0);
    std::thread([&] {
      timespec deadline = in_ms(50, clock);
      EXPECT_EQ(onspin_mutex_timedlock(&m, clock, &deadline), ETIMEDOUT);
      EXPECT_TRUE(reached(deadline, clock)) << "returned before its deadline";
      timespec past = in_ms(-10, clock);
      EXPECT_EQ(onspin_mutex_timedlock(&m, clock, &past), ETIMEDOUT);
    }).join();
    EXPECT_EQ(onspin_mutex_unlock(&m), 0);
  }
}

// A negative tv_sec is a time long past, as in glibc: it matters only to a
// call that has to wait, and then it is a timeout, not an invalid argument.
TEST(Mutex, TimedlockBeforeTheEpochTakesAFreeLockAndTimesOutOnAHeldOne) {
  for (clockid_t clock : {CLOCK_MONOTONIC, CLOCK_REALTIME}) {
    for (timespec past : {timespec{-1, 0}, timespec{-1, 999999999},
                          timespec{std::numeric_limits<time_t>::min(), 0}}) {
      onspin_mutex_t m = ONSPIN_MUTEX_INITIALIZER;
      ASSERT_EQ(onspin_mutex_timedlock(&m, clock, &past), 0) << clock << " " << past.tv_sec;
      std::thread([&] {
        EXPECT_EQ(onspin_mutex_timedlock(&m, clock, &past), ETIMEDOUT)
            << clock << " " << past.tv_sec;
      }).join();
      EXPECT_EQ(onspin_mutex_unlock(&m), 0);
    }
  }
}

// The kernel rejects a negative tv_sec; the futex layer must report the
// timeout itself, and without sleeping, on both of its wait calls.
TEST(Futex, WaitWithADeadlineBeforeTheEpochTimesOutWithoutASystemCall) {
  using namespace onspin::detail;
  uint32_t word = 7; // matches: a valid deadline would sleep
  const timespec past{-1, 0};
  for (clockid_t clock : {CLOCK_MONOTONIC, CLOCK_REALTIME}) {
    for (bool shared : {false, true}) {
      const uint64_t waits = stats().futex_waits;
      EXPECT_EQ(futex_wait(&word, 7, &past, clock, shared), ETIMEDOUT);
      EXPECT_EQ(futex2_wait_spin(&word, 7, &past, clock, shared), ETIMEDOUT);
      EXPECT_EQ(stats().futex_waits, waits) << "entered the kernel";
    }
  }
}

TEST(Support, PastDeadlinesAreNormalised) {
  for (long ms : {-10L, -999L, -1000L, -1001L, 0L, 10L, 1500L}) {
    timespec ts = in_ms(ms);
    EXPECT_GE(ts.tv_nsec, 0) << ms;
    EXPECT_LT(ts.tv_nsec, 1000000000L) << ms;
  }
}

TEST(Mutex, TimedlockSucceedsWhenReleasedBeforeTheDeadline) {
  onspin_mutex_t m = ONSPIN_MUTEX_INITIALIZER;
  ASSERT_EQ(onspin_mutex_lock(&m), 0);
  std::thread t([&] {
    timespec deadline = in_ms(10000);
    EXPECT_EQ(onspin_mutex_timedlock(&m, CLOCK_MONOTONIC, &deadline), 0);
    EXPECT_EQ(onspin_mutex_unlock(&m), 0);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  EXPECT_EQ(onspin_mutex_unlock(&m), 0);
  t.join();
}

TEST(Mutex, ConsistentOnNonRobustIsEinval) {
  onspin_mutex_t m = ONSPIN_MUTEX_INITIALIZER;
  ASSERT_EQ(onspin_mutex_lock(&m), 0);
  EXPECT_EQ(onspin_mutex_consistent(&m), EINVAL);
  EXPECT_EQ(onspin_mutex_unlock(&m), 0);
}

TEST(Mutex, WaiterSleepsAndIsWoken) {
  onspin_mutex_t m = ONSPIN_MUTEX_INITIALIZER;
  onspin_stats_reset();
  ASSERT_EQ(onspin_mutex_lock(&m), 0);
  std::atomic<bool> got{false};
  std::thread t([&] {
    EXPECT_EQ(onspin_mutex_lock(&m), 0);
    got = true;
    EXPECT_EQ(onspin_mutex_unlock(&m), 0);
  });
  // Held far longer than any spin budget: the waiter must go to sleep.
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(got.load());
  EXPECT_EQ(onspin_mutex_unlock(&m), 0);
  t.join();
  EXPECT_TRUE(got.load());
  onspin_stats s = stats();
  EXPECT_EQ(s.contended, 1u);
  EXPECT_GE(s.futex_waits, 1u);
  EXPECT_GE(s.futex_wakes, 1u);
}

TEST(Mutex, ForkChildReleasesLockHeldInParent) {
  onspin_mutex_t m = ONSPIN_MUTEX_INITIALIZER;
  ASSERT_EQ(onspin_mutex_lock(&m), 0);
  pid_t pid = fork_child([&] {
    // The pthread_atfork pattern: the child releases what the parent held.
    if (onspin_mutex_unlock(&m) != 0) return 1;
    if (onspin_mutex_lock(&m) != 0) return 2;
    return onspin_mutex_unlock(&m) == 0 ? 0 : 3;
  });
  EXPECT_EQ(wait_child(pid), 0);
  EXPECT_EQ(onspin_mutex_unlock(&m), 0);
}

TEST(MutexAttr, SpinPolicy) {
  onspin_mutexattr_t a;
  onspin_mutexattr_init(&a);
  int v = -1;
  EXPECT_EQ(onspin_mutexattr_getspin(&a, &v), 0);
  EXPECT_EQ(v, ONSPIN_SPIN_DEFAULT);
  EXPECT_EQ(onspin_mutexattr_setspin(&a, ONSPIN_SPIN_NEVER), 0);
  EXPECT_EQ(onspin_mutexattr_getspin(&a, &v), 0);
  EXPECT_EQ(v, ONSPIN_SPIN_NEVER);
  EXPECT_EQ(onspin_mutexattr_setspin(&a, 3), EINVAL);
  EXPECT_EQ(onspin_mutexattr_setspin(nullptr, 0), EINVAL);
  EXPECT_EQ(onspin_mutexattr_getspin(&a, nullptr), EINVAL);
  EXPECT_EQ(onspin_mutexattr_getspin(&a, &v), 0);
  EXPECT_EQ(v, ONSPIN_SPIN_NEVER) << "unchanged by the rejected call";

  // A NEVER lock's waiter sleeps without spinning, whatever the oracle.
  onspin_mutex_t m;
  ASSERT_EQ(onspin_mutex_init(&m, &a), 0);
  ASSERT_EQ(onspin_mutex_lock(&m), 0);
  onspin_stats_reset();
  std::thread t([&] {
    EXPECT_EQ(onspin_mutex_lock(&m), 0);
    EXPECT_EQ(onspin_mutex_unlock(&m), 0);
  });
  // Until the waiter has set WAITERS: it reached the slow path, however
  // loaded the machine.
  while (!(__atomic_load_n(&m.word, __ATOMIC_SEQ_CST) & 0x80000000u))
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_EQ(onspin_mutex_unlock(&m), 0);
  t.join();
  onspin_stats s = stats();
  EXPECT_GE(s.spin_skip_oracle, 1u); // once before sleeping, again after each wake-up
  EXPECT_EQ(s.spin_acquired + s.spin_stop_budget + s.spin_stop_owner_off, 0u);
}

// The API never changes errno, also on paths that make system calls: a
// timed-out lock and condition wait, a contended unlock, a robust lock.
TEST(Mutex, CallsLeaveErrnoAlone) {
  onspin_mutex_t m = ONSPIN_MUTEX_INITIALIZER;
  onspin_cond_t c = ONSPIN_COND_INITIALIZER;
  std::atomic<bool> held{false}, done{false};
  std::thread owner([&] {
    ASSERT_EQ(onspin_mutex_lock(&m), 0);
    held = true;
    while (!done.load())
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    ASSERT_EQ(onspin_mutex_unlock(&m), 0);
  });
  while (!held.load())
    std::this_thread::yield();
  errno = 12345;
  timespec soon = in_ms(5);
  EXPECT_EQ(onspin_mutex_timedlock(&m, CLOCK_MONOTONIC, &soon), ETIMEDOUT);
  EXPECT_EQ(errno, 12345) << "timedlock";
  done = true;
  owner.join();
  ASSERT_EQ(onspin_mutex_lock(&m), 0);
  soon = in_ms(5);
  EXPECT_EQ(onspin_cond_timedwait(&c, &m, CLOCK_MONOTONIC, &soon), ETIMEDOUT);
  EXPECT_EQ(errno, 12345) << "cond_timedwait";
  EXPECT_EQ(onspin_mutex_unlock(&m), 0);
  EXPECT_EQ(errno, 12345) << "unlock";
}
