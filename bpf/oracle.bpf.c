// SPDX-License-Identifier: GPL-2.0
/*
 * onspin's on-CPU oracle: the kernel side.
 *
 * slot[tid] holds cpu + 1 while thread `tid` runs, ONSPIN_SLOT_PREEMPTED
 * while it waits for a CPU, and 0 while it is blocked (layout in
 * oracle_abi.h). The map is BPF_F_MMAPABLE, so a waiter reads its owner's
 * state with one load from its own address space, no system call. Keys are
 * TIDs of the root PID namespace (task->pid); the loader sizes the map to
 * pid_max.
 *
 * The answer is a hint: a switch can happen right after the read, and on
 * some kernels some switches fire no event. Waiters bound their spins anyway.
 *
 * GPL: tp_btf programs may only be loaded with a GPL-compatible license.
 */
#include "vmlinux.h"
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
  if (*(volatile u32 *)slot == here) *(volatile u32 *)slot = 0;
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
  publish(next_tid, here);
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
