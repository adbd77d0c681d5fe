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

// The system calls' results, or -errno; errno itself is left as it was (the
// API promises not to touch it).
long sys_futex2_wait(uint32_t *addr, uint32_t expected, unsigned flags, const timespec *abstime,
                     clockid_t clock) {
  const int saved = errno;
  long r = syscall(SYS_futex_wait, addr, static_cast<unsigned long>(expected),
                   static_cast<unsigned long>(FUTEX_BITSET_MATCH_ANY), flags, abstime,
                   abstime ? clock : CLOCK_MONOTONIC);
  if (r < 0) r = -errno;
  errno = saved;
  return r;
}

long sys_futex(uint32_t *addr, int futex_op, uint32_t val, const void *timeout_or_val2,
               uint32_t *addr2, uint32_t val3) {
  const int saved = errno;
  long r = syscall(SYS_futex, addr, futex_op, val, timeout_or_val2, addr2, val3);
  if (r < 0) r = -errno;
  errno = saved;
  return r;
}

// The kernel rejects a negative tv_sec with EINVAL, but it is only a time
// long past: report the timeout without a system call.
bool before_epoch(const timespec *abstime) { return abstime != nullptr && abstime->tv_sec < 0; }

} // namespace

int futex_wait(uint32_t *addr, uint32_t expected, const timespec *abstime, clockid_t clock,
               bool shared) noexcept {
  if (before_epoch(abstime)) return ETIMEDOUT;
  count(stat::futex_waits);
  // WAIT_BITSET takes an absolute timeout, so a retried wait keeps its deadline.
  int o = op(FUTEX_WAIT_BITSET, shared);
  if (abstime != nullptr && clock == CLOCK_REALTIME) o |= FUTEX_CLOCK_REALTIME;
  return static_cast<int>(-sys_futex(addr, o, expected, abstime, nullptr, FUTEX_BITSET_MATCH_ANY));
}

int futex2_wait_spin(uint32_t *addr, uint32_t expected, const timespec *abstime, clockid_t clock,
                     bool shared) noexcept {
  if (before_epoch(abstime)) return ETIMEDOUT;
  count(stat::futex_waits);
  const unsigned flags = kFutex2SizeU32 | kFutex2Spin | (shared ? 0 : kFutex2Private);
  const int e = static_cast<int>(-sys_futex2_wait(addr, expected, flags, abstime, clock));
  if (e == EINVAL || e == ESRCH || e == EDEADLK)
    return futex_wait(addr, expected, abstime, clock, shared);
  return e;
}

bool futex2_spin_supported(const char **why) noexcept {
  // A value that does not match: the patched kernel says EAGAIN, a kernel
  // without the flag EINVAL, one without futex2 ENOSYS.
  uint32_t word = 0;
  const long r =
      sys_futex2_wait(&word, 1, kFutex2SizeU32 | kFutex2Private | kFutex2Spin, nullptr, 0);
  if (r == 0 || r == -EAGAIN) {
    *why = "the kernel takes FUTEX2_SPIN";
    return true;
  }
  *why = r == -ENOSYS ? "the kernel has no futex2, which came in Linux 6.7"
                      : "the kernel does not take FUTEX2_SPIN; it needs onspin's kernel patch "
                        "kernel/patches/0002";
  return false;
}

int futex_wake(uint32_t *addr, int n, bool shared) noexcept {
  count(stat::futex_wakes);
  long r = sys_futex(addr, op(FUTEX_WAKE, shared), static_cast<uint32_t>(n), nullptr, nullptr, 0);
  return r < 0 ? 0 : static_cast<int>(r);
}

} // namespace onspin::detail
