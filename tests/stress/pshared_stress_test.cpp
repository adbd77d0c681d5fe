// Process-shared locks and condition variables in MAP_SHARED memory, used by
// several fork()ed processes, some of them multi-threaded.
#include <atomic>
#include <gtest/gtest.h>
#include <onspin/onspin.h>

#include "support/test_support.hpp"

using namespace onspin::test;

namespace {

struct shared_state {
  onspin_mutex_t m;
  onspin_cond_t turn_changed;
  std::atomic<int> inside;
  uint64_t counter;
  int turn; // ping-pong: whose turn it is, guarded by m
  int violations;
};

shared_state *make_state() {
  auto *s = shared_object<shared_state>();
  onspin_mutexattr_t ma;
  onspin_mutexattr_init(&ma);
  onspin_mutexattr_setpshared(&ma, ONSPIN_PROCESS_SHARED);
  onspin_mutex_init(&s->m, &ma);
  onspin_condattr_t ca;
  onspin_condattr_init(&ca);
  onspin_condattr_setpshared(&ca, ONSPIN_PROCESS_SHARED);
  onspin_cond_init(&s->turn_changed, &ca);
  return s;
}

} // namespace

TEST(ProcessShared, CounterAcrossProcessesAndThreads) {
  constexpr int kProcs = 4, kThreads = 3, kIters = 100000;
  shared_state *s = make_state();
  std::vector<pid_t> kids;
  for (int p = 0; p < kProcs; ++p)
    kids.push_back(fork_child([&] {
      std::atomic<int> bad{0};
      run_threads(kThreads, [&](int) {
        for (int i = 0; i < kIters; ++i) {
          if (onspin_mutex_lock(&s->m) != 0) ++bad;
          if (s->inside.fetch_add(1) != 0) ++s->violations;
          ++s->counter;
          s->inside.fetch_sub(1);
          if (onspin_mutex_unlock(&s->m) != 0) ++bad;
        }
      });
      return bad.load() == 0 ? 0 : 1;
    }));
  for (pid_t k : kids)
    EXPECT_EQ(wait_child(k), 0);
  EXPECT_EQ(s->counter, uint64_t{kProcs} * kThreads * kIters);
  EXPECT_EQ(s->violations, 0);
  free_shared(s);
}

// Two processes take turns through a shared condition variable: each waits
// until it is its turn, so a single lost wake-up stops the game (the child is
// then killed by wait_child's limit and the test fails).
TEST(ProcessShared, ConditionVariablePingPong) {
  constexpr int kRounds = 5000;
  shared_state *s = make_state();
  auto player = [&](int me, bool broadcast) {
    for (int i = 0; i < kRounds; ++i) {
      if (onspin_mutex_lock(&s->m) != 0) return 1;
      while (s->turn != me)
        if (onspin_cond_wait(&s->turn_changed, &s->m) != 0) return 2;
      s->turn = 1 - me;
      ++s->counter;
      if (onspin_mutex_unlock(&s->m) != 0) return 3;
      if ((broadcast ? onspin_cond_broadcast : onspin_cond_signal)(&s->turn_changed) != 0) return 4;
    }
    return 0;
  };
  pid_t a = fork_child([&] { return player(0, false); });
  pid_t b = fork_child([&] { return player(1, true); });
  EXPECT_EQ(wait_child(a, 120), 0);
  EXPECT_EQ(wait_child(b, 120), 0);
  EXPECT_EQ(s->counter, 2u * kRounds);
  free_shared(s);
}
