/* A C program linked to libonspin: proves the header is valid C and reports
 * what the environment configured, for the configuration tests. With an
 * argument "contend" it also makes one contended acquisition. */
#define _DEFAULT_SOURCE /* usleep */
#include <onspin/onspin.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static onspin_mutex_t lock = ONSPIN_MUTEX_INITIALIZER;
static int held; /* the holder owns the lock (however slowly it started) */

static void *hold(void *arg) {
  (void)arg;
  onspin_mutex_lock(&lock);
  __atomic_store_n(&held, 1, __ATOMIC_RELEASE);
  usleep(20000);
  onspin_mutex_unlock(&lock);
  return NULL;
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "contend") == 0) {
    pthread_t t;
    pthread_create(&t, NULL, hold, NULL);
    while (!__atomic_load_n(&held, __ATOMIC_ACQUIRE))
      usleep(1000);
    onspin_mutex_lock(&lock);
    onspin_mutex_unlock(&lock);
    pthread_join(t, NULL);
  }
  printf("oracle=%s\nreason=%s\n", onspin_oracle_name(), onspin_oracle_reason());
  return 0;
}
