// The calling thread's rseq area, as the onspin kernel patch lays it out
// (kernel/patches/0001-*): struct rseq with `sched_state` at offset 28, inside
// the 32 bytes glibc registers for every thread. glibc (2.35 and later)
// registers the area and says where it is through __rseq_offset and
// __rseq_size.
#pragma once

#include <cstddef>
#include <cstdint>
#include <sys/rseq.h>

namespace onspin::detail::rseq {

struct area {
  uint32_t cpu_id_start;
  uint32_t cpu_id;
  uint64_t rseq_cs;
  uint32_t flags;
  uint32_t node_id;
  uint32_t mm_cid;
  uint32_t sched_state;
};
static_assert(offsetof(area, rseq_cs) == 8 && offsetof(area, flags) == 16);
static_assert(offsetof(area, sched_state) == 28 && sizeof(area) == 32);

// The kernel writes this bit into `flags` at registration when it maintains
// `sched_state`. Detection rests on it alone: Linux 7.0 keeps another field
// (slice_ctrl) at offset 28, so the area's size proves nothing.
constexpr uint32_t kSchedStateAvailable = 1u << 8;
// The bit of `sched_state` that says the thread runs on a CPU.
constexpr uint32_t kOnCpu = 1u << 0;
// The signature glibc registers on x86-64: the 4 bytes before every abort
// handler must hold it.
constexpr uint32_t kSignature = 0x53053053;

// The calling thread's area, or nullptr when glibc did not register one
// (GLIBC_TUNABLES=glibc.pthread.rseq=0, or a kernel without rseq).
inline area *self_area() noexcept {
#if defined(__x86_64__)
  if (__rseq_size == 0) return nullptr;
  char *tp;
  asm("mov %%fs:0, %0" : "=r"(tp)); // the TCB's self pointer: the thread pointer
  return reinterpret_cast<area *>(tp + __rseq_offset);
#else
  return nullptr; // the critical section below is written for x86-64 only
#endif
}

} // namespace onspin::detail::rseq
