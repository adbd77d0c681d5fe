/* The rseq area as onspin's kernel patches lay it out, for the guest tests.
 * They keep their own copy of the layout on purpose: it is the ABI under
 * test, written down a second time. */
#ifndef ONSPIN_GUEST_RSEQ_VIEW_H
#define ONSPIN_GUEST_RSEQ_VIEW_H

#include <stddef.h>
#include <stdint.h>
#include <sys/rseq.h>

struct rseq_view {
  uint32_t cpu_id_start;
  uint32_t cpu_id;
  uint64_t rseq_cs;
  uint32_t flags;
  uint32_t node_id;
  uint32_t mm_cid;
  union {
    uint32_t all;
    struct {
      uint8_t request;
      uint8_t granted;
      uint16_t reserved;
    };
  } slice_ctrl;
} __attribute__((aligned(32)));

_Static_assert(offsetof(struct rseq_view, flags) == 16, "flags at offset 16");
_Static_assert(offsetof(struct rseq_view, slice_ctrl) == 28, "slice_ctrl at offset 28");

/* Kernel-written bits of `flags`: the time slice extension (Linux 7.0's
 * ABI, kernel/patches/0003) and the scheduler state (kernel/patches/0001). */
#define VIEW_SLICE_AVAILABLE (1u << 4)
#define VIEW_SLICE_ENABLED (1u << 5)
#define VIEW_SCHED_STATE_AVAILABLE (1u << 8)
#define VIEW_ON_CPU (1u << 9)
#define VIEW_PREEMPTED (1u << 10)
#define VIEW_SCHED_STATE_BITS 0xff00u
#define VIEW_SIG 0x53053053u

/* The calling thread's glibc-registered area, or NULL. */
static inline struct rseq_view *own_view(void) {
  if (__rseq_size == 0) return NULL;
  return (struct rseq_view *)((char *)__builtin_thread_pointer() + __rseq_offset);
}

static inline uint32_t load_u32(const uint32_t *p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }

#endif
