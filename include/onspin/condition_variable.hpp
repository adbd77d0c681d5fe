// onspin::condition_variable: waits for a condition under an onspin::mutex
// or onspin::robust_mutex.
//
//   std::unique_lock<onspin::mutex> lk(m);
//   cv.wait(lk, [&] { return !queue.empty(); });
//
// Guarantees: a notify that happens after a waiter released the mutex wakes it
// (no lost wake-ups). The object may be destroyed as soon as every waiter was
// notified, even while the woken are still leaving: the destructor waits
// for them (never for the mutex, which the caller may hold). As with
// every condition variable a wait may return without a notify (rarely: when a
// signal handler interrupted it as the condition changed), so wait with a
// predicate or in a loop. All waiters of one condition_variable must use the
// same mutex at a time.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <onspin/detail/chrono.hpp>
#include <onspin/mutex.hpp>
#include <onspin/onspin.h>
#include <onspin/robust_mutex.hpp>
#include <system_error>

namespace onspin {

class condition_variable {
public:
  constexpr condition_variable() noexcept = default;

  // process_shared: waiters and notifiers may be in several processes; the
  // object and its mutex must then live in shared memory.
  explicit condition_variable(sharing s) noexcept {
    onspin_condattr_t a;
    onspin_condattr_init(&a);
    onspin_condattr_setpshared(&a, s == sharing::process_shared ? ONSPIN_PROCESS_SHARED
                                                                : ONSPIN_PROCESS_PRIVATE);
    onspin_cond_init(&c_, &a);
  }
  // With waiters that were never notified this is undefined, as for
  // std::condition_variable; onspin then leaves the object as it is.
  ~condition_variable() { onspin_cond_destroy(&c_); }
  condition_variable(const condition_variable &) = delete;
  condition_variable &operator=(const condition_variable &) = delete;

  // Wakes one waiter, if any. No system call when nobody waits.
  void notify_one() noexcept { onspin_cond_signal(&c_); }
  // Wakes all waiters.
  void notify_all() noexcept { onspin_cond_broadcast(&c_); }

  // Releases lk's mutex, waits for a notify, reacquires it. Mutex is any
  // onspin mutex type (it must have native_handle()). If reacquiring a
  // robust_mutex finds its owner dead, the wait returns holding it with
  // inconsistent() true; if the mutex was retired, throws std::system_error
  // and lk no longer owns it.
  template <class Mutex> void wait(std::unique_lock<Mutex> &lk) {
    check(lk, onspin_cond_wait(&c_, lk.mutex()->native_handle()));
  }
  template <class Mutex, class Predicate> void wait(std::unique_lock<Mutex> &lk, Predicate pred) {
    while (!pred())
      wait(lk);
  }

  // As wait(), giving up at tp (any clock). Returns cv_status::timeout if tp
  // passed without a notify; lk's mutex is held again either way.
  template <class Mutex, class Clock, class Duration>
  std::cv_status wait_until(std::unique_lock<Mutex> &lk,
                            const std::chrono::time_point<Clock, Duration> &tp) {
    int r = detail::until(tp, [&](clockid_t c, const timespec *ts) {
      return onspin_cond_timedwait(&c_, lk.mutex()->native_handle(), c, ts);
    });
    if (r == ETIMEDOUT) return std::cv_status::timeout;
    check(lk, r);
    return std::cv_status::no_timeout;
  }
  template <class Mutex, class Clock, class Duration, class Predicate>
  bool wait_until(std::unique_lock<Mutex> &lk, const std::chrono::time_point<Clock, Duration> &tp,
                  Predicate pred) {
    while (!pred())
      if (wait_until(lk, tp) == std::cv_status::timeout) return pred();
    return true;
  }
  template <class Mutex, class Rep, class Period>
  std::cv_status wait_for(std::unique_lock<Mutex> &lk,
                          const std::chrono::duration<Rep, Period> &d) {
    return wait_until(lk, detail::steady_after(d));
  }
  template <class Mutex, class Rep, class Period, class Predicate>
  bool wait_for(std::unique_lock<Mutex> &lk, const std::chrono::duration<Rep, Period> &d,
                Predicate pred) {
    return wait_until(lk, detail::steady_after(d), std::move(pred));
  }

  onspin_cond_t *native_handle() noexcept { return &c_; }

private:
  template <class Mutex> static void check(std::unique_lock<Mutex> &lk, int r) {
    if (r == 0) return;
    if (r == EOWNERDEAD) {
      if constexpr (std::is_same_v<Mutex, robust_mutex>) lk.mutex()->note(r);
      return;
    }
    if (r == ENOTRECOVERABLE) lk.release(); // the mutex is not held
    throw std::system_error(r, std::generic_category());
  }
  onspin_cond_t c_ = ONSPIN_COND_INITIALIZER;
};

} // namespace onspin
