// Recursive mutexes, and the layout shared with glibc's pthread_mutex_t that
// lets glibc's static initialisers make onspin mutexes of the same type.
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <future>
#include <gtest/gtest.h>
#include <linux/futex.h>
#include <mutex>
#include <onspin/mutex.hpp>
#include <onspin/onspin.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <thread>
#include <unistd.h>

#include "support/test_support.hpp"

using namespace onspin::test;

static_assert(sizeof(onspin_mutex_t) == sizeof(pthread_mutex_t));
static_assert(offsetof(onspin_mutex_t, word) == 0, "glibc's __lock");
static_assert(offsetof(onspin_mutex_t, count) == 4, "glibc's __count");
static_assert(offsetof(onspin_mutex_t, kind) == 16, "glibc's __kind");
static_assert(offsetof(onspin_mutex_t, robust_next) == 32, "glibc's __list.__next");

namespace {

onspin_mutex_t recursive(int robust = ONSPIN_MUTEX_STALLED) {
  onspin_mutexattr_t a;
  onspin_mutexattr_init(&a);
  EXPECT_EQ(onspin_mutexattr_settype(&a, ONSPIN_MUTEX_RECURSIVE), 0);
  onspin_mutexattr_setrobust(&a, robust);
  int type = -1;
  EXPECT_EQ(onspin_mutexattr_gettype(&a, &type), 0);
  EXPECT_EQ(type, ONSPIN_MUTEX_RECURSIVE);
  onspin_mutex_t m;
  EXPECT_EQ(onspin_mutex_init(&m, &a), 0);
  return m;
}

// The owner nests lock, trylock and timedlock; another thread cannot take it
// until the last matching unlock, and cannot unlock it.
void nests(onspin_mutex_t &m) {
  timespec later = in_ms(1000);
  ASSERT_EQ(onspin_mutex_lock(&m), 0);
  ASSERT_EQ(onspin_mutex_lock(&m), 0);
  ASSERT_EQ(onspin_mutex_trylock(&m), 0);
  ASSERT_EQ(onspin_mutex_timedlock(&m, CLOCK_MONOTONIC, &later), 0);
  std::thread([&] {
    EXPECT_EQ(onspin_mutex_trylock(&m), EBUSY);
    EXPECT_EQ(onspin_mutex_unlock(&m), EPERM);
  }).join();
  for (int i = 0; i < 3; ++i)
    ASSERT_EQ(onspin_mutex_unlock(&m), 0);
  std::thread([&] { EXPECT_EQ(onspin_mutex_trylock(&m), EBUSY) << "one level still held"; }).join();
  ASSERT_EQ(onspin_mutex_unlock(&m), 0);
  EXPECT_EQ(onspin_mutex_unlock(&m), EPERM) << "released: nothing left to unlock";
  std::thread([&] {
    EXPECT_EQ(onspin_mutex_trylock(&m), 0);
    EXPECT_EQ(onspin_mutex_unlock(&m), 0);
  }).join();
}

} // namespace

TEST(Recursive, OwnerNestsAndTheLastUnlockReleases) {
  onspin_mutex_t m = recursive();
  nests(m);
  onspin_mutex_t s = ONSPIN_RECURSIVE_MUTEX_INITIALIZER;
  nests(s);
}

TEST(Recursive, RobustRecursiveNestsAndReportsDeathOnce) {
  onspin_mutex_t m = recursive(ONSPIN_MUTEX_ROBUST);
  nests(m);
  // A thread dies holding it three levels deep: the next locker owns it once.
  std::thread([&] {
    for (int i = 0; i < 3; ++i)
      ASSERT_EQ(onspin_mutex_lock(&m), 0);
  }).join();
  EXPECT_EQ(onspin_mutex_lock(&m), EOWNERDEAD);
  EXPECT_EQ(onspin_mutex_consistent(&m), 0);
  EXPECT_EQ(onspin_mutex_unlock(&m), 0);
  std::thread([&] {
    EXPECT_EQ(onspin_mutex_trylock(&m), 0) << "the dead owner's nesting was carried over";
    EXPECT_EQ(onspin_mutex_unlock(&m), 0);
  }).join();
}

