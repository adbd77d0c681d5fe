// Conversion of <chrono> deadlines to the C API's (clockid, timespec) form.
#pragma once

#include <cerrno>
#include <chrono>
#include <ctime>
#include <limits>
#include <onspin/onspin.h>
#include <type_traits>

namespace onspin::detail {

// A time since a clock's epoch as a timespec, saturated: a time before the
// epoch is 0 (already past), one at the end of time_t's range the largest
// time_t. Seconds and the fraction are converted apart, because a coarse far
// time (time_point<steady_clock, seconds>::max()) overflows in nanoseconds.
template <class Rep, class Period> timespec to_timespec(std::chrono::duration<Rep, Period> d) {
  using namespace std::chrono;
  constexpr time_t kMaxSec = std::numeric_limits<time_t>::max();
  // Tested in floating point, which cannot overflow; a margin of a 1024th of
  // the range keeps its rounding from crossing the real limit.
  constexpr double kFarSec = static_cast<double>(kMaxSec - kMaxSec / 1024);
  if (d <= d.zero()) return timespec{0, 0};
  if constexpr (treat_as_floating_point_v<Rep> ||
                duration<double>(duration<Rep, Period>::max()).count() >= kFarSec)
    if (duration<double>(d).count() >= kFarSec) return timespec{kMaxSec, 0};
  const auto s = duration_cast<seconds>(d);
  const auto ns = duration_cast<nanoseconds>(d - s);
  return timespec{static_cast<time_t>(s.count()), static_cast<long>(ns.count())};
}

// The longest single wait for a deadline on another clock, after which that
// clock is read again. It keeps steady_clock::now() plus the wait within
// nanoseconds' range (292 years), however far the deadline.
inline constexpr std::chrono::hours kMaxStep{24 * 365 * 100};

// tp - Clock::now() as a steady_clock wait, rounded up (so it is zero or less
// exactly when tp has passed) and clamped to kMaxStep either way. The
// difference is estimated in floating point first: for a far tp, computing it
// exactly converts tp to a finer unit, which overflows.
template <class Clock, class Duration>
std::chrono::steady_clock::duration time_left(const std::chrono::time_point<Clock, Duration> &tp) {
  using namespace std::chrono;
  const auto now = Clock::now();
  const duration<double> rough =
      duration<double>(tp.time_since_epoch()) - duration<double>(now.time_since_epoch());
  if (rough >= kMaxStep) return kMaxStep;
  if (rough <= -kMaxStep) return -kMaxStep;
  return std::chrono::ceil<steady_clock::duration>(tp - now);
}

// steady_clock::now() + d for try_lock_for and wait_for, with d clamped to
// kMaxStep (100 years: for ever, in practice), since a longer d such as
// seconds::max() overflows the sum.
template <class Rep, class Period>
std::chrono::steady_clock::time_point steady_after(const std::chrono::duration<Rep, Period> &d) {
  using namespace std::chrono;
  const auto now = steady_clock::now();
  if (duration<double>(d) >= kMaxStep) return now + kMaxStep;
  return now + ceil<steady_clock::duration>(d);
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
      timespec ts = to_timespec((steady_clock::now() + time_left(tp)).time_since_epoch());
      int r = attempt(CLOCK_MONOTONIC, &ts);
      if (r != ETIMEDOUT || time_left(tp) <= steady_clock::duration::zero()) return r;
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
