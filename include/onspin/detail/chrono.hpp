// Conversion of <chrono> deadlines to the C API's (clockid, timespec) form.
#pragma once

#include <cerrno>
#include <chrono>
#include <ctime>
#include <onspin/onspin.h>

namespace onspin::detail {

template <class Duration> timespec to_timespec(Duration since_epoch) {
  using namespace std::chrono;
  auto ns = duration_cast<nanoseconds>(since_epoch).count();
  if (ns < 0) ns = 0; // before the clock's epoch: already past
  return timespec{static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)};
}

// Runs attempt(clockid, const timespec*) against the deadline tp, which may
// be on any clock. steady_clock and system_clock map to CLOCK_MONOTONIC and
// CLOCK_REALTIME directly; other clocks are waited for on steady_clock in
// steps, rechecking their own now(), as the standard library does.
// Returns the attempt's result (ETIMEDOUT when tp passed).
template <class Clock, class Duration, class Attempt>
int until(const std::chrono::time_point<Clock, Duration> &tp, Attempt attempt) {
  using namespace std::chrono;
  if constexpr (std::is_same_v<Clock, steady_clock>) {
    timespec ts = to_timespec(tp.time_since_epoch());
    return attempt(CLOCK_MONOTONIC, &ts);
  } else if constexpr (std::is_same_v<Clock, system_clock>) {
    timespec ts = to_timespec(tp.time_since_epoch());
    return attempt(CLOCK_REALTIME, &ts);
  } else {
    for (;;) {
      auto left = tp - Clock::now();
      timespec ts = to_timespec((steady_clock::now() + left).time_since_epoch());
      int r = attempt(CLOCK_MONOTONIC, &ts);
      if (r != ETIMEDOUT || Clock::now() >= tp) return r;
    }
  }
}

// onspin_mutex_timedlock against a deadline on any clock.
template <class Clock, class Duration>
int timedlock(onspin_mutex_t *m, const std::chrono::time_point<Clock, Duration> &tp) {
  return until(tp,
               [m](clockid_t c, const timespec *ts) { return onspin_mutex_timedlock(m, c, ts); });
}

} // namespace onspin::detail
