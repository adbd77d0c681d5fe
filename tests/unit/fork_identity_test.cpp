// Who owns a lock after fork(), _Fork() and TID reuse: a child is never its
// parent, and a thread is never another thread that once had its TID.
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <onspin/onspin.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "support/test_support.hpp"

using namespace onspin::test;

namespace {

// Shared between a parent and its children.
struct shared_state {
  onspin_mutex_t lock;
  std::atomic<int> parent_inside{0}; // the parent is in its critical section
  std::atomic<int> child_step{0};
};

void init_lock(onspin_mutex_t *m, bool robust) {
  onspin_mutexattr_t a;
  onspin_mutexattr_init(&a);
  onspin_mutexattr_setpshared(&a, ONSPIN_PROCESS_SHARED);
  if (robust) onspin_mutexattr_setrobust(&a, ONSPIN_MUTEX_ROBUST);
  ASSERT_EQ(onspin_mutex_init(m, &a), 0);
}

pid_t tid() { return static_cast<pid_t>(syscall(SYS_gettid)); }

// The parent has taken a lock before it forks (so its identity is cached),
// then holds a process-shared lock while the child tries to unlock and to
// lock it. The child must get EPERM, must not release the lock, and must
// wait for it rather than report EDEADLK.
void child_is_not_its_parent(bool robust) {
  auto *s = shared_object<shared_state>();
  ASSERT_NE(s, nullptr);
  init_lock(&s->lock, robust);
  onspin_mutex_t warm = ONSPIN_MUTEX_INITIALIZER;
  ASSERT_EQ(onspin_mutex_lock(&warm), 0);
  ASSERT_EQ(onspin_mutex_unlock(&warm), 0);

  pid_t child = fork_child([s] {
    while (s->parent_inside.load() == 0)
      usleep(100);
    int early = 0;
    if (onspin_mutex_unlock(&s->lock) != EPERM)
      early = 10;
    else if (onspin_mutex_trylock(&s->lock) != EBUSY)
      early = 11;
    s->child_step.store(1); // the parent leaves its section now
    if (early != 0) return early;
    int r = onspin_mutex_lock(&s->lock);
    if (r != 0) return 12 + (r == EDEADLK);
    if (s->parent_inside.load() != 0) return 14; // exclusion broken
    if (onspin_mutex_unlock(&s->lock) != 0) return 15;
    return 0;
  });
  ASSERT_EQ(onspin_mutex_lock(&s->lock), 0);
  s->parent_inside.store(1);
  while (s->child_step.load() == 0)
    usleep(100);
  usleep(20000); // let the child block in its lock call
  s->parent_inside.store(0);
  EXPECT_EQ(onspin_mutex_unlock(&s->lock), 0) << "the child released the parent's lock";
  EXPECT_EQ(wait_child(child), 0);
  free_shared(s);
}

} // namespace

TEST(ForkIdentity, ChildIsNotTheOwnerOfItsParentsSharedLock) { child_is_not_its_parent(false); }

TEST(ForkIdentity, ChildIsNotTheOwnerOfItsParentsRobustLock) { child_is_not_its_parent(true); }

// _Fork() runs no atfork handlers: the child must still lock under its own
// TID, so that its death while holding a robust lock is reported.
TEST(ForkIdentity, UnderscoreForkChildDyingHoldingARobustLockIsReported) {
  auto *s = shared_object<shared_state>();
  ASSERT_NE(s, nullptr);
  init_lock(&s->lock, true);
  ASSERT_EQ(onspin_mutex_lock(&s->lock), 0); // cache the parent's identity
  ASSERT_EQ(onspin_mutex_unlock(&s->lock), 0);
  pid_t child = _Fork();
  if (child == 0) _exit(onspin_mutex_lock(&s->lock) == 0 ? 0 : 1); // dies holding it
  ASSERT_GT(child, 0);
  EXPECT_EQ(wait_child(child), 0);
  timespec limit = in_ms(5000);
  EXPECT_EQ(onspin_mutex_timedlock(&s->lock, CLOCK_MONOTONIC, &limit), EOWNERDEAD);
  EXPECT_EQ(onspin_mutex_consistent(&s->lock), 0);
  EXPECT_EQ(onspin_mutex_unlock(&s->lock), 0);
  free_shared(s);
}

