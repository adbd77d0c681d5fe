/* C example: four threads increment a counter under an onspin mutex. */
#include <onspin/onspin.h>
#include <pthread.h>
#include <stdio.h>

static onspin_mutex_t lock = ONSPIN_MUTEX_INITIALIZER;
static long counter;

static void *work(void *arg) {
  (void)arg;
  for (int i = 0; i < 100000; ++i) {
    onspin_mutex_lock(&lock);
    ++counter;
    onspin_mutex_unlock(&lock);
  }
  return NULL;
}

int main(void) {
  pthread_t t[4];
  for (int i = 0; i < 4; ++i)
    pthread_create(&t[i], NULL, work, NULL);
  for (int i = 0; i < 4; ++i)
    pthread_join(t[i], NULL);
  printf("counter = %ld (expected 400000), oracle: %s\n", counter, onspin_oracle_name());
  return counter == 400000 ? 0 : 1;
}
