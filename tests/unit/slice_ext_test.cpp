// The lock holder's side of the rseq time slice extension: which locks raise
// and lower the thread's `request` byte, and what a granted extension costs
// at the last unlock. The tests point the thread's request pointer at a byte
// pair of their own (what slice::thread_started does with the rseq area), so
// they run on any kernel, and play the kernel's part by setting `granted`.
// Detection and real grants: tests/rseq/slice_ext_holder_test.cpp; the
// kernel's side: kernel/guest/slice_ext.c.
#include <cerrno>
#include <gtest/gtest.h>
#include <onspin/onspin.h>
#include <thread>

#include "slice/slice_ext.hpp"
#include "support/test_support.hpp"

extern "C" {
int outline_lock(onspin_mutex_t *m);
int outline_trylock(onspin_mutex_t *m);
int outline_unlock(onspin_mutex_t *m);
}

namespace {

namespace slice = onspin::detail::slice;
using onspin::test::fork_child;
using onspin::test::wait_child;

// The calling thread's request/granted pair, installed for one test.
struct fake_slice_ctrl {
  unsigned char bytes[2] = {0, 0};
  fake_slice_ctrl() {
    onspin_mutex_t warm = ONSPIN_MUTEX_INITIALIZER; // the thread's identity first
    onspin_mutex_lock(&warm);
    onspin_mutex_unlock(&warm);
    slice::attach(bytes);
  }
  ~fake_slice_ctrl() { slice::attach(nullptr); }
  bool requested() const { return bytes[0] != 0; }
};

uint64_t grants() {
  onspin_stats s{};
  onspin_stats_get(&s);
  return s.slice_grants;
}

TEST(SliceExt, RequestCoversFromFirstLockToLastUnlockOnEveryPath) {
  fake_slice_ctrl ctrl;
  onspin_mutex_t a = ONSPIN_MUTEX_INITIALIZER, b = ONSPIN_MUTEX_INITIALIZER;
  ASSERT_EQ(onspin_mutex_lock(&a), 0); // inline
  EXPECT_TRUE(ctrl.requested());
  ASSERT_EQ(outline_lock(&b), 0); // the exported function
  ASSERT_EQ(onspin_mutex_unlock(&a), 0);
  EXPECT_TRUE(ctrl.requested()) << "b is still held";
  ASSERT_EQ(outline_unlock(&b), 0);
  EXPECT_FALSE(ctrl.requested());

  ASSERT_EQ(outline_trylock(&a), 0);
  EXPECT_TRUE(ctrl.requested());
  EXPECT_EQ(onspin_mutex_trylock(&a), EBUSY);
  EXPECT_TRUE(ctrl.requested()) << "a failed trylock takes nothing";
  ASSERT_EQ(onspin_mutex_unlock(&a), 0);
  EXPECT_FALSE(ctrl.requested());
  EXPECT_EQ(slice::tls_holder.depth, 0u);
}

TEST(SliceExt, RecursiveAndErrorCheckingMutexesCountWhatTheyHold) {
  fake_slice_ctrl ctrl;
  onspin_mutex_t r = ONSPIN_RECURSIVE_MUTEX_INITIALIZER;
  ASSERT_EQ(onspin_mutex_lock(&r), 0);
  ASSERT_EQ(onspin_mutex_lock(&r), 0);
  ASSERT_EQ(onspin_mutex_unlock(&r), 0);
  EXPECT_TRUE(ctrl.requested()) << "held once more";
  ASSERT_EQ(onspin_mutex_unlock(&r), 0);
  EXPECT_FALSE(ctrl.requested());

  onspin_mutexattr_t attr;
  onspin_mutexattr_init(&attr);
  onspin_mutexattr_settype(&attr, ONSPIN_MUTEX_ERRORCHECK);
  onspin_mutex_t e;
  onspin_mutex_init(&e, &attr);
  EXPECT_EQ(onspin_mutex_unlock(&e), EPERM);
  EXPECT_EQ(slice::tls_holder.depth, 0u) << "a refused unlock releases nothing";
  ASSERT_EQ(onspin_mutex_lock(&e), 0);
  EXPECT_EQ(onspin_mutex_lock(&e), EDEADLK);
  ASSERT_EQ(onspin_mutex_unlock(&e), 0);
  EXPECT_FALSE(ctrl.requested());
  EXPECT_EQ(slice::tls_holder.depth, 0u);
}

TEST(SliceExt, ACondWaitLowersTheRequestWhileItSleeps) {
  fake_slice_ctrl ctrl;
  onspin_mutex_t m = ONSPIN_MUTEX_INITIALIZER;
  onspin_cond_t c = ONSPIN_COND_INITIALIZER;
  bool ready = false;
  int seen_while_waiting = -1;
  ASSERT_EQ(onspin_mutex_lock(&m), 0);
  EXPECT_TRUE(ctrl.requested());
  std::thread signaller([&] {
    onspin_mutex_lock(&m); // the waiter released m: it waits
    seen_while_waiting = __atomic_load_n(&ctrl.bytes[0], __ATOMIC_RELAXED);
    ready = true;
    onspin_cond_signal(&c);
    onspin_mutex_unlock(&m);
  });
  while (!ready)
    ASSERT_EQ(onspin_cond_wait(&c, &m), 0);
  EXPECT_EQ(seen_while_waiting, 0) << "the waiter's request was up while it slept";
  EXPECT_TRUE(ctrl.requested()) << "the wait took m again";
  ASSERT_EQ(onspin_mutex_unlock(&m), 0);
  signaller.join();
  EXPECT_FALSE(ctrl.requested());
  EXPECT_EQ(slice::tls_holder.depth, 0u);
}

TEST(SliceExt, AnUnlockWithoutAMatchingLockLeavesTheCountAlone) {
  fake_slice_ctrl ctrl;
  onspin_mutex_t mine = ONSPIN_MUTEX_INITIALIZER;
  // A zeroed mutex has glibc's semantics, as a pthread mutex under the
  // interposer: any thread may unlock it. Taken in another thread and
  // released here, it must not take this thread's count below zero.
  onspin_mutex_t theirs{};
  std::thread other([&] { onspin_mutex_lock(&theirs); });
  other.join();
  ASSERT_EQ(onspin_mutex_lock(&mine), 0);
  ASSERT_EQ(onspin_mutex_unlock(&theirs), 0);
  EXPECT_TRUE(ctrl.requested()) << "mine is still held";
  ASSERT_EQ(onspin_mutex_unlock(&mine), 0);
  EXPECT_FALSE(ctrl.requested());
  EXPECT_EQ(slice::tls_holder.depth, 0u);
}

TEST(SliceExt, AGrantFoundAtTheLastUnlockIsCountedAndYielded) {
  fake_slice_ctrl ctrl;
  onspin_mutex_t a = ONSPIN_MUTEX_INITIALIZER, b = ONSPIN_MUTEX_INITIALIZER;
  const uint64_t before = grants();
  ASSERT_EQ(onspin_mutex_lock(&a), 0);
  ASSERT_EQ(onspin_mutex_lock(&b), 0);
  ctrl.bytes[1] = 1; // the kernel granted an extension
  ASSERT_EQ(onspin_mutex_unlock(&b), 0);
  EXPECT_EQ(grants(), before) << "the grant is answered at the last unlock only";
  errno = 1234;
  ASSERT_EQ(onspin_mutex_unlock(&a), 0);
  EXPECT_EQ(errno, 1234) << "the yield keeps errno";
  EXPECT_EQ(grants(), before + 1);
  ctrl.bytes[1] = 0;
  ASSERT_EQ(onspin_mutex_lock(&a), 0);
  ASSERT_EQ(onspin_mutex_unlock(&a), 0);
  EXPECT_EQ(grants(), before + 1) << "no grant, no yield";
}

// A fork child's thread counts afresh, with its own rseq area or none: its
// first lock, inline, must reach the library even though the identity it
// inherited sends calls there for the parent's TID only.
TEST(SliceExt, AForkChildOfAHolderStartsAfresh) {
  fake_slice_ctrl ctrl;
  onspin_mutex_t held = ONSPIN_MUTEX_INITIALIZER;
  ASSERT_EQ(onspin_mutex_lock(&held), 0);
  ASSERT_TRUE(ctrl.requested());
  const pid_t child = fork_child([&] {
    onspin_mutex_t fresh = ONSPIN_MUTEX_INITIALIZER;
    if (onspin_mutex_lock(&fresh) != 0) return 10;
    if (slice::tls_holder.request == ctrl.bytes) return 11; // still the parent's fake request
    if (slice::tls_holder.depth != (slice::tls_holder.request != nullptr ? 1u : 0u)) return 12;
    if (onspin_mutex_unlock(&fresh) != 0 || slice::tls_holder.depth != 0) return 13;
    // Released what the parent held: nothing of the child's.
    if (onspin_mutex_unlock(&held) != 0 || slice::tls_holder.depth != 0) return 14;
    // With the extension on in the child, its new identity is marked again.
    unsigned char child_bytes[2] = {0, 0};
    slice::attach(child_bytes);
    if (onspin_mutex_lock(&fresh) != 0 || child_bytes[0] != 1) return 15;
    if (onspin_mutex_unlock(&fresh) != 0 || child_bytes[0] != 0) return 16;
    return 0;
  });
  ASSERT_GT(child, 0);
  EXPECT_EQ(wait_child(child), 0);
  EXPECT_TRUE(ctrl.requested()) << "the parent still holds its lock";
  ASSERT_EQ(onspin_mutex_unlock(&held), 0);
  EXPECT_FALSE(ctrl.requested());
}

// A fork child finds its parent's TID in the identity it inherited, marked:
// the robust lock its forking thread held in the parent is still its own to
// release (the atfork pattern), which needs the mark taken off the old TID.
TEST(SliceExt, AForkChildReleasesTheRobustLockItsMarkedParentHeld) {
  fake_slice_ctrl ctrl;
  onspin_mutexattr_t attr;
  onspin_mutexattr_init(&attr);
  ASSERT_EQ(onspin_mutexattr_setrobust(&attr, ONSPIN_MUTEX_ROBUST), 0);
  onspin_mutex_t m;
  ASSERT_EQ(onspin_mutex_init(&m, &attr), 0);
  ASSERT_EQ(onspin_mutex_lock(&m), 0);
  const pid_t child = fork_child([&] { return onspin_mutex_unlock(&m) == 0 ? 0 : 1; });
  ASSERT_GT(child, 0);
  EXPECT_EQ(wait_child(child), 0) << "the child could not release its copy of the lock";
  ASSERT_EQ(onspin_mutex_unlock(&m), 0);
  EXPECT_FALSE(ctrl.requested());
}

} // namespace
