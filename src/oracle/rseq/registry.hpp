// The rseq oracle: owner key (TID) -> the owner's rseq area, whose
// scheduler state bits (in `flags`) the patched kernel keeps.
//
// Reading another thread's area is safe although that thread may exit and
// its area (in glibc's thread descriptor) be unmapped: the reader loads the
// area's address and then the state inside an rseq critical section of its
// own, and a thread that leaves clears its registry slot and then issues
// membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ). That aborts every
// critical section in flight on another CPU, and one that was preempted
// aborts when it resumes, so no reader dereferences the old address after
// the membarrier returns.
//
// Private locks only: the registry holds this process's threads.
#pragma once

#include <atomic>
#include <cstdint>

#include "oracle/rseq/rseq_area.hpp"

namespace onspin::detail::rseq {

// Keys up to the kernel's PID_MAX_LIMIT, in chunks allocated on first use
// and never freed (so a reader needs no protection for the chunk itself).
constexpr uint32_t kChunkBits = 12;
constexpr uint32_t kChunkSlots = 1u << kChunkBits;
constexpr uint32_t kMaxKeys = 1u << 22;
using slot = std::atomic<const area *>;
extern std::atomic<slot *> chunks[kMaxKeys / kChunkSlots];

// Whether the kernel advertises sched_state to this thread, and why not if
// it does not (a sentence for the oracle's reason).
bool kernel_advertises(const char **why) noexcept;

// Turns the registry on for this process (registers for expedited rseq
// membarriers). Threads that took a lock before stay unregistered, and read
// as unknown. `require_kernel` false is for tests: the critical section and
// the exit protocol work on any kernel with rseq; the states are then zero.
bool start(bool require_kernel, const char **why) noexcept;
bool started() noexcept;

// Publishes the calling thread's area under `key`; it is withdrawn when the
// thread exits. Called once per thread, when it first needs its key, and
// again in a fork child, where `old_key` (the parent's) is withdrawn.
void enter(uint32_t key, uint32_t old_key) noexcept;

// What the kernel last wrote for `key`'s thread: kOnCpu, kPreempted or 0
// (blocked or gone), or one of:
constexpr uint32_t kNoEntry = 0xfffffffeu; // nobody registered under key
constexpr uint32_t kAborted = 0xffffffffu; // the critical section was aborted

// One attempt, in an rseq critical section on the caller's own area `self`.
inline uint32_t read_once(const slot *s, area *self) noexcept {
#if defined(__x86_64__)
  uint32_t v;
  // The descriptor (struct rseq_cs) and the abort handler live in sections
  // of their own. Between labels 1 and 2 any preemption, signal, migration
  // or membarrier IPI sends the thread to 4, which reports kAborted.
  asm volatile(".pushsection __rseq_cs, \"aw\"\n\t"
               ".balign 32\n"
               "66:\n\t"
               ".long 0, 0\n\t"            // version, flags
               ".quad 1f, 2f - 1f, 4f\n\t" // start_ip, post_commit_offset, abort_ip
               ".popsection\n\t"
               "leaq 66b(%%rip), %%rax\n\t"
               "movq %%rax, %[cs]\n"
               "1:\n\t"
               "movl %[none], %[v]\n\t"
               "movq (%[s]), %%rax\n\t"
               "testq %%rax, %%rax\n\t"
               "jz 2f\n\t"
               "movl 16(%%rax), %[v]\n" // flags
               "2:\n\t"
               ".pushsection __rseq_failure, \"ax\"\n\t"
               ".byte 0x0f, 0xb9, 0x3d\n\t" // ud1 prefix: the signature reads as an insn
               ".long %c[sig]\n"
               "4:\n\t"
               "movl %[aborted], %[v]\n\t"
               "jmp 2b\n\t"
               ".popsection\n"
               : [v] "=&r"(v), [cs] "=m"(self->rseq_cs)
               : [s] "r"(s), [none] "i"(kNoEntry), [aborted] "i"(kAborted), [sig] "i"(kSignature)
               : "rax", "memory", "cc");
  return v;
#else
  (void)s;
  (void)self;
  return kNoEntry;
#endif
}

// The state of `key`'s thread: kOnCpu, kPreempted, 0, or kNoEntry when
// unknown.
inline uint32_t read(uint32_t key) noexcept {
  if (key >= kMaxKeys) return kNoEntry;
  const slot *chunk = chunks[key >> kChunkBits].load(std::memory_order_acquire);
  if (chunk == nullptr) return kNoEntry;
  area *self = self_area();
  // A thread whose own registration failed cannot run a critical section.
  if (self == nullptr || static_cast<int32_t>(self->cpu_id) < 0) return kNoEntry;
  for (int attempt = 0; attempt < 4; ++attempt) {
    const uint32_t v = read_once(&chunk[key & (kChunkSlots - 1)], self);
    if (v != kAborted) return v == kNoEntry ? v : (v & (kOnCpu | kPreempted));
  }
  return kNoEntry; // aborted again and again: say nothing
}

} // namespace onspin::detail::rseq
