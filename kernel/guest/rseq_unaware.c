/* A program that registers its own rseq area with the 6.12 layout, knowing
 * nothing of sched_state, runs unharmed on the patched kernel: its per-CPU
 * counters, updated in rseq critical sections, add up through thousands of
 * aborts (forced by membarrier), and no signal kills it although the kernel
 * now writes a feature bit into the area's flags and a state into what was
 * padding. Run with GLIBC_TUNABLES=glibc.pthread.rseq=0, so that the area
 * is ours to register. */
#define _GNU_SOURCE
#include <linux/membarrier.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/rseq.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Linux 6.12's struct rseq: 28 bytes of fields, padded to 32. */
struct old_rseq {
  uint32_t cpu_id_start;
  uint32_t cpu_id;
  uint64_t rseq_cs;
  uint32_t flags;
  uint32_t node_id;
  uint32_t mm_cid;
} __attribute__((aligned(32)));

#define SIG 0x53053053
#define THREADS 4
#define INCREMENTS 200000
#define MAX_CPUS 64

static __thread struct old_rseq area;
static struct {
  long n;
  char pad[56];
} counters[MAX_CPUS];
static atomic_long aborts;
static atomic_int finished;
static atomic_uint flags_seen; /* what the kernel left in our flags */

/* counters[cpu].n += 1 if this thread stays on `cpu` and is not interrupted
 * between labels 1 and 2; returns 0 then, 1 after an abort. A delay loop
 * inside the section makes interruptions land in it. */
static int add_one(void) {
  const uint32_t cpu = __atomic_load_n(&area.cpu_id_start, __ATOMIC_RELAXED);
  if (cpu >= MAX_CPUS) return 1;
  int aborted;
  __asm__ volatile(".pushsection __rseq_cs, \"aw\"\n\t"
                   ".balign 32\n"
                   "66:\n\t"
                   ".long 0, 0\n\t"
                   ".quad 1f, 2f - 1f, 4f\n\t"
                   ".popsection\n\t"
                   "leaq 66b(%%rip), %%rax\n\t"
                   "movq %%rax, %[cs]\n"
                   "1:\n\t"
                   "movl $1, %[aborted]\n\t"
                   "cmpl %[cpu], %[cpu_id]\n\t"
                   "jnz 2f\n\t"
                   "movl $64, %%ecx\n"
                   "3:\n\t"
                   "decl %%ecx\n\t"
                   "jnz 3b\n\t"
                   "movl $0, %[aborted]\n\t"
                   "addq $1, (%[slot])\n" /* the commit */
                   "2:\n\t"
                   ".pushsection __rseq_failure, \"ax\"\n\t"
                   ".byte 0x0f, 0xb9, 0x3d\n\t"
                   ".long 0x53053053\n"
                   "4:\n\t"
                   "movl $1, %[aborted]\n\t"
                   "jmp 2b\n\t"
                   ".popsection\n"
                   : [aborted] "=&r"(aborted), [cs] "=m"(area.rseq_cs)
                   : [cpu] "r"(cpu), [cpu_id] "m"(area.cpu_id), [slot] "r"(&counters[cpu].n)
                   : "rax", "rcx", "memory", "cc");
  return aborted;
}

static void *worker(void *arg) {
  (void)arg;
  if (syscall(SYS_rseq, &area, sizeof area, 0, SIG) != 0) {
    perror("rseq registration");
    _exit(2);
  }
  long mine = 0;
  for (int done = 0; done < INCREMENTS;) {
    if (add_one() == 0)
      ++done;
    else
      ++mine;
  }
  atomic_fetch_add(&aborts, mine);
  atomic_fetch_or(&flags_seen, __atomic_load_n(&area.flags, __ATOMIC_RELAXED));
  atomic_fetch_add(&finished, 1);
  return NULL;
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (__rseq_size != 0) {
    printf("glibc registered rseq: run with GLIBC_TUNABLES=glibc.pthread.rseq=0\n");
    return 2;
  }
  if (syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_RSEQ, 0, 0) != 0) {
    perror("membarrier register");
    return 2;
  }
  pthread_t t[THREADS];
  for (int i = 0; i < THREADS; ++i)
    pthread_create(&t[i], NULL, worker, NULL);
  long barriers = 0;
  while (atomic_load(&finished) < THREADS) {
    syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ, 0, 0);
    ++barriers;
  }
  for (int i = 0; i < THREADS; ++i)
    pthread_join(t[i], NULL);
  long total = 0;
  for (int c = 0; c < MAX_CPUS; ++c)
    total += counters[c].n;
  printf("rseq_unaware: %d threads x %d increments: total %ld, %ld aborts, %ld membarriers; "
         "flags the kernel left: 0x%x\n",
         THREADS, INCREMENTS, total, atomic_load(&aborts), barriers, atomic_load(&flags_seen));
  const int ok = total == (long)THREADS * INCREMENTS && atomic_load(&aborts) > 0;
  printf("rseq_unaware: %s\n", ok ? "counts add up through aborts" : "FAILED");
  return ok ? 0 : 1;
}
