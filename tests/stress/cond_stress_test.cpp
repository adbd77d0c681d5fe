// Condition variable under load: a bounded queue with producers and
// consumers, exact counts (nothing lost, nothing duplicated), no lost
// wake-ups (a lost one would hang: the consumers would never finish, which
// the watchdog reports as a failure), with signal, broadcast and timed waits.
#include <atomic>
#include <chrono>
#include <deque>
#include <gtest/gtest.h>
#include <onspin/onspin.h>

#include "support/test_support.hpp"

using namespace onspin::test;

namespace {

enum class wake { signal, broadcast };

struct queue {
  onspin_mutex_t m = ONSPIN_MUTEX_INITIALIZER;
  onspin_cond_t not_empty = ONSPIN_COND_INITIALIZER;
  onspin_cond_t not_full = ONSPIN_COND_INITIALIZER;
  std::deque<uint64_t> items;
  size_t capacity = 8;
  uint64_t produced = 0, consumed = 0, sum = 0;
};

// Waits for `pred` under q.m, either forever or in short timed slices.
template <class Pred> void wait_for(queue &q, onspin_cond_t *c, bool timed, Pred pred) {
  while (!pred()) {
    if (!timed) {
      ASSERT_EQ(onspin_cond_wait(c, &q.m), 0);
    } else {
      timespec ts = in_ms(2, CLOCK_REALTIME);
      int r = onspin_cond_timedwait(c, &q.m, CLOCK_REALTIME, &ts);
      ASSERT_TRUE(r == 0 || r == ETIMEDOUT) << r;
    }
  }
}

void run(int producers, int consumers, uint64_t per_producer, wake how, bool timed) {
  queue q;
  const uint64_t total = per_producer * producers;
  auto notify = [&](onspin_cond_t *c) {
    ASSERT_EQ(how == wake::signal ? onspin_cond_signal(c) : onspin_cond_broadcast(c), 0);
  };
  // A watchdog turns a lost wake-up (a hang) into a failure with a message.
  std::atomic<bool> finished{false};
  std::thread watchdog([&] {
    for (int i = 0; i < 6000 && !finished; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (!finished) {
      fprintf(stderr,
              "cond stress: no progress for 60 s (lost wake-up?) produced=%llu "
              "consumed=%llu\n",
              (unsigned long long)q.produced, (unsigned long long)q.consumed);
      abort();
    }
  });
  run_threads(producers + consumers, [&](int id) {
    if (id < producers) {
      for (uint64_t i = 1; i <= per_producer; ++i) {
        ASSERT_EQ(onspin_mutex_lock(&q.m), 0);
        wait_for(q, &q.not_full, timed && id % 2, [&] { return q.items.size() < q.capacity; });
        q.items.push_back(i);
        ++q.produced;
        ASSERT_EQ(onspin_mutex_unlock(&q.m), 0);
        notify(&q.not_empty);
      }
    } else {
      for (;;) {
        ASSERT_EQ(onspin_mutex_lock(&q.m), 0);
        wait_for(q, &q.not_empty, timed && id % 2,
                 [&] { return !q.items.empty() || q.consumed == total; });
        if (q.items.empty()) { // all consumed: let the other consumers see it
          ASSERT_EQ(onspin_mutex_unlock(&q.m), 0);
          ASSERT_EQ(onspin_cond_broadcast(&q.not_empty), 0);
          return;
        }
        q.sum += q.items.front();
        q.items.pop_front();
        ++q.consumed;
        bool last = q.consumed == total;
        ASSERT_EQ(onspin_mutex_unlock(&q.m), 0);
        notify(&q.not_full);
        if (last) {
          ASSERT_EQ(onspin_cond_broadcast(&q.not_empty), 0);
        }
      }
    }
  });
  finished = true;
  watchdog.join();
  EXPECT_EQ(q.produced, total);
  EXPECT_EQ(q.consumed, total);
  EXPECT_EQ(q.sum, producers * per_producer * (per_producer + 1) / 2);
  EXPECT_EQ(onspin_cond_destroy(&q.not_empty), 0);
  EXPECT_EQ(onspin_cond_destroy(&q.not_full), 0);
}

} // namespace

TEST(CondStress, SignalOneProducerOneConsumer) { run(1, 1, 100000, wake::signal, false); }
TEST(CondStress, SignalManyProducersManyConsumers) { run(4, 4, 25000, wake::signal, false); }
TEST(CondStress, BroadcastOversubscribed) { run(8, 8, 10000, wake::broadcast, false); }
TEST(CondStress, TimedWaitsMixedIn) { run(4, 4, 25000, wake::signal, true); }
TEST(CondStress, TimedWaitsWithBroadcast) { run(6, 6, 10000, wake::broadcast, true); }
