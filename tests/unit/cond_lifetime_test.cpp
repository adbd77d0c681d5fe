// A condition variable may be destroyed, and its memory unmapped, as soon as
// every waiter was notified (POSIX; C++ [thread.condition.condvar]): the
// woken waiters must not touch it after that. And broadcast wakes every
// waiter whatever the sharing of the condition and of its mutex.
#include <atomic>
#include <cerrno>
#include <csignal>
#include <gtest/gtest.h>
#include <onspin/condition_variable.hpp>
#include <onspin/onspin.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <thread>
#include <vector>

#include "support/test_support.hpp"

using namespace onspin::test;

namespace {

constexpr int kWaiters = 4;
constexpr int kRounds = 50;

// A page of its own, so that a touch after munmap faults at once.
void *page() {
  void *p = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? nullptr : p;
}

enum class notify { broadcast, broadcast_holding_the_mutex, signal_each };

// kWaiters threads wait on a condition variable in its own page; once they
// are all inside the wait, they are notified, the condition variable is
// destroyed and its page unmapped at once.
void destroy_after_notify(notify how) {
  for (int round = 0; round < kRounds; ++round) {
    auto *c = static_cast<onspin_cond_t *>(page());
    ASSERT_NE(c, nullptr);
    ASSERT_EQ(onspin_cond_init(c, nullptr), 0);
    onspin_mutex_t m = ONSPIN_MUTEX_INITIALIZER;
    bool go = false; // guarded by m
    int left = 0;    // guarded by m
    std::vector<std::thread> ts;
    for (int i = 0; i < kWaiters; ++i)
      ts.emplace_back([&] {
        ASSERT_EQ(onspin_mutex_lock(&m), 0);
        while (!go)
          ASSERT_EQ(onspin_cond_wait(c, &m), 0);
        ++left;
        ASSERT_EQ(onspin_mutex_unlock(&m), 0);
      });
    while (cond_waiters(*c) != kWaiters)
      std::this_thread::yield();
    ASSERT_EQ(onspin_mutex_lock(&m), 0);
    go = true;
    if (how == notify::signal_each) {
      for (int i = 0; i < kWaiters; ++i)
        ASSERT_EQ(onspin_cond_signal(c), 0);
    } else {
      ASSERT_EQ(onspin_cond_broadcast(c), 0);
    }
    if (how != notify::broadcast_holding_the_mutex) {
      ASSERT_EQ(onspin_mutex_unlock(&m), 0);
    }
    ASSERT_EQ(onspin_cond_destroy(c), 0) << "round " << round;
    ASSERT_EQ(munmap(c, 4096), 0);
    if (how == notify::broadcast_holding_the_mutex) {
      ASSERT_EQ(onspin_mutex_unlock(&m), 0);
    }
    for (auto &t : ts)
      t.join();
    EXPECT_EQ(left, kWaiters);
  }
}

} // namespace

TEST(CondLifetime, DestroyAndUnmapRightAfterBroadcast) { destroy_after_notify(notify::broadcast); }

TEST(CondLifetime, DestroyUnderTheMutexRightAfterBroadcast) {
  destroy_after_notify(notify::broadcast_holding_the_mutex);
}

TEST(CondLifetime, DestroyAndUnmapRightAfterSignallingEveryWaiter) {
  destroy_after_notify(notify::signal_each);
}

// The C++ pattern: notify_all, then the object goes out of existence.
TEST(CondLifetime, CxxConditionVariableDestroyedRightAfterNotifyAll) {
  for (int round = 0; round < kRounds; ++round) {
    void *mem = page();
    ASSERT_NE(mem, nullptr);
    auto *cv = new (mem) onspin::condition_variable();
    onspin::mutex m;
    bool go = false;
    std::atomic<int> inside{0};
    std::vector<std::thread> ts;
    for (int i = 0; i < kWaiters; ++i)
      ts.emplace_back([&] {
        std::unique_lock<onspin::mutex> lk(m);
        ++inside;
        cv->wait(lk, [&] { return go; });
      });
    while (inside.load() != kWaiters || cond_waiters(*cv->native_handle()) != kWaiters)
      std::this_thread::yield();
    {
      std::lock_guard<onspin::mutex> lk(m);
      go = true;
    }
    cv->notify_all();
    cv->~condition_variable();
    ASSERT_EQ(munmap(mem, 4096), 0);
    for (auto &t : ts)
      t.join();
  }
}