TEST(Recursive, NestingPastTheCountLimitIsEagain) {
  onspin_mutex_t m = recursive();
  ASSERT_EQ(onspin_mutex_lock(&m), 0);
  m.count = UINT32_MAX; // white-box: as if nested 2^32 - 1 times
  EXPECT_EQ(onspin_mutex_lock(&m), EAGAIN);
  EXPECT_EQ(onspin_mutex_trylock(&m), EAGAIN);
  m.count = 0;
  EXPECT_EQ(onspin_mutex_unlock(&m), 0);
}

TEST(Recursive, CxxRecursiveMutexWorksWithStandardLocks) {
  onspin::recursive_mutex m;
  {
    std::lock_guard<onspin::recursive_mutex> a(m);
    std::unique_lock<onspin::recursive_mutex> b(m);
    EXPECT_TRUE(m.try_lock());
    EXPECT_TRUE(m.try_lock_for(std::chrono::milliseconds(1)));
    m.unlock();
    m.unlock();
    std::thread([&] { EXPECT_FALSE(m.try_lock()); }).join();
  }
  std::thread([&] {
    EXPECT_TRUE(m.try_lock());
    m.unlock();
  }).join();
}

TEST(Recursive, OtherTypesStillRefuseToNest) {
  for (int type : {ONSPIN_MUTEX_NORMAL, ONSPIN_MUTEX_ERRORCHECK}) {
    onspin_mutexattr_t a;
    onspin_mutexattr_init(&a);
    ASSERT_EQ(onspin_mutexattr_settype(&a, type), 0);
    onspin_mutex_t m;
    ASSERT_EQ(onspin_mutex_init(&m, &a), 0);
    ASSERT_EQ(onspin_mutex_lock(&m), 0);
    EXPECT_EQ(onspin_mutex_lock(&m), EDEADLK);
    EXPECT_EQ(onspin_mutex_trylock(&m), EBUSY);
    ASSERT_EQ(onspin_mutex_unlock(&m), 0);
    EXPECT_EQ(onspin_mutex_unlock(&m), EPERM);
  }
  onspin_mutexattr_t a;
  onspin_mutexattr_init(&a);
  EXPECT_EQ(onspin_mutexattr_settype(&a, 3), EINVAL);
}

// glibc's static initialisers, copied into an onspin mutex, give the type
// they name: the preload relies on this to serve statically initialised
// pthread mutexes in place.
TEST(Layout, GlibcStaticInitialisersMakeOnspinMutexesOfTheirType) {
  const pthread_mutex_t normal = PTHREAD_MUTEX_INITIALIZER;
  const pthread_mutex_t rec = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;
  const pthread_mutex_t check = PTHREAD_ERRORCHECK_MUTEX_INITIALIZER_NP;
  const pthread_mutex_t adaptive = PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP;
  onspin_mutex_t m;
  std::memcpy(&m, &rec, sizeof m);
  nests(m);
  std::memcpy(&m, &check, sizeof m);
  ASSERT_EQ(onspin_mutex_lock(&m), 0);
  EXPECT_EQ(onspin_mutex_lock(&m), EDEADLK);
  EXPECT_EQ(std::async(std::launch::async, [&] { return onspin_mutex_unlock(&m); }).get(), EPERM);
  ASSERT_EQ(onspin_mutex_unlock(&m), 0);
  // Normal and adaptive: glibc's behaviour, not onspin's checks. The owner's
  // relock waits (here until its deadline), and another thread's unlock
  // releases the lock.
  for (const pthread_mutex_t *p : {&normal, &adaptive}) {
    std::memcpy(&m, p, sizeof m);
    ASSERT_EQ(onspin_mutex_lock(&m), 0);
    const timespec soon = in_ms(20);
    EXPECT_EQ(onspin_mutex_timedlock(&m, CLOCK_MONOTONIC, &soon), ETIMEDOUT);
    EXPECT_EQ(std::async(std::launch::async, [&] { return onspin_mutex_unlock(&m); }).get(), 0);
    EXPECT_EQ(onspin_mutex_trylock(&m), 0) << "released by the other thread";
    ASSERT_EQ(onspin_mutex_unlock(&m), 0);
  }
}

