// Condition variable under load: a bounded queue with producers and
// consumers, exact counts (nothing lost, nothing duplicated), no lost
// wake-ups (a lost one would hang: the consumers would never finish, which
// the watchdog reports as a failure), with signal, broadcast and timed waits.
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <deque>
#include <gtest/gtest.h>
#include <onspin/onspin.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <thread>
#include <unistd.h>

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

namespace {

// Takes ~100 us: a signal handler that holds up whatever thread it lands on.
void slow_handler(int) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(100);
  while (std::chrono::steady_clock::now() < until) {
  }
}

} // namespace

// A waiter destroys the condition variable as soon as it returns, while the
// signal that woke it (sent outside the mutex) may still be running: signal
// must not touch the object after the point where a waiter can leave. A
// timer signal holds the signaller up at random points, and the memory is
// unmapped at once, so that a late touch faults.
TEST(CondStress, WaiterDestroysRightAfterASignalSentOutsideTheMutex) {
  struct sigaction sa {};
  sa.sa_handler = slow_handler;
  sa.sa_flags = SA_RESTART;
  struct sigaction old {};
  ASSERT_EQ(sigaction(SIGURG, &sa, &old), 0);
  sigevent ev{};
  ev.sigev_notify = SIGEV_THREAD_ID;
  ev.sigev_signo = SIGURG;
  ev._sigev_un._tid = static_cast<pid_t>(syscall(SYS_gettid));
  timer_t timer;
  ASSERT_EQ(timer_create(CLOCK_MONOTONIC, &ev, &timer), 0);
  itimerspec every{{0, 331000}, {0, 331000}};
  ASSERT_EQ(timer_settime(timer, 0, &every, nullptr), 0);
  onspin_mutex_t m = ONSPIN_MUTEX_INITIALIZER;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  int rounds = 0;
  for (; rounds < 20000 && std::chrono::steady_clock::now() < deadline; ++rounds) {
    void *page = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ASSERT_NE(page, MAP_FAILED);
    auto *c = static_cast<onspin_cond_t *>(page);
    ASSERT_EQ(onspin_cond_init(c, nullptr), 0);
    std::atomic<bool> inside{false};
    std::thread waiter([&] {
      ASSERT_EQ(onspin_mutex_lock(&m), 0);
      inside = true;
      ASSERT_EQ(onspin_cond_wait(c, &m), 0);
      ASSERT_EQ(onspin_mutex_unlock(&m), 0);
      ASSERT_EQ(onspin_cond_destroy(c), 0);
      ASSERT_EQ(munmap(page, 4096), 0);
    });
    while (!inside.load())
      std::this_thread::yield();
    ASSERT_EQ(onspin_mutex_lock(&m), 0); // the waiter is inside its wait
    ASSERT_EQ(onspin_mutex_unlock(&m), 0);
    ASSERT_EQ(onspin_cond_signal(c), 0); // outside the mutex
    waiter.join();
  }
  timer_delete(timer);
  sigaction(SIGURG, &old, nullptr);
  std::printf("%d rounds\n", rounds);
}
