/* rseq time slice extension (Linux 7.0's ABI, kernel/patches/0003) under
 * the test kernel. Static, run in the guest by kernel/run-tests:
 *   slice_ext present   the patched kernel: every check below must hold
 *   slice_ext absent    the unpatched kernel: no advertisement, prctl and
 *                       rseq_slice_yield() unknown, offset 28 untouched
 *
 * The grant checks pin two threads to CPU 1: the holder, which spins in user
 * space with `request` set, and a SCHED_FIFO waker that sleeps 2 ms at a
 * time. Each wake-up comes from a timer interrupt on CPU 1 that leaves a
 * reschedule pending for the holder: exactly the case the kernel grants. The
 * waker counts its runs, so the holder can tell whether it lost its CPU. */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/membarrier.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "guest_check.h"
#include "rseq_view.h"

#define PR_RSEQ_SLICE_EXTENSION 79
#define PR_RSEQ_SLICE_EXTENSION_GET 1
#define PR_RSEQ_SLICE_EXTENSION_SET 2
#define PR_RSEQ_SLICE_EXT_ENABLE 1
#define NR_RSEQ_SLICE_YIELD 471
#define RSEQ_FLAG_UNREGISTER 1
#define RSEQ_FLAG_SLICE_EXT_DEFAULT_ON 2
#define SLICE_NSEC_FILE "/sys/kernel/debug/rseq/slice_ext_nsec"

static long slice_prctl(unsigned long op, unsigned long arg3, unsigned long arg4) {
  return prctl(PR_RSEQ_SLICE_EXTENSION, op, arg3, arg4, 0);
}

static long slice_yield(void) { return syscall(NR_RSEQ_SLICE_YIELD); }

static uint8_t load_u8(const uint8_t *p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }
static void store_u8(uint8_t *p, uint8_t v) { __atomic_store_n(p, v, __ATOMIC_RELAXED); }

/* ---- the waker: SCHED_FIFO on CPU 1, wakes every 2 ms ---- */

static atomic_uint waker_runs;
static atomic_int waker_stop;
static _Atomic(struct rseq_view *) holder_view;
static atomic_uint waker_saw_preempted; /* holder read PREEMPTED at a wake-up */

static void *waker(void *arg) {
  (void)arg;
  pin(1);
  struct sched_param p = {.sched_priority = 10};
  if (pthread_setschedparam(pthread_self(), SCHED_FIFO, &p) != 0) {
    printf("  cannot become SCHED_FIFO\n");
    exit(2);
  }
  const struct timespec nap = {0, 2000000};
  while (!atomic_load(&waker_stop)) {
    clock_nanosleep(CLOCK_MONOTONIC, 0, &nap, NULL);
    struct rseq_view *h = atomic_load(&holder_view);
    if (h != NULL && (load_u32(&h->flags) & VIEW_PREEMPTED))
      atomic_fetch_add(&waker_saw_preempted, 1);
    atomic_fetch_add(&waker_runs, 1);
  }
  return NULL;
}

/* ---- a thread on CPU 0 that sends rseq membarrier IPIs on demand ---- */

static atomic_int ipi_wanted, ipi_sent, ipi_stop;

static void *ipi_sender(void *arg) {
  (void)arg;
  pin(0);
  while (!atomic_load(&ipi_stop)) {
    if (atomic_exchange(&ipi_wanted, 0)) {
      syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ, 0, 0);
      atomic_store(&ipi_sent, 1);
    }
  }
  return NULL;
}

/* ---- the holder's rounds, run on CPU 1 beside the waker ---- */

struct round {
  int granted;            /* the kernel cleared request */
  int granted_after_ipi;  /* still granted once a membarrier IPI came back */
  long yield_rc;          /* rseq_slice_yield()'s answer, or -2 */
  int waker_ran_in_grant; /* the waker ran between the grant and its end */
  int waker_ran_after;    /* ... or by the time the ending call returned */
  int switched;           /* the holder was switched out (involuntarily) in the round */
  uint32_t flags_at_grant;
  uint32_t ctrl_after; /* slice_ctrl once the round is over */
};

/* Sets `request` and spins until the kernel grants (it clears request), for
 * at most 100 ms; then overruns if asked, and ends the grant with
 * rseq_slice_yield() or, if asked, with another system call. */
