// Robust mutexes: owner death is reported (never a hang), recovery works, and
// an unrepaired lock becomes unrecoverable, for threads and for processes.
#include <cerrno>
#include <gtest/gtest.h>
#include <linux/futex.h>
#include <onspin/onspin.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "support/test_support.hpp"

using namespace onspin::test;

namespace {

void init_robust(onspin_mutex_t *m, int pshared = ONSPIN_PROCESS_PRIVATE) {
  onspin_mutexattr_t a;
  onspin_mutexattr_init(&a);
  onspin_mutexattr_setrobust(&a, ONSPIN_MUTEX_ROBUST);
  onspin_mutexattr_setpshared(&a, pshared);
  ASSERT_EQ(onspin_mutex_init(m, &a), 0);
}

void die_holding(onspin_mutex_t *m) {
  std::thread([m] { ASSERT_EQ(onspin_mutex_lock(m), 0); }).join();
}

} // namespace

TEST(Robust, ThreadDeathIsReportedToTheNextLocker) {
  onspin_mutex_t m;
  init_robust(&m);
  die_holding(&m);
  EXPECT_EQ(onspin_mutex_lock(&m), EOWNERDEAD);
  EXPECT_EQ(onspin_mutex_consistent(&m), 0);
  EXPECT_EQ(onspin_mutex_consistent(&m), EINVAL) << "already consistent";
  EXPECT_EQ(onspin_mutex_unlock(&m), 0);
  // Repaired: usable as normal.
  EXPECT_EQ(onspin_mutex_lock(&m), 0);
  EXPECT_EQ(onspin_mutex_unlock(&m), 0);
  EXPECT_EQ(onspin_mutex_destroy(&m), 0);
}

// The kernel keeps one robust list per thread. A thread whose list another
// runtime registered, in another layout, cannot have onspin's robust locks
// on it: every lock call says ENOTSUP and takes nothing.
TEST(Robust, LockCallsFromAThreadWithAForeignRobustListAreEnotsup) {
  onspin_mutex_t m;
  init_robust(&m);
  std::thread([&] {
    robust_list_head *glibc_head = nullptr;
    size_t len = 0;
    ASSERT_EQ(syscall(SYS_get_robust_list, 0, &glibc_head, &len), 0);
    robust_list_head foreign{};
    foreign.list.next = &foreign.list;
    foreign.futex_offset = 8; // not glibc's -32
    ASSERT_EQ(syscall(SYS_set_robust_list, &foreign, sizeof foreign), 0);
    timespec deadline = in_ms(1000);
    EXPECT_EQ(onspin_mutex_lock(&m), ENOTSUP);
    EXPECT_EQ(onspin_mutex_trylock(&m), ENOTSUP);
    EXPECT_EQ(onspin_mutex_timedlock(&m, CLOCK_MONOTONIC, &deadline), ENOTSUP);
    // glibc's list back, for the thread's exit.
    EXPECT_EQ(syscall(SYS_set_robust_list, glibc_head, len), 0);
  }).join();
  EXPECT_EQ(onspin_mutex_trylock(&m), 0) << "the refused calls took the lock";
  EXPECT_EQ(onspin_mutex_unlock(&m), 0);
}

TEST(Robust, TrylockAndTimedlockReportDeathToo) {
  onspin_mutex_t m;
  init_robust(&m);
  die_holding(&m);
  EXPECT_EQ(onspin_mutex_trylock(&m), EOWNERDEAD);
  EXPECT_EQ(onspin_mutex_consistent(&m), 0);
  EXPECT_EQ(onspin_mutex_unlock(&m), 0);
  die_holding(&m);
  timespec ts = in_ms(1000);
  EXPECT_EQ(onspin_mutex_timedlock(&m, CLOCK_MONOTONIC, &ts), EOWNERDEAD);
  EXPECT_EQ(onspin_mutex_consistent(&m), 0);
  EXPECT_EQ(onspin_mutex_unlock(&m), 0);
}

TEST(Robust, UnlockWithoutConsistentMakesItNotRecoverable) {
  onspin_mutex_t m;
  init_robust(&m);
  die_holding(&m);
  ASSERT_EQ(onspin_mutex_lock(&m), EOWNERDEAD);
  EXPECT_EQ(onspin_mutex_unlock(&m), 0);
  EXPECT_EQ(onspin_mutex_lock(&m), ENOTRECOVERABLE);
  EXPECT_EQ(onspin_mutex_trylock(&m), ENOTRECOVERABLE);
  timespec ts = in_ms(100);
  EXPECT_EQ(onspin_mutex_timedlock(&m, CLOCK_MONOTONIC, &ts), ENOTRECOVERABLE);
  EXPECT_EQ(onspin_mutex_unlock(&m), EPERM);
  EXPECT_EQ(onspin_mutex_destroy(&m), 0) << "a retired lock can be destroyed";
  init_robust(&m); // and initialised afresh
  EXPECT_EQ(onspin_mutex_lock(&m), 0);
  EXPECT_EQ(onspin_mutex_unlock(&m), 0);
}

