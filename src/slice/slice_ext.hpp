// The lock holder's side: the rseq time slice extension (Linux 7.0's ABI;
// kernel/patches/0003 ports it to onspin's test kernel). While a thread
// holds an onspin lock it sets `request` in its rseq area, so that the
// kernel lets it finish the section instead of preempting it; waiters then
// rarely find a preempted owner. The extension is enabled per thread when
// the thread first locks (one prctl, only on kernels that advertise it in
// rseq->flags), so kernels without it cost one predictable branch per lock
// and per unlock.
#pragma once

#include <cstdint>
#include <onspin/onspin.h> // onspin_detail_slice_hold, onspin_detail_slice_release

namespace onspin::detail::slice {

// After every lock taken and every lock released by this thread; the
// public header's helpers, which the inline fast paths use too.
[[gnu::always_inline]] inline void hold() noexcept {
#if defined(__x86_64__)
  onspin_detail_slice_hold();
#endif
}
[[gnu::always_inline]] inline void release() noexcept {
#if defined(__x86_64__)
  onspin_detail_slice_release();
#endif
}

// Whether the kernel granted this thread an extension that still runs: its
// next system call gives the CPU away on entry.
[[gnu::always_inline]] inline bool granted() noexcept {
  const unsigned char *request = onspin_detail_slice.request;
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