static struct round grant_round(struct rseq_view *self, int overrun_ms, int other_syscall,
                                int ipi) {
  struct round r = {0, 0, -2, 0, 0, 0, 0, 0};
  struct rusage before, after;
  getrusage(RUSAGE_THREAD, &before);
  store_u8(&self->slice_ctrl.request, 1);
  const uint64_t deadline = now_ns() + 100000000u;
  while (load_u8(&self->slice_ctrl.request) && now_ns() < deadline) {
  }
  if (load_u8(&self->slice_ctrl.request)) { /* never granted */
    store_u8(&self->slice_ctrl.request, 0);
    return r;
  }
  /* Granted: the waker is runnable and, while the grant lasts, the CPU is
   * ours. */
  const unsigned at_grant = atomic_load(&waker_runs);
  r.granted = 1;
  r.flags_at_grant = load_u32(&self->flags);
  if (ipi) { /* an IPI's return to user space is no switch: the grant goes on */
    atomic_store(&ipi_sent, 0);
    atomic_store(&ipi_wanted, 1);
    const uint64_t until = now_ns() + 20000000u;
    while (!atomic_load(&ipi_sent) && now_ns() < until) {
    }
    r.granted_after_ipi = atomic_load(&ipi_sent) && load_u8(&self->slice_ctrl.granted);
  }
  if (overrun_ms > 0) {
    const uint64_t end = now_ns() + (uint64_t)overrun_ms * 1000000u;
    while (now_ns() < end) {
    }
  }
  r.waker_ran_in_grant = atomic_load(&waker_runs) != at_grant;
  if (other_syscall)
    (void)getppid();
  else
    r.yield_rc = slice_yield();
  r.waker_ran_after = atomic_load(&waker_runs) != at_grant;
  r.ctrl_after = load_u32(&self->slice_ctrl.all);
  getrusage(RUSAGE_THREAD, &after);
  r.switched = after.ru_nivcsw != before.ru_nivcsw;
  return r;
}

struct holder_job {
  int rounds, overrun_ms, other_syscall, enable, ipi;
  /* Counts over the granted rounds. "clean": rseq_slice_yield() returned 1,
   * the waker did not run before it and did by its return. */
  int granted, yielded_in_grant, clean, waker_silent, waker_ran_after, ctrl_zeroed,
      kept_through_ipi, rescheduled;
  uint32_t flags_at_grant;
};

static void *holder(void *arg) {
  struct holder_job *j = arg;
  pin(1);
  struct rseq_view *self = own_view();
  atomic_store(&holder_view, self);
  if (j->enable && slice_prctl(PR_RSEQ_SLICE_EXTENSION_SET, PR_RSEQ_SLICE_EXT_ENABLE, 0) != 0) {
    printf("  prctl SET in the holder: %s\n", strerror(errno));
    exit(2);
  }
  for (int i = 0; i < j->rounds; ++i) {
    struct round r = grant_round(self, j->overrun_ms, j->other_syscall, j->ipi);
    if (!r.granted) continue;
    ++j->granted;
    j->flags_at_grant = r.flags_at_grant;
    if (r.yield_rc == 1) ++j->yielded_in_grant;
    if (r.granted_after_ipi && r.yield_rc == 1) ++j->kept_through_ipi;
    if (r.yield_rc == 1 && !r.waker_ran_in_grant && r.waker_ran_after) ++j->clean;
    if (!r.waker_ran_in_grant) ++j->waker_silent;
    if (r.waker_ran_after) ++j->waker_ran_after;
    /* Rescheduled when the grant ended: the waker ran, or, when something
     * else (a kernel thread waking on CPU 1) made the reschedule that was
     * granted, the holder was switched out for it. */
    if (r.waker_ran_after || r.switched) ++j->rescheduled;
    if (r.ctrl_after == 0) ++j->ctrl_zeroed;
  }
  atomic_store(&holder_view, NULL);
  return NULL;
}

static void run_holder(struct holder_job *j) {
  pthread_t h;
  pthread_create(&h, NULL, holder, j);
  pthread_join(h, NULL);
}

static int write_nsec(const char *value) {
  FILE *f = fopen(SLICE_NSEC_FILE, "w");
  if (f == NULL) return errno;
  int err = 0;
  if (fputs(value, f) < 0) err = errno;
  if (fclose(f) != 0 && err == 0) err = errno;
  return err;
}