TEST(Robust, ConsistentByNonOwnerIsEperm) {
  onspin_mutex_t m;
  init_robust(&m);
  die_holding(&m);
  ASSERT_EQ(onspin_mutex_lock(&m), EOWNERDEAD);
  std::thread([&] { EXPECT_EQ(onspin_mutex_consistent(&m), EPERM); }).join();
  EXPECT_EQ(onspin_mutex_consistent(&m), 0);
  EXPECT_EQ(onspin_mutex_unlock(&m), 0);
}

TEST(Robust, SleepingWaiterIsWokenByTheOwnersDeath) {
  onspin_mutex_t m;
  init_robust(&m);
  std::atomic<int> stage{0};
  std::thread owner([&] {
    ASSERT_EQ(onspin_mutex_lock(&m), 0);
    stage = 1;
    // Die while the waiter sleeps on the lock.
    while (__atomic_load_n(&m.word, __ATOMIC_RELAXED) >> 31 == 0)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  });
  while (stage.load() == 0)
    std::this_thread::yield();
  std::thread waiter([&] {
    EXPECT_EQ(onspin_mutex_lock(&m), EOWNERDEAD);
    EXPECT_EQ(onspin_mutex_consistent(&m), 0);
    EXPECT_EQ(onspin_mutex_unlock(&m), 0);
  });
  owner.join();
  waiter.join();
}

TEST(Robust, ManyLocksHeldAtDeathAreAllReleased) {
  // Interleaved with glibc's own robust mutexes on the same kernel list.
  constexpr int kLocks = 20;
  onspin_mutex_t ms[kLocks];
  pthread_mutex_t pm[kLocks];
  pthread_mutexattr_t pa;
  pthread_mutexattr_init(&pa);
  pthread_mutexattr_setrobust(&pa, PTHREAD_MUTEX_ROBUST);
  for (int i = 0; i < kLocks; ++i) {
    init_robust(&ms[i]);
    pthread_mutex_init(&pm[i], &pa);
  }
  std::thread([&] {
    for (int i = 0; i < kLocks; ++i) {
      ASSERT_EQ(onspin_mutex_lock(&ms[i]), 0);
      ASSERT_EQ(pthread_mutex_lock(&pm[i]), 0);
    }
    // Release a few in a different order: unlinking from the middle.
    for (int i = 1; i < kLocks; i += 3) {
      ASSERT_EQ(pthread_mutex_unlock(&pm[i]), 0);
      ASSERT_EQ(onspin_mutex_unlock(&ms[i]), 0);
    }
  }).join();
  for (int i = 0; i < kLocks; ++i) {
    bool released = (i % 3) == 1;
    EXPECT_EQ(onspin_mutex_lock(&ms[i]), released ? 0 : EOWNERDEAD) << i;
    EXPECT_EQ(pthread_mutex_lock(&pm[i]), released ? 0 : EOWNERDEAD) << i;
    if (!released) {
      EXPECT_EQ(onspin_mutex_consistent(&ms[i]), 0);
      EXPECT_EQ(pthread_mutex_consistent(&pm[i]), 0);
    }
    EXPECT_EQ(onspin_mutex_unlock(&ms[i]), 0);
    EXPECT_EQ(pthread_mutex_unlock(&pm[i]), 0);
  }
}

TEST(Robust, ProcessDeathIsReportedAcrossProcesses) {
  auto *m = shared_object<onspin_mutex_t>();
  ASSERT_NE(m, nullptr);
  init_robust(m, ONSPIN_PROCESS_SHARED);
  // A child takes the lock and is killed while holding it.
  int pipefd[2];
  ASSERT_EQ(pipe(pipefd), 0);
  pid_t pid = fork_child([&] {
    if (onspin_mutex_lock(m) != 0) return 1;
    char c = 'x';
    if (write(pipefd[1], &c, 1) != 1) return 2;
    pause();
    return 3;
  });
  char c;
  ASSERT_EQ(read(pipefd[0], &c, 1), 1);
  // A second child blocks on the lock and must get EOWNERDEAD.
  pid_t waiter = fork_child([&] {
    if (onspin_mutex_lock(m) != EOWNERDEAD) return 1;
    if (onspin_mutex_consistent(m) != 0) return 2;
    return onspin_mutex_unlock(m) == 0 ? 0 : 3;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  kill(pid, SIGKILL);
  EXPECT_EQ(wait_child(pid), -1);
  EXPECT_EQ(wait_child(waiter), 0);
  EXPECT_EQ(onspin_mutex_lock(m), 0);
  EXPECT_EQ(onspin_mutex_unlock(m), 0);
  close(pipefd[0]);
  close(pipefd[1]);
  free_shared(m);
}
