// pthread locks onspin does not replace (reader-writer locks, spinlocks,
// barriers), interposed only to be counted, so that the report at exit
// shows what a program locks outside onspin's reach. Each call goes on to
// glibc unchanged.
#include <pthread.h>

#include "preload/counters.hpp"
#include "preload/export.hpp"
#include "preload/glibc.hpp"

using namespace onspin::preload;

namespace {

const glibc_functions &rwlock() {
  note(counter::rwlock_calls);
  return glibc();
}
const glibc_functions &spin() {
  note(counter::spin_calls);
  return glibc();
}
const glibc_functions &barrier() {
  note(counter::barrier_calls);
  return glibc();
}

} // namespace

extern "C" {

int onspin_rwlock_init(pthread_rwlock_t *l, const pthread_rwlockattr_t *a) {
  return rwlock().rwlock_init(l, a);
}
int onspin_rwlock_destroy(pthread_rwlock_t *l) { return rwlock().rwlock_destroy(l); }
int onspin_rwlock_rdlock(pthread_rwlock_t *l) { return rwlock().rwlock_rdlock(l); }
int onspin_rwlock_wrlock(pthread_rwlock_t *l) { return rwlock().rwlock_wrlock(l); }
int onspin_rwlock_tryrdlock(pthread_rwlock_t *l) { return rwlock().rwlock_tryrdlock(l); }
int onspin_rwlock_trywrlock(pthread_rwlock_t *l) { return rwlock().rwlock_trywrlock(l); }
int onspin_rwlock_timedrdlock(pthread_rwlock_t *l, const struct timespec *t) {
  return rwlock().rwlock_timedrdlock(l, t);
}
int onspin_rwlock_timedwrlock(pthread_rwlock_t *l, const struct timespec *t) {
  return rwlock().rwlock_timedwrlock(l, t);
}
int onspin_rwlock_clockrdlock(pthread_rwlock_t *l, clockid_t c, const struct timespec *t) {
  return rwlock().rwlock_clockrdlock(l, c, t);
}
int onspin_rwlock_clockwrlock(pthread_rwlock_t *l, clockid_t c, const struct timespec *t) {
  return rwlock().rwlock_clockwrlock(l, c, t);
}
int onspin_rwlock_unlock(pthread_rwlock_t *l) { return rwlock().rwlock_unlock(l); }

int onspin_spin_init(pthread_spinlock_t *l, int pshared) { return spin().spin_init(l, pshared); }
int onspin_spin_destroy(pthread_spinlock_t *l) { return spin().spin_destroy(l); }
int onspin_spin_lock(pthread_spinlock_t *l) { return spin().spin_lock(l); }
int onspin_spin_trylock(pthread_spinlock_t *l) { return spin().spin_trylock(l); }
int onspin_spin_unlock(pthread_spinlock_t *l) { return spin().spin_unlock(l); }

int onspin_barrier_init(pthread_barrier_t *b, const pthread_barrierattr_t *a, unsigned n) {
  return barrier().barrier_init(b, a, n);
}
int onspin_barrier_destroy(pthread_barrier_t *b) { return barrier().barrier_destroy(b); }
int onspin_barrier_wait(pthread_barrier_t *b) { return barrier().barrier_wait(b); }

} // extern "C"

// Each under every version glibc 2.36 exports it with.
#define ONSPIN_EXPORT_BOTH(impl, name, older_tag, older)                                           \
  ONSPIN_EXPORT(impl, older_tag, name "@" older);                                                  \
  ONSPIN_EXPORT(impl, v234, name "@@GLIBC_2.34")

ONSPIN_EXPORT_BOTH(onspin_rwlock_init, "pthread_rwlock_init", v225, "GLIBC_2.2.5");
ONSPIN_EXPORT_BOTH(onspin_rwlock_destroy, "pthread_rwlock_destroy", v225, "GLIBC_2.2.5");
ONSPIN_EXPORT_BOTH(onspin_rwlock_rdlock, "pthread_rwlock_rdlock", v225, "GLIBC_2.2.5");
ONSPIN_EXPORT_BOTH(onspin_rwlock_wrlock, "pthread_rwlock_wrlock", v225, "GLIBC_2.2.5");
ONSPIN_EXPORT_BOTH(onspin_rwlock_tryrdlock, "pthread_rwlock_tryrdlock", v225, "GLIBC_2.2.5");
ONSPIN_EXPORT_BOTH(onspin_rwlock_trywrlock, "pthread_rwlock_trywrlock", v225, "GLIBC_2.2.5");
ONSPIN_EXPORT_BOTH(onspin_rwlock_timedrdlock, "pthread_rwlock_timedrdlock", v225, "GLIBC_2.2.5");
ONSPIN_EXPORT_BOTH(onspin_rwlock_timedwrlock, "pthread_rwlock_timedwrlock", v225, "GLIBC_2.2.5");
ONSPIN_EXPORT_BOTH(onspin_rwlock_clockrdlock, "pthread_rwlock_clockrdlock", v230, "GLIBC_2.30");
ONSPIN_EXPORT_BOTH(onspin_rwlock_clockwrlock, "pthread_rwlock_clockwrlock", v230, "GLIBC_2.30");
ONSPIN_EXPORT_BOTH(onspin_rwlock_unlock, "pthread_rwlock_unlock", v225, "GLIBC_2.2.5");
ONSPIN_EXPORT_BOTH(onspin_spin_init, "pthread_spin_init", v225, "GLIBC_2.2.5");
ONSPIN_EXPORT_BOTH(onspin_spin_destroy, "pthread_spin_destroy", v225, "GLIBC_2.2.5");
ONSPIN_EXPORT_BOTH(onspin_spin_lock, "pthread_spin_lock", v225, "GLIBC_2.2.5");
ONSPIN_EXPORT_BOTH(onspin_spin_trylock, "pthread_spin_trylock", v225, "GLIBC_2.2.5");
ONSPIN_EXPORT_BOTH(onspin_spin_unlock, "pthread_spin_unlock", v225, "GLIBC_2.2.5");
ONSPIN_EXPORT_BOTH(onspin_barrier_init, "pthread_barrier_init", v225, "GLIBC_2.2.5");
ONSPIN_EXPORT_BOTH(onspin_barrier_destroy, "pthread_barrier_destroy", v225, "GLIBC_2.2.5");
ONSPIN_EXPORT_BOTH(onspin_barrier_wait, "pthread_barrier_wait", v225, "GLIBC_2.2.5");
