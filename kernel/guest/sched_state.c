/* Scheduler state semantics (bits 8 to 10 of rseq->flags), observed from
 * another thread. Static, run in the guest by kernel/run-tests:
 *   sched_state present   the patched kernel: every check below must hold
 *   sched_state absent    the unpatched kernel: no advertisement, no state
 * Each check prints what it saw and fails on a wrong answer. The guest has
 * 2 or more vCPUs; the checks pin threads to CPUs 0 and 1. */
#define _GNU_SOURCE
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "guest_check.h"
#include "rseq_view.h"

/* Share of readings of *flags over `ms` milliseconds with `bit` set. */
static double bit_share(const uint32_t *flags, uint32_t bit, int ms) {
  uint64_t set = 0, reads = 0;
  const uint64_t end = now_ns() + (uint64_t)ms * 1000000u;
  while (now_ns() < end) {
    set += (load_u32(flags) & bit) != 0;
    ++reads;
  }
  return reads ? (double)set / (double)reads : 0;
}

static double on_share(const uint32_t *flags, int ms) { return bit_share(flags, VIEW_ON_CPU, ms); }

struct worker {
  int cpu;
  int policy; /* SCHED_OTHER or SCHED_FIFO */
  _Atomic(struct rseq_view *) view;
  atomic_int stop;
  atomic_int phase; /* for the futex check */
  uint32_t futex_word;
};

static void *busy(void *arg) {
  struct worker *w = arg;
  pin(w->cpu);
  if (w->policy == SCHED_FIFO) {
    struct sched_param p = {.sched_priority = 10};
    if (pthread_setschedparam(pthread_self(), SCHED_FIFO, &p) != 0) {
      printf("  cannot become SCHED_FIFO\n");
      exit(2);
    }
  }
  atomic_store(&w->view, own_view());
  while (!atomic_load_explicit(&w->stop, memory_order_relaxed)) {
  }
  return NULL;
}

