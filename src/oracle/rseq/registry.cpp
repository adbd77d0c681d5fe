#include "oracle/rseq/registry.hpp"

#include "config/config.hpp"
#include "platform/once.hpp"

#include <cstdlib>
#include <linux/membarrier.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace onspin::detail::rseq {

std::atomic<slot *> chunks[kMaxKeys / kChunkSlots];

namespace {

std::atomic<bool> running{false};
pthread_key_t exit_key;

int membarrier(int cmd) { return static_cast<int>(syscall(SYS_membarrier, cmd, 0, 0)); }

slot *chunk_for(uint32_t key) {
  std::atomic<slot *> &c = chunks[key >> kChunkBits];
  slot *have = c.load(std::memory_order_acquire);
  if (have != nullptr) return have;
  auto *fresh = static_cast<slot *>(std::calloc(kChunkSlots, sizeof(slot)));
  if (fresh == nullptr) return nullptr; // the thread stays unknown
  if (c.compare_exchange_strong(have, fresh, std::memory_order_acq_rel)) return fresh;
  std::free(fresh); // another thread installed one first
  return have;
}

// pthread key destructor: runs at thread exit, before glibc can reuse or
// unmap the thread's stack and descriptor (which hold its rseq area).
void leave(void *arg) {
  const auto key = static_cast<uint32_t>(reinterpret_cast<uintptr_t>(arg));
  slot &s = chunks[key >> kChunkBits].load(std::memory_order_relaxed)[key & (kChunkSlots - 1)];
  const area *mine = self_area();
  s.compare_exchange_strong(mine, nullptr, std::memory_order_release);
  // Readers that loaded our address are inside a critical section: abort
  // them before our memory can go. (Registered in start(), so this cannot
  // fail but with ENOSYS on a kernel without membarrier, where start() failed.)
  membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ);
}

} // namespace

bool kernel_advertises(const char **why) noexcept {
#if !defined(__x86_64__)
  *why = "the rseq oracle is written for x86-64";
  return false;
#else
  const area *self = self_area();
  if (self == nullptr) {
    *why = "glibc did not register rseq: GLIBC_TUNABLES=glibc.pthread.rseq=0, or the kernel "
           "has no rseq";
    return false;
  }
  if (!(__atomic_load_n(&self->flags, __ATOMIC_RELAXED) & kSchedStateAvailable)) {
    *why = "the kernel does not advertise rseq sched_state; it needs onspin's kernel patch "
           "kernel/patches/0001";
    return false;
  }
  *why = "the kernel advertises rseq sched_state";
  return true;
#endif
}

bool start(bool require_kernel, const char **why) noexcept {
  static fork_safe_once once;
  static const char *reason = "";
  once.call([require_kernel] {
    if (!kernel_advertises(&reason)) {
      if (require_kernel || self_area() == nullptr) return;
    }
    if (membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_RSEQ) != 0) {
      reason = "membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_RSEQ) failed";
      return;
    }
    if (pthread_key_create(&exit_key, leave) != 0) {
      reason = "no pthread key left for the rseq registry";
      return;
    }
    running.store(true, std::memory_order_release);
  });
  *why = reason;
  return started();
}

bool started() noexcept { return running.load(std::memory_order_acquire); }

void enter(uint32_t key, uint32_t old_key) noexcept {
  if (key == 0 || key >= kMaxKeys) return;
  if (!started()) {
    // The first lock of the process starts the registry, if the rseq oracle
    // may be chosen later: threads must be in it before anyone contends.
    const oracle_request r = cfg().oracle;
    const char *why;
    if ((r != oracle_request::auto_ && r != oracle_request::rseq) || !start(true, &why)) return;
  }
  area *self = self_area();
  if (self == nullptr || static_cast<int32_t>(self->cpu_id) < 0) return;
  slot *chunk = chunk_for(key);
  if (chunk == nullptr) return;
  // A fork child's forking thread: its parent's key must stop naming our
  // area, for a thread of ours may be given that TID later.
  if (old_key != 0 && old_key < kMaxKeys)
    if (slot *old_chunk = chunks[old_key >> kChunkBits].load(std::memory_order_acquire)) {
      const area *mine = self;
      old_chunk[old_key & (kChunkSlots - 1)].compare_exchange_strong(mine, nullptr);
    }
  chunk[key & (kChunkSlots - 1)].store(self, std::memory_order_release);
  pthread_setspecific(exit_key, reinterpret_cast<void *>(static_cast<uintptr_t>(key)));
}

} // namespace onspin::detail::rseq
