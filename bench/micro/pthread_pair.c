/* The cost of an uncontended pthread_mutex_lock+unlock pair, as a program
 * sees it: through the dynamic linker's PLT into glibc, or into onspin's
 * interposer when it runs under LD_PRELOAD. Prints "<ns per pair> <served
 * by>" once; bench/micro/preload-pair runs it both ways, interleaved. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e9 + ts.tv_nsec;
}

int main(int argc, char **argv) {
  const long iters = argc > 1 ? atol(argv[1]) : 5000000;
  static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
  pthread_mutex_lock(&m);
  /* onspin's word holds the owner's TID, glibc's 1. */
  const char *served = m.__data.__lock == (unsigned)gettid() ? "onspin" : "glibc";
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