// The pthread_atfork pattern still works: the child's forking thread may
// release a private lock it held when it forked, by fork() and by _Fork().
TEST(ForkIdentity, ForkingThreadReleasesItsPrivateLocksInTheChild) {
  for (bool underscore : {false, true}) {
    onspin_mutex_t m = ONSPIN_MUTEX_INITIALIZER;
    ASSERT_EQ(onspin_mutex_lock(&m), 0);
    pid_t child = underscore ? _Fork() : fork();
    if (child == 0) {
      if (onspin_mutex_lock(&m) != EDEADLK) _exit(1);
      if (onspin_mutex_unlock(&m) != 0) _exit(2);
      if (onspin_mutex_lock(&m) != 0) _exit(3);
      _exit(onspin_mutex_unlock(&m) == 0 ? 0 : 4);
    }
    ASSERT_GT(child, 0);
    EXPECT_EQ(wait_child(child), 0) << (underscore ? "_Fork" : "fork");
    EXPECT_EQ(onspin_mutex_unlock(&m), 0);
  }
}

// The daemonize pattern: the forking thread goes away in the parent, and a
// new thread of the child is given its old TID. That thread's locks are its
// own: the child's forking thread must wait for them and may not release
// them. Needs root (the next TID is chosen through ns_last_pid).
TEST(ForkIdentity, ThreadGivenTheParentsOldTidIsNotTheForkingThread) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to choose TIDs (ns_last_pid)";
  auto *s = shared_object<shared_state>();
  ASSERT_NE(s, nullptr);
  // A parent thread that locks, forks and exits: its TID becomes free.
  std::atomic<pid_t> forker_tid{0};
  pid_t child = -1;
  onspin_mutex_t held = ONSPIN_MUTEX_INITIALIZER; // private, in the child's copy
  std::thread forker([&] {
    forker_tid = tid();
    ASSERT_EQ(onspin_mutex_lock(&held), 0); // caches the identity
    ASSERT_EQ(onspin_mutex_unlock(&held), 0);
    child = fork();
    if (child != 0) return;
    // The child's only thread. Wait for the parent to reap the forker.
    while (s->child_step.load() == 0)
      usleep(100);
    const pid_t old_tid = forker_tid;
    onspin_mutex_t m = ONSPIN_MUTEX_INITIALIZER;
    std::atomic<int> state{0};
    std::thread reuser;
    for (int attempt = 0; attempt < 20 && state.load() == 0; ++attempt) {
      int fd = open("/proc/sys/kernel/ns_last_pid", O_WRONLY);
      if (fd < 0) _exit(77);
      dprintf(fd, "%d", old_tid - 1);
      close(fd);
      std::atomic<int> got{0};
      std::thread t([&] {
        if (tid() != old_tid) {
          got = -1;
          return;
        }
        if (onspin_mutex_lock(&m) != 0) _exit(20);
        got = 1;
        while (state.load() != 2)
          usleep(100);
        if (onspin_mutex_unlock(&m) != 0) _exit(21);
      });
      while (got.load() == 0)
        usleep(100);
      if (got.load() == 1) {
        state = 1;
        reuser = std::move(t);
      } else {
        t.join();
      }
    }
    if (state.load() == 0) _exit(77); // the TID was taken by someone else
    if (onspin_mutex_unlock(&m) != EPERM) _exit(30);
    if (onspin_mutex_trylock(&m) != EBUSY) _exit(31);
    std::thread release([&] {
      usleep(20000);
      state = 2;
    });
    int r = onspin_mutex_lock(&m); // must wait, not report EDEADLK
    if (r != 0) _exit(32);
    if (state.load() != 2) _exit(33);
    onspin_mutex_unlock(&m);
    release.join();
    reuser.join();
    _exit(0);
  });
  forker.join(); // its TID is free from here on
  ASSERT_GT(child, 0);
  s->child_step.store(1);
  int status = wait_child(child);
  if (status == 77) GTEST_SKIP() << "could not give a thread the old TID";
  EXPECT_EQ(status, 0);
  free_shared(s);
}

// A thread whose only onspin call before fork() was a robust lock (say in
// a pthread_atfork prepare handler) may release that private lock in the
// child too.
TEST(ForkIdentity, ForkingThreadReleasesARobustLockThatWasItsFirstCall) {
  onspin_mutexattr_t a;
  onspin_mutexattr_init(&a);
  onspin_mutexattr_setrobust(&a, ONSPIN_MUTEX_ROBUST);
  onspin_mutex_t m;
  ASSERT_EQ(onspin_mutex_init(&m, &a), 0);
  int status = -2;
  std::thread fresh([&] { // a thread that has made no onspin call yet
    if (onspin_mutex_lock(&m) != 0) return;
    pid_t child = fork();
    if (child == 0) _exit(onspin_mutex_unlock(&m) == 0 ? 0 : 1);
    status = wait_child(child);
    onspin_mutex_unlock(&m);
  });
  fresh.join();
  EXPECT_EQ(status, 0) << "the child could not release the lock its forking thread held";
}
