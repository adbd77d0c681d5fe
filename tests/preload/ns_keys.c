/* Run in a child PID namespace with the bpf oracle: every thread must key
 * its locks by its root-namespace TID (what the oracle's map is indexed by),
 * including threads whose first lock comes while another thread is still
 * choosing the oracle. A thread keyed by its namespace TID could share its
 * key with another thread's root TID. Exits 0 if no lock word holds a
 * namespace TID. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <unistd.h>

enum { kThreads = 8 };
static atomic_int go;
static unsigned key[kThreads], ns_tid[kThreads];

static void *first_lock(void *arg) {
  const long i = (long)arg;
  while (!atomic_load(&go)) {
  }
  pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
  pthread_mutex_lock(&m); /* this thread's first: its key is computed now */
  key[i] = m.__data.__lock;
  ns_tid[i] = (unsigned)gettid();
  pthread_mutex_unlock(&m);
  return NULL;
}

int main(void) {
  pthread_t t[kThreads];
  for (long i = 0; i < kThreads; ++i)
    pthread_create(&t[i], NULL, first_lock, (void *)i);
  usleep(50000);
  atomic_store(&go, 1); /* all at once, into the oracle's choice */
  int bad = 0;
  for (int i = 0; i < kThreads; ++i) {
    pthread_join(t[i], NULL);
    if (key[i] == ns_tid[i]) {
      printf("thread with namespace TID %u locked under it\n", ns_tid[i]);
      ++bad;
    }
  }
  printf("%d of %d threads keyed by their namespace TID\n", bad, kThreads);
  return bad != 0;
}
