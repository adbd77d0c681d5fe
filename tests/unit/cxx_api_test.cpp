// The C++ headers: standard lock types, timed locking on several clocks,
// condition waits, and the robust variant.
#include <chrono>
#include <gtest/gtest.h>
#include <mutex>
#include <onspin/condition_variable.hpp>
#include <onspin/mutex.hpp>
#include <onspin/robust_mutex.hpp>
#include <system_error>
#include <thread>

#include "support/test_support.hpp"

using namespace std::chrono_literals;

namespace {

// A clock other than steady and system: exercises the generic deadline path.
struct slow_clock {
  using rep = std::chrono::steady_clock::rep;
  using period = std::chrono::steady_clock::period;
  using duration = std::chrono::steady_clock::duration;
  using time_point = std::chrono::time_point<slow_clock>;
  static constexpr bool is_steady = true;
  static time_point now() {
    return time_point(std::chrono::steady_clock::now().time_since_epoch());
  }
};

constinit onspin::mutex global_mutex; // constant-initialised: no constructor runs

} // namespace

TEST(CxxMutex, WorksWithStandardLockTypes) {
  onspin::mutex a, b;
  { std::lock_guard<onspin::mutex> g(a); }
  { std::scoped_lock g(a, b); }
  std::unique_lock<onspin::mutex> lk(a);
  EXPECT_TRUE(lk.owns_lock());
  lk.unlock();
  EXPECT_TRUE(a.try_lock());
  a.unlock();
  std::lock_guard<onspin::mutex> g(global_mutex);
}

TEST(CxxMutex, RelockThrowsDeadlock) {
  onspin::mutex m;
  m.lock();
  try {
    m.lock();
    FAIL() << "no exception";
  } catch (const std::system_error &e) {
    EXPECT_EQ(e.code(), std::errc::resource_deadlock_would_occur);
  }
  m.unlock();
}

TEST(CxxMutex, TimedLockingOnEveryClock) {
  onspin::mutex m;
  m.lock();
  std::thread([&] {
    auto t0 = std::chrono::steady_clock::now();
    EXPECT_FALSE(m.try_lock_for(30ms));
    EXPECT_GE(std::chrono::steady_clock::now() - t0, 30ms);
    EXPECT_FALSE(m.try_lock_until(std::chrono::system_clock::now() + 20ms));
    auto deadline = slow_clock::now() + 20ms;
    EXPECT_FALSE(m.try_lock_until(deadline));
    EXPECT_GE(slow_clock::now(), deadline);
  }).join();
  m.unlock();
  EXPECT_TRUE(m.try_lock_for(10ms));
  m.unlock();
  EXPECT_TRUE(m.try_lock_until(slow_clock::now() + 10ms));
  m.unlock();
}

TEST(CxxCondition, PredicateWaitAndTimeouts) {
  onspin::mutex m;
  onspin::condition_variable cv;
  int value = 0;
  std::thread producer([&] {
    std::this_thread::sleep_for(10ms);
    std::lock_guard<onspin::mutex> g(m);
    value = 42;
    cv.notify_one();
  });
  {
    std::unique_lock<onspin::mutex> lk(m);
    cv.wait(lk, [&] { return value == 42; });
    EXPECT_TRUE(lk.owns_lock());
  }
  producer.join();
  std::unique_lock<onspin::mutex> lk(m);
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(cv.wait_for(lk, 20ms), std::cv_status::timeout);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 20ms);
  EXPECT_FALSE(cv.wait_until(lk, std::chrono::system_clock::now() + 10ms, [] { return false; }));
  EXPECT_FALSE(cv.wait_until(lk, slow_clock::now() + 10ms, [] { return false; }));
  EXPECT_TRUE(cv.wait_for(lk, 10ms, [] { return true; }));
}

TEST(CxxRobust, OwnerDeathAndRecovery) {
  onspin::robust_mutex m;
  std::thread([&] { EXPECT_EQ(m.lock(), onspin::lock_state::consistent); }).join();
  EXPECT_EQ(m.lock(), onspin::lock_state::owner_died);
  EXPECT_TRUE(m.inconsistent());
  m.consistent();
  EXPECT_FALSE(m.inconsistent());
  m.unlock();
  { std::lock_guard<onspin::robust_mutex> g(m); }

  std::thread([&] { m.lock(); }).join();
  EXPECT_TRUE(m.try_lock());
  EXPECT_TRUE(m.inconsistent());
  m.unlock(); // not repaired: retired
  try {
    m.lock();
    FAIL() << "no exception";
  } catch (const std::system_error &e) {
    EXPECT_EQ(e.code(), std::errc::state_not_recoverable);
  }
  EXPECT_FALSE(m.try_lock());
}

TEST(CxxRobust, ConditionWaitReportsOwnerDeathOnReacquire) {
  onspin::robust_mutex m;
  onspin::condition_variable cv;
  std::unique_lock<onspin::robust_mutex> lk(m);
  std::thread killer([&] {
    m.lock(); // blocks until the wait below releases the mutex
    cv.notify_one();
    // exits holding m
  });
  cv.wait(lk);
  killer.join();
  // The notify came from a thread that kept m until it died, so the wait
  // reacquired m from a dead owner.
  EXPECT_TRUE(lk.owns_lock());
  EXPECT_TRUE(m.inconsistent());
  m.consistent();
}
