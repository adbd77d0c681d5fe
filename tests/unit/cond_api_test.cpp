// The condition variable C API: every call and error path, timeouts, and the
// absence of system calls and thundering herds.
#include <atomic>
#include <cerrno>
#include <gtest/gtest.h>
#include <onspin/onspin.h>

#include "support/test_support.hpp"

using namespace onspin::test;

TEST(CondAttr, SettersAndErrors) {
  onspin_condattr_t a;
  int v = -1;
  EXPECT_EQ(onspin_condattr_init(nullptr), EINVAL);
  ASSERT_EQ(onspin_condattr_init(&a), 0);
  EXPECT_EQ(onspin_condattr_getpshared(&a, &v), 0);
  EXPECT_EQ(v, ONSPIN_PROCESS_PRIVATE);
  EXPECT_EQ(onspin_condattr_setpshared(&a, ONSPIN_PROCESS_SHARED), 0);
  EXPECT_EQ(onspin_condattr_getpshared(&a, &v), 0);
  EXPECT_EQ(v, ONSPIN_PROCESS_SHARED);
  EXPECT_EQ(onspin_condattr_setpshared(&a, 5), EINVAL);
  EXPECT_EQ(onspin_condattr_getpshared(&a, nullptr), EINVAL);
  EXPECT_EQ(onspin_condattr_destroy(&a), 0);
  EXPECT_EQ(onspin_condattr_destroy(nullptr), EINVAL);
  onspin_condattr_t garbage{0x10};
  onspin_cond_t c;
  EXPECT_EQ(onspin_cond_init(&c, &garbage), EINVAL);
}

TEST(Cond, NullPointersAndBadDeadlines) {
  onspin_cond_t c = ONSPIN_COND_INITIALIZER;
  onspin_mutex_t m = ONSPIN_MUTEX_INITIALIZER;
  timespec ok = in_ms(10), bad = ok;
  bad.tv_nsec = 1000000000;
  EXPECT_EQ(onspin_cond_init(nullptr, nullptr), EINVAL);
  EXPECT_EQ(onspin_cond_wait(nullptr, &m), EINVAL);
  EXPECT_EQ(onspin_cond_wait(&c, nullptr), EINVAL);
  EXPECT_EQ(onspin_cond_timedwait(&c, &m, CLOCK_MONOTONIC, nullptr), EINVAL);
  EXPECT_EQ(onspin_cond_signal(nullptr), EINVAL);
  EXPECT_EQ(onspin_cond_broadcast(nullptr), EINVAL);
  EXPECT_EQ(onspin_cond_destroy(nullptr), EINVAL);
  ASSERT_EQ(onspin_mutex_lock(&m), 0);
  EXPECT_EQ(onspin_cond_timedwait(&c, &m, CLOCK_MONOTONIC, &bad), EINVAL);
  EXPECT_EQ(onspin_cond_timedwait(&c, &m, CLOCK_THREAD_CPUTIME_ID, &ok), EINVAL);
  // Still held by us after the rejected calls.
  EXPECT_EQ(onspin_mutex_unlock(&m), 0);
}

TEST(Cond, WaitWithoutOwningTheMutexIsEperm) {
  onspin_cond_t c = ONSPIN_COND_INITIALIZER;
  onspin_mutex_t m = ONSPIN_MUTEX_INITIALIZER;
  EXPECT_EQ(onspin_cond_wait(&c, &m), EPERM);
  timespec ts = in_ms(10);
  EXPECT_EQ(onspin_cond_timedwait(&c, &m, CLOCK_MONOTONIC, &ts), EPERM);
}

TEST(Cond, TimedwaitHonoursItsDeadlineOnBothClocks) {
  for (clockid_t clock : {CLOCK_MONOTONIC, CLOCK_REALTIME}) {
    onspin_cond_t c = ONSPIN_COND_INITIALIZER;
    onspin_mutex_t m = ONSPIN_MUTEX_INITIALIZER;
    ASSERT_EQ(onspin_mutex_lock(&m), 0);
    timespec deadline = in_ms(40, clock);
    EXPECT_EQ(onspin_cond_timedwait(&c, &m, clock, &deadline), ETIMEDOUT);
    EXPECT_TRUE(reached(deadline, clock));
    // The mutex is held again on return: another thread cannot take it.
    std::thread([&] { EXPECT_EQ(onspin_mutex_trylock(&m), EBUSY); }).join();
    EXPECT_EQ(onspin_mutex_unlock(&m), 0);
  }
}