// onspin's own initialisers report misuse: EDEADLK for the owner's relock,
// EPERM for another thread's unlock.
TEST(Layout, OnspinInitialisersReportMisuse) {
  onspin_mutex_t a = ONSPIN_MUTEX_INITIALIZER;
  onspin_mutex_t b;
  ASSERT_EQ(onspin_mutex_init(&b, nullptr), 0);
  for (onspin_mutex_t *m : {&a, &b}) {
    ASSERT_EQ(onspin_mutex_lock(m), 0);
    EXPECT_EQ(onspin_mutex_lock(m), EDEADLK);
    EXPECT_EQ(std::async(std::launch::async, [&] { return onspin_mutex_unlock(m); }).get(), EPERM);
    ASSERT_EQ(onspin_mutex_unlock(m), 0);
  }
}

// Mutual exclusion holds while owners nest to random depths under contention.
TEST(Recursive, NestedLockingKeepsMutualExclusion) {
  onspin_mutex_t m = ONSPIN_RECURSIVE_MUTEX_INITIALIZER;
  long counter = 0;
  std::atomic<int> inside{0};
  run_threads(4, [&](int id) {
    for (int i = 0; i < 100000; ++i) {
      const int depth = 1 + (i + id) % 3;
      for (int d = 0; d < depth; ++d)
        ASSERT_EQ(onspin_mutex_lock(&m), 0);
      ASSERT_EQ(inside.fetch_add(1), 0);
      ++counter;
      inside.fetch_sub(1);
      for (int d = 0; d < depth; ++d)
        ASSERT_EQ(onspin_mutex_unlock(&m), 0);
    }
  });
  EXPECT_EQ(counter, 4 * 100000);
}

// The forking thread relocks, in the child, a robust recursive lock it held
// when it forked: a relock, so the lock must not join the child's robust list
// (where it would stay, linked to itself, after the last unlock).
TEST(Recursive, RobustRelockInAForkChildLeavesTheRobustListAlone) {
  onspin_mutex_t m = recursive(ONSPIN_MUTEX_ROBUST);
  ASSERT_EQ(onspin_mutex_lock(&m), 0);
  pid_t child = fork_child([&m] {
    if (onspin_mutex_lock(&m) != 0 || onspin_mutex_trylock(&m) != 0) return 1;
    for (int i = 0; i < 3; ++i)
      if (onspin_mutex_unlock(&m) != 0) return 2;
    if (onspin_mutex_lock(&m) != 0 || onspin_mutex_unlock(&m) != 0) return 3; // free: taken anew
    // Every lock released: the thread's robust list must be empty again.
    robust_list_head *head = nullptr;
    size_t len = 0;
    if (syscall(SYS_get_robust_list, 0, &head, &len) != 0) return 5;
    return head->list.next == &head->list ? 0 : 4;
  });
  EXPECT_EQ(wait_child(child), 0);
  EXPECT_EQ(onspin_mutex_unlock(&m), 0);
}

TEST(Recursive, RelocksAreNotCountedAsContention) {
  onspin_mutex_t m = ONSPIN_RECURSIVE_MUTEX_INITIALIZER;
  ASSERT_EQ(onspin_mutex_lock(&m), 0);
  onspin_stats_reset();
  for (int i = 0; i < 100; ++i)
    ASSERT_EQ(onspin_mutex_lock(&m), 0);
  EXPECT_EQ(stats().contended, 0u);
  for (int i = 0; i < 101; ++i)
    ASSERT_EQ(onspin_mutex_unlock(&m), 0);
}

TEST(Recursive, CxxTimedTriesFailAtTheNestingLimit) {
  onspin::recursive_mutex m;
  m.lock();
  m.native_handle()->count = UINT32_MAX; // white-box: at the limit
  EXPECT_FALSE(m.try_lock());
  EXPECT_FALSE(m.try_lock_for(std::chrono::milliseconds(1)));
  EXPECT_THROW(m.lock(), std::system_error);
  m.native_handle()->count = 0;
  m.unlock();
}
