#include "slice/slice_ext.hpp"

#include <cerrno>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "config/config.hpp"
#include "oracle/rseq/rseq_area.hpp"
#include "platform/errno_keeper.hpp"
#include "platform/thread_self.hpp"
#include "stats/stats.hpp"

namespace onspin::detail::slice {

__thread holder tls_holder __attribute__((tls_model("initial-exec"))) = {nullptr, 0};
namespace {

// Linux 7.0's ABI (include/uapi/linux/prctl.h, arch/x86 syscall table).
constexpr int kPrSliceExtension = 79;
constexpr int kPrSliceSet = 2;
constexpr unsigned long kPrSliceEnable = 1;
constexpr long kSysSliceYield = 471;

__thread state tls_state = state::not_offered;

state enable() noexcept {
  if (!cfg().slice_ext) return state::off;
  rseq::area *self = rseq::self_area();
  // glibc 2.36 registers 32 bytes but says 20 in __rseq_size (the fields it
  // knows): the kernel's AVAILABLE bit alone tells that offset 28 is kept.
  if (self == nullptr) return state::no_rseq;
  if (!(__atomic_load_n(&self->flags, __ATOMIC_RELAXED) & rseq::kSliceAvailable))
    return state::not_offered;
  if (prctl(kPrSliceExtension, kPrSliceSet, kPrSliceEnable, 0, 0) != 0) return state::refused;
  return state::on;
}

void thread_entered(uint32_t, uint32_t) noexcept { thread_started(); }

} // namespace

void attach(unsigned char *request) noexcept {
  if (request != nullptr) __atomic_store_n(request, 0, __ATOMIC_RELAXED);
  tls_holder.request = request;
  tls_holder.depth = 0;
  route_via_library(request != nullptr);
}

void thread_started() noexcept {
  const errno_keeper keep_errno;
  tls_state = enable();
  // A new thread holds nothing. A fork child's thread starts afresh too: of
  // the locks its parent's thread held, it may never release some (a
  // process-shared lock stays the parent's), and a count that cannot return
  // to zero would keep its request raised for good. Locks it does release
  // then find the count at zero and leave it there.
  attach(tls_state == state::on ? &rseq::self_area()->slice_ctrl.request : nullptr);
}

void give_back() noexcept {
  const errno_keeper keep_errno;
  count(stat::slice_grants);
  // 1: the extension still ran, and the CPU goes to whoever waited for it.
  if (syscall(kSysSliceYield) == 1) count(stat::slice_yields);
}

state thread_state() noexcept {
  self_key(); // a thread that never locked enables it now
  return tls_state;
}

const char *describe(state s) noexcept {
  switch (s) {
  case state::on:
    return "on: lock holders ask the kernel not to be preempted";
  case state::off:
    return "off (ONSPIN_SLICE_EXT=off)";
  case state::no_rseq:
    return "unavailable: glibc registered no rseq area";
  case state::not_offered:
    return "unavailable: the kernel does not offer it (Linux 7.0, or onspin's kernel/patches/0003)";
  case state::refused:
    return "unavailable: prctl(PR_RSEQ_SLICE_EXTENSION) refused it";
  }
  return "?";
}

} // namespace onspin::detail::slice

// ABI: programs built with the headers of 7575866 to 750abec (0.2 before
// the identity mark) read this variable in their inline paths and call this
// function. With `request` always null they do nothing there; the mark sends
// those paths here whenever the extension is on, so such programs count too.
extern "C" {
struct onspin_detail_slice_v0 {
  unsigned char *request;
  uint32_t depth;
};
ONSPIN_API __thread onspin_detail_slice_v0 onspin_detail_slice = {nullptr, 0};
ONSPIN_API void onspin_detail_slice_granted(void) {}
}

namespace onspin::detail {
// Runs beside the oracle layer's hooks (thread_self.hpp).
constinit const identity_hooks identity_hooks_of_slice{nullptr, slice::thread_entered};
} // namespace onspin::detail
