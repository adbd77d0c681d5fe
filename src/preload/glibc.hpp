// glibc's own implementations of the functions the interposer replaces, for
// the objects it leaves to glibc (and for counting the ones it does not
// replace). Found behind this library with dlvsym(RTLD_NEXT), all at once on
// first use (the constructor makes that use early, so that later calls,
// even from signal handlers or inside malloc, find them ready).
#pragma once

#include <pthread.h>
#include <time.h>

namespace onspin::preload {

struct glibc_functions {
  int (*mutex_init)(pthread_mutex_t *, const pthread_mutexattr_t *);
  int (*mutex_destroy)(pthread_mutex_t *);
  int (*mutex_lock)(pthread_mutex_t *);
  int (*mutex_trylock)(pthread_mutex_t *);
  int (*mutex_clocklock)(pthread_mutex_t *, clockid_t, const struct timespec *);
  int (*mutex_unlock)(pthread_mutex_t *);
  int (*mutex_consistent)(pthread_mutex_t *);
  int (*cond_init)(pthread_cond_t *, const pthread_condattr_t *);
  int (*cond_destroy)(pthread_cond_t *);
  int (*cond_wait)(pthread_cond_t *, pthread_mutex_t *);
  int (*cond_clockwait)(pthread_cond_t *, pthread_mutex_t *, clockid_t, const struct timespec *);
  int (*cond_timedwait)(pthread_cond_t *, pthread_mutex_t *, const struct timespec *);
  int (*cond_signal)(pthread_cond_t *);
  int (*cond_broadcast)(pthread_cond_t *);
  int (*rwlock_init)(pthread_rwlock_t *, const pthread_rwlockattr_t *);
  int (*rwlock_destroy)(pthread_rwlock_t *);
  int (*rwlock_rdlock)(pthread_rwlock_t *);
  int (*rwlock_wrlock)(pthread_rwlock_t *);
  int (*rwlock_tryrdlock)(pthread_rwlock_t *);
  int (*rwlock_trywrlock)(pthread_rwlock_t *);
  int (*rwlock_timedrdlock)(pthread_rwlock_t *, const struct timespec *);
  int (*rwlock_timedwrlock)(pthread_rwlock_t *, const struct timespec *);
  int (*rwlock_clockrdlock)(pthread_rwlock_t *, clockid_t, const struct timespec *);
  int (*rwlock_clockwrlock)(pthread_rwlock_t *, clockid_t, const struct timespec *);
  int (*rwlock_unlock)(pthread_rwlock_t *);
  int (*spin_init)(pthread_spinlock_t *, int);
  int (*spin_destroy)(pthread_spinlock_t *);
  int (*spin_lock)(pthread_spinlock_t *);
  int (*spin_trylock)(pthread_spinlock_t *);
  int (*spin_unlock)(pthread_spinlock_t *);
  int (*barrier_init)(pthread_barrier_t *, const pthread_barrierattr_t *, unsigned);
  int (*barrier_destroy)(pthread_barrier_t *);
  int (*barrier_wait)(pthread_barrier_t *);
};

// Every pointer is set: a function glibc lacks is replaced by one that
// returns ENOSYS (and the first lookup says so on stderr).
const glibc_functions &glibc() noexcept;

} // namespace onspin::preload
