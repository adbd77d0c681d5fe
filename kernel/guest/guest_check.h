/* What every guest test program needs: a check that prints its verdict and
 * counts failures, the monotonic clock, and pinning to a CPU. */
#ifndef ONSPIN_GUEST_CHECK_H
#define ONSPIN_GUEST_CHECK_H

#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static int failures;

static void check(int ok, const char *what) {
  printf("  %s: %s\n", ok ? "ok  " : "FAIL", what);
  if (!ok) ++failures;
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Pins the calling thread to `cpu`; a test cannot go on unpinned. */
static void pin(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (sched_setaffinity(0, sizeof set, &set) != 0) {
    perror("sched_setaffinity");
    exit(2);
  }
}

#endif
