// Statistics: what the counters promise, starting with the central claim that
// an uncontended lock never enters the kernel.
#include <gtest/gtest.h>
#include <onspin/onspin.h>

#include "support/test_support.hpp"

using namespace onspin::test;

TEST(Stats, UncontendedFastPathMakesNoFutexCall) {
  onspin_mutex_t m = ONSPIN_MUTEX_INITIALIZER;
  onspin_stats_reset();
  for (int i = 0; i < 100000; ++i) {
    ASSERT_EQ(onspin_mutex_lock(&m), 0);
    ASSERT_EQ(onspin_mutex_unlock(&m), 0);
    ASSERT_EQ(onspin_mutex_trylock(&m), 0);
    ASSERT_EQ(onspin_mutex_unlock(&m), 0);
  }
  onspin_stats s = stats();
  EXPECT_EQ(s.futex_waits, 0u);
  EXPECT_EQ(s.futex_wakes, 0u);
  EXPECT_EQ(s.contended, 0u);
}

TEST(Stats, UncontendedRobustAndSharedLocksMakeNoFutexCall) {
  for (int robust : {0, 1})
    for (int shared : {0, 1}) {
      onspin_mutexattr_t a;
      onspin_mutexattr_init(&a);
      onspin_mutexattr_setrobust(&a, robust);
      onspin_mutexattr_setpshared(&a, shared);
      onspin_mutex_t m;
      ASSERT_EQ(onspin_mutex_init(&m, &a), 0);
      onspin_stats_reset();
      for (int i = 0; i < 10000; ++i) {
        ASSERT_EQ(onspin_mutex_lock(&m), 0);
        ASSERT_EQ(onspin_mutex_unlock(&m), 0);
      }
      EXPECT_EQ(stats().futex_waits + stats().futex_wakes, 0u) << robust << shared;
    }
}

TEST(Stats, ResetAndNullArgument) {
  EXPECT_EQ(onspin_stats_get(nullptr), EINVAL);
  onspin_mutex_t m = ONSPIN_MUTEX_INITIALIZER;
  ASSERT_EQ(onspin_mutex_lock(&m), 0);
  std::thread([&] {
    timespec ts = in_ms(5);
    EXPECT_EQ(onspin_mutex_timedlock(&m, CLOCK_MONOTONIC, &ts), ETIMEDOUT);
  }).join();
  EXPECT_EQ(stats().timeouts >= 1u, true);
  EXPECT_GE(stats().contended, 1u) << "an exited thread's counts survive it";
  onspin_stats_reset();
  onspin_stats s = stats();
  EXPECT_EQ(s.timeouts, 0u);
  EXPECT_EQ(s.contended, 0u);
  ASSERT_EQ(onspin_mutex_unlock(&m), 0);
}

TEST(Stats, OracleIsNamedWithAReason) {
  std::string name = onspin_oracle_name();
  EXPECT_TRUE(name == "budget" || name == "none" || name == "bpf" || name == "rseq" ||
              name == "futex2_spin")
      << name;
  EXPECT_GT(std::string(onspin_oracle_reason()).size(), 5u);
}
