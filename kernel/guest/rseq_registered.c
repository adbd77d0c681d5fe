/* Guest smoke test: glibc registered rseq for this thread, and the kernel
 * keeps the area's cpu_id true. Static, like every guest test. Exit 0 on
 * success; prints what it saw. */
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <sys/auxv.h>
#include <sys/rseq.h>

#ifndef AT_RSEQ_FEATURE_SIZE
#define AT_RSEQ_FEATURE_SIZE 27
#endif

int main(void) {
  if (__rseq_size == 0) {
    printf("glibc did not register rseq (__rseq_size 0)\n");
    return 1;
  }
  struct rseq *rs = (struct rseq *)((char *)__builtin_thread_pointer() + __rseq_offset);
  int mismatches = 0;
  for (int i = 0; i < 1000; ++i) {
    unsigned cpu = __atomic_load_n(&rs->cpu_id, __ATOMIC_RELAXED);
    int now = sched_getcpu();
    unsigned again = __atomic_load_n(&rs->cpu_id, __ATOMIC_RELAXED);
    if (cpu == again && (int)cpu != now) ++mismatches; /* no migration in between */
  }
  printf("rseq: offset %td size %u feature size %lu, cpu_id mismatches %d/1000\n", __rseq_offset,
         __rseq_size, getauxval(AT_RSEQ_FEATURE_SIZE), mismatches);
  return mismatches == 0 ? 0 : 1;
}
