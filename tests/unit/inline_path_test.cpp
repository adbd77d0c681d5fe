// The header's inline fast paths (onspin/detail/mutex_inline.h) and the
// library's exported functions are one lock: either may take what the other
// released, misuse gets the same answer from both, and a fork child's inline
// path never locks under its parent's identity.
#include <cerrno>
#include <gtest/gtest.h>
#include <onspin/onspin.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include "support/test_support.hpp"

extern "C" {
int outline_lock(onspin_mutex_t *m);
int outline_trylock(onspin_mutex_t *m);
int outline_unlock(onspin_mutex_t *m);
}

namespace {

#ifndef ONSPIN_INLINE_FAST_PATHS
#error "the inline fast paths should be on for GCC and clang on x86-64 Linux"
#endif

using lock_fn = int (*)(onspin_mutex_t *);

// The inline definitions, as plain functions (each call inlines them).
int inline_lock(onspin_mutex_t *m) { return onspin_mutex_lock(m); }
int inline_trylock(onspin_mutex_t *m) { return onspin_mutex_trylock(m); }
int inline_unlock(onspin_mutex_t *m) { return onspin_mutex_unlock(m); }

struct path {
  const char *name;
  lock_fn lock, trylock, unlock;
};
const path kInline{"inline", inline_lock, inline_trylock, inline_unlock};
const path kOutline{"outline", outline_lock, outline_trylock, outline_unlock};

uint32_t self_tid() { return static_cast<uint32_t>(syscall(SYS_gettid)); }

// The word a lock by the calling thread writes, as the library writes it:
// the TID, or in a child PID namespace the root namespace's TID for
// ordinary locks (robust locks keep gettid()).
uint32_t library_key(bool robust) {
  if (robust) return self_tid();
  onspin_mutex_t m = ONSPIN_MUTEX_INITIALIZER;
  outline_lock(&m);
  const uint32_t key = m.word;
  outline_unlock(&m);
  return key;
}

onspin_mutex_t make(int type, bool robust) {
  onspin_mutexattr_t a;
  onspin_mutexattr_init(&a);
  onspin_mutexattr_settype(&a, type);
  if (robust) onspin_mutexattr_setrobust(&a, ONSPIN_MUTEX_ROBUST);
  onspin_mutex_t m;
  EXPECT_EQ(onspin_mutex_init(&m, &a), 0);
  return m;
}

// Every pairing of the two paths, on every type, robust or not: the same
// results, and the word holds the caller's TID while it owns the lock.
TEST(InlinePath, AgreesWithTheLibraryOnEveryType) {
  for (int type : {ONSPIN_MUTEX_NORMAL, ONSPIN_MUTEX_ERRORCHECK, ONSPIN_MUTEX_RECURSIVE})
    for (bool robust : {false, true})
      for (const path *a : {&kInline, &kOutline})
        for (const path *b : {&kInline, &kOutline}) {
          SCOPED_TRACE(testing::Message() << "type " << type << (robust ? " robust " : " ")
                                          << a->name << " then " << b->name);
          onspin_mutex_t m = make(type, robust);
          const uint32_t key = library_key(robust);
          ASSERT_EQ(a->lock(&m), 0);
          EXPECT_EQ(m.word, key);
          if (type == ONSPIN_MUTEX_RECURSIVE) {
            EXPECT_EQ(b->lock(&m), 0);
            EXPECT_EQ(b->trylock(&m), 0);
            EXPECT_EQ(a->unlock(&m), 0);
            EXPECT_EQ(b->unlock(&m), 0);
            EXPECT_EQ(m.word, key) << "released before the last unlock";
          } else {
            EXPECT_EQ(b->lock(&m), EDEADLK);
            EXPECT_EQ(b->trylock(&m), EBUSY);
          }
          // Another thread may neither take nor release it.
          int other_try = -1, other_unlock = -1;
          std::thread([&] {
            other_try = b->trylock(&m);
            other_unlock = a->unlock(&m);
          }).join();
          EXPECT_EQ(other_try, EBUSY);
          EXPECT_EQ(other_unlock, EPERM);
          EXPECT_EQ(b->unlock(&m), 0);
          EXPECT_EQ(m.word, 0u);
          EXPECT_EQ(b->unlock(&m), EPERM);
          EXPECT_EQ(a->trylock(&m), 0);
          EXPECT_EQ(b->unlock(&m), 0);
          EXPECT_EQ(onspin_mutex_destroy(&m), 0);
        }
}

TEST(InlinePath, NullIsEinvalLikeTheLibrary) {
  for (const path *p : {&kInline, &kOutline}) {
    EXPECT_EQ(p->lock(nullptr), EINVAL) << p->name;
    EXPECT_EQ(p->trylock(nullptr), EINVAL) << p->name;
    EXPECT_EQ(p->unlock(nullptr), EINVAL) << p->name;
  }
}

// A taken lock sends the inline path to the library's waiting path: a
// waiter that slept is woken by an inline unlock (the word's WAITERS bit
// makes the inline CAS fail, and the library wakes it).
TEST(InlinePath, SleepersAreWokenByInlineUnlocks) {
  onspin_mutexattr_t a;
  onspin_mutexattr_init(&a);
  onspin_mutexattr_setspin(&a, ONSPIN_SPIN_NEVER); // waiters sleep at once
  onspin_mutex_t m;
  ASSERT_EQ(onspin_mutex_init(&m, &a), 0);
  long counter = 0;
  constexpr int kThreads = 4, kRounds = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      const path &p = t % 2 ? kInline : kOutline;
      for (int i = 0; i < kRounds; ++i) {
        ASSERT_EQ(p.lock(&m), 0);
        ++counter;
        ASSERT_EQ((t / 2 ? kInline : kOutline).unlock(&m), 0);
      }
    });
  for (auto &t : threads)
    t.join();
  EXPECT_EQ(counter, long{kThreads} * kRounds);
  EXPECT_EQ(m.word, 0u);
}