namespace {

void init_mutex(onspin_mutex_t *m, bool shared) {
  onspin_mutexattr_t a;
  onspin_mutexattr_init(&a);
  onspin_mutexattr_setpshared(&a, shared ? ONSPIN_PROCESS_SHARED : ONSPIN_PROCESS_PRIVATE);
  ASSERT_EQ(onspin_mutex_init(m, &a), 0);
}

// Three waiters on c with mutex m; one broadcast must wake all three.
void broadcast_wakes_all(onspin_cond_t *c, onspin_mutex_t *m) {
  constexpr int kThree = 3;
  bool go = false;
  int woke = 0;
  std::vector<std::thread> ts;
  for (int i = 0; i < kThree; ++i)
    ts.emplace_back([&] {
      ASSERT_EQ(onspin_mutex_lock(m), 0);
      // A waiter the broadcast missed would return at this deadline (with
      // 0: the counter moved), long after the others.
      const timespec prompt = in_ms(2500), limit = in_ms(5000);
      int r = 0;
      while (!go && r == 0)
        r = onspin_cond_timedwait(c, m, CLOCK_MONOTONIC, &limit);
      if (go && r == 0 && !reached(prompt, CLOCK_MONOTONIC)) ++woke;
      ASSERT_EQ(onspin_mutex_unlock(m), 0);
    });
  while (cond_waiters(*c) != kThree)
    std::this_thread::yield();
  usleep(20000); // into futex_wait
  ASSERT_EQ(onspin_mutex_lock(m), 0);
  go = true;
  ASSERT_EQ(onspin_cond_broadcast(c), 0);
  ASSERT_EQ(onspin_mutex_unlock(m), 0);
  for (auto &t : ts)
    t.join();
  EXPECT_EQ(woke, kThree);
}

} // namespace

TEST(CondBroadcast, SharedConditionWithAPrivateMutexWakesAll) {
  onspin_condattr_t a;
  onspin_condattr_init(&a);
  onspin_condattr_setpshared(&a, ONSPIN_PROCESS_SHARED);
  onspin_cond_t c;
  ASSERT_EQ(onspin_cond_init(&c, &a), 0);
  onspin_mutex_t m;
  init_mutex(&m, false);
  broadcast_wakes_all(&c, &m);
}

TEST(CondBroadcast, PrivateConditionUsedWithASharedThenAPrivateMutexWakesAll) {
  onspin_cond_t c = ONSPIN_COND_INITIALIZER;
  onspin_mutex_t shared_m, private_m;
  init_mutex(&shared_m, true);
  init_mutex(&private_m, false);
  broadcast_wakes_all(&c, &shared_m);
  broadcast_wakes_all(&c, &private_m);
}

// A process-shared condition variable whose waiter process was killed in its
// wait: destroy after a broadcast cannot tell the dead waiter from a slow
// one. It must answer EBUSY after a bounded wait, not hang.
TEST(CondLifetime, SharedConditionWithAWaiterKilledInItsWaitIsEbusyNotAHang) {
  struct shared_pair {
    onspin_mutex_t m;
    onspin_cond_t c;
    std::atomic<int> inside{0};
  };
  auto *s = shared_object<shared_pair>();
  ASSERT_NE(s, nullptr);
  onspin_mutexattr_t ma;
  onspin_mutexattr_init(&ma);
  onspin_mutexattr_setpshared(&ma, ONSPIN_PROCESS_SHARED);
  ASSERT_EQ(onspin_mutex_init(&s->m, &ma), 0);
  onspin_condattr_t ca;
  onspin_condattr_init(&ca);
  onspin_condattr_setpshared(&ca, ONSPIN_PROCESS_SHARED);
  ASSERT_EQ(onspin_cond_init(&s->c, &ca), 0);
  pid_t waiter = fork_child([s]() -> int {
    onspin_mutex_lock(&s->m);
    s->inside = 1;
    for (;;)
      onspin_cond_wait(&s->c, &s->m);
  });
  while (s->inside.load() == 0 || cond_waiters(s->c) == 0)
    usleep(1000);
  kill(waiter, SIGKILL);
  waitpid(waiter, nullptr, 0);
  ASSERT_EQ(onspin_cond_broadcast(&s->c), 0);
  pid_t destroyer = fork_child([s] { return onspin_cond_destroy(&s->c); });
  EXPECT_EQ(wait_child(destroyer, 10), EBUSY);
  free_shared(s);
}
