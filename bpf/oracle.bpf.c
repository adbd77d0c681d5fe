// SPDX-License-Identifier: GPL-2.0
/*
 * onspin's on-CPU oracle: the kernel side.
 *
 * slot[tid] holds cpu + 1 while thread `tid` runs (with a flag if its cgroup
 * has a CPU quota), ONSPIN_SLOT_PREEMPTED while it waits for a CPU, and 0
 * while it is blocked (layout in oracle_abi.h). The map is BPF_F_MMAPABLE,
 * so a waiter reads its owner's state with one load from its own address
 * space, no system call. Keys are TIDs of the root PID namespace
 * (task->pid); the loader sizes the map to pid_max.
 *
 * The answer is a hint: a switch can happen right after the read, and on
 * some kernels some switches fire no event. Waiters bound their spins anyway.
 *
 * Beside it, cpu_load[cpu] holds the length of each CPU's run queue (layout
 * in oracle_abi.h), so that a waiter can tell whether another task waits
 * for the CPU it spins on.
 *
 * GPL: tp_btf programs may only be loaded with a GPL-compatible license.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "oracle_abi.h"

char LICENSE[] SEC("license") = "GPL";

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(map_flags, BPF_F_MMAPABLE);
  __type(key, u32);
  __type(value, struct onspin_chunk);
  __uint(max_entries, 32); /* chunks; the loader sets pid_max / 1024 */
} on_cpu SEC(".maps");

static __always_inline void publish(u32 tid, u32 value) {
  /* TID 0 is every CPU's idle task: never a lock owner, and shared by all
   * CPUs, so writing it would only bounce a cache line between them. */
  if (tid == 0) return;
  u32 chunk = tid / ONSPIN_SLOTS_PER_CHUNK;
  struct onspin_chunk *c = bpf_map_lookup_elem(&on_cpu, &chunk);
  if (c) *(volatile u32 *)&c->slot[tid % ONSPIN_SLOTS_PER_CHUNK] = value;
}

/* The TID last published as running on each CPU. */
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __type(key, u32);
  __type(value, u32);
  __uint(max_entries, 1);
} running SEC(".maps");

/* Clears tid's slot if it still says it runs on this CPU. */
static __always_inline void retire_if_here(u32 tid, u32 here) {
  if (tid == 0) return;
  u32 chunk = tid / ONSPIN_SLOTS_PER_CHUNK;
  struct onspin_chunk *c = bpf_map_lookup_elem(&on_cpu, &chunk);
  if (!c) return;
  u32 *slot = &c->slot[tid % ONSPIN_SLOTS_PER_CHUNK];
  if ((*(volatile u32 *)slot & ~ONSPIN_SLOT_QUOTA) == here) *(volatile u32 *)slot = 0;
}

/* Cgroups nest; a quota anywhere above a task caps it. A task deeper than
 * this is flagged unread, as if capped: its waiters keep the short spin. */
#define ONSPIN_QUOTA_LEVELS 16

/* ONSPIN_SLOT_QUOTA if p's group or one above it has CPU bandwidth control
 * on (its cfs_rq on this CPU has runtime_enabled, CONFIG_CFS_BANDWIDTH; v1's
 * cfs_quota_us and v2's cpu.max both set it). */
static __always_inline u32 quota_of(struct task_struct *p) {
  if (!bpf_core_field_exists(((struct cfs_rq *)0)->runtime_enabled) ||
      !bpf_core_field_exists(((struct sched_entity *)0)->parent))
    return 0;
  struct sched_entity *se = &p->se;
  for (int level = 0; level < ONSPIN_QUOTA_LEVELS; ++level) {
    struct cfs_rq *cfs = se->cfs_rq;
    if (cfs && cfs->runtime_enabled) return ONSPIN_SLOT_QUOTA;
    se = se->parent;
    if (!se) return 0;
  }
  return ONSPIN_SLOT_QUOTA;
}

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(map_flags, BPF_F_MMAPABLE);
  __type(key, u32);
  __type(value, struct onspin_cpu_load);
  __uint(max_entries, 1); /* the loader sets the number of possible CPUs */
} cpu_load SEC(".maps");

/* Copies the length of the run queue that p's scheduling entity names into
 * cpu_load, if it changed: a store only when it did keeps the line where its
 * readers have it. The queue is reached through p (se.cfs_rq->rq, kept with
 * CONFIG_FAIR_GROUP_SCHED), because the per-CPU `runqueues` symbol needs
 * CONFIG_KALLSYMS_ALL, which Debian's kernels leave out. Without group
 * scheduling nothing is published, and waiters spin as they did before. */
