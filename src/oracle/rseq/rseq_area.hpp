// The calling thread's rseq area, as onspin's kernel patches lay it out:
// - the scheduler state (kernel/patches/0001) in bits 8 to 10 of `flags`,
//   one byte the kernel stores alone;
// - the time slice extension (kernel/patches/0003, Linux 7.0's ABI):
//   `slice_ctrl` at offset 28 and bits 4 and 5 of `flags`.
// Both lie inside the 32 bytes glibc registers for every thread. glibc (2.35
// and later) registers the area and says where it is through __rseq_offset
// and __rseq_size.
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
  union {
    uint32_t all;
    struct {
      uint8_t request; // the thread asks for an extension
      uint8_t granted; // the kernel gave one: yield when done
      uint16_t reserved;
    };
  } slice_ctrl;
};
static_assert(offsetof(area, rseq_cs) == 8 && offsetof(area, flags) == 16);
static_assert(offsetof(area, slice_ctrl) == 28 && sizeof(area) == 32);

// Kernel-written bits of `flags`. Detection rests on the AVAILABLE bits
// alone: the registered size proves nothing.
constexpr uint32_t kSliceAvailable = 1u << 4;
constexpr uint32_t kSliceEnabled = 1u << 5;
constexpr uint32_t kSchedStateAvailable = 1u << 8;
constexpr uint32_t kOnCpu = 1u << 9;      // the thread runs on a CPU
constexpr uint32_t kPreempted = 1u << 10; // off its CPU, but runnable
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
