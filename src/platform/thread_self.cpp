#include "platform/thread_self.hpp"

#include <atomic>
#include <pthread.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "oracle/oracle.hpp"
#include "oracle/rseq/registry.hpp"

__thread uint32_t onspin_tls_key __attribute__((tls_model("initial-exec"))) = 0;

namespace onspin::detail {
namespace {

__thread uint32_t tls_tid = 0;
__thread uint32_t tls_prefork_key = 0;
__thread uint32_t tls_prefork_tid = 0;
uint32_t cached_pid = 0;

// Only the forking thread lives on in the child: its TID changed, the caches
// must not keep the parent's.
void after_fork_in_child() noexcept {
  if (onspin_tls_key != 0) tls_prefork_key = onspin_tls_key;
  if (tls_tid != 0) tls_prefork_tid = tls_tid;
  onspin_tls_key = 0;
  tls_tid = 0;
  cached_pid = static_cast<uint32_t>(getpid());
}

[[gnu::constructor]] void install_fork_handler() {
  pthread_atfork(nullptr, nullptr, after_fork_in_child);
}

// The initial PID namespace's inode number (PROC_PID_INIT_INO).
constexpr ino_t kInitPidNamespaceInode = 0xEFFFFFFCu;

} // namespace

bool in_child_pid_namespace() noexcept {
  static std::atomic<int> known{-1};
  int v = known.load(std::memory_order_relaxed);
  if (v < 0) {
    struct stat st {};
    v = stat("/proc/self/ns/pid", &st) == 0 && st.st_ino != kInitPidNamespaceInode;
    known.store(v, std::memory_order_relaxed);
  }
  return v == 1;
}

uint32_t self_tid() noexcept {
  if (tls_tid == 0) {
    tls_tid = static_cast<uint32_t>(syscall(SYS_gettid));
    // The thread's first lock: publish its rseq area (if the rseq oracle
    // may be used), so that its waiters can see whether it runs.
    rseq::enter(tls_tid);
  }
  return tls_tid;
}

uint32_t self_key_slow() noexcept {
  uint32_t key = self_tid();
  // In a child PID namespace, gettid() is not the oracle's key; the oracle
  // can tell the root TID (bpf: a pinned or loaded syscall program).
  if (in_child_pid_namespace())
    if (uint32_t root = oracle_root_tid()) key = root;
  onspin_tls_key = key;
  return key;
}

bool is_self(uint32_t owner, bool robust) noexcept {
  if (owner == self_key_for(robust)) return true;
  uint32_t before_fork = robust ? tls_prefork_tid : tls_prefork_key;
  return before_fork != 0 && owner == before_fork;
}

uint32_t self_pid() noexcept {
  uint32_t pid = __atomic_load_n(&cached_pid, __ATOMIC_RELAXED);
  if (pid == 0) {
    pid = static_cast<uint32_t>(getpid());
    __atomic_store_n(&cached_pid, pid, __ATOMIC_RELAXED);
  }
  return pid;
}

} // namespace onspin::detail
