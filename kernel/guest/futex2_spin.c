/* FUTEX2_SPIN semantics (kernel/patches/0002). Static, run in the guest by
 * kernel/run-tests:
 *   futex2_spin present   the patched kernel: every check below must hold
 *   futex2_spin absent    the unpatched kernel: the flag is refused
 * The owner runs on CPU 1, the waiter on CPU 0. */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "guest_check.h"

#ifndef SYS_futex_wait
#define SYS_futex_wait 455
#endif
#define F2_U32 0x02
#define F2_PRIVATE 128
#define F2_SPIN 0x40
#define WAITERS 0x80000000u

/* futex_wait with FUTEX2_SPIN; returns 0 or an errno value. A relative
 * timeout in ms, or 0 for none. */
static int spin_wait(uint32_t *word, uint32_t val, int timeout_ms) {
  struct timespec ts, *to = NULL;
  if (timeout_ms > 0) {
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
    ts.tv_sec += timeout_ms / 1000 + ts.tv_nsec / 1000000000;
    ts.tv_nsec %= 1000000000;
    to = &ts;
  }
  long r = syscall(SYS_futex_wait, word, (unsigned long)val, (unsigned long)FUTEX_BITSET_MATCH_ANY,
                   F2_U32 | F2_PRIVATE | F2_SPIN, to, CLOCK_MONOTONIC);
  return r == 0 ? 0 : errno;
}

static long voluntary_switches(void) {
  struct rusage ru;
  getrusage(RUSAGE_THREAD, &ru);
  return ru.ru_nvcsw;
}

static uint32_t gettid_u32(void) { return (uint32_t)syscall(SYS_gettid); }

struct owner {
  uint32_t word;
  int busy_us;  /* hold the lock running for this long */
  int sleep_ms; /* or holding it asleep */
  int waiters;  /* set WAITERS in the word from the start */
  atomic_int holding;
};

