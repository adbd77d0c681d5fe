// A priority-inheritance futex mutex, as glibc's PTHREAD_PRIO_INHERIT mutex
// works: the word holds the owner's TID, the fast paths are one CAS, and
// contention goes to FUTEX_LOCK_PI / FUTEX_UNLOCK_PI, where the kernel
// queues waiters on an rt_mutex and spins while the owner runs (since Linux
// 5.15). Written out here so that its system calls can be counted.
#pragma once

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace bench {

class pi_mutex {
public:
  void lock(uint32_t tid) {
    uint32_t free = 0;
    if (word_.compare_exchange_strong(free, tid, std::memory_order_acquire)) return;
    // The kernel takes the lock for us (or hands it over at unlock).
    while (futex(FUTEX_LOCK_PI_PRIVATE) != 0 && (errno == EINTR || errno == EAGAIN)) {
    }
  }
  void unlock(uint32_t tid) {
    uint32_t mine = tid;
    if (word_.compare_exchange_strong(mine, 0, std::memory_order_release)) return;
    futex(FUTEX_UNLOCK_PI_PRIVATE); // FUTEX_WAITERS is set: the kernel hands over
  }
  uint64_t syscalls() const { return syscalls_.load(std::memory_order_relaxed); }

private:
  long futex(int op) {
    syscalls_.fetch_add(1, std::memory_order_relaxed);
    return syscall(SYS_futex, &word_, op, 0, nullptr, nullptr, 0);
  }
  std::atomic<uint32_t> word_{0};
  std::atomic<uint64_t> syscalls_{0};
};

} // namespace bench
