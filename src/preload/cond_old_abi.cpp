// pthread_cond_*@GLIBC_2.2.5: the condition variable of binaries linked
// before glibc 2.3.2, whose object is too small for today's. As glibc does,
// its first word points to a current condition variable, allocated on first
// use (zeroed: PTHREAD_COND_INITIALIZER) and freed by destroy. These old
// objects know no process sharing and no clock but CLOCK_REALTIME.
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <pthread.h>

#include "preload/cond_calls.hpp"
#include "preload/counters.hpp"
#include "preload/export.hpp"

using namespace onspin::preload;

namespace {

struct old_cond {
  pthread_cond_t *current;
};

std::atomic_ref<pthread_cond_t *> slot(old_cond *c) {
  return std::atomic_ref<pthread_cond_t *>(c->current);
}

// The current condition variable behind c, made on first use. Returns null
// only when memory ran out.
pthread_cond_t *current(old_cond *c) {
  note(counter::cond_calls_old_abi);
  pthread_cond_t *p = slot(c).load(std::memory_order_acquire);
  if (p) return p;
  auto *fresh = static_cast<pthread_cond_t *>(std::calloc(1, sizeof(pthread_cond_t)));
  if (fresh == nullptr) return nullptr;
  if (slot(c).compare_exchange_strong(p, fresh, std::memory_order_acq_rel)) return fresh;
  std::free(fresh); // another thread made it first
  return p;
}

} // namespace

extern "C" {

int onspin_pthread_cond_init_old(old_cond *c, const pthread_condattr_t *attr) {
  note(counter::cond_calls_old_abi);
  slot(c).store(nullptr, std::memory_order_relaxed);
  int pshared = PTHREAD_PROCESS_PRIVATE;
  clockid_t clock = CLOCK_REALTIME;
  if (attr) {
    pthread_condattr_getpshared(attr, &pshared);
    pthread_condattr_getclock(attr, &clock);
  }
  return pshared == PTHREAD_PROCESS_PRIVATE && clock == CLOCK_REALTIME ? 0 : EINVAL;
}

int onspin_pthread_cond_destroy_old(old_cond *c) {
  note(counter::cond_calls_old_abi);
  pthread_cond_t *p = slot(c).load(std::memory_order_acquire);
  if (p == nullptr) return 0;
  const int r = onspin_pthread_cond_destroy(p);
  if (r == 0) std::free(p);
  return r;
}

int onspin_pthread_cond_wait_old(old_cond *c, pthread_mutex_t *m) {
  pthread_cond_t *p = current(c);
  return p ? onspin_pthread_cond_wait(p, m) : ENOMEM;
}

int onspin_pthread_cond_timedwait_old(old_cond *c, pthread_mutex_t *m,
                                      const struct timespec *abstime) {
  pthread_cond_t *p = current(c);
  return p ? onspin_pthread_cond_timedwait(p, m, abstime) : ENOMEM;
}

int onspin_pthread_cond_signal_old(old_cond *c) {
  pthread_cond_t *p = current(c);
  return p ? onspin_pthread_cond_signal(p) : ENOMEM;
}

int onspin_pthread_cond_broadcast_old(old_cond *c) {
  pthread_cond_t *p = current(c);
  return p ? onspin_pthread_cond_broadcast(p) : ENOMEM;
}

} // extern "C"

ONSPIN_EXPORT(onspin_pthread_cond_init_old, v225, "pthread_cond_init@GLIBC_2.2.5");
ONSPIN_EXPORT(onspin_pthread_cond_destroy_old, v225, "pthread_cond_destroy@GLIBC_2.2.5");
ONSPIN_EXPORT(onspin_pthread_cond_wait_old, v225, "pthread_cond_wait@GLIBC_2.2.5");
ONSPIN_EXPORT(onspin_pthread_cond_timedwait_old, v225, "pthread_cond_timedwait@GLIBC_2.2.5");
ONSPIN_EXPORT(onspin_pthread_cond_signal_old, v225, "pthread_cond_signal@GLIBC_2.2.5");
ONSPIN_EXPORT(onspin_pthread_cond_broadcast_old, v225, "pthread_cond_broadcast@GLIBC_2.2.5");
