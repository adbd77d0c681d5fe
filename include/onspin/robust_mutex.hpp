// onspin::robust_mutex: a mutex that survives the death of its owner.
//
// If the owning thread exits, or its process dies, while holding the lock,
// the next thread to lock it is told so and owns it:
//
//   if (m.lock() == onspin::lock_state::owner_died) {
//     repair(shared_state);   // the dead owner may have left it half-updated
//     m.consistent();         // without this, unlock() retires the mutex
//   }
//   ...
//   m.unlock();
//
// Death is detected by the kernel, not by polling: the held lock is linked
// into the owner thread's robust futex list (the one glibc registers), which
// the kernel walks when the thread exits, marking the lock OWNER_DIED and
// waking one waiter. Limits (see onspin.h): at most 2048 robust locks held per
// thread, TIDs of the caller's own PID namespace, glibc's robust-list layout.
// A robust mutex costs a few extra stores per lock and unlock.
#pragma once

#include <onspin/mutex.hpp>

namespace onspin {

class condition_variable;

enum class lock_state {
  consistent, // the previous owner released the lock normally
  owner_died, // the previous owner died holding it; the caller now owns it
};

class robust_mutex {
public:
  // Throws std::system_error(ENOTSUP) if robust locks cannot work in this
  // thread (its robust list is not in glibc's layout: never seen with glibc).
  explicit robust_mutex(sharing s = sharing::process_private) {
    onspin_mutexattr_t a = detail::mutex_attr(s, true);
    if (int r = onspin_mutex_init(&m_, &a)) throw std::system_error(r, std::generic_category());
  }
  robust_mutex(const robust_mutex &) = delete;
  robust_mutex &operator=(const robust_mutex &) = delete;

  // Blocks until the caller owns the mutex; never hangs on a dead owner.
  // Returns owner_died when the previous owner died holding it: the caller
  // owns it, and inconsistent() is true until consistent() is called.
  // Throws std::system_error with errc::state_not_recoverable if a previous
  // owner unlocked it while inconsistent (the mutex is retired for good), or
  // resource_deadlock_would_occur if the caller already owns it.
  lock_state lock() { return note(onspin_mutex_lock(&m_)); }

  // Takes the mutex if it is free now (also when its owner died: check
  // inconsistent()). False if another thread holds it or it is retired.
  bool try_lock() noexcept {
    int r = onspin_mutex_trylock(&m_);
    if (r != 0 && r != EOWNERDEAD) return false;
    note(r);
    return true;
  }

  template <class Rep, class Period>
  bool try_lock_for(const std::chrono::duration<Rep, Period> &d) {
    return try_lock_until(detail::steady_after(d));
  }
  // True once the caller owns the mutex (check inconsistent()), false at tp.
  // Throws as lock() does.
  template <class Clock, class Duration>
  bool try_lock_until(const std::chrono::time_point<Clock, Duration> &tp) {
    int r = detail::timedlock(&m_, tp);
    if (r == ETIMEDOUT) return false;
    note(r);
    return true;
  }

  // Releases the mutex. If it is still inconsistent, retires it: every later
  // lock fails with state_not_recoverable, and current waiters are woken to
  // hear so.
  void unlock() noexcept {
    owner_died_ = false;
    onspin_mutex_unlock(&m_);
  }

  // Declares the state the dead owner left repaired. The caller must own the
  // mutex after an owner_died result. Throws std::system_error otherwise.
  void consistent() {
    if (int r = onspin_mutex_consistent(&m_)) throw std::system_error(r, std::generic_category());
    owner_died_ = false;
  }

  // True while the caller holds a lock obtained from a dead owner and has not
  // called consistent().
  bool inconsistent() const noexcept { return owner_died_; }

  onspin_mutex_t *native_handle() noexcept { return &m_; }

private:
  friend class condition_variable; // reports EOWNERDEAD from its reacquire

  // Records an owner-death result (the flag is the owner's alone to touch).
  lock_state note(int r) {
    if (r == 0) return lock_state::consistent;
    if (r == EOWNERDEAD) {
      owner_died_ = true;
      return lock_state::owner_died;
    }
    throw std::system_error(r, std::generic_category());
  }
  onspin_mutex_t m_;
  bool owner_died_ = false;
};

} // namespace onspin
