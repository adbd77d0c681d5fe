// The lock holder's side: the rseq time slice extension (Linux 7.0's ABI;
// kernel/patches/0003 ports it to onspin's test kernel). While a thread
// holds an onspin lock it sets `request` in its rseq area, so that the
// kernel lets it finish the section instead of preempting it; waiters then
// rarely find a preempted owner. The extension is enabled per thread when
// the thread first locks (one prctl, only on kernels that advertise it in
// rseq->flags). Kernels without it cost the inline fast paths nothing and
// the library's one predictable branch per lock and per unlock.
#pragma once

#include <cstdint>

namespace onspin::detail::slice {

// The calling thread's side of it: the `request` byte of its rseq area while
// the extension is on for the thread, else null; and how many onspin locks
// the thread holds. The first lock raises the byte, the last unlock lowers
// it. While `request` is set, the thread's identity sends the header's inline
// paths here (route_via_library, thread_self.hpp), so that every lock and
// unlock counts; on kernels without the extension they never come.
struct holder {
  unsigned char *request;
  uint32_t depth;
};
extern __thread holder tls_holder __attribute__((tls_model("initial-exec")));

// Points the calling thread's request at `request` (null: none) with
// nothing held. slice_ext_test.cpp points it at a byte pair of its own.
void attach(unsigned char *request) noexcept;

// The last unlock found an extension granted: gives the CPU back.
[[gnu::cold]] void give_back() noexcept;

// After a lock is taken. The kernel reads the byte only when it interrupts
// this thread, so program order is all the ordering needed: the signal
// fences keep the compiler from moving the stores across the section.
[[gnu::always_inline]] inline void hold() noexcept {
  unsigned char *request = tls_holder.request;
  if (__builtin_expect(request != nullptr, 0) && tls_holder.depth++ == 0) {
    __atomic_store_n(request, 1, __ATOMIC_RELAXED);
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
  }
}

// After a lock is released. An unlock without a matching lock in this thread
// (another thread's lock, or one taken before the extension was on) finds
// the depth at 0 and leaves it there. `granted` is the byte after `request`.
[[gnu::always_inline]] inline void release() noexcept {
  unsigned char *request = tls_holder.request;
  if (__builtin_expect(request != nullptr, 0) && tls_holder.depth != 0 && --tls_holder.depth == 0) {
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    __atomic_store_n(request, 0, __ATOMIC_RELAXED);
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    if (__atomic_load_n(request + 1, __ATOMIC_RELAXED)) give_back();
  }
}

// Whether the kernel granted this thread an extension that still runs: its
// next system call gives the CPU away on entry.
[[gnu::always_inline]] inline bool granted() noexcept {
  const unsigned char *request = tls_holder.request;
  return request != nullptr && __atomic_load_n(request + 1, __ATOMIC_RELAXED) != 0;
}

// What `onspin status` says of the extension for this process.
enum class state : uint8_t {
  on,          // the kernel offers it and this thread enabled it
  off,         // ONSPIN_SLICE_EXT=off
  no_rseq,     // glibc registered no rseq area
  not_offered, // the kernel does not advertise it (rseq->flags bit 4)
  refused,     // prctl(PR_RSEQ_SLICE_EXTENSION) failed
};
state thread_state() noexcept;
const char *describe(state s) noexcept;

// Turns the extension on for the calling thread if the kernel offers it
// and the configuration allows: a new thread, or a fork child's thread.
void thread_started() noexcept;

} // namespace onspin::detail::slice
