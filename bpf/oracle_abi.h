/*
 * The on_cpu map's layout, shared by the eBPF program and the library.
 *
 * Array maps round each element up to 8 bytes, so one u32 per element would
 * not be packed. Each element is a chunk of ONSPIN_SLOTS_PER_CHUNK u32 slots
 * (4 KiB, a multiple of 8), so the mmapped map is one packed array.
 *
 * slot[tid] holds cpu + 1 while thread `tid` runs, with ONSPIN_SLOT_QUOTA
 * added if its cgroup or one above it has a CPU quota; ONSPIN_SLOT_PREEMPTED
 * while it is off its CPU but runnable (preempted, or it yielded: it runs
 * again as soon as the scheduler picks it); 0 while it is blocked in the
 * kernel (asleep, waiting for I/O), has exited, or was never seen.
 */
#ifndef ONSPIN_ORACLE_ABI_H
#define ONSPIN_ORACLE_ABI_H

#define ONSPIN_SLOTS_PER_CHUNK 1024

#define ONSPIN_SLOT_PREEMPTED 0x80000000u

/* In a running thread's value: its group's CPU time is capped (cpu.max, or
 * v1's cfs_quota_us, here or above), so time it spends spinning is time the
 * group's other threads, a lock owner among them, may not get. As of the
 * thread's latest switch onto its CPU. */
#define ONSPIN_SLOT_QUOTA 0x40000000u

/* Whether a slot's value says the thread runs on a CPU. */
#define ONSPIN_SLOT_ON_CPU(v) ((v) != 0 && !((v)&ONSPIN_SLOT_PREEMPTED))

struct onspin_chunk {
  unsigned int slot[ONSPIN_SLOTS_PER_CHUNK];
};

/*
 * The cpu_load map: element `cpu` says how many tasks that CPU's run queue
 * holds, the running one included (rq->nr_running), as of the last event
 * that changed it and that the program sees (a switch on that CPU, a wake-up
 * onto it, a migration away from it). A waiter that reads more than 1 for
 * its own CPU is taking that CPU from a task that waits for it: the kernel's
 * own spinners stop then (need_resched()). One cache line per CPU, so that
 * CPUs updating their own counts do not share lines.
 */
struct onspin_cpu_load {
  unsigned int queued;
  unsigned int tells; /* ONSPIN_TELLS_*: what else the program publishes */
  unsigned int unused[14];
};

/* In cpu_load's `tells`: on_cpu's values carry ONSPIN_SLOT_QUOTA. Programs
 * installed by an older onspin leave it clear, and their readers must not
 * take a missing flag for "no quota". */
#define ONSPIN_TELLS_QUOTA 1u

#endif
