// Thin wrappers over futex(2). They return errno values instead of setting
// errno, and count every call in the statistics, so that tests can prove which
// paths enter the kernel.
#pragma once

#include <cstdint>
#include <ctime>

namespace onspin::detail {

// Sleeps while *addr == expected. abstime (may be null: no limit) is absolute
// on clock (CLOCK_MONOTONIC or CLOCK_REALTIME). Returns 0 (woken, possibly
// spuriously), EAGAIN (*addr != expected), ETIMEDOUT or EINTR.
int futex_wait(uint32_t *addr, uint32_t expected, const timespec *abstime, clockid_t clock,
               bool shared) noexcept;

// futex_wait with FUTEX2_SPIN (kernel/patches/0002): first spins in the
// kernel while the thread whose TID `expected` holds runs. An owner the
// kernel cannot spin on (no TID, a dead thread, the caller) gets a plain
// futex_wait. Returns as futex_wait.
int futex2_wait_spin(uint32_t *addr, uint32_t expected, const timespec *abstime, clockid_t clock,
                     bool shared) noexcept;

// Whether the kernel takes FUTEX2_SPIN; if not, *why says so.
bool futex2_spin_supported(const char **why) noexcept;

// Wakes up to n sleepers; returns how many were woken.
int futex_wake(uint32_t *addr, int n, bool shared) noexcept;

} // namespace onspin::detail
