// The C++ headers: standard lock types, timed locking on several clocks,
// condition waits, and the robust variant.
#include <atomic>
#include <chrono>
#include <gtest/gtest.h>
#include <limits>
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

// try_lock_until(far) on a mutex another thread holds for 200 ms: it must
// sleep until the release and take the lock, not time out (at once, or over
// and over in a loop, which the timeout counter would show).
template <class Clock, class Duration>
void expect_far_lock_waits(const char *what, const std::chrono::time_point<Clock, Duration> &far) {
  SCOPED_TRACE(what);
  onspin::mutex m;
  std::atomic<bool> held{false};
  std::thread owner([&] {
    std::lock_guard<onspin::mutex> g(m);
    held = true;
    std::this_thread::sleep_for(200ms);
  });
  while (!held)
    std::this_thread::yield();
  const uint64_t timeouts = onspin::test::stats().timeouts;
  const auto t0 = std::chrono::steady_clock::now();
  const bool took = m.try_lock_until(far);
  const auto waited = std::chrono::steady_clock::now() - t0;
  EXPECT_TRUE(took) << "timed out after " << waited / 1ms << " ms";
  EXPECT_GE(waited, 100ms);
  EXPECT_EQ(onspin::test::stats().timeouts, timeouts);
  if (took) m.unlock();
  owner.join();
}

// wait_until(far) with a notify 100 ms later: woken with no_timeout. The
// notifier repeats until the waiter is back, so that a waiter that spins
// through timeouts, and misses a notify, still ends.
template <class Clock, class Duration>
void expect_far_wait_is_notified(const char *what,
                                 const std::chrono::time_point<Clock, Duration> &far) {
  SCOPED_TRACE(what);
  onspin::mutex m;
  onspin::condition_variable cv;
  bool ready = false; // guarded by m
  std::atomic<bool> back{false};
  std::unique_lock<onspin::mutex> lk(m);
  std::thread notifier([&] {
    std::this_thread::sleep_for(100ms);
    {
      std::lock_guard<onspin::mutex> g(m);
      ready = true;
    }
    while (!back) {
      cv.notify_one();
      std::this_thread::sleep_for(10ms);
    }
  });
  const uint64_t timeouts = onspin::test::stats().timeouts;
  const auto t0 = std::chrono::steady_clock::now();
  std::cv_status status = std::cv_status::no_timeout;
  while (!ready && status == std::cv_status::no_timeout)
    status = cv.wait_until(lk, far);
  const auto waited = std::chrono::steady_clock::now() - t0;
  back = true;
  EXPECT_EQ(status, std::cv_status::no_timeout) << "timed out after " << waited / 1ms << " ms";
  EXPECT_TRUE(ready);
  EXPECT_GE(waited, 50ms);
  EXPECT_EQ(onspin::test::stats().timeouts, timeouts);
  lk.unlock();
  notifier.join();
}

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

// Deadlines beyond what nanoseconds since the epoch can hold mean "wait":
// they saturate rather than overflow into the past.
TEST(CxxChrono, DeadlinesConvertExactlyAndSaturateWhenFar) {
  using namespace std::chrono;
  using onspin::detail::to_timespec;
  constexpr time_t kMaxSec = std::numeric_limits<time_t>::max();
  const auto same = [](timespec a, timespec b) {
    return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
  };
  EXPECT_TRUE(same(to_timespec(1500ms), timespec{1, 500000000}));
  EXPECT_TRUE(same(to_timespec(nanoseconds(1)), timespec{0, 1}));
  EXPECT_TRUE(same(to_timespec(duration<double>(2.25)), timespec{2, 250000000}));
  EXPECT_TRUE(same(to_timespec(-5s), timespec{0, 0}));
  EXPECT_TRUE(same(to_timespec(nanoseconds::max()), timespec{9223372036, 854775807}));
  EXPECT_TRUE(same(to_timespec(seconds(1000000000000)), timespec{1000000000000, 0}));
  EXPECT_TRUE(same(to_timespec(seconds::max()), timespec{kMaxSec, 0}));
  EXPECT_TRUE(same(to_timespec(hours::max()), timespec{kMaxSec, 0}));
  EXPECT_TRUE(same(to_timespec(duration<double>(1e300)), timespec{kMaxSec, 0}));
  EXPECT_TRUE(same(to_timespec(hours(24 * 365 * 1000)), timespec{31536000000, 0}));
}

TEST(CxxMutex, TryLockUntilAFarDeadlineWaitsForTheLock) {
  using namespace std::chrono;
  expect_far_lock_waits("steady_clock::time_point::max()", steady_clock::time_point::max());
  expect_far_lock_waits("time_point<steady_clock, seconds>::max()",
                        time_point<steady_clock, seconds>::max());
  expect_far_lock_waits("time_point_cast<seconds>(system_clock::now()) + hours(24 * 365 * 1000)",
                        time_point_cast<seconds>(system_clock::now()) + hours(24 * 365 * 1000));
  expect_far_lock_waits("time_point<system_clock, hours>::max()",
                        time_point<system_clock, hours>::max());
}

TEST(CxxMutex, TryLockUntilAFarDeadlineOnAnotherClockWaitsForTheLock) {
  using namespace std::chrono;
  expect_far_lock_waits("slow_clock::time_point::max()", slow_clock::time_point::max());
  expect_far_lock_waits("time_point<slow_clock, seconds>::max()",
                        time_point<slow_clock, seconds>::max());
}

TEST(CxxCondition, WaitUntilAFarDeadlineWaitsForTheNotify) {
  using namespace std::chrono;
  expect_far_wait_is_notified("steady_clock::time_point::max()", steady_clock::time_point::max());
  expect_far_wait_is_notified("time_point<steady_clock, seconds>::max()",
                              time_point<steady_clock, seconds>::max());
  expect_far_wait_is_notified(
      "time_point_cast<seconds>(system_clock::now()) + hours(24 * 365 * 1000)",
      time_point_cast<seconds>(system_clock::now()) + hours(24 * 365 * 1000));
}

TEST(CxxCondition, WaitUntilAFarDeadlineOnAnotherClockWaitsForTheNotify) {
  using namespace std::chrono;
  expect_far_wait_is_notified("slow_clock::time_point::max()", slow_clock::time_point::max());
  expect_far_wait_is_notified("time_point<slow_clock, seconds>::max()",
                              time_point<slow_clock, seconds>::max());
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

// try_lock_for and wait_for with the longest durations wait, rather than
// overflow into a deadline in the past.
TEST(CxxChrono, LongestDurationsWaitInsteadOfTimingOut) {
  onspin::mutex m;
  std::atomic<bool> held{false};
  std::thread holder([&] {
    std::lock_guard<onspin::mutex> lk(m);
    held = true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  });
  while (!held.load())
    std::this_thread::yield();
  EXPECT_TRUE(m.try_lock_for(std::chrono::seconds::max()));
  holder.join();
  onspin::condition_variable cv;
  bool go = false;
  std::thread notifier([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    std::lock_guard<onspin::mutex> lk(m);
    go = true;
    cv.notify_one();
  });
  {
    std::unique_lock<onspin::mutex> lk(m, std::adopt_lock);
    EXPECT_TRUE(cv.wait_for(lk, std::chrono::hours::max(), [&] { return go; }));
  }
  notifier.join();
}
