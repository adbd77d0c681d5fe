/*
 * The two glibc baselines of the real-program benchmark, as one LD_PRELOAD
 * object (libglibc-shim.so), chosen by ONSPIN_SHIM:
 *   passthrough  forwards the four pthread_mutex calls below to glibc
 *                unchanged: the noise floor, how much a program's figure moves
 *                between configurations that lock alike (condition variables
 *                are not interposed: their versioned symbols would need dlvsym);
 *   adaptive     the same, but every plain mutex (glibc's normal kind, which
 *                PTHREAD_MUTEX_INITIALIZER and a default init make) becomes
 *                PTHREAD_MUTEX_ADAPTIVE_NP: glibc's own spin-then-sleep.
 * Normal and adaptive mutexes share glibc's lock word protocol and unlock,
 * so a kind changed from 0 to 3 while other threads use the mutex is safe;
 * the owner's relock deadlocks in both. Every other kind (recursive, error
 * checking, robust, PI, PP, process-shared) is left as it is.
 * glibc's exported __pthread_mutex_* aliases are the forwarding targets: no
 * dlsym, so a call made before any constructor, or from inside malloc,
 * cannot recurse.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int __pthread_mutex_init(pthread_mutex_t *, const pthread_mutexattr_t *);
int __pthread_mutex_lock(pthread_mutex_t *);
int __pthread_mutex_trylock(pthread_mutex_t *);
int __pthread_mutex_unlock(pthread_mutex_t *);

#define EXPORT __attribute__((visibility("default")))

/* glibc's kind word (pthread_mutex_t.__data.__kind) for a plain mutex. */
enum { kind_normal = PTHREAD_MUTEX_TIMED_NP, kind_adaptive = PTHREAD_MUTEX_ADAPTIVE_NP };

/* Read once, before main; calls before that pass through. */
static int force_adaptive;

__attribute__((constructor(101))) static void read_mode(void) {
  const char *mode = getenv("ONSPIN_SHIM");
  if (mode == NULL || strcmp(mode, "passthrough") == 0) return;
  if (strcmp(mode, "adaptive") == 0)
    force_adaptive = 1;
  else
    fprintf(stderr,
            "glibc-shim: ONSPIN_SHIM=%s is neither passthrough nor adaptive: passing through\n",
            mode);
}

static void make_adaptive(pthread_mutex_t *m) {
  if (!force_adaptive) return;
  _Atomic int *kind = (_Atomic int *)&m->__data.__kind;
  int expected = kind_normal;
  if (atomic_load_explicit(kind, memory_order_relaxed) == kind_normal)
    atomic_compare_exchange_strong_explicit(kind, &expected, kind_adaptive, memory_order_relaxed,
                                            memory_order_relaxed);
}

EXPORT int pthread_mutex_init(pthread_mutex_t *m, const pthread_mutexattr_t *attr) {
  int err = __pthread_mutex_init(m, attr);
  if (err == 0) make_adaptive(m);
  return err;
}

EXPORT int pthread_mutex_lock(pthread_mutex_t *m) {
  make_adaptive(m);
  return __pthread_mutex_lock(m);
}

EXPORT int pthread_mutex_trylock(pthread_mutex_t *m) {
  make_adaptive(m);
  return __pthread_mutex_trylock(m);
}

EXPORT int pthread_mutex_unlock(pthread_mutex_t *m) { return __pthread_mutex_unlock(m); }