static void *owner_main(void *arg) {
  struct owner *o = arg;
  pin(1);
  __atomic_store_n(&o->word, gettid_u32() | (o->sleep_ms || o->waiters ? WAITERS : 0),
                   __ATOMIC_RELEASE);
  atomic_store(&o->holding, 1);
  if (o->busy_us) {
    const uint64_t end = now_ns() + (uint64_t)o->busy_us * 1000u;
    while (now_ns() < end) {
    }
  } else {
    struct timespec d = {o->sleep_ms / 1000, (long)(o->sleep_ms % 1000) * 1000000};
    nanosleep(&d, NULL);
  }
  const uint32_t old = __atomic_exchange_n(&o->word, 0, __ATOMIC_RELEASE);
  if (old & WAITERS) syscall(SYS_futex, &o->word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
  return NULL;
}

static void start_owner(struct owner *o, pthread_t *t) {
  pthread_create(t, NULL, owner_main, o);
  while (!atomic_load(&o->holding)) {
  }
}

/* The owner runs for 300 us, then unlocks. The waiter should spin through
 * it and see the word change: EAGAIN, without sleeping. The spin also ends,
 * correctly, when the owner is switched out for a moment or the waiter must
 * reschedule, so most rounds, not all, must show it. (Holds of 10 ms were
 * spun through in only 4 to 6 rounds of 20 under TCG: a spin that long is
 * cut short by the scheduler, as it should be.) Each round prints one
 * letter: S spun through, W slept and was woken, ? anything else. */
static void check_running_owner(void) {
  printf("owner running on CPU 1 for 300 us, 20 rounds:\n  ");
  int spun = 0;
  double ms_sum = 0;
  for (int round = 0; round < 20; ++round) {
    struct owner o = {.busy_us = 300, .waiters = 1};
    pthread_t t;
    start_owner(&o, &t);
    const uint32_t seen = __atomic_load_n(&o.word, __ATOMIC_ACQUIRE);
    const long before = voluntary_switches();
    const uint64_t t0 = now_ns();
    const int r = seen ? spin_wait(&o.word, seen, 5000) : -1;
    ms_sum += (double)(now_ns() - t0) / 1e6;
    const long switches = voluntary_switches() - before;
    pthread_join(t, NULL);
    const int s = r == EAGAIN && switches == 0;
    spun += s;
    putchar(s ? 'S' : r == 0 && switches > 0 ? 'W' : '?');
  }
  printf("\n  %d of 20 waits ended with EAGAIN and no context switch; %.1f ms per wait\n", spun,
         ms_sum / 20);
  check(spun >= 14, "the waiter spins while the owner runs and sees the unlock (14 of 20)");
}

static void check_sleeping_owner(void) {
  printf("owner asleep for 200 ms holding the lock, unlocking with FUTEX_WAKE:\n");
  struct owner o = {.sleep_ms = 200};
  pthread_t t;
  start_owner(&o, &t);
  usleep(20000); /* the owner is asleep by now */
  const uint32_t seen = __atomic_load_n(&o.word, __ATOMIC_ACQUIRE);
  const long before = voluntary_switches();
  const uint64_t t0 = now_ns();
  int r = seen ? spin_wait(&o.word, seen, 5000) : EAGAIN;
  const double ms = (double)(now_ns() - t0) / 1e6;
  const long switches = voluntary_switches() - before;
  pthread_join(t, NULL);
  printf("  returned %s after %.1f ms, %ld voluntary context switches\n",
         r ? strerrorname_np(r) : "0", ms, switches);
  check(r == 0, "the waiter slept and was woken (0)");
  check(switches >= 1, "it slept rather than spun");
}

static void *nothing(void *arg) {
  *(uint32_t *)arg = gettid_u32();
  return NULL;
}

static void check_errors(void) {
  printf("errors:\n");
  uint32_t word = WAITERS; /* no TID */
  int r = spin_wait(&word, word, 1000);
  printf("  no TID: %s\n", strerrorname_np(r));
  check(r == EINVAL, "a word without a TID gives EINVAL");
  uint32_t dead = 0;
  pthread_t t;
  pthread_create(&t, NULL, nothing, &dead);
  pthread_join(t, NULL);
  usleep(10000);
  word = dead | WAITERS;
  r = spin_wait(&word, word, 1000);
  printf("  exited thread's TID: %s\n", strerrorname_np(r));
  check(r == ESRCH, "a dead owner gives ESRCH");
  word = gettid_u32();
  r = spin_wait(&word, word, 1000);
  printf("  own TID: %s\n", strerrorname_np(r));
  check(r == EDEADLK, "the caller's own TID gives EDEADLK");
  word = 5;
  r = spin_wait(&word, 6, 1000);
  check(r == EAGAIN, "a value that does not match gives EAGAIN");
}

static void check_timeout(void) {
  printf("timeout of 50 ms while the owner runs for 400 ms:\n");
  struct owner o = {.busy_us = 400000, .waiters = 1};
  pthread_t t;
  start_owner(&o, &t);
  const uint32_t seen = __atomic_load_n(&o.word, __ATOMIC_ACQUIRE);
  const uint64_t t0 = now_ns();
  const int r = spin_wait(&o.word, seen | 0, 50);
  const double ms = (double)(now_ns() - t0) / 1e6;
  pthread_join(t, NULL);
  printf("  returned %s after %.1f ms\n", r ? strerrorname_np(r) : "0", ms);
  check(r == ETIMEDOUT, "ETIMEDOUT");
  check(ms < 300, "well before the owner let go");
}

/* A lock whose waiters all use FUTEX2_SPIN: counts must add up and no
 * waiter may be stranded (a lost wake-up hangs; alarm() ends it). */
static uint32_t lock_word;
static long counter;
static atomic_long spin_waits; /* FUTEX2_SPIN waits the lock made */

static void lock(uint32_t self) {
  uint32_t w = 0;
  if (__atomic_compare_exchange_n(&lock_word, &w, self, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
    return;
  for (;;) {
    w = __atomic_load_n(&lock_word, __ATOMIC_RELAXED);
    if (w == 0) {
      if (__atomic_compare_exchange_n(&lock_word, &w, self | WAITERS, 0, __ATOMIC_ACQUIRE,
                                      __ATOMIC_RELAXED))
        return;
      continue;
    }
    if (!(w & WAITERS) && !__atomic_compare_exchange_n(&lock_word, &w, w | WAITERS, 0,
                                                       __ATOMIC_RELAXED, __ATOMIC_RELAXED))
      continue;
    atomic_fetch_add_explicit(&spin_waits, 1, memory_order_relaxed);
    int r = spin_wait(&lock_word, w | WAITERS, 0);
    if (r == ESRCH || r == EINVAL)
      syscall(SYS_futex, &lock_word, FUTEX_WAIT_PRIVATE, w | WAITERS, NULL, NULL, 0);
  }
}

static void unlock(void) {
  if (__atomic_exchange_n(&lock_word, 0, __ATOMIC_RELEASE) & WAITERS)
    syscall(SYS_futex, &lock_word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static void *hammer(void *arg) {
  (void)arg;
  const uint32_t self = gettid_u32();
  for (int i = 0; i < 20000; ++i) {
    lock(self);
    ++counter;
    const uint64_t end = now_ns() + 2000; /* 2 us inside: waiters must wait */
    while (now_ns() < end) {
    }
    if (i % 64 == 0) sched_yield(); /* an owner that leaves the CPU */
    unlock();
  }
  return NULL;
}

static void check_stress(void) {
  printf("4 threads x 20000 lock/unlock, every wait with FUTEX2_SPIN:\n");
  alarm(120);
  pthread_t t[4];
  const uint64_t t0 = now_ns();
  for (int i = 0; i < 4; ++i)
    pthread_create(&t[i], NULL, hammer, NULL);
  for (int i = 0; i < 4; ++i)
    pthread_join(t[i], NULL);
  alarm(0);
  printf("  counter %ld in %.1f s, %ld FUTEX2_SPIN waits\n", counter, (double)(now_ns() - t0) / 1e9,
         atomic_load(&spin_waits));
  check(counter == 4 * 20000, "mutual exclusion held and no waiter was stranded");
  check(atomic_load(&spin_waits) >= 100, "the lock was contended (100 or more FUTEX2_SPIN waits)");
}

int main(int argc, char **argv) {
  const int expect = argc > 1 && strcmp(argv[1], "present") == 0;
  if (argc < 2 || (!expect && strcmp(argv[1], "absent") != 0)) {
    fprintf(stderr, "usage: futex2_spin present|absent\n");
    return 2;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  pin(0);
  uint32_t word = 0;
  const int probe = spin_wait(&word, 1, 0);
  printf("probe (value mismatch): %s\n", strerrorname_np(probe));
  if (!expect) {
    check(probe == EINVAL, "the unpatched kernel refuses FUTEX2_SPIN (EINVAL)");
  } else {
    check(probe == EAGAIN, "the patched kernel takes FUTEX2_SPIN (EAGAIN on a mismatch)");
    check_running_owner();
    check_sleeping_owner();
    check_errors();
    check_timeout();
    check_stress();
  }
  printf("futex2_spin: %d failure(s)\n", failures);
  return failures == 0 ? 0 : 1;
}