/* ---- the checks ---- */

static void check_prctl(void) {
  printf("prctl(PR_RSEQ_SLICE_EXTENSION):\n");
  check(slice_prctl(PR_RSEQ_SLICE_EXTENSION_GET, 0, 0) == 0, "GET: disabled at first");
  errno = 0;
  check(slice_prctl(PR_RSEQ_SLICE_EXTENSION_SET, 2, 0) == -1 && errno == EINVAL,
        "SET with an unknown flag: EINVAL");
  errno = 0;
  check(slice_prctl(PR_RSEQ_SLICE_EXTENSION_SET, 1, 1) == -1 && errno == EINVAL,
        "SET with arg4 nonzero: EINVAL");
  errno = 0;
  check(slice_prctl(3, 0, 0) == -1 && errno == EINVAL, "an unknown operation: EINVAL");
  errno = 0;
  check(slice_prctl(PR_RSEQ_SLICE_EXTENSION_GET, 1, 0) == -1 && errno == EINVAL,
        "GET with arg3 nonzero: EINVAL");
  struct rseq_view *self = own_view();
  check(slice_prctl(PR_RSEQ_SLICE_EXTENSION_SET, PR_RSEQ_SLICE_EXT_ENABLE, 0) == 0,
        "SET enable: 0");
  check(slice_prctl(PR_RSEQ_SLICE_EXTENSION_GET, 0, 0) == PR_RSEQ_SLICE_EXT_ENABLE, "GET: enabled");
  check((load_u32(&self->flags) & VIEW_SLICE_ENABLED) != 0, "flags bit 5 (ENABLED) set");
  check((load_u32(&self->flags) & VIEW_SCHED_STATE_AVAILABLE) != 0,
        "sched_state's bits stay beside it");
  check(slice_prctl(PR_RSEQ_SLICE_EXTENSION_SET, 0, 0) == 0, "SET disable: 0");
  check((load_u32(&self->flags) & VIEW_SLICE_ENABLED) == 0, "flags bit 5 cleared");
  check(slice_prctl(PR_RSEQ_SLICE_EXTENSION_GET, 0, 0) == 0, "GET: disabled again");
}

static void *new_thread_get(void *arg) {
  *(long *)arg = slice_prctl(PR_RSEQ_SLICE_EXTENSION_GET, 0, 0);
  return NULL;
}

/* Without an rseq area: unregister glibc's (it registers 32 bytes), then
 * ask. */
static void *unregistered_thread(void *arg) {
  long *out = arg;
  struct rseq_view *self = own_view();
  if (syscall(SYS_rseq, self, 32u, RSEQ_FLAG_UNREGISTER, VIEW_SIG) != 0) {
    out[0] = -100 - errno;
    return NULL;
  }
  errno = 0;
  out[0] = slice_prctl(PR_RSEQ_SLICE_EXTENSION_SET, PR_RSEQ_SLICE_EXT_ENABLE, 0);
  out[1] = errno;
  out[2] = load_u32(&self->flags);
  /* Register again with the extension on by default. */
  out[3] = syscall(SYS_rseq, self, 32u, RSEQ_FLAG_SLICE_EXT_DEFAULT_ON, VIEW_SIG);
  out[4] = slice_prctl(PR_RSEQ_SLICE_EXTENSION_GET, 0, 0);
  out[5] = load_u32(&self->flags);
  return NULL;
}

