/* Loaded with dlopen by pthread_api_tests: its pthread calls bind when it
 * loads, after the interposer's constructor ran. */
#include <pthread.h>

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;

unsigned dl_locker_word_while_held(void) {
  pthread_mutex_lock(&m);
  unsigned w = m.__data.__lock;
  pthread_mutex_unlock(&m);
  return w;
}
