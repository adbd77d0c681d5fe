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

// futex2 (Linux 6.7): futex_wait(uaddr, val, mask, flags, timeout, clockid).
#ifndef SYS_futex_wait
#define SYS_futex_wait 455 // x86-64
#endif
constexpr unsigned kFutex2SizeU32 = 0x02;
constexpr unsigned kFutex2Private = 128;
constexpr unsigned kFutex2Spin = 0x40; // kernel/patches/0002

long sys_futex2_wait(uint32_t *addr, uint32_t expected, unsigned flags, const timespec *abstime,
                     clockid_t clock) {
  return syscall(SYS_futex_wait, addr, static_cast<unsigned long>(expected),
                 static_cast<unsigned long>(FUTEX_BITSET_MATCH_ANY), flags, abstime,
                 abstime ? clock : CLOCK_MONOTONIC);
}

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

int futex2_wait_spin(uint32_t *addr, uint32_t expected, const timespec *abstime, clockid_t clock,
                     bool shared) noexcept {
  count(stat::futex_waits);
  const unsigned flags = kFutex2SizeU32 | kFutex2Spin | (shared ? 0 : kFutex2Private);
  if (sys_futex2_wait(addr, expected, flags, abstime, clock) == 0) return 0;
  const int e = errno;
  if (e == EINVAL || e == ESRCH || e == EDEADLK)
    return futex_wait(addr, expected, abstime, clock, shared);
  return e;
}

bool futex2_spin_supported(const char **why) noexcept {
  // A value that does not match: the patched kernel says EAGAIN, a kernel
  // without the flag EINVAL, one without futex2 ENOSYS.
  uint32_t word = 0;
  if (sys_futex2_wait(&word, 1, kFutex2SizeU32 | kFutex2Private | kFutex2Spin, nullptr, 0) == 0 ||
      errno == EAGAIN) {
    *why = "the kernel takes FUTEX2_SPIN";
    return true;
  }
  *why = errno == ENOSYS ? "the kernel has no futex2, which came in Linux 6.7"
                         : "the kernel does not take FUTEX2_SPIN; it needs onspin's kernel patch "
                           "kernel/patches/0002";
  return false;
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
