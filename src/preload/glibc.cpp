#include "preload/glibc.hpp"

#include <cerrno>
#include <cstdio>
#include <dlfcn.h>

#include "platform/errno_keeper.hpp"
#include "platform/once.hpp"

namespace onspin::preload {
namespace {

glibc_functions table;
detail::fork_safe_once once;

// A function glibc does not have (an older glibc than the symbol's version).
template <class R, class... A> struct missing {
  static R call(A...) { return ENOSYS; }
};

// The newest of the versions listed that glibc defines. glibc binds each
// caller to the version it was linked against; all of these share one
// implementation, so the newest serves every caller of ours.
template <class R, class... A>
void find(R (*&slot)(A...), const char *name, const char *newest, const char *older = nullptr) {
  void *f = dlvsym(RTLD_NEXT, name, newest);
  if (f == nullptr && older) f = dlvsym(RTLD_NEXT, name, older);
  if (f == nullptr) {
    std::fprintf(stderr, "onspin: glibc has no %s (version %s); calls to it return ENOSYS\n", name,
                 newest);
    slot = &missing<R, A...>::call;
    return;
  }
  slot = reinterpret_cast<R (*)(A...)>(f);
}

void resolve() noexcept {
  const detail::errno_keeper keep_errno;
  glibc_functions &t = table;
  find(t.mutex_init, "pthread_mutex_init", "GLIBC_2.2.5");
  find(t.mutex_destroy, "pthread_mutex_destroy", "GLIBC_2.2.5");
  find(t.mutex_lock, "pthread_mutex_lock", "GLIBC_2.2.5");
  find(t.mutex_trylock, "pthread_mutex_trylock", "GLIBC_2.34", "GLIBC_2.2.5");
  find(t.mutex_clocklock, "pthread_mutex_clocklock", "GLIBC_2.34", "GLIBC_2.30");
  find(t.mutex_unlock, "pthread_mutex_unlock", "GLIBC_2.2.5");
  find(t.mutex_consistent, "pthread_mutex_consistent", "GLIBC_2.34", "GLIBC_2.12");
  find(t.cond_init, "pthread_cond_init", "GLIBC_2.3.2");
  find(t.cond_destroy, "pthread_cond_destroy", "GLIBC_2.3.2");
  find(t.cond_wait, "pthread_cond_wait", "GLIBC_2.3.2");
  find(t.cond_clockwait, "pthread_cond_clockwait", "GLIBC_2.34", "GLIBC_2.30");
  find(t.cond_timedwait, "pthread_cond_timedwait", "GLIBC_2.3.2");
  find(t.cond_signal, "pthread_cond_signal", "GLIBC_2.3.2");
  find(t.cond_broadcast, "pthread_cond_broadcast", "GLIBC_2.3.2");
  find(t.rwlock_init, "pthread_rwlock_init", "GLIBC_2.34", "GLIBC_2.2.5");
  find(t.rwlock_destroy, "pthread_rwlock_destroy", "GLIBC_2.34", "GLIBC_2.2.5");
  find(t.rwlock_rdlock, "pthread_rwlock_rdlock", "GLIBC_2.34", "GLIBC_2.2.5");
  find(t.rwlock_wrlock, "pthread_rwlock_wrlock", "GLIBC_2.34", "GLIBC_2.2.5");
  find(t.rwlock_tryrdlock, "pthread_rwlock_tryrdlock", "GLIBC_2.34", "GLIBC_2.2.5");
  find(t.rwlock_trywrlock, "pthread_rwlock_trywrlock", "GLIBC_2.34", "GLIBC_2.2.5");
  find(t.rwlock_timedrdlock, "pthread_rwlock_timedrdlock", "GLIBC_2.34", "GLIBC_2.2.5");
  find(t.rwlock_timedwrlock, "pthread_rwlock_timedwrlock", "GLIBC_2.34", "GLIBC_2.2.5");
  find(t.rwlock_clockrdlock, "pthread_rwlock_clockrdlock", "GLIBC_2.34", "GLIBC_2.30");
  find(t.rwlock_clockwrlock, "pthread_rwlock_clockwrlock", "GLIBC_2.34", "GLIBC_2.30");
  find(t.rwlock_unlock, "pthread_rwlock_unlock", "GLIBC_2.34", "GLIBC_2.2.5");
  find(t.spin_init, "pthread_spin_init", "GLIBC_2.34", "GLIBC_2.2.5");
  find(t.spin_destroy, "pthread_spin_destroy", "GLIBC_2.34", "GLIBC_2.2.5");
  find(t.spin_lock, "pthread_spin_lock", "GLIBC_2.34", "GLIBC_2.2.5");
  find(t.spin_trylock, "pthread_spin_trylock", "GLIBC_2.34", "GLIBC_2.2.5");
  find(t.spin_unlock, "pthread_spin_unlock", "GLIBC_2.34", "GLIBC_2.2.5");
  find(t.barrier_init, "pthread_barrier_init", "GLIBC_2.34", "GLIBC_2.2.5");
  find(t.barrier_destroy, "pthread_barrier_destroy", "GLIBC_2.34", "GLIBC_2.2.5");
  find(t.barrier_wait, "pthread_barrier_wait", "GLIBC_2.34", "GLIBC_2.2.5");
}

} // namespace

const glibc_functions &glibc() noexcept {
  once.call(resolve);
  return table;
}

} // namespace onspin::preload