static void check_threads_and_fork(void) {
  printf("the enabled state belongs to a thread:\n");
  check(slice_prctl(PR_RSEQ_SLICE_EXTENSION_SET, PR_RSEQ_SLICE_EXT_ENABLE, 0) == 0,
        "main thread enables it");
  long got = -2;
  pthread_t t;
  pthread_create(&t, NULL, new_thread_get, &got);
  pthread_join(t, NULL);
  check(got == 0, "a new thread starts with it disabled");
  pid_t pid = fork();
  if (pid == 0)
    _exit(slice_prctl(PR_RSEQ_SLICE_EXTENSION_GET, 0, 0) == PR_RSEQ_SLICE_EXT_ENABLE ? 0 : 1);
  int status = 0;
  waitpid(pid, &status, 0);
  check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "a fork child keeps it enabled");
  check(slice_prctl(PR_RSEQ_SLICE_EXTENSION_SET, 0, 0) == 0, "main thread disables it again");

  long out[6] = {0};
  pthread_create(&t, NULL, unregistered_thread, out);
  pthread_join(t, NULL);
  if (out[0] <= -100) {
    printf("  cannot unregister glibc's rseq area: %s\n", strerror((int)(-out[0] - 100)));
    check(0, "unregister glibc's area");
    return;
  }
  check(out[0] == -1 && out[1] == ENXIO, "SET without an rseq area: ENXIO");
  check((out[2] & (VIEW_SLICE_AVAILABLE | VIEW_SLICE_ENABLED | VIEW_SCHED_STATE_BITS)) == 0,
        "unregistering withdraws the kernel's flags bits");
  check(out[3] == 0, "registering with RSEQ_FLAG_SLICE_EXT_DEFAULT_ON: 0");
  check(out[4] == PR_RSEQ_SLICE_EXT_ENABLE, "... and the thread has it enabled");
  check((out[5] & (VIEW_SLICE_AVAILABLE | VIEW_SLICE_ENABLED)) ==
            (VIEW_SLICE_AVAILABLE | VIEW_SLICE_ENABLED),
        "... and flags bits 4 and 5 say so");
}

static void check_tunable(void) {
  printf("debugfs rseq/slice_ext_nsec:\n");
  check(write_nsec("4999") == ERANGE, "4999 ns: ERANGE");
  check(write_nsec("50001") == ERANGE, "50001 ns: ERANGE");
  check(write_nsec("50000") == 0, "50000 ns: accepted (the grant checks below use it)");
}

static void check_grants(void) {
  printf("grants, with a 50 us extension (holder and SCHED_FIFO waker on CPU 1):\n");
  struct holder_job y = {.rounds = 20, .enable = 1};
  run_holder(&y);
  printf("  %d of %d rounds granted; rseq_slice_yield() returned 1 in %d; of those, the waker\n"
         "  stayed off the CPU until the yield and ran by its return in %d;"
         " slice_ctrl zeroed in %d\n",
         y.granted, y.rounds, y.yielded_in_grant, y.clean, y.ctrl_zeroed);
  check(y.granted >= y.rounds * 3 / 4, "a holder with request set is granted (>= 3/4 of rounds)");
  check(y.yielded_in_grant >= (y.granted + 1) / 2,
        "most grants last until rseq_slice_yield(), which returns 1 (>= 1/2)");
  check(y.clean == y.yielded_in_grant,
        "within a grant the holder kept its CPU, and yielding gave it to the waker");
  check(y.ctrl_zeroed == y.granted, "the kernel zeroed slice_ctrl when the grant ended");
  check((y.flags_at_grant & (VIEW_SLICE_ENABLED | VIEW_SCHED_STATE_AVAILABLE | VIEW_ON_CPU)) ==
            (VIEW_SLICE_ENABLED | VIEW_SCHED_STATE_AVAILABLE | VIEW_ON_CPU),
        "both features in one area: ENABLED, and ON_CPU during the grant");

  printf("a holder that overruns its grant (spins 20 ms after it):\n");
  atomic_store(&waker_saw_preempted, 0);
  struct holder_job o = {.rounds = 5, .enable = 1, .overrun_ms = 20};
  run_holder(&o);
  printf("  %d of %d granted; waker ran during the overrun in %d; slice_ctrl zeroed in %d;"
         " waker saw the holder PREEMPTED %u times\n",
         o.granted, o.rounds, o.granted - o.waker_silent, o.ctrl_zeroed,
         atomic_load(&waker_saw_preempted));
  check(o.granted >= 3, "granted (>= 3 of 5)");
  check(o.yielded_in_grant == 0, "rseq_slice_yield() after the grant ran out returns 0");
  check(o.waker_silent == 0, "the overrunning holder was preempted: the waker ran");
  check(o.ctrl_zeroed == o.granted, "the kernel zeroed slice_ctrl when the grant ran out");
  check(atomic_load(&waker_saw_preempted) > 0,
        "the waker read the holder PREEMPTED (sched_state beside the extension)");

  printf("a system call inside the grant:\n");
  struct holder_job s = {.rounds = 10, .enable = 1, .other_syscall = 1};
  run_holder(&s);
  printf("  %d of %d granted; waker ran by getppid()'s return in %d, rescheduled (it or another)"
         " in %d; slice_ctrl zeroed in %d\n",
         s.granted, s.rounds, s.waker_ran_after, s.rescheduled, s.ctrl_zeroed);
  check(s.granted >= s.rounds * 3 / 4, "granted (>= 3/4)");
  check(s.rescheduled == s.granted, "getppid() ended the grant and rescheduled");
  check(s.ctrl_zeroed == s.granted, "... and zeroed slice_ctrl");
  check(slice_yield() == 0, "rseq_slice_yield() without a grant returns 0");

  printf("membarrier(PRIVATE_EXPEDITED_RSEQ) IPIs from CPU 0 during grants:\n");
  if (syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_RSEQ, 0, 0) != 0) {
    printf("  cannot register for rseq membarriers: %s\n", strerror(errno));
    check(0, "membarrier registration");
  } else {
    pthread_t sender;
    pthread_create(&sender, NULL, ipi_sender, NULL);
    struct holder_job m = {.rounds = 20, .enable = 1, .ipi = 1};
    run_holder(&m);
    atomic_store(&ipi_stop, 1);
    pthread_join(sender, NULL);
    printf("  %d of %d granted; still granted after the IPI and yielded inside it in %d\n",
           m.granted, m.rounds, m.kept_through_ipi);
    check(m.kept_through_ipi >= 1,
          "an IPI that switches nothing leaves the grant running (>= 1 round)");
    check(m.ctrl_zeroed == m.granted, "every grant still ended with slice_ctrl zeroed");
  }

  printf("request set without enabling the extension:\n");
  struct holder_job n = {.rounds = 5, .enable = 0};
  run_holder(&n);
  printf("  %d of %d rounds granted\n", n.granted, n.rounds);
  check(n.granted == 0, "never granted: request stays set and nothing is written");
}

