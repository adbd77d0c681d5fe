/* libglibc-shim.so's modes, seen in glibc's kind word:
 *   shim_kinds adaptive|passthrough
 * Under ONSPIN_SHIM=adaptive a statically initialised mutex (at its first
 * lock) and a default-initialised one become PTHREAD_MUTEX_ADAPTIVE_NP; under
 * passthrough both stay normal. Other kinds never change. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <string.h>

static pthread_mutex_t static_mutex = PTHREAD_MUTEX_INITIALIZER;

static int check(const char *what, int kind, int want) {
  if (kind == want) return 0;
  fprintf(stderr, "shim_kinds: %s has kind %d, want %d\n", what, kind, want);
  return 1;
}

int main(int argc, char **argv) {
  if (argc != 2) return 2;
  int plain = strcmp(argv[1], "adaptive") == 0 ? PTHREAD_MUTEX_ADAPTIVE_NP : PTHREAD_MUTEX_TIMED_NP;
  pthread_mutex_t dynamic, recursive, errorcheck;
  pthread_mutexattr_t attr;
  pthread_mutex_init(&dynamic, NULL);
  pthread_mutexattr_init(&attr);
  pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
  pthread_mutex_init(&recursive, &attr);
  pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ERRORCHECK);
  pthread_mutex_init(&errorcheck, &attr);

  int failed = check("the static mutex before its first lock", static_mutex.__data.__kind, 0);
  pthread_mutex_lock(&static_mutex);
  pthread_mutex_lock(&recursive);
  pthread_mutex_lock(&recursive);
  failed |= check("the static mutex", static_mutex.__data.__kind, plain);
  failed |= check("the default-initialised mutex", dynamic.__data.__kind, plain);
  failed |= check("the recursive mutex", recursive.__data.__kind, PTHREAD_MUTEX_RECURSIVE);
  failed |= check("the error-checking mutex", errorcheck.__data.__kind, PTHREAD_MUTEX_ERRORCHECK);
  failed |= pthread_mutex_unlock(&recursive) | pthread_mutex_unlock(&recursive);
  failed |= pthread_mutex_unlock(&static_mutex) != 0;
  /* Still a working mutex: trylock on a taken one fails, on a free one works. */
  pthread_mutex_lock(&dynamic);
  failed |= pthread_mutex_trylock(&dynamic) == 0;
  pthread_mutex_unlock(&dynamic);
  failed |= pthread_mutex_trylock(&dynamic) != 0;
  pthread_mutex_unlock(&dynamic);
  return failed;
}
