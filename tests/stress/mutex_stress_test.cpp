// Mutual exclusion under load: lock, trylock and timedlock mixed, with 2 to 32
// threads on this machine's CPUs, and no starvation. Every loop is bounded in
// time and count; the invariants, not the speed, are what is checked.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <gtest/gtest.h>
#include <onspin/onspin.h>
#include <random>

#include "support/test_support.hpp"

using namespace onspin::test;
using clk = std::chrono::steady_clock;

namespace {

// State that only the lock keeps consistent: `a` and `b` move together and
// `inside` detects two owners at once.
struct guarded {
  onspin_mutex_t m = ONSPIN_MUTEX_INITIALIZER;
  std::atomic<int> inside{0};
  uint64_t a = 0, b = 0;
  std::atomic<bool> violated{false};
};

void critical_section(guarded &g, int spin) {
  if (g.inside.fetch_add(1, std::memory_order_relaxed) != 0) g.violated = true;
  uint64_t a = g.a;
  burn(spin);
  if (g.b != a) g.violated = true;
  g.a = a + 1;
  g.b = a + 1;
  g.inside.fetch_sub(1, std::memory_order_relaxed);
}

struct run_result {
  uint64_t acquisitions = 0;
  uint64_t min_per_thread = UINT64_MAX;
};

// Each thread mixes the three ways to lock until `budget` passes or it has
// done `max_ops`. Returns the total acquisitions, checked against the state.
run_result hammer(int threads, std::chrono::milliseconds budget, int max_ops, int cs_spin) {
  guarded g;
  std::vector<uint64_t> mine(threads, 0);
  const auto end = clk::now() + budget;
  // A lost wake-up leaves every thread asleep: report it, with the lock word,
  // instead of hanging until ctest's timeout.
  std::atomic<bool> finished{false};
  std::thread watchdog([&] {
    for (int i = 0; i < 3000 && !finished; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (!finished) {
      std::fprintf(stderr, "hammer: no end after 30 s; lock word 0x%08x\n",
                   __atomic_load_n(&g.m.word, __ATOMIC_SEQ_CST));
      std::abort();
    }
  });
  run_threads(threads, [&](int id) {
    std::mt19937 rng(id);
    for (int op = 0; op < max_ops && clk::now() < end; ++op) {
      int r;
      switch (rng() % 4) {
      case 0:
        r = onspin_mutex_trylock(&g.m);
        if (r == EBUSY) continue;
        break;
      case 1: {
        timespec ts = in_ms(static_cast<long>(rng() % 3));
        r = onspin_mutex_timedlock(&g.m, rng() % 2 ? CLOCK_MONOTONIC : CLOCK_REALTIME, &ts);
        if (r == ETIMEDOUT) continue;
        break;
      }
      default:
        r = onspin_mutex_lock(&g.m);
      }
      ASSERT_EQ(r, 0);
      critical_section(g, cs_spin);
      ++mine[id];
      ASSERT_EQ(onspin_mutex_unlock(&g.m), 0);
      burn(cs_spin);
    }
  });
  finished = true;
  watchdog.join();
  EXPECT_FALSE(g.violated.load()) << "two owners at once";
  run_result r;
  for (uint64_t n : mine) {
    r.acquisitions += n;
    r.min_per_thread = std::min(r.min_per_thread, n);
  }
  EXPECT_EQ(g.a, r.acquisitions) << "lost or duplicated updates";
  EXPECT_EQ(onspin_mutex_destroy(&g.m), 0);
  return r;
}

} // namespace

TEST(MutexStress, MixedOperationsFewThreads) {
  run_result r = hammer(4, std::chrono::milliseconds(1500), 3000000, 20);
  EXPECT_GT(r.acquisitions, 1000u);
}

TEST(MutexStress, Oversubscribed16Threads) {
  run_result r = hammer(16, std::chrono::milliseconds(1500), 1000000, 50);
  EXPECT_GT(r.acquisitions, 1000u);
}

TEST(MutexStress, Oversubscribed32Threads) {
  run_result r = hammer(32, std::chrono::milliseconds(1500), 500000, 50);
  EXPECT_GT(r.acquisitions, 1000u);
}

// Woken waiters that give up: timed lockers with deadlines of a few
// microseconds are often woken just as their time runs out. A waiter that then
// leaves without passing on the wake-up it consumed strands the sleepers
// behind it (the lock word no longer says anyone sleeps). Continuous traffic
// would hide that (the next contender sets WAITERS again), so the threads
// work in short rounds that all must finish: a stranded sleeper stops its
// round, and the watchdog reports it.
TEST(MutexStress, TimedWaitersGivingUpNeverStrandSleepers) {
  constexpr int kThreads = 8, kRounds = 2000, kOpsPerRound = 40;
  onspin_mutex_t m = ONSPIN_MUTEX_INITIALIZER;
  std::atomic<int> round_done{0};
  std::atomic<bool> finished{false};
  std::atomic<uint64_t> timed_out{0};
  std::thread watchdog([&] {
    for (int i = 0; i < 6000 && !finished; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (!finished) {
      std::fprintf(stderr, "stranded sleepers: lock word 0x%08x, %d thread-rounds done\n",
                   __atomic_load_n(&m.word, __ATOMIC_SEQ_CST), round_done.load());
      std::abort();
    }
  });
  std::atomic<int> arrived{0};
  run_threads(kThreads, [&](int id) {
    std::mt19937 rng(id);
    for (int round = 0; round < kRounds; ++round) {
      for (int op = 0; op < kOpsPerRound; ++op) {
        if (id % 2) {
          timespec ts;
          clock_gettime(CLOCK_MONOTONIC, &ts);
          ts.tv_nsec += 1000 + rng() % 20000;
          if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec += 1;
            ts.tv_nsec -= 1000000000;
          }
          int r = onspin_mutex_timedlock(&m, CLOCK_MONOTONIC, &ts);
          if (r == ETIMEDOUT) {
            ++timed_out;
            continue;
          }
          ASSERT_EQ(r, 0);
        } else {
          ASSERT_EQ(onspin_mutex_lock(&m), 0);
        }
        // Now and then a hold longer than the timed waiters' deadlines
        // (plus the kernel's 50 us timer slack), so that some of them time
        // out while asleep, whatever the oracle and the machine's load.
        burn(op % 16 == 0 ? 150000 : 200 + static_cast<int>(rng() % 3000));
        ASSERT_EQ(onspin_mutex_unlock(&m), 0);
      }
      ++round_done;
      // Spin-wait barrier (no lock involved): all threads end the round.
      int target = (round + 1) * kThreads;
      arrived.fetch_add(1);
      while (arrived.load() < target)
        std::this_thread::yield();
    }
  });
  finished = true;
  watchdog.join();
  std::printf("%d rounds, %llu timeouts\n", kRounds, (unsigned long long)timed_out.load());
  EXPECT_GT(timed_out.load(), 0u) << "the scenario needs timeouts to test anything";
}

// Threads that do nothing but take the lock: barging newcomers would shut
// sleepers out for good without the periodic hand-off. Every thread must get
// the lock regularly.
TEST(MutexStress, NoWaiterStarves) {
  constexpr int kThreads = 8;
  onspin_mutex_t m = ONSPIN_MUTEX_INITIALIZER;
  std::vector<uint64_t> got(kThreads, 0);
  std::atomic<bool> stop{false};
  onspin_stats_reset();
  std::thread timer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    stop = true;
  });
  run_threads(kThreads, [&](int id) {
    while (!stop.load(std::memory_order_relaxed)) {
      ASSERT_EQ(onspin_mutex_lock(&m), 0);
      ++got[id];
      burn(200);
      ASSERT_EQ(onspin_mutex_unlock(&m), 0);
    }
  });
  timer.join();
  uint64_t total = 0, least = UINT64_MAX;
  for (uint64_t n : got) {
    total += n;
    least = std::min(least, n);
  }
  // With a hand-off at least every millisecond or so, each of 8 threads waits
  // for at most a few of them: far more than 10 turns in 1.5 s.
  EXPECT_GE(least, 10u) << "a thread starved; total " << total;
  onspin_stats s = stats();
  std::printf("starvation check: %llu acquisitions, fewest per thread %llu, %llu hand-offs\n",
              (unsigned long long)total, (unsigned long long)least, (unsigned long long)s.handoffs);
}
