#include "platform/futex.hpp"

#include <cerrno>
#include <climits>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "stats/stats.hpp"

namespace onspin::detail {
namespace {

int op(int base, bool shared) { return shared ? base : (base | FUTEX_PRIVATE_FLAG); }

long sys_futex(uint32_t *addr, int futex_op, uint32_t val, const void *timeout_or_val2,
               uint32_t *addr2, uint32_t val3) {
  return syscall(SYS_futex, addr, futex_op, val, timeout_or_val2, addr2, val3);
}

} // namespace

int futex_wait(uint32_t *addr, uint32_t expected, const timespec *abstime, clockid_t clock,
               bool shared) noexcept {
  count(stat::futex_waits);
  // WAIT_BITSET takes an absolute timeout, so a retried wait keeps its deadline.
  int o = op(FUTEX_WAIT_BITSET, shared);
  if (abstime != nullptr && clock == CLOCK_REALTIME) o |= FUTEX_CLOCK_REALTIME;
  if (sys_futex(addr, o, expected, abstime, nullptr, FUTEX_BITSET_MATCH_ANY) == 0) return 0;
  return errno;
}

int futex_wake(uint32_t *addr, int n, bool shared) noexcept {
  count(stat::futex_wakes);
  long r = sys_futex(addr, op(FUTEX_WAKE, shared), static_cast<uint32_t>(n), nullptr, nullptr, 0);
  return r < 0 ? 0 : static_cast<int>(r);
}

int futex_requeue(uint32_t *from, uint32_t expected, uint32_t *to, bool shared) noexcept {
  count(stat::futex_wakes);
  // val2 (the requeue limit) travels in the timeout argument.
  auto limit = reinterpret_cast<const void *>(static_cast<uintptr_t>(INT_MAX));
  long r = sys_futex(from, op(FUTEX_CMP_REQUEUE, shared), 1, limit, to, expected);
  return r < 0 ? -errno : static_cast<int>(r);
}

} // namespace onspin::detail