// A negative tv_sec is a time long past (as in glibc), not an invalid
// argument: the wait times out and returns holding the mutex.
TEST(Cond, TimedwaitBeforeTheEpochTimesOutHoldingTheMutex) {
  for (clockid_t clock : {CLOCK_MONOTONIC, CLOCK_REALTIME}) {
    for (timespec past : {timespec{-1, 0}, timespec{-1, 999999999}}) {
      onspin_cond_t c = ONSPIN_COND_INITIALIZER;
      onspin_mutex_t m = ONSPIN_MUTEX_INITIALIZER;
      ASSERT_EQ(onspin_mutex_lock(&m), 0);
      EXPECT_EQ(onspin_cond_timedwait(&c, &m, clock, &past), ETIMEDOUT)
          << clock << " " << past.tv_nsec;
      std::thread([&] { EXPECT_EQ(onspin_mutex_trylock(&m), EBUSY); }).join();
      EXPECT_EQ(onspin_mutex_unlock(&m), 0);
    }
    // tv_nsec outside [0, 1e9) stays invalid, whatever tv_sec says.
    onspin_cond_t c = ONSPIN_COND_INITIALIZER;
    onspin_mutex_t m = ONSPIN_MUTEX_INITIALIZER;
    timespec bad{-1, -1};
    ASSERT_EQ(onspin_mutex_lock(&m), 0);
    EXPECT_EQ(onspin_cond_timedwait(&c, &m, clock, &bad), EINVAL);
    EXPECT_EQ(onspin_mutex_unlock(&m), 0);
  }
}

TEST(Cond, SignalWakesAWaiter) {
  onspin_cond_t c = ONSPIN_COND_INITIALIZER;
  onspin_mutex_t m = ONSPIN_MUTEX_INITIALIZER;
  bool ready = false; // guarded by m
  std::thread waiter([&] {
    ASSERT_EQ(onspin_mutex_lock(&m), 0);
    timespec limit = in_ms(20000);
    while (!ready)
      ASSERT_EQ(onspin_cond_timedwait(&c, &m, CLOCK_MONOTONIC, &limit), 0);
    EXPECT_EQ(onspin_mutex_unlock(&m), 0);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_EQ(onspin_mutex_lock(&m), 0);
  ready = true;
  EXPECT_EQ(onspin_mutex_unlock(&m), 0);
  EXPECT_EQ(onspin_cond_signal(&c), 0);
  waiter.join();
  EXPECT_EQ(onspin_cond_destroy(&c), 0);
}

TEST(Cond, SignalAndBroadcastWithoutWaitersMakeNoSystemCall) {
  onspin_cond_t c = ONSPIN_COND_INITIALIZER;
  onspin_stats_reset();
  for (int i = 0; i < 1000; ++i) {
    EXPECT_EQ(onspin_cond_signal(&c), 0);
    EXPECT_EQ(onspin_cond_broadcast(&c), 0);
  }
  EXPECT_EQ(stats().futex_wakes, 0u);
}

TEST(Cond, BroadcastWakesAll) {
  constexpr int kWaiters = 6;
  onspin_cond_t c = ONSPIN_COND_INITIALIZER;
  onspin_mutex_t m = ONSPIN_MUTEX_INITIALIZER;
  int asleep = 0, woken = 0; // guarded by m
  bool go = false;
  onspin_stats_reset();
  std::vector<std::thread> ts;
  for (int i = 0; i < kWaiters; ++i)
    ts.emplace_back([&] {
      ASSERT_EQ(onspin_mutex_lock(&m), 0);
      ++asleep;
      while (!go)
        ASSERT_EQ(onspin_cond_wait(&c, &m), 0);
      ++woken;
      ASSERT_EQ(onspin_mutex_unlock(&m), 0);
    });
  // Wait until every waiter is inside the wait (asleep counted under m, and
  // the cond's waiter count says they all entered it).
  for (;;) {
    ASSERT_EQ(onspin_mutex_lock(&m), 0);
    bool all = asleep == kWaiters;
    ASSERT_EQ(onspin_mutex_unlock(&m), 0);
    if (all && cond_waiters(c) == kWaiters) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(20)); // let them reach futex_wait
  ASSERT_EQ(onspin_mutex_lock(&m), 0);
  go = true;
  EXPECT_EQ(onspin_cond_broadcast(&c), 0);
  EXPECT_EQ(onspin_mutex_unlock(&m), 0);
  for (auto &t : ts)
    t.join();
  EXPECT_EQ(woken, kWaiters);
}

TEST(Cond, DestroyWithWaitersIsEbusy) {
  onspin_cond_t c = ONSPIN_COND_INITIALIZER;
  onspin_mutex_t m = ONSPIN_MUTEX_INITIALIZER;
  bool go = false;
  std::thread t([&] {
    ASSERT_EQ(onspin_mutex_lock(&m), 0);
    while (!go)
      ASSERT_EQ(onspin_cond_wait(&c, &m), 0);
    ASSERT_EQ(onspin_mutex_unlock(&m), 0);
  });
  while (cond_waiters(c) == 0)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_EQ(onspin_cond_destroy(&c), EBUSY);
  ASSERT_EQ(onspin_mutex_lock(&m), 0);
  go = true;
  onspin_cond_signal(&c);
  ASSERT_EQ(onspin_mutex_unlock(&m), 0);
  t.join();
  EXPECT_EQ(onspin_cond_destroy(&c), 0);
}