static __always_inline void publish_load(struct task_struct *p) {
  if (!bpf_core_field_exists(((struct cfs_rq *)0)->rq) ||
      !bpf_core_field_exists(((struct rq *)0)->cpu))
    return;
  struct cfs_rq *cfs = p->se.cfs_rq;
  if (!cfs) return;
  struct rq *rq = cfs->rq;
  if (!rq) return;
  u32 cpu = rq->cpu;
  struct onspin_cpu_load *load = bpf_map_lookup_elem(&cpu_load, &cpu);
  if (!load) return;
  /* Since Linux 6.12 a fair task that blocks may stay queued, "delayed",
   * until its lag is spent: counted in nr_running, it waits for nothing.
   * Kernels that count them apart (cfs_rq.h_nr_runnable) let us leave them
   * out; on the others a waiter may yield to nobody (a system call, and
   * the quick return silences its next crowded yields). */
  u32 queued = rq->nr_running;
  if (bpf_core_field_exists(rq->cfs.h_nr_runnable) && bpf_core_field_exists(rq->cfs.h_nr_queued)) {
    const u32 delayed = rq->cfs.h_nr_queued - rq->cfs.h_nr_runnable;
    if (delayed < queued) queued -= delayed;
  }
  /* SCHED_IDLE tasks run only when nothing else would: no reason to yield. */
  if (bpf_core_field_exists(rq->cfs.h_nr_idle)) {
    const u32 idle = rq->cfs.h_nr_idle;
    if (idle < queued) queued -= idle;
  }
  if (*(volatile u32 *)&load->queued != queued) *(volatile u32 *)&load->queued = queued;
  /* Once per CPU: this program flags quota groups (quota_of). */
  if (*(volatile u32 *)&load->tells != ONSPIN_TELLS_QUOTA)
    *(volatile u32 *)&load->tells = ONSPIN_TELLS_QUOTA;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(onspin_switch, bool preempt, struct task_struct *prev, struct task_struct *next) {
  const u32 here = bpf_get_smp_processor_id() + 1;
  const u32 next_tid = next->pid;
  /* prev stays runnable if it was preempted, or if it left in state
   * TASK_RUNNING (a yield); anything else is a sleep in the kernel. A task
   * preempted while it prepared to sleep is still runnable: `preempt` says
   * so whatever its state. */
  const bool runnable = preempt || prev->__state == 0;
  publish(prev->pid, runnable ? ONSPIN_SLOT_PREEMPTED : 0);
  /* Some switches fire no event (on Linux 6.18 in this VM, switches away
   * from PID 1's threads): a thread that left this CPU unseen would read ON
   * for good. Whoever this CPU last ran, if not prev, left it unseen. */
  u32 zero = 0;
  u32 *last = bpf_map_lookup_elem(&running, &zero);
  if (last) {
    if (*last != prev->pid && *last != next_tid) retire_if_here(*last, here);
    *last = next_tid;
  }
  publish(next_tid, next_tid ? here | quota_of(next) : here); /* 0: idle, not published */
  /* prev, if it blocked, has left this CPU's queue by now. */
  publish_load(prev);
  return 0;
}

/* The tracepoint fires once the task is on its new CPU's queue. */
SEC("tp_btf/sched_wakeup")
int BPF_PROG(onspin_wakeup, struct task_struct *p) {
  publish_load(p);
  return 0;
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(onspin_wakeup_new, struct task_struct *p) {
  publish_load(p);
  return 0;
}

/* The task still names its old CPU's queue; the balancer has taken it off
 * that queue already (a waking task was on none). The new CPU's count is
 * left to its next event, so it may read low for a moment: a waiter then
 * spins as it would without this map. */
SEC("tp_btf/sched_migrate_task")
int BPF_PROG(onspin_migrate, struct task_struct *p, int dest_cpu) {
  /* A waking task (on no queue) changes no count, and its old queue's lock
   * is not held: reading that count here could overwrite a newer one. */
  if (!p->on_rq) return 0;
  publish_load(p);
  return 0;
}

/* A thread that exits is off every CPU for good, whether or not a final
 * switch event reaches us; its TID may be reused later. */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(onspin_exit, struct task_struct *task) {
  publish(task->pid, 0);
  return 0;
}

/*
 * Inside a PID namespace gettid() is not the map's key. Running this program
 * (BPF_PROG_TEST_RUN, allowed through a pinned program) returns the calling
 * thread's root-namespace TID: one system call per thread, once.
 */
SEC("syscall")
int onspin_root_tid(void *ctx) { return (u32)bpf_get_current_pid_tgid(); }
