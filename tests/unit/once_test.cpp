// Run-once initialisation (oracle selection, the rseq registry) survives a
// fork that lands while another thread runs the initialiser: the child runs
// it afresh instead of waiting for a thread it does not have.
#include <atomic>
#include <gtest/gtest.h>
#include <thread>
#include <unistd.h>

#include "platform/once.hpp"
#include "support/test_support.hpp"

using namespace onspin::test;

TEST(Once, RunsOnceAndWaitersSeeItDone) {
  onspin::detail::fork_safe_once once;
  std::atomic<int> runs{0};
  run_threads(4, [&](int) {
    once.call([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      ++runs;
    });
    EXPECT_TRUE(once.done());
  });
  EXPECT_EQ(runs.load(), 1);
}

TEST(Once, ChildForkedDuringTheInitialiserRunsItItself) {
  static onspin::detail::fork_safe_once once; // static: the child's copy is the same object
  static std::atomic<int> stage{0};
  std::thread initialiser([] {
    once.call([] {
      stage = 1;
      while (stage.load() != 2) // held inside until the fork is done
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    });
  });
  while (stage.load() != 1)
    std::this_thread::yield();
  for (bool underscore : {false, true}) {
    pid_t child = underscore ? _Fork() : fork();
    if (child == 0) {
      bool ran = false;
      once.call([&] { ran = true; });
      _exit(ran && once.done() ? 0 : 1);
    }
    ASSERT_GT(child, 0);
    EXPECT_EQ(wait_child(child, 10), 0) << (underscore ? "_Fork" : "fork");
  }
  stage = 2;
  initialiser.join();
  EXPECT_TRUE(once.done());
}
