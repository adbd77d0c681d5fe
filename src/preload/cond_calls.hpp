// The interposer's implementations, by their own names (the exported,
// versioned pthread names are aliases of these: export.hpp), for the parts
// of the interposer that call each other.
#pragma once

#include <pthread.h>

extern "C" {
int onspin_pthread_mutex_lock(pthread_mutex_t *m);
int onspin_pthread_mutex_unlock(pthread_mutex_t *m);

int onspin_pthread_cond_init(pthread_cond_t *c, const pthread_condattr_t *attr);
int onspin_pthread_cond_destroy(pthread_cond_t *c);
int onspin_pthread_cond_wait(pthread_cond_t *c, pthread_mutex_t *m);
int onspin_pthread_cond_timedwait(pthread_cond_t *c, pthread_mutex_t *m,
                                  const struct timespec *abstime);
int onspin_pthread_cond_signal(pthread_cond_t *c);
int onspin_pthread_cond_broadcast(pthread_cond_t *c);
}
