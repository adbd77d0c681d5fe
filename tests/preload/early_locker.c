/* Linked by pthread_api_tests: its constructor runs before the LD_PRELOAD
 * interposer's (the loader initialises a program's libraries first), and
 * locks and waits on a condition with a second thread. */
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

unsigned early_locker_word;
int early_locker_waited;

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t c = PTHREAD_COND_INITIALIZER;
static int flag;

static void *signaller(void *arg) {
  pthread_mutex_lock(&m);
  flag = 1;
  pthread_cond_signal(&c);
  pthread_mutex_unlock(&m);
  return arg;
}

__attribute__((constructor)) static void lock_early(void) {
  pthread_mutex_lock(&m);
  early_locker_word = m.__data.__lock;
  pthread_t t;
  pthread_create(&t, NULL, signaller, NULL);
  while (!flag)
    pthread_cond_wait(&c, &m);
  pthread_mutex_unlock(&m);
  pthread_join(t, NULL);
  early_locker_waited = 1;
}
