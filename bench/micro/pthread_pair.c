/* The cost of an uncontended pthread_mutex_lock+unlock pair, as a program
 * sees it: through the dynamic linker's PLT into glibc, or into onspin's
 * interposer when it runs under LD_PRELOAD. Prints "<ns per pair> <served
 * by>" once; bench/micro/preload-pair runs it both ways, interleaved.
 *   pthread_pair [--threaded] [ITERATIONS]
 * --threaded starts an idle second thread first. glibc's lock uses plain
 * (non-atomic) instructions while a process has a single thread, so only a
 * threaded process shows the cost a lock has where locks matter. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static void *idle(void *arg) {
  pause();
  return arg;
}

int main(int argc, char **argv) {
  long iters = 5000000;
  for (int i = 1; i < argc; ++i) {
    if (strcmp(argv[i], "--threaded") == 0) {
      pthread_t t;
      pthread_create(&t, NULL, idle, NULL);
    } else {
      iters = atol(argv[i]);
    }
  }
  static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
  pthread_mutex_lock(&m);
  /* onspin's word holds the owner's TID, glibc's 1. */
  const char *served = (unsigned)m.__data.__lock == (unsigned)gettid() ? "onspin" : "glibc";
  pthread_mutex_unlock(&m);
  const double t0 = now_ns();
  for (long i = 0; i < iters; ++i) {
    pthread_mutex_lock(&m);
    __asm__ volatile("" ::: "memory");
    pthread_mutex_unlock(&m);
  }
  printf("%.2f %s\n", (now_ns() - t0) / iters, served);
  return 0;
}