// The child of fork() or _Fork() runs under a new TID, and the identity the
// inline path caches still names the parent's: the child's first inline lock
// must notice (the kernel-written TID differs) and lock as the child.
void child_locks_as_itself(pid_t (*do_fork)()) {
  onspin_mutex_t warm = ONSPIN_MUTEX_INITIALIZER;
  ASSERT_EQ(onspin_mutex_lock(&warm), 0); // the parent's identity is cached
  ASSERT_EQ(onspin_mutex_unlock(&warm), 0);
  onspin_mutex_t held = ONSPIN_MUTEX_INITIALIZER;
  ASSERT_EQ(onspin_mutex_lock(&held), 0); // held across the fork
  const pid_t child = do_fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    onspin_mutex_t fresh = ONSPIN_MUTEX_INITIALIZER;
    int code = 0;
    if (onspin_mutex_lock(&fresh) != 0)
      code = 10;
    else if (fresh.word != library_key(false))
      code = 11; // locked under the parent's TID
    else if (onspin_mutex_unlock(&fresh) != 0)
      code = 12;
    // The forking thread may release what it held in the parent (the
    // atfork pattern), and then takes it as itself.
    else if (onspin_mutex_unlock(&held) != 0)
      code = 13;
    else if (onspin_mutex_lock(&held) != 0 || held.word != library_key(false))
      code = 14;
    _exit(code);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(held.word, library_key(false)) << "the child's unlock reached the parent's lock";
  EXPECT_EQ(onspin_mutex_unlock(&held), 0);
}

TEST(InlinePath, ForkChildLocksAsItself) { child_locks_as_itself(fork); }
TEST(InlinePath, UnderscoreForkChildLocksAsItself) { child_locks_as_itself(_Fork); }

// A new thread's first inline lock goes to the library, which caches its
// identity; from then on the inline path takes free locks by itself.
TEST(InlinePath, NewThreadsLockAsThemselves) {
  for (int i = 0; i < 50; ++i) {
    uint32_t first = 0, second = 0, key = 0;
    std::thread([&] {
      onspin_mutex_t m = ONSPIN_MUTEX_INITIALIZER;
      if (onspin_mutex_lock(&m) != 0) return; // the thread's first lock
      first = m.word;
      onspin_mutex_unlock(&m);
      if (onspin_mutex_lock(&m) != 0) return; // inline from here on
      second = m.word;
      onspin_mutex_unlock(&m);
      key = library_key(false);
    }).join();
    EXPECT_EQ(first, key);
    EXPECT_EQ(second, key);
  }
}

} // namespace
