// The fairness clock and the budget oracle's learning, white-box: hand-offs
// stay due after any idle time, and waits that included a sleep teach the
// budget that spinning did not pay.
#include <atomic>
#include <cstdio>
#include <gtest/gtest.h>
#include <onspin/onspin.h>
#include <sys/syscall.h>
#include <thread>
#include <unistd.h>

#include "lock/lock_word.hpp"
#include "platform/clock.hpp"
#include "support/test_support.hpp"

using namespace onspin::test;
namespace d = onspin::detail;

namespace {

// Whether thread `tid` of this process sleeps in the kernel (state S).
bool asleep(pid_t tid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/self/task/%d/stat", tid);
  FILE *f = fopen(path, "r");
  if (f == nullptr) return false;
  char state = 0;
  const bool read = fscanf(f, "%*d %*s %c", &state) == 1;
  fclose(f);
  return read && state == 'S';
}

struct unlock_result {
  uint64_t handoffs;   // hand-offs the unlock made
  uint64_t elapsed_us; // from prepare() to the unlock's return
};

// Holds m in another thread until a sleeper waits on it in the kernel, then
// lets `prepare` touch the lock and unlocks.
template <class Prepare> unlock_result one_contended_unlock(Prepare prepare) {
  onspin_mutexattr_t a;
  onspin_mutexattr_init(&a);
  onspin_mutexattr_setspin(&a, ONSPIN_SPIN_NEVER); // the waiter sleeps at once
  onspin_mutex_t m;
  EXPECT_EQ(onspin_mutex_init(&m, &a), 0);
  EXPECT_EQ(onspin_mutex_lock(&m), 0);
  std::atomic<pid_t> sleeper_tid{0};
  std::thread sleeper([&] {
    sleeper_tid = static_cast<pid_t>(syscall(SYS_gettid));
    EXPECT_EQ(onspin_mutex_lock(&m), 0);
    EXPECT_EQ(onspin_mutex_unlock(&m), 0);
  });
  while (sleeper_tid.load() == 0 || !(__atomic_load_n(&m.word, __ATOMIC_SEQ_CST) & d::kWaiters) ||
         !asleep(sleeper_tid.load()))
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  const uint64_t before = stats().handoffs;
  const uint64_t start = d::now_ns();
  prepare(m);
  EXPECT_EQ(onspin_mutex_unlock(&m), 0);
  const unlock_result r{stats().handoffs - before, (d::now_ns() - start) / 1000};
  sleeper.join();
  return r;
}

template <class Prepare> uint64_t handoffs_of_one_contended_unlock(Prepare prepare) {
  return one_contended_unlock(prepare).handoffs;
}

uint32_t now_us() { return static_cast<uint32_t>(d::now_ns() / 1000); }

} // namespace

TEST(Fairness, HandOffIsDueOncePeriodPassed) {
  EXPECT_EQ(
      handoffs_of_one_contended_unlock([](onspin_mutex_t &m) { m.fair_at = now_us() - 5000; }), 1u);
}

TEST(Fairness, HandOffIsNotDueWithinAPeriod) {
  // Only an unlock that came within the period (1 ms) counts: a loaded
  // machine may preempt the test between setting the clock and unlocking.
  for (int attempt = 0; attempt < 20; ++attempt) {
    const unlock_result r =
        one_contended_unlock([](onspin_mutex_t &m) { m.fair_at = now_us() | 1; });
    if (r.elapsed_us >= 900) continue;
    EXPECT_EQ(r.handoffs, 0u);
    return;
  }
  GTEST_SKIP() << "no unlock came within a period of its setting: machine too loaded";
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