static void check_absent(struct rseq_view *self) {
  check((load_u32(&self->flags) & (VIEW_SLICE_AVAILABLE | VIEW_SLICE_ENABLED)) == 0,
        "the unpatched kernel does not advertise the extension");
  errno = 0;
  check(slice_prctl(PR_RSEQ_SLICE_EXTENSION_SET, PR_RSEQ_SLICE_EXT_ENABLE, 0) == -1 &&
            errno == EINVAL,
        "prctl(PR_RSEQ_SLICE_EXTENSION): EINVAL");
  errno = 0;
  check(slice_yield() == -1 && errno == ENOSYS, "rseq_slice_yield(): ENOSYS");
  struct holder_job n = {.rounds = 3, .enable = 0};
  run_holder(&n);
  check(n.granted == 0, "offset 28 is never written: request stays set through wake-ups");
}

int main(int argc, char **argv) {
  const int expect = argc > 1 && strcmp(argv[1], "present") == 0;
  if (argc < 2 || (!expect && strcmp(argv[1], "absent") != 0)) {
    fprintf(stderr, "usage: slice_ext present|absent\n");
    return 2;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  pin(0);
  struct rseq_view *self = own_view();
  /* glibc 2.36 registers 32 bytes and says 20 (__rseq_size: the fields it
   * knows); the kernel's AVAILABLE bit is what tells that offset 28 is kept. */
  if (self == NULL) {
    printf("glibc did not register rseq\n");
    return 1;
  }
  printf("rseq flags 0x%x, registered size %u\n", load_u32(&self->flags), (unsigned)__rseq_size);
  pthread_t w;
  pthread_create(&w, NULL, waker, NULL);
  if (expect) {
    check((load_u32(&self->flags) & VIEW_SLICE_AVAILABLE) != 0,
          "flags bit 4: the kernel offers the extension");
    check_prctl();
    check_threads_and_fork();
    if (access("/sys/kernel/debug/rseq", F_OK) != 0)
      mount("debugfs", "/sys/kernel/debug", "debugfs", 0, NULL);
    check_tunable();
    check_grants();
    write_nsec("5000");
  } else {
    check_absent(self);
  }
  atomic_store(&waker_stop, 1);
  pthread_join(w, NULL);
  printf("slice_ext: %d failure(s)\n", failures);
  return failures == 0 ? 0 : 1;
}
