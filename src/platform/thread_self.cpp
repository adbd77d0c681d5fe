#include "platform/thread_self.hpp"

#include <atomic>
#include <cerrno>
#include <pthread.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "platform/errno_keeper.hpp"

extern "C" {
long onspin_detail_tid_offset = 720;
__thread uint64_t onspin_detail_identity __attribute__((tls_model("initial-exec"))) = 0;
}

namespace onspin::detail {

namespace {

// The fallback TID source (see onspin_detail_tid_offset), filled on first use.
__thread uint32_t tls_tid_copy __attribute__((tls_model("initial-exec"))) = 0;

// The identity this thread had before the fork that made the process, as
// onspin_detail_identity packs it; 0 in threads that never forked.
__thread uint64_t tls_previous = 0;

char *thread_pointer() noexcept {
#if defined(__x86_64__)
  char *tp;
  asm("movq %%fs:0, %0" : "=r"(tp)); // the TCB's self pointer
  return tp;
#else
  return static_cast<char *>(__builtin_thread_pointer());
#endif
}

// Finds glibc's kernel-written TID: the kernel says where it writes it
// (CONFIG_CHECKPOINT_RESTORE, in every distribution kernel); else the known
// offset if it holds our TID; else our own copy.
long find_tid_offset() noexcept {
  char *tp = thread_pointer();
  const auto tid = static_cast<uint32_t>(syscall(SYS_gettid));
  const int saved = errno;
  int *where = nullptr;
  long off = -1;
  if (prctl(PR_GET_TID_ADDRESS, &where, 0, 0, 0) == 0 && where != nullptr &&
      static_cast<uint32_t>(*where) == tid)
    off = reinterpret_cast<char *>(where) - tp;
  else if (*reinterpret_cast<uint32_t *>(tp + onspin_detail_tid_offset) == tid)
    off = onspin_detail_tid_offset;
  errno = saved;
  if (off >= 0 && off < 4096 && off % 4 == 0) return off;
  return reinterpret_cast<char *>(&tls_tid_copy) - tp;
}

// Early (priority 101): before the constructors of a program that links
// onspin statically and may lock in its own.
[[gnu::constructor(101)]] void init_tid_source() {
  onspin_detail_tid_offset = find_tid_offset();
  // Only the fallback copy needs telling about fork; glibc's word is the
  // kernel's.
  pthread_atfork(nullptr, nullptr, [] { tls_tid_copy = 0; });
}

// The initial PID namespace's inode number (PROC_PID_INIT_INO).
constexpr ino_t kInitPidNamespaceInode = 0xEFFFFFFCu;

} // namespace

uint32_t self_tid_copy() noexcept {
  if (tls_tid_copy == 0) tls_tid_copy = static_cast<uint32_t>(syscall(SYS_gettid));
  return tls_tid_copy;
}

bool in_child_pid_namespace() noexcept {
  static std::atomic<int> known{-1};
  int v = known.load(std::memory_order_relaxed);
  if (v < 0) {
    struct stat st {};
    const int saved = errno;
    v = stat("/proc/self/ns/pid", &st) == 0 && st.st_ino != kInitPidNamespaceInode;
    errno = saved;
    known.store(v, std::memory_order_relaxed);
  }
  return v == 1;
}

uint32_t self_key_slow(uint32_t tid) noexcept {
  const errno_keeper keep_errno; // the hooks make system calls
  uint32_t key = tid;
  // In a child PID namespace, gettid() is not the oracle's key; the oracle
  // may be able to tell the root TID.
  const identity_hooks *hooks = &identity_hooks_of_oracles; // null if not linked in
  if (in_child_pid_namespace() && hooks && hooks->root_tid)
    if (uint32_t root = hooks->root_tid()) key = root;
  const uint64_t old = onspin_detail_identity;
  if (old != 0) tls_previous = old; // a fork child's forking thread
  onspin_detail_identity = tid | static_cast<uint64_t>(key) << 32;
  if (hooks && hooks->entered) hooks->entered(key, static_cast<uint32_t>(old >> 32));
  const identity_hooks *slice_hooks = &identity_hooks_of_slice; // null if not linked in
  if (slice_hooks && slice_hooks->entered)
    slice_hooks->entered(key, static_cast<uint32_t>(old >> 32));
  return key;
}

bool is_self(uint32_t owner, bool robust, bool process_shared) noexcept {
  const uint32_t key = self_key(); // also notices a fork since the last call
  if (owner == (robust ? self_tid() : key)) return true;
  const uint64_t prev = tls_previous;
  if (process_shared || prev == 0 || owner == 0) return false;
  const uint32_t prev_tid = identity_tid(prev);
  if (owner != (robust ? prev_tid : static_cast<uint32_t>(prev >> 32))) return false;
  // The pre-fork TID is ours unless a thread of this process has it now.
  const int saved = errno;
  const bool reused = syscall(SYS_tgkill, getpid(), prev_tid, 0) == 0 || errno != ESRCH;
  errno = saved;
  return !reused;
}

} // namespace onspin::detail