static void *futex_sleeper(void *arg) {
  struct worker *w = arg;
  pin(w->cpu);
  atomic_store(&w->view, own_view());
  while (atomic_load(&w->phase) == 0) {
  }
  while (__atomic_load_n(&w->futex_word, __ATOMIC_ACQUIRE) == 0)
    syscall(SYS_futex, &w->futex_word, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
  return NULL;
}

static struct rseq_view *wait_view(struct worker *w) {
  struct rseq_view *v;
  while ((v = atomic_load(&w->view)) == NULL) {
  }
  return v;
}

static void check_busy(void) {
  printf("busy thread on CPU 1, read from CPU 0:\n");
  struct worker w = {.cpu = 1, .policy = SCHED_OTHER};
  pthread_t t;
  pthread_create(&t, NULL, busy, &w);
  struct rseq_view *v = wait_view(&w);
  usleep(20000);
  const double share = on_share(&v->flags, 300);
  printf("  ON in %.1f%% of reads over 300 ms\n", 100 * share);
  check(share >= 0.90, "a running thread reads ON (>= 90% of reads)");
  atomic_store(&w.stop, 1);
  pthread_join(t, NULL);
}

static void check_futex(void) {
  printf("thread blocked in FUTEX_WAIT:\n");
  struct worker w = {.cpu = 1};
  pthread_t t;
  pthread_create(&t, NULL, futex_sleeper, &w);
  struct rseq_view *v = wait_view(&w);
  const double before = on_share(&v->flags, 50);
  atomic_store(&w.phase, 1);
  usleep(100000); /* long enough to be asleep in the futex */
  const double asleep = on_share(&v->flags, 200);
  const double asleep_preempted = bit_share(&v->flags, VIEW_PREEMPTED, 200);
  __atomic_store_n(&w.futex_word, 1, __ATOMIC_RELEASE);
  syscall(SYS_futex, &w.futex_word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
  pthread_join(t, NULL);
  printf("  ON in %.1f%% of reads while it spun, %.1f%% while it slept\n", 100 * before,
         100 * asleep);
  check(before >= 0.90, "it read ON while it spun");
  check(asleep == 0, "it read OFF in every read while asleep in the futex");
  check(asleep_preempted == 0, "it never read PREEMPTED while blocked in the futex");
}

static void check_preempted(void) {
  printf("busy thread on CPU 1 preempted by a SCHED_FIFO thread pinned to CPU 1:\n");
  struct worker victim = {.cpu = 1, .policy = SCHED_OTHER};
  struct worker hog = {.cpu = 1, .policy = SCHED_FIFO};
  pthread_t tv, th;
  pthread_create(&tv, NULL, busy, &victim);
  struct rseq_view *vv = wait_view(&victim);
  usleep(20000);
  const double before = on_share(&vv->flags, 100);
  pthread_create(&th, NULL, busy, &hog);
  struct rseq_view *hv = wait_view(&hog); /* the hog runs: the victim is off */
  usleep(10000);
  uint64_t victim_on = 0, victim_preempted = 0, hog_on = 0, reads = 0;
  const uint64_t end = now_ns() + 200000000u;
  while (now_ns() < end) {
    const uint32_t f = load_u32(&vv->flags);
    victim_on += (f & VIEW_ON_CPU) != 0;
    victim_preempted += (f & VIEW_PREEMPTED) != 0;
    hog_on += (load_u32(&hv->flags) & VIEW_ON_CPU) != 0;
    ++reads;
  }
  atomic_store(&hog.stop, 1);
  pthread_join(th, NULL);
  const double after = on_share(&vv->flags, 100);
  atomic_store(&victim.stop, 1);
  pthread_join(tv, NULL);
  printf("  victim ON %.1f%% before, %.1f%% while preempted (PREEMPTED %.1f%%), %.1f%% after;"
         " hog ON %.1f%%\n",
         100 * before, 100 * (double)victim_on / (double)reads,
         100 * (double)victim_preempted / (double)reads, 100 * after,
         100 * (double)hog_on / (double)reads);
  check(before >= 0.90, "the victim read ON before the hog came");
  check(victim_on == 0, "the preempted victim read OFF in every read");
  check(victim_preempted == reads, "the preempted victim read PREEMPTED in every read");
  check((double)hog_on / (double)reads >= 0.90, "the hog read ON while it ran");
  check(after >= 0.90, "the victim read ON again once the hog left");
}

static void *exits_at_once(void *arg) {
  struct worker *w = arg;
  atomic_store(&w->view, own_view());
  const uint64_t end = now_ns() + 20000000u; /* run, ON, for 20 ms */
  while (now_ns() < end) {
  }
  return NULL;
}

static void check_exited(void) {
  printf("threads that exit while running (their stacks are ours to read after):\n");
  const size_t size = 1 << 20;
  int left_on = 0, left_preempted = 0, rounds = 20;
  for (int i = 0; i < rounds; ++i) {
    void *stack = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setstack(&a, stack, size);
    struct worker w = {0};
    pthread_t t;
    pthread_create(&t, &a, exits_at_once, &w);
    struct rseq_view *v = wait_view(&w);
    pthread_join(t, NULL);
    left_on += (load_u32(&v->flags) & VIEW_ON_CPU) != 0;
    left_preempted += (load_u32(&v->flags) & VIEW_PREEMPTED) != 0;
    pthread_attr_destroy(&a);
    munmap(stack, size);
  }
  printf("  %d of %d exited threads left ON, %d PREEMPTED\n", left_on, rounds, left_preempted);
  check(left_on == 0, "an exited thread is not left ON");
  check(left_preempted == 0, "an exited thread is not left PREEMPTED");
}

int main(int argc, char **argv) {
  const int expect = argc > 1 && strcmp(argv[1], "present") == 0;
  if (argc < 2 || (!expect && strcmp(argv[1], "absent") != 0)) {
    fprintf(stderr, "usage: sched_state present|absent\n");
    return 2;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  pin(0); /* the observer; the observed threads run on CPU 1 */
  struct rseq_view *self = own_view();
  if (self == NULL) {
    printf("glibc did not register rseq\n");
    return 1;
  }
  const int advertised = (load_u32(&self->flags) & VIEW_SCHED_STATE_AVAILABLE) != 0;
  printf("rseq flags 0x%x: sched_state %s\n", load_u32(&self->flags),
         advertised ? "advertised" : "not advertised");
  if (!expect) {
    check(!advertised, "the unpatched kernel does not advertise sched_state");
    struct worker w = {.cpu = 1, .policy = SCHED_OTHER};
    pthread_t t;
    pthread_create(&t, NULL, busy, &w);
    struct rseq_view *v = wait_view(&w);
    usleep(20000);
    const double share = bit_share(&v->flags, VIEW_SCHED_STATE_BITS, 100);
    atomic_store(&w.stop, 1);
    pthread_join(t, NULL);
    printf("  a busy thread's flags bits 8-15 read nonzero in %.1f%% of reads\n", 100 * share);
    check(share == 0, "nothing writes flags bits 8-15 on the unpatched kernel");
  } else {
    check(advertised, "the patched kernel advertises sched_state");
    check_busy();
    check_futex();
    check_preempted();
    check_exited();
  }
  printf("sched_state: %d failure(s)\n", failures);
  return failures == 0 ? 0 : 1;
}
