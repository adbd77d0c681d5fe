// The fairness clock and the budget oracle's learning, white-box: hand-offs
// stay due after any idle time, and waits that included a sleep teach the
// budget that spinning did not pay.
#include <atomic>
#include <gtest/gtest.h>
#include <onspin/onspin.h>
#include <thread>

#include "lock/lock_word.hpp"
#include "platform/clock.hpp"
#include "support/test_support.hpp"

using namespace onspin::test;
namespace d = onspin::detail;

namespace {

// Holds m in another thread until a sleeper waits on it, then lets `prepare`
// touch the lock and unlocks. Returns the hand-offs that unlock made.
template <class Prepare> uint64_t handoffs_of_one_contended_unlock(Prepare prepare) {
  onspin_mutexattr_t a;
  onspin_mutexattr_init(&a);
  onspin_mutexattr_setspin(&a, ONSPIN_SPIN_NEVER); // the waiter sleeps at once
  onspin_mutex_t m;
  EXPECT_EQ(onspin_mutex_init(&m, &a), 0);
  EXPECT_EQ(onspin_mutex_lock(&m), 0);
  std::thread sleeper([&] {
    EXPECT_EQ(onspin_mutex_lock(&m), 0);
    EXPECT_EQ(onspin_mutex_unlock(&m), 0);
  });
  while (!(__atomic_load_n(&m.word, __ATOMIC_SEQ_CST) & d::kWaiters))
    std::this_thread::yield();
  std::this_thread::sleep_for(std::chrono::milliseconds(20)); // into futex_wait
  prepare(m);
  const uint64_t before = stats().handoffs;
  EXPECT_EQ(onspin_mutex_unlock(&m), 0);
  const uint64_t made = stats().handoffs - before;
  sleeper.join();
  return made;
}

uint32_t now_us() { return static_cast<uint32_t>(d::now_ns() / 1000); }

} // namespace

TEST(Fairness, HandOffIsDueOncePeriodPassed) {
  EXPECT_EQ(
      handoffs_of_one_contended_unlock([](onspin_mutex_t &m) { m.fair_at = now_us() - 5000; }), 1u);
}

TEST(Fairness, HandOffIsNotDueWithinAPeriod) {
  EXPECT_EQ(handoffs_of_one_contended_unlock([](onspin_mutex_t &m) { m.fair_at = now_us() | 1; }),
            0u);
}

// The clock is 32 bits of microseconds: it wraps every ~71 minutes. A lock
// idle for 40 minutes (more than half the range) must still hand off.
TEST(Fairness, HandOffIsDueAfterALongIdleTime) {
  const uint32_t forty_minutes_us = 40u * 60u * 1000000u;
  EXPECT_EQ(handoffs_of_one_contended_unlock(
                [&](onspin_mutex_t &m) { m.fair_at = (now_us() - forty_minutes_us) | 1; }),
            1u);
}

// Owners hold the lock 200 us, far beyond the spin cap: waits end in a
// sleep, so the budget must decay even though a woken sleeper takes the
// lock within its probe.
TEST(Budget, LongHoldsTeachTheBudgetNotToSpin) {
  onspin_mutexattr_t a;
  onspin_mutexattr_init(&a);
  onspin_mutexattr_setspin(&a, ONSPIN_SPIN_BUDGET);
  onspin_mutex_t m;
  ASSERT_EQ(onspin_mutex_init(&m, &a), 0);
  m.spin_ns = 8000; // as if short waits had taught it to spin 8 us
  std::atomic<bool> stop{false};
  auto hold = [&] {
    while (!stop.load()) {
      ASSERT_EQ(onspin_mutex_lock(&m), 0);
      const uint64_t until = d::now_ns() + 200000;
      while (d::now_ns() < until) {
      }
      ASSERT_EQ(onspin_mutex_unlock(&m), 0);
      std::this_thread::yield();
    }
  };
  // Enough contended acquisitions to teach it (each moves the budget 1/8 of
  // the way), however loaded the machine is; at most 20 s.
  onspin_stats_reset();
  std::thread a1(hold), a2(hold);
  for (int i = 0; i < 2000 && stats().contended < 40; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  stop = true;
  a1.join();
  a2.join();
  ASSERT_GE(stats().contended, 20u) << "too little contention to learn from";
  EXPECT_LT(__atomic_load_n(&m.spin_ns, __ATOMIC_RELAXED), 2000u)
      << "waits that slept must count as long";
}
