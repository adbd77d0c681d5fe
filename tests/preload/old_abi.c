/* A binary from before glibc 2.3.2: its condition-variable calls bind to the
 * GLIBC_2.2.5 symbols, whose object holds only a pointer to the real one.
 * Exits 0 if waits, signals, broadcasts, timeouts and destroy behave. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <time.h>

struct old_cond {
  void *current;
};

__asm__(".symver old_init, pthread_cond_init@GLIBC_2.2.5");
__asm__(".symver old_destroy, pthread_cond_destroy@GLIBC_2.2.5");
__asm__(".symver old_wait, pthread_cond_wait@GLIBC_2.2.5");
__asm__(".symver old_timedwait, pthread_cond_timedwait@GLIBC_2.2.5");
__asm__(".symver old_signal, pthread_cond_signal@GLIBC_2.2.5");
__asm__(".symver old_broadcast, pthread_cond_broadcast@GLIBC_2.2.5");
int old_init(struct old_cond *, const pthread_condattr_t *);
int old_destroy(struct old_cond *);
int old_wait(struct old_cond *, pthread_mutex_t *);
int old_timedwait(struct old_cond *, pthread_mutex_t *, const struct timespec *);
int old_signal(struct old_cond *);
int old_broadcast(struct old_cond *);

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static struct old_cond c;
static int turn, woken;

static void *waiter(void *arg) {
  (void)arg;
  pthread_mutex_lock(&m);
  while (turn == 0)
    old_wait(&c, &m);
  ++woken;
  pthread_mutex_unlock(&m);
  return NULL;
}

#define CHECK(x)                                                                                   \
  do {                                                                                             \
    if (!(x)) {                                                                                    \
      fprintf(stderr, "old_abi: %s failed (line %d)\n", #x, __LINE__);                             \
      return 1;                                                                                    \
    }                                                                                              \
  } while (0)

int main(void) {
  CHECK(old_init(&c, NULL) == 0);
  pthread_t t[3];
  for (int i = 0; i < 3; ++i)
    CHECK(pthread_create(&t[i], NULL, waiter, NULL) == 0);
  struct timespec nap = {0, 20000000};
  nanosleep(&nap, NULL);
  pthread_mutex_lock(&m);
  turn = 1;
  CHECK(old_broadcast(&c) == 0);
  pthread_mutex_unlock(&m);
  for (int i = 0; i < 3; ++i)
    pthread_join(t[i], NULL);
  CHECK(woken == 3);
  CHECK(old_signal(&c) == 0);

  struct timespec at;
  clock_gettime(CLOCK_REALTIME, &at);
  at.tv_nsec += 20000000;
  if (at.tv_nsec >= 1000000000) {
    at.tv_sec += 1;
    at.tv_nsec -= 1000000000;
  }
  pthread_mutex_lock(&m);
  CHECK(old_timedwait(&c, &m, &at) == ETIMEDOUT);
  pthread_mutex_unlock(&m);
  CHECK(old_destroy(&c) == 0);
  return 0;
}
